"""Golden values of the paired tests (src/stats/paired.rs, tests/paired.rs): scipy's ttest_rel
for the paired Student's t-test and statsmodels' multipletests for Holm and Bonferroni, on
fixed cases. Run: python tests/golden/make_paired.py > tests/golden/paired_golden.json
(scipy 1.17.1, statsmodels 0.15.0)."""
import json

import numpy as np
import scipy
import statsmodels
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

rng = np.random.default_rng(20261204)
cases = []
for name, n, shift, spread in [("close", 50, 0.01, 0.1), ("clear", 200, 0.05, 0.2), ("tiny", 3, 0.1, 0.3),
                               ("large", 2000, 0.01, 0.3), ("strong", 100, 0.08, 0.1), ("extreme", 400, 0.1, 0.05), ("bounded", 300, 0.0, 0.0)]:
    a = rng.uniform(0, 1, n)
    b = np.clip(a + shift + rng.normal(0, spread, n), 0, 1) if spread else rng.integers(0, 2, n).astype(float)
    r = ttest_rel(a, b)
    cases.append({"name": name, "a": a.tolist(), "b": b.tolist(), "t": float(r.statistic), "p": float(r.pvalue)})
p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9]
doc = {
    "versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
    "student": cases,
    "corrections": {"p": p, "holm": multipletests(p, method="holm")[1].tolist(),
                    "bonferroni": multipletests(p, method="bonferroni")[1].tolist()},
}
print(json.dumps(doc))

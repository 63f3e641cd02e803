"""Golden values of the paired tests (src/stats/paired.rs, tests/paired.rs): scipy's ttest_rel
for the paired Student's t-test and statsmodels' multipletests for Holm and Bonferroni, on
fixed cases; scipy's tukey_hsd (what ranx's `tukey` runs) and studentized_range; ranx's own
fisher_randomization_test (Monte Carlo, 10,000 rounds, seed 42) on cases small enough to
enumerate exactly too. Run: python tests/golden/make_paired.py > tests/golden/paired_golden.json
(scipy 1.17.1, statsmodels 0.15.0, ranx 0.3.21)."""
import json

import numpy as np
import ranx
import scipy
import statsmodels
from ranx.statistical_tests import fisher_randomization_test
from scipy.stats import studentized_range, ttest_rel, tukey_hsd
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
# The studentized range's survival function: small and large k, small and large (and infinite
# as scipy takes it, from 100,000) degrees of freedom, p from near 1 down to 1e-9.
srange = []
for q, k, df in [(0.5, 2, 5), (3.0, 2, 10), (3.5, 3, 20), (4.2, 5, 100), (6.0, 5, 49995), (2.0, 10, 30),
                 (5.5, 4, 12), (8.0, 3, 1000), (4.0, 2, 150000), (3.0, 26, 200)]:
    srange.append({"q": q, "k": k, "df": df, "sf": float(studentized_range.sf(q, k, df))})
tukey = []
for name, k, n, shifts in [("three", 3, 40, [0.0, 0.05, 0.2]), ("five", 5, 200, [0.0, 0.01, 0.02, 0.0, 0.1]),
                           ("two", 2, 30, [0.0, 0.1])]:
    samples = [np.clip(rng.uniform(0, 1, n) * 0.5 + s, 0, 1) for s in shifts]
    r = tukey_hsd(*samples)
    tukey.append({"name": name, "samples": [x.tolist() for x in samples], "p": r.pvalue.tolist(),
                  "statistic": r.statistic.tolist()})
fisher = []
for name, n, shift in [("small", 12, 0.05), ("flat", 14, 0.0), ("clear", 16, 0.15), ("wide", 500, 0.01)]:
    a = rng.uniform(0, 1, n)
    b = np.clip(a + shift + rng.normal(0, 0.15, n), 0, 1)
    fp, _ = fisher_randomization_test(a, b, 10000, 0.01, 42)
    fisher.append({"name": name, "a": a.tolist(), "b": b.tolist(), "permutations": 10000, "p": float(fp)})
doc = {
    "versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__, "ranx": "0.3.21"},
    "studentized_range": srange,
    "tukey": tukey,
    "ranx_fisher": fisher,
    "student": cases,
    "corrections": {"p": p, "holm": multipletests(p, method="holm")[1].tolist(),
                    "bonferroni": multipletests(p, method="bonferroni")[1].tolist()},
}
print(json.dumps(doc))

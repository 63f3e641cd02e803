"""Golden values for tests/twosample.rs: the drift gate's two-sample tests against scipy.

  - fisher: one-sided Fisher exact p-values that the second proportion (k2 of n2) is lower than
    the first (k1 of n1), scipy.stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]],
    alternative="greater").pvalue. With that layout, "greater" (P(table[0][0] >= k1)) is
    P(X <= k2) for X ~ hypergeom(n1 + n2, k1 + k2, n2), the count of successes in the second
    sample: k1 + k2 is fixed, so a larger first count is a smaller second one. Every case is
    checked here against scipy.stats.hypergeom.cdf(k2, n1 + n2, k1 + k2, n2) and against the
    exact sum of binomial coefficients in integers (rounded once to a float). Small tables (k = 0
    and k = n among them), medium and large ones (precision drops of 0.005 to 0.1 at n in the
    thousands), equal proportions, second proportions above the first (p near 1), and p-values
    far below 1e-30 (and below the smallest double).
  - ks: the asymptotic two-sample Kolmogorov–Smirnov p-value with Stephens' correction,
    scipy.special.kolmogorov(lam) for lam = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * d,
    ne = n1 * n2 / (n1 + n2), and 1 where lam < 0.2; d from 0.01 to 0.9, sample sizes from 5 to
    100000, equal and very unequal.

    python tests/golden/make_twosample.py
"""
import json
import math
import os
from fractions import Fraction

import numpy as np
import scipy
from scipy.special import kolmogorov
from scipy.stats import fisher_exact, hypergeom

HERE = os.path.dirname(os.path.abspath(__file__))

FISHER = [
    # Small tables, k = 0 and k = n among them.
    (0, 5, 0, 5),
    (5, 5, 5, 5),
    (5, 5, 0, 5),
    (0, 5, 5, 5),
    (1, 1, 0, 1),
    (0, 1, 1, 1),
    (1, 1, 1, 1),
    (0, 1, 0, 1),
    (0, 3, 0, 7),
    (3, 3, 0, 7),
    (3, 10, 1, 12),
    (7, 10, 2, 10),
    (4, 8, 4, 8),
    (8, 15, 12, 20),
    (15, 20, 5, 20),
    (20, 20, 0, 20),
    (20, 20, 19, 20),
    (19, 20, 20, 20),
    (6, 20, 0, 1),
    (6, 20, 1, 1),
    (10, 20, 3, 17),
    (1, 13, 0, 2),
    (12, 13, 9, 11),
    # Medium.
    (80, 100, 65, 100),
    (50, 100, 50, 100),
    (50, 100, 70, 100),
    (60, 100, 20, 100),
    (120, 200, 100, 250),
    (300, 400, 310, 400),
    (300, 400, 280, 400),
    (450, 500, 430, 500),
    (200, 300, 50, 300),
    (90, 150, 200, 400),
    (0, 250, 0, 300),
    (250, 250, 299, 300),
    # Large: precision drops of 0.005 to 0.1.
    (9000, 10000, 8900, 10000),
    (9500, 10000, 9400, 10000),
    (4500, 5000, 4450, 5000),
    (18000, 20000, 17800, 20000),
    (12000, 20000, 11900, 20000),
    (6000, 10000, 5000, 10000),
    (15000, 20000, 13000, 20000),
    (3000, 5000, 2800, 5000),
    (9000, 10000, 450, 500),
    (800, 1000, 15500, 20000),
    (16000, 20000, 3900, 5000),
    # Large: equal proportions, and the second above the first (p near 1).
    (7000, 10000, 7000, 10000),
    (14000, 20000, 3500, 5000),
    (8000, 10000, 8100, 10000),
    (9000, 10000, 9050, 10000),
    (19000, 20000, 19200, 20000),
    # Very small p-values.
    (100, 100, 0, 100),
    (90, 100, 10, 100),
    (500, 500, 0, 500),
    (400, 500, 100, 500),
    (9000, 10000, 7000, 10000),
    (900, 1000, 100, 1000),
    (1000, 1000, 0, 1000),
    (9000, 10000, 1000, 10000),
    (20000, 20000, 0, 20000),
]

KS = [
    # Equal sizes.
    (0.5, 5, 5),
    (0.8, 5, 5),
    (0.9, 5, 5),
    (0.1, 10, 10),
    (0.3, 10, 10),
    (0.6, 10, 10),
    (0.2, 50, 50),
    (0.3, 50, 50),
    (0.05, 100, 100),
    (0.15, 100, 100),
    (0.25, 100, 100),
    (0.45, 100, 100),
    (0.9, 100, 100),
    (0.03, 1000, 1000),
    (0.06, 1000, 1000),
    (0.1, 1000, 1000),
    (0.01, 10000, 10000),
    (0.02, 10000, 10000),
    (0.05, 10000, 10000),
    (0.01, 100000, 100000),
    (0.02, 100000, 100000),
    (0.9, 100000, 100000),
    # Unequal.
    (0.3, 7, 13),
    (0.2, 20, 30),
    (0.5, 20, 30),
    (0.12, 100, 1000),
    (0.2, 100, 1000),
    (0.05, 500, 20000),
    (0.08, 500, 20000),
    (0.04, 2000, 3000),
    (0.3, 10000, 50),
    (0.4, 5, 100000),
    (0.6, 5, 100000),
    (0.9, 5, 100000),
    (0.35, 100000, 10),
    (0.01, 100000, 5000),
    (0.03, 100000, 5000),
    (0.7, 12, 100000),
    # lam below 0.2: exactly 1.
    (0.01, 5, 5),
    (0.01, 100, 1000),
    (0.03, 20, 30),
    # lam just above 0.2.
    (0.04, 50, 50),
]


def exact_lower(k1, n1, k2, n2):
    """P(X <= k2), X ~ hypergeom(n1 + n2, k1 + k2, n2), in integers, rounded once."""
    n, k = n1 + n2, k1 + k2
    lo = max(0, n2 - (n - k))
    t = math.comb(k, lo) * math.comb(n - k, n2 - lo)
    total = t
    for x in range(lo, min(k2, k)):
        t = t * (k - x) * (n2 - x) // ((x + 1) * (n - k - n2 + x + 1))
        total += t
    return float(Fraction(total, math.comb(n, n2)))


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b)) or (abs(a) < 1e-300 and abs(b) < 1e-300)


def fisher_cases():
    out = []
    for k1, n1, k2, n2 in FISHER:
        p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="greater").pvalue)
        h = float(hypergeom.cdf(k2, n1 + n2, k1 + k2, n2))
        e = exact_lower(k1, n1, k2, n2)
        assert close(p, h, 1e-12), (k1, n1, k2, n2, p, h)
        assert close(p, e, 1e-11), (k1, n1, k2, n2, p, e)
        out.append({"k1": k1, "n1": n1, "k2": k2, "n2": n2, "p": p})
    return out


def ks_cases():
    out = []
    for d, n1, n2 in KS:
        ne = (float(n1) * float(n2)) / float(n1 + n2)
        lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
        p = 1.0 if lam < 0.2 else float(kolmogorov(lam))
        out.append({"d": d, "n1": n1, "n2": n2, "p": p})
    return out


golden = {
    "scipy": scipy.__version__,
    "numpy": np.__version__,
    "fisher": fisher_cases(),
    "ks": ks_cases(),
}
with open(os.path.join(HERE, "twosample_golden.json"), "w") as f:
    json.dump(golden, f, indent=1)
print(f"scipy {scipy.__version__}: fisher {len(golden['fisher'])}, ks {len(golden['ks'])}")

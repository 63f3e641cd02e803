"""Golden values for tests/certify.rs: certified thresholds and exact intervals, computed by the
references of the project's architecture (MAPIE 1.6.0, scipy).

  - hb: Hoeffding–Bentkus p-values (MAPIE's compute_hoeffding_bentkus_p_value, binary=True, as
    BinaryClassificationController uses it) on a grid of (n, tp, alpha), MAPIE's own test case
    (r_hat 0.5 and 0.8 at n = 1100, alpha 0.6) among them. Only cases where MAPIE's
    ceil(n * (1 - tp/n)) equals the integer n - tp are golden; "float_ceil" lists cases where it
    does not, with the value scipy gives for the integer count.
  - ltt: BinaryClassificationController(risk="precision") on the labeled pairs of the data/
    sample (sample_pairs.parquet) with an explicit grid, for each FWER method, two targets and
    two confidence levels: valid thresholds, the chosen one, the p-values.
  - crc: MultiLabelClassificationController(risk="recall", method="crc") on seeded per-query
    score lists (the fixture is in the JSON: each query's relevant retrieved scores, its relevant
    count, and its irrelevant retrieved scores), for three target levels.
  - cp: scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact").

    python tests/golden/make_certify.py
"""
import json
import os
import warnings

import mapie
import numpy as np
import pyarrow.parquet as pq
import scipy
from mapie.risk_control import BinaryClassificationController, MultiLabelClassificationController
from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value
from scipy.stats import binom, binomtest

HERE = os.path.dirname(os.path.abspath(__file__))
warnings.simplefilter("ignore")


def hb_cases():
    out, differ = [], []
    cases = [(1100, 550, 0.6), (1100, 220, 0.6)]  # MAPIE's test: r_hat 0.5 and 0.8, alpha 0.6
    for n in [1, 3, 10, 37, 100, 1000, 25000]:
        for frac in [0.0, 0.05, 0.2, 0.5, 0.81, 0.9, 0.97, 1.0]:
            for alpha in [0.05, 0.1, 0.2, 0.5]:
                cases.append((n, int(round(frac * n)), alpha))
    for n, tp, alpha in cases:
        r_hat = 1.0 - tp / n
        p = float(compute_hoeffding_bentkus_p_value(np.array([r_hat]), np.array([float(n)]), alpha, binary=True)[0, 0])
        case = {"n": n, "tp": tp, "alpha": alpha}
        if int(np.ceil(n * r_hat)) == n - tp:
            out.append({**case, "p": p})
        else:
            errors = n - tp
            hoeff = float(np.exp(-n * h1(min(errors / n, alpha), alpha)))
            differ.append({**case, "mapie": p, "integer": min(hoeff, float(binom.cdf(errors, n, alpha)))})
    return out, differ


def h1(a, b):
    first = 0.0 if a == 0 else a * np.log(a / b)
    second = 0.0 if a == 1 else (1 - a) * np.log((1 - a) / (1 - b))
    return first + second


def ltt_cases():
    t = pq.read_table(os.path.join(HERE, "sample_pairs.parquet"))
    s = np.asarray(t.column("score"), dtype=np.float32).astype(np.float64)
    y = (np.asarray(t.column("label")) >= 1).astype(int)
    # Up to the highest score: MAPIE's p-value of a threshold above every score is NaN.
    grid = np.linspace(0.35, 0.8, 46)
    grid = grid[grid <= s.max()]
    out = []

    def predict(x):
        x = np.asarray(x, dtype=np.float64)
        return np.column_stack([1 - x, x])

    for fwer in ["bonferroni_holm", "bonferroni", "fixed_sequence"]:
        for target in [0.5, 0.7]:
            for confidence in [0.9, 0.8]:
                c = BinaryClassificationController(
                    predict_function=predict,
                    risk="precision",
                    target_level=target,
                    confidence_level=confidence,
                    list_predict_params=grid,
                    fwer_method=fwer,
                )
                c.calibrate(s, y)
                valid = [int(np.flatnonzero(grid == v)[0]) for v in c.valid_predict_params]
                best = None if c.best_predict_param is None else int(np.flatnonzero(grid == c.best_predict_param)[0])
                out.append(
                    {
                        "fwer": {"bonferroni_holm": "holm", "bonferroni": "bonferroni", "fixed_sequence": "fixed-sequence"}[fwer],
                        "target": target,
                        "confidence": confidence,
                        "valid": valid,
                        "best": best,
                        "p_values": [float(v) for v in np.ravel(c.p_values)],
                    }
                )
    # Where MAPIE's float ceil(n * r_hat) is the integer error count, per target (alpha).
    exact = {}
    for target in [0.5, 0.7]:
        flags = []
        for lam in grid:
            pred = s >= lam
            n = int(pred.sum())
            tp = int((pred & (y == 1)).sum())
            r_hat = 1.0 - tp / n
            flags.append(bool(int(np.ceil(n * r_hat)) == n - tp))
        exact[str(target)] = flags
    return {"grid": grid.tolist(), "cases": out, "ceil_exact": exact}


def crc_cases():
    rng = np.random.default_rng(5)
    queries = []
    for q in range(150):
        n_rel = int(rng.integers(1, 5))
        retrieved_rel = n_rel if rng.random() < 0.85 else int(rng.integers(0, n_rel))
        rel = np.round(rng.beta(5, 2, size=retrieved_rel), 6)
        irr = np.round(rng.beta(2, 4, size=10 - retrieved_rel), 6)
        queries.append({"relevant": n_rel, "scores": rel.tolist(), "irrelevant": irr.tolist()})
    # One label column per retrieved document, plus one per relevant document never retrieved
    # (probability 0: never predicted on a grid above 0).
    width = max(10 + q["relevant"] for q in queries)
    proba = np.zeros((len(queries), width))
    truth = np.zeros((len(queries), width), dtype=int)
    for i, q in enumerate(queries):
        vals = q["scores"] + q["irrelevant"]
        proba[i, : len(vals)] = vals
        truth[i, : len(q["scores"])] = 1
        missing = q["relevant"] - len(q["scores"])
        truth[i, len(vals) : len(vals) + missing] = 1
    grid = np.round(np.linspace(0.0005, 0.9995, 200), 6)
    out = []
    for target in [0.5, 0.7, 0.8]:
        c = MultiLabelClassificationController(
            predict_function=lambda x: x, risk="recall", method="crc", target_level=target, predict_params=grid
        )
        c.calibrate(proba, truth)
        best = float(np.ravel(c.best_predict_param)[0])
        bound = np.ravel(c.r_hat_plus)
        out.append(
            {
                "target": target,
                "best": int(np.flatnonzero(grid == best)[0]),
                "risk": [float(v) for v in np.ravel(c.r_hat)],
                "bound": [float(v) for v in bound],
            }
        )
    return {"grid": grid.tolist(), "queries": queries, "cases": out}


def cp_cases():
    out = []
    for n, k in [(4, 4), (4, 0), (1, 1), (10, 3), (50, 7), (30, 29), (1000, 900), (12345, 12000), (2_000_000, 1_234_567)]:
        for conf in [0.95, 0.9]:
            ci = binomtest(k, n).proportion_ci(confidence_level=conf, method="exact")
            out.append({"k": k, "n": n, "confidence": conf, "low": float(ci.low), "high": float(ci.high)})
    return out


hb, differ = hb_cases()
golden = {
    "mapie": mapie.__version__,
    "scipy": scipy.__version__,
    "hb": hb,
    "float_ceil": differ,
    "ltt": ltt_cases(),
    "crc": crc_cases(),
    "cp": cp_cases(),
}
with open(os.path.join(HERE, "certify_golden.json"), "w") as f:
    json.dump(golden, f, indent=1)
print(f"hb {len(hb)} (+{len(differ)} where MAPIE's float ceil differs), ltt {len(golden['ltt']['cases'])}, crc {len(golden['crc']['cases'])}, cp {len(golden['cp'])}")

"""Golden calibration values for tests/calibration.rs, computed by scikit-learn (docs/architecture.md §6).

Cases (scores are float32 values, labels 0/1), each with scikit-learn's answers:
  - isotonic: IsotonicRegression(out_of_bounds="clip") predictions on a grid that includes
    every distinct score, points between them and points outside the fitted range;
  - platt: LogisticRegression(C=inf, solver="newton-cholesky", tol=1e-12) on the raw score,
    as a = -coef, b = -intercept;
  - pr: precision_recall_curve (precision, recall, thresholds; thresholds ascending).
The data/ sample case uses the labeled pairs of `simcal run`'s out/minilm.scores.parquet, stored
here as sample_pairs.parquet so that the tests need neither Python nor a scoring run.

    python tests/golden/make_sklearn.py [out/minilm.scores.parquet]
"""
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)


def case(name, s, y):
    s = np.asarray(s, dtype=np.float32).astype(np.float64)
    y = np.asarray(y, dtype=np.int64)
    u = np.unique(s)
    mids = (u[:-1] + u[1:]) / 2 if len(u) > 1 else u
    # At most about 1,500 of the distinct scores and 200 midpoints, evenly spread, and the ends.
    step = max(1, len(u) // 1500)
    grid = np.unique(np.concatenate([u[::step], u[-1:], mids[:: max(1, len(mids) // 200)], [u[0] - 1.0, u[0] - 1e-3, u[-1] + 1e-3, u[-1] + 1.0]]))
    iso = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    out = {
        "name": name,
        "scores": s.tolist(),
        "labels": y.tolist(),
        "isotonic": {"grid": grid.tolist(), "predict": iso.predict(grid).tolist()},
    }
    lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(s.reshape(-1, 1), y)
    out["platt"] = {"a": float(-lr.coef_[0, 0]), "b": float(-lr.intercept_[0])}
    p, r, t = precision_recall_curve(y, s)
    # Every point for small cases; every `stride`-th (from the first) for large ones.
    stride = max(1, len(t) // 2000)
    out["pr"] = {"stride": stride, "points": len(t), "precision": p[:-1:stride].tolist(), "recall": r[:-1:stride].tolist(), "thresholds": t[::stride].tolist()}
    return out


cases = []
# Ties: scores rounded to two decimals, relevance rising with the score.
s = np.round(rng.uniform(0, 1, 600), 2)
y = (rng.uniform(0, 1, 600) < s**2).astype(int)
cases.append(case("ties", s, y))
# Overlapping normal scores, many distinct values.
n = 3000
y = (rng.uniform(0, 1, n) < 0.2).astype(int)
s = np.where(y == 1, rng.normal(0.62, 0.08, n), rng.normal(0.45, 0.1, n))
cases.append(case("overlap", s, y))
# A constant score: one breakpoint, a flat Platt map.
cases.append(case("constant", np.full(80, 0.5), (np.arange(80) % 4 == 0).astype(int)))
# Non-monotone means: PAV must pool backwards over several blocks.
s = np.repeat([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 10)
y = np.concatenate([[1] * 6 + [0] * 4, [0] * 10, [1] * 3 + [0] * 7, [1] * 2 + [0] * 8, [1] * 9 + [0], [1] * 5 + [0] * 5, [1] * 10])
cases.append(case("pooling", s, y))

table = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "out", "minilm.scores.parquet")
if os.path.exists(table):
    t = pq.read_table(table, columns=["score", "label"])
    pq.write_table(t, os.path.join(HERE, "sample_pairs.parquet"))
t = pq.read_table(os.path.join(HERE, "sample_pairs.parquet"))
mask = t.column("label").is_valid().to_numpy(zero_copy_only=False)
s = t.column("score").to_numpy()[mask]
y = (t.column("label").to_numpy(zero_copy_only=False)[mask] >= 1).astype(int)
c = case("sample", s, y)
del c["scores"], c["labels"]  # read from sample_pairs.parquet
cases.append(c)

with open(os.path.join(HERE, "sklearn_calibration.json"), "w") as f:
    json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}, f)
print("wrote", len(cases), "cases")

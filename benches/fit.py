"""simcal fit against scikit-learn on the same labeled score table (benches/fit.sh runs it).

Writes a score table of N labeled pairs (default 10,000,000: 100,000 queries × top 100, scores
from two overlapping normals, quantised to float32, about 2% relevant), then in interleaved rounds
times, each as a whole process from the parquet file:
  - `simcal fit --method all --bootstrap 0 --folds 1` (the plain fit), then the same with
    `--folds 5` (cross-fitting by query), with `--confidence 0.9` (certified thresholds over the
    default 1,000-point grid), and with 1,000 bootstrap resamples;
  - scikit-learn: pyarrow read, IsotonicRegression(out_of_bounds="clip").fit, and
    LogisticRegression(C=inf, solver="newton-cholesky", tol=1e-12).fit on the raw score
    (each timed on its own inside the process).
Prints medians and ratios, and checks the numbers agree (Platt a, b; isotonic predictions).
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N = int(os.environ.get("N", "10000000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
DIR = "bench-data"
SIMCAL = "target/release/simcal"
TABLE = f"{DIR}/fit-{N}.parquet"

SKLEARN = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
t = pq.read_table(sys.argv[1], columns=["score", "label"])
s = t.column("score").to_numpy().astype(np.float64)
y = (t.column("label").to_numpy() >= 1).astype(np.int64)
t1 = time.perf_counter()
iso = IsotonicRegression(out_of_bounds="clip").fit(s, y)
t2 = time.perf_counter()
lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(s.reshape(-1, 1), y)
t3 = time.perf_counter()
grid = np.linspace(s.min(), s.max(), 101)
print(json.dumps({"read": t1 - t0, "isotonic": t2 - t1, "platt": t3 - t2,
                  "a": float(-lr.coef_[0, 0]), "b": float(-lr.intercept_[0]),
                  "grid": grid.tolist(), "iso": iso.predict(grid).tolist()}))
"""


def make_table():
    if os.path.exists(TABLE):
        return
    rng = np.random.default_rng(3)
    nq, k = N // 100, 100
    rel = rng.uniform(size=N) < 0.02
    s = np.where(rel, rng.normal(0.7, 0.08, N), rng.normal(0.45, 0.1, N)).astype(np.float32)
    q = np.repeat(np.arange(nq), k)
    t = pa.table({
        "query_id": pa.array([f"q{i}" for i in range(nq)]).take(pa.array(q)),
        "doc_id": pa.array([f"d{i}" for i in range(k)] * nq),
        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.uint32), nq)),
        "score": pa.array(s),
        "label": pa.array(rel.astype(np.int32)),
        "query_relevant": pa.array(np.ones(N, dtype=np.uint32)),
    })
    meta = {"simcal.schema_version": "1", "simcal.version": "bench", "simcal.model": "bench", "simcal.metric": "cosine",
            "simcal.k": str(k), "simcal.backend": "cpu", "simcal.queries_sha256": "", "simcal.corpus_sha256": ""}
    t = t.replace_schema_metadata(meta)
    pq.write_table(t, TABLE + ".tmp", row_group_size=1 << 20)
    os.rename(TABLE + ".tmp", TABLE)


def simcal_fit(bootstrap, *extra):
    out = f"{DIR}/fit-{bootstrap}{''.join(extra)}.json"
    t = time.perf_counter()
    r = subprocess.run([SIMCAL, "fit", "--scores", TABLE, "--method", "all", "--bootstrap", str(bootstrap), "--out", out, "--json", *extra],
                       check=True, capture_output=True, text=True)
    return time.perf_counter() - t, json.load(open(out))


def sklearn_fit():
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", SKLEARN, TABLE], check=True, capture_output=True, text=True)
    return time.perf_counter() - t, json.loads(r.stdout)


def interp(x, xp, fp):
    return float(np.interp(x, xp, fp))


def main():
    os.makedirs(DIR, exist_ok=True)
    make_table()
    print(f"fit bench: {N:,} labeled pairs ({TABLE}), {ROUNDS} rounds")
    s0, s1, sf, sc, sk = [], [], [], [], []
    for _ in range(ROUNDS):
        w, art0 = simcal_fit(0, "--folds", "1")
        s0.append(w)
        w, art1 = simcal_fit(1000, "--folds", "1")
        s1.append(w)
        w, artf = simcal_fit(0, "--folds", "5")
        sf.append(w)
        w, artc = simcal_fit(0, "--folds", "1", "--confidence", "0.9")
        sc.append(w)
        w, ref = sklearn_fit()
        sk.append((w, ref))
    m = statistics.median
    sk_wall = m(x[0] for x in sk)
    sk_fit = m(x[1]["isotonic"] + x[1]["platt"] for x in sk)
    print(f"simcal fit --bootstrap 0     {m(s0):7.3f} s (whole process: read, sort, sweep, isotonic, Platt, write)")
    print(f"simcal fit (1,000 resamples) {m(s1):7.3f} s  = ×{m(s1) / m(s0):.2f} of --bootstrap 0")
    print(f"simcal fit --folds 5         {m(sf):7.3f} s  = ×{m(sf) / m(s0):.2f} of the plain fit (100,000 queries, 5 folds)")
    print(f"simcal fit --confidence 0.9  {m(sc):7.3f} s  = +{100 * (m(sc) / m(s0) - 1):.1f}% over the plain fit (1,000-point grid)")
    ho = artf["global"]["thresholds"][0]["held_out"]
    ce = artc["global"]["thresholds"][0]["certified"]
    print(f"  precision 0.9: estimate {art0['global']['thresholds'][0]['score']:.4f}, held-out precision {ho['precision']:.4f}; "
          f"certified {ce['score']} (simultaneous lower bound {ce['simultaneous_lower_bound']}, unit {ce['unit']})")
    print(f"scikit-learn                 {sk_wall:7.3f} s (whole process); isotonic {m(x[1]['isotonic'] for x in sk):.3f} s + "
          f"logistic {m(x[1]['platt'] for x in sk):.3f} s, read {m(x[1]['read'] for x in sk):.3f} s")
    print(f"ratio: simcal --bootstrap 0 is ×{sk_wall / m(s0):.1f} faster end to end, ×{sk_fit / m(s0):.1f} vs scikit-learn's fits alone")
    ref = sk[-1][1]
    g = art0["global"]
    print(f"Platt a: simcal {g['platt']['a']:.9f} scikit-learn {ref['a']:.9f}; b: {g['platt']['b']:.9f} vs {ref['b']:.9f}")
    iso = g["isotonic"]
    diff = max(abs(interp(x, iso["x"], iso["y"]) - p) for x, p in zip(ref["grid"], ref["iso"]))
    print(f"isotonic: max |simcal - scikit-learn| over 101 grid points {diff:.2e}")


if __name__ == "__main__":
    main()

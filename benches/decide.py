"""The agent's per-query call: Calibration.decide on one query's 10 hits, predict_proba, and
decide_many for many queries, timed in process (medians of ROUNDS rounds of many calls), beside
Calibration.apply on a whole table (per query). The calibration is the sample's (data/: minilm,
certified at precision 0.8 and 0.9), the queries the sample's hits resampled.
    python benches/decide.py [--rounds 5] [--queries 10000]"""
import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import pyarrow as pa

import simcal

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--queries", type=int, default=10000)
ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data"))
args = ap.parse_args()
warnings.simplefilter("ignore", simcal.SimcalWarning)

d = args.data
table = simcal.score(f"{d}/minilm.queries.parquet", f"{d}/minilm.corpus.parquet", qrels=f"{d}/qrels.tsv", k=10,
                     backend="cpu")
cal = simcal.fit(table, target_precision=[0.8, 0.9], confidence=0.9, bootstrap=0)
scores = table.column("score").to_numpy().reshape(-1, 10)
rng = np.random.default_rng(0)
queries = [np.ascontiguousarray(scores[i]) for i in rng.integers(0, len(scores), args.queries)]
block = np.stack(queries)
one = queries[0]
cal.decide(one)  # the decider is built on the first call (and kept)


def per_call(f, n):
    times = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def once(f):
    times = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


n = args.queries
rows = [
    ("decide, one query of 10 hits", per_call(lambda: cal.decide(one), 20000)),
    ("predict_proba, one query of 10 hits", per_call(lambda: cal.predict_proba(one), 20000)),
    (f"decide_many, {n:,} queries of 10 hits (per query)", once(lambda: cal.decide_many(queries)) / n),
    (f"decide_many, {n:,} queries as one 2-D array (per query)", once(lambda: cal.decide_many(block)) / n),
    (f"decide per query in a Python loop, {n:,} queries", once(lambda: [cal.decide(q) for q in queries]) / n),
    (f"Calibration.apply on a table of {table.num_rows // 10:,} queries × 10 (per query)",
     once(lambda: cal.apply(table)) / (table.num_rows // 10)),
]
print(f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, simcal {simcal.__version__}; "
      f"medians of {args.rounds} rounds, in process")
for name, t in rows:
    print(f"{name:<60} {t * 1e6:8.2f} µs")

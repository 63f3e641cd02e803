"""simcal eval against pytrec_eval and ranx on the same run and qrels (benches/eval.sh runs it).

Writes a score table of Q queries × 100 retrieved documents (default 10,000 × 100 = 1,000,000
rows; float32 scores with ties) and TREC qrels (graded 1-3, a dozen judged documents per query,
some not retrieved), then in interleaved rounds times, each as a whole process from the files:
  - `simcal eval --scores TABLE --qrels QRELS --metrics … --json`;
  - pytrec_eval: pyarrow read of the table into a run dict, qrels parsed, RelevanceEvaluator
    .evaluate, means;
  - ranx: Qrels.from_file, Run.from_df of the pyarrow-read table, evaluate (numba: its first process compiles, later
    ones load the cache; the first is reported on its own).
Prints medians and ratios, and checks the means agree.
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

Q = int(os.environ.get("Q", "10000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
K = 100
DIR = "bench-data"
SIMCAL = "target/release/simcal"
TABLE = f"{DIR}/eval-{Q}.parquet"
QRELS = f"{DIR}/eval-{Q}.qrels"
SIMCAL_MEASURES = "ndcg_cut_10,recall_100,P_10,recip_rank,map"
TREC = {"ndcg_cut_10": "ndcg_cut_10", "recall_100": "recall_100", "P_10": "P_10", "recip_rank": "recip_rank", "map": "map"}
RANX = {"ndcg_cut_10": "ndcg@10", "recall_100": "recall@100", "P_10": "precision@10", "recip_rank": "mrr", "map": "map"}

PYTREC = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq, pytrec_eval
t = pq.read_table(sys.argv[1], columns=["query_id", "doc_id", "score"])
q, d, s = t.column("query_id").to_pylist(), t.column("doc_id").to_pylist(), t.column("score").to_numpy().astype(float).tolist()
run = {}
for qi, di, si in zip(q, d, s):
    run.setdefault(qi, {})[di] = si
qrels = {}
with open(sys.argv[2]) as f:
    for line in f:
        a, _, b, r = line.split()
        qrels.setdefault(a, {})[b] = int(r)
t1 = time.perf_counter()
per = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "P.10", "recip_rank", "map"}).evaluate(run)
t2 = time.perf_counter()
names = ["ndcg_cut_10", "recall_100", "P_10", "recip_rank", "map"]
print(json.dumps({"evaluate": t2 - t1, "mean": {m: float(np.mean([v[m] for v in per.values()])) for m in names}}))
"""

RANX_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import pyarrow.parquet as pq
from ranx import Qrels, Run, evaluate
qrels = Qrels.from_file(sys.argv[2], kind="trec")
# Run.from_parquet trips on pandas' pyarrow-backed string columns: read them as objects.
df = pq.read_table(sys.argv[1], columns=["query_id", "doc_id", "score"]).to_pandas()
df = df.astype({"query_id": object, "doc_id": object, "score": "float64"})
run = Run.from_df(df, q_id_col="query_id", doc_id_col="doc_id", score_col="score")
t1 = time.perf_counter()
r = evaluate(qrels, run, ["ndcg@10", "recall@100", "precision@10", "mrr", "map"])
t2 = time.perf_counter()
print(json.dumps({"evaluate": t2 - t1, "mean": {k: float(v) for k, v in r.items()}}))
"""


def make():
    if os.path.exists(TABLE) and os.path.exists(QRELS):
        return
    rng = np.random.default_rng(7)
    n = Q * K
    docs = rng.integers(0, 200000, size=(Q, K))
    # Unique docs per query.
    docs = np.sort(docs, axis=1) + np.arange(K)
    scores = np.sort(np.round(rng.uniform(0.2, 0.9, size=(Q, K)) * 2000) / 2000, axis=1)[:, ::-1].astype(np.float32)
    qid = np.repeat([f"q{i}" for i in range(Q)], K)
    did = np.array([f"d{x}" for x in docs.ravel()])
    lines = []
    label = np.zeros(n, dtype=np.int32)
    for i in range(Q):
        judged = rng.choice(K, size=8, replace=False)
        for j in judged:
            r = int(rng.choice([0, 1, 2, 3]))
            lines.append(f"q{i} 0 d{docs[i, j]} {r}\n")
            label[i * K + j] = r
        for j in range(4):  # judged, not retrieved
            lines.append(f"q{i} 0 x{i}_{j} {int(rng.choice([1, 2]))}\n")
    with open(QRELS, "w") as f:
        f.writelines(lines)
    t = pa.table({
        "query_id": pa.array(qid), "doc_id": pa.array(did),
        "rank": pa.array(np.tile(np.arange(1, K + 1, dtype=np.uint32), Q)),
        "score": pa.array(scores.ravel()), "label": pa.array(label),
        "query_relevant": pa.array(np.full(n, 0, dtype=np.uint32)),
    })
    meta = {"simcal.schema_version": "1", "simcal.version": "bench", "simcal.model": "bench", "simcal.metric": "cosine",
            "simcal.k": str(K), "simcal.backend": "cpu", "simcal.queries_sha256": "", "simcal.corpus_sha256": ""}
    pq.write_table(t.replace_schema_metadata(meta), TABLE + ".tmp")
    os.rename(TABLE + ".tmp", TABLE)


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, r.stdout


def main():
    os.makedirs(DIR, exist_ok=True)
    make()
    print(f"eval bench: {Q:,} queries × {K} ({TABLE}), {ROUNDS} rounds")
    ranx_cold, _ = timed([sys.executable, "-c", RANX_SCRIPT, TABLE, QRELS])
    sc, pt, rx = [], [], []
    for _ in range(ROUNDS):
        w, out = timed([SIMCAL, "eval", "--scores", TABLE, "--qrels", QRELS, "--metrics", SIMCAL_MEASURES, "--json"])
        sc.append((w, json.loads(out)))
        w, out = timed([sys.executable, "-c", PYTREC, TABLE, QRELS])
        pt.append((w, json.loads(out)))
        w, out = timed([sys.executable, "-c", RANX_SCRIPT, TABLE, QRELS])
        rx.append((w, json.loads(out)))
    m = statistics.median
    s, p, r = m(x[0] for x in sc), m(x[0] for x in pt), m(x[0] for x in rx)
    print(f"simcal eval      {s:7.3f} s (whole process: read, rank, measure, separation)")
    print(f"pytrec_eval      {p:7.3f} s (whole process; evaluate alone {m(x[1]['evaluate'] for x in pt):.3f} s)  ratio ×{p / s:.1f}")
    print(f"ranx (warm)      {r:7.3f} s (whole process; evaluate alone {m(x[1]['evaluate'] for x in rx):.3f} s)  ratio ×{r / s:.1f}")
    print(f"ranx (first run) {ranx_cold:7.3f} s (numba compiles)  ratio ×{ranx_cold / s:.1f}")
    ours = sc[-1][1]["global"]["ranking"]["mean"]
    ref = pt[-1][1]["mean"]
    rref = rx[-1][1]["mean"]
    for name in TREC:
        print(f"  {name:12s} simcal {ours[name]:.10f}  pytrec_eval {ref[TREC[name]]:.10f}  ranx {rref[RANX[name]]:.10f}")
    worst = max(abs(ours[n] - ref[TREC[n]]) for n in TREC)
    print(f"max |simcal - pytrec_eval| = {worst:.2e}")


if __name__ == "__main__":
    main()

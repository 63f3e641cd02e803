"""Golden top-k for tests/golden.rs, computed by faiss IndexFlatIP (docs/architecture.md §6).

Writes the fixture (faiss_queries.parquet, faiss_corpus.parquet: seeded random vectors of a
dimension that is not a multiple of 16, a few exact duplicate rows in the corpus, and queries
that reach them: one whose top 10 is cut among eleven tied duplicates, and one whose best two
rows score a rounding apart) and faiss's answer (faiss_topk.json). faiss keeps the same rows of an exact tie as simcal (the lowest) but
lists them in descending row order; simcal ranks them ascending (tests/golden.rs). Run once with faiss-cpu, numpy and pyarrow installed:

    python tests/golden/make_faiss.py
"""
import json
import os

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
N_Q, N_C, D, K, SEED = 40, 3000, 67, 10, 7

rng = np.random.default_rng(SEED)
q = rng.standard_normal((N_Q, D)).astype(np.float32)
c = rng.standard_normal((N_C, D)).astype(np.float32)
c[100:110] = c[5]  # duplicates: ties that must rank by corpus row
# Queries that reach the ties (drawn after the rest, so the other rows are as before): near
# row 5 (its ten copies tie exactly, and the top 10 is cut among eleven equal scores), and one
# whose two best rows, 200 and its copy 201 moved by a few parts in 10^6, score a rounding
# apart (a near tie either engine may order either way).
c[201] = c[200] + np.float32(3e-6) * np.abs(c[200]).mean() * rng.standard_normal(D).astype(np.float32)
q = np.vstack([
    q,
    c[5] + np.float32(1e-3) * rng.standard_normal(D).astype(np.float32),
    c[200] + np.float32(0.5) * rng.standard_normal(D).astype(np.float32),
]).astype(np.float32)
N_Q = len(q)
q_ids = [f"q{i:03d}" for i in range(N_Q)]
c_ids = [f"doc{i:05d}" for i in range(N_C)]


def write(path, ids, x):
    emb = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), D)
    pq.write_table(pa.table({"id": ids, "embedding": emb}), path)


write(os.path.join(HERE, "faiss_queries.parquet"), q_ids, q)
write(os.path.join(HERE, "faiss_corpus.parquet"), c_ids, c)

qn, cn = q.copy(), c.copy()
faiss.normalize_L2(qn)
faiss.normalize_L2(cn)
index = faiss.IndexFlatIP(D)
index.add(cn)
scores, rows = index.search(qn, K)
out = {
    "reference": f"faiss {faiss.__version__} IndexFlatIP on L2-normalised float32",
    "k": K,
    "queries": [
        {"id": q_ids[i], "ids": [c_ids[j] for j in rows[i]], "scores": [float(s) for s in scores[i]]}
        for i in range(N_Q)
    ],
}
with open(os.path.join(HERE, "faiss_topk.json"), "w") as f:
    json.dump(out, f, indent=1)

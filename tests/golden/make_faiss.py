"""Golden top-k for tests/golden.rs, computed by faiss IndexFlatIP (docs/architecture.md §6).

Writes the fixture (faiss_queries.parquet, faiss_corpus.parquet: seeded random vectors of a
dimension that is not a multiple of 16, a few exact duplicate rows in the corpus) and faiss's
answer (faiss_topk.json). Run once with faiss-cpu, numpy and pyarrow installed:

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

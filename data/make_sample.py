"""Cut the small sample in data/ from the full debian-pkg set (data/README.md describes both).

Usage: python data/make_sample.py SRC_DIR  (SRC_DIR: the full set's folder; writes beside this script)

Seeded: 300 queries drawn at random, and a corpus of 2,500 documents made of those queries'
relevant documents plus documents drawn at random from the rest. The same rows are taken for
every encoder, so the encoders' tables compare row for row.
"""
import csv
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_QUERIES = 300
N_CORPUS = 2500
SEED = 20261125
ENCODERS = ["minilm", "lsa"]

src = sys.argv[1]
dst = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(SEED)

qrels = {}
with open(os.path.join(src, "qrels.tsv")) as f:
    r = csv.reader(f, delimiter="\t")
    next(r)
    for qid, did, rel in r:
        qrels.setdefault(qid, []).append((did, rel))

ref = ENCODERS[0]
q_ids = pq.read_table(os.path.join(src, f"{ref}.queries.parquet"), columns=["id"]).column("id").to_pylist()
c_ids = pq.read_table(os.path.join(src, f"{ref}.corpus.parquet"), columns=["id"]).column("id").to_pylist()
c_index = {d: i for i, d in enumerate(c_ids)}

q_pick = sorted(rng.choice(len(q_ids), N_QUERIES, replace=False))
chosen_q = [q_ids[i] for i in q_pick]
needed = {c_index[d] for q in chosen_q for d, _ in qrels.get(q, []) if d in c_index}
rest = np.array(sorted(set(range(len(c_ids))) - needed))
extra = rng.choice(rest, N_CORPUS - len(needed), replace=False)
c_pick = sorted(needed | set(int(i) for i in extra))

for enc in ENCODERS:
    for part, pick in (("queries", q_pick), ("corpus", c_pick)):
        t = pq.read_table(os.path.join(src, f"{enc}.{part}.parquet"))
        t = t.take(pa.array(pick, type=pa.int64()))
        pq.write_table(t, os.path.join(dst, f"{enc}.{part}.parquet"), compression="zstd", row_group_size=1024)

with open(os.path.join(dst, "qrels.tsv"), "w", newline="") as f:
    w = csv.writer(f, delimiter="\t", lineterminator="\n")
    w.writerow(["query-id", "corpus-id", "score"])
    for q in chosen_q:
        for d, rel in qrels.get(q, []):
            w.writerow([q, d, rel])

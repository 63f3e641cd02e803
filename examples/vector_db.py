"""A vector database end to end: the data/ sample indexed in LanceDB (embedded, on disk), searched
through an approximate IVF-PQ index, the hits written as a score table, the index's top k measured
against simcal's exact top k, a calibration fitted on what the index really returns, and an agent
loop that decides each search with one call (beside a calibration fitted on the exact top k, whose
certificate the index's hits do not keep).

    pip install lancedb polars          # besides simcal, numpy and pyarrow
    python examples/vector_db.py [--data data] [--out DIR] [-k 10]
"""
import argparse
import collections
import pathlib
import tempfile
import time

import lancedb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from lancedb.index import IvfPq

import simcal

# The index: IVF_PQ, 8 partitions of ~310 rows, each vector stored as 48 PQ codes (8 dimensions,
# 8 bits each). LanceDB trains its k-means on up to 256 rows a partition, so 2,500 rows give at
# most 9 partitions (asked for more, it warns and trains 9). A search probes 2 of the 8, about a
# quarter of the corpus, and misses a neighbour filed in another partition: the index is genuinely
# approximate, as one tuned for speed is. It re-ranks 5·k candidates on the stored vectors
# (refine_factor), so the hits' scores are exact cosines; what is approximate is which hits come
# back. LanceDB does not seed its k-means: the numbers move a little from run to run.
PARTITIONS, SUB_VECTORS, NPROBES, REFINE = 8, 48, 2, 5
# The precision the agent's "act" must keep, certified with confidence 0.9 over the queries. On the
# index's hits 0.8 certifies; 0.9 rarely does (its top hit is not the nearest for about 1 query in 5).
TARGET, CONFIDENCE = 0.8, 0.9


def vectors(path):
    """The parquet embeddings file (id, embedding, section) and its vectors as a float32 matrix."""
    t = pq.read_table(path)
    emb = t.column("embedding").combine_chunks()
    return t, emb.flatten().to_numpy().reshape(len(t), emb.type.list_size)


def search(index, vector, k):
    """One query's top k from LanceDB: document ids and cosine similarities, best first.

    For the cosine metric LanceDB's `_distance` is 1 − cos(q, d) on re-ranked hits, so the score
    is 1 − `_distance` (in [−1, 1], higher is better: what simcal scores). Without refine_factor
    the distance would be the PQ codes' approximation on another scale (about 2 − 2·cos), so the
    script checks the conversion against the vectors below."""
    hits = (index.search(vector).distance_type("cosine").nprobes(NPROBES).refine_factor(REFINE)
            .limit(k).select(["id", "_distance"]).to_arrow())
    return hits["id"].to_pylist(), (1 - hits["_distance"].to_numpy()).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1] / "data")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="default: a new temporary folder")
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()
    out = args.out or pathlib.Path(tempfile.mkdtemp(prefix="simcal-vdb-"))
    out.mkdir(parents=True, exist_ok=True)
    queries_path, corpus_path, qrels = (args.data / f for f in
                                        ("minilm.queries.parquet", "minilm.corpus.parquet", "qrels.tsv"))
    queries, qvec = vectors(queries_path)
    corpus, cvec = vectors(corpus_path)

    # 1. Index the corpus in an embedded LanceDB database (a folder under --out).
    db = lancedb.connect(out / "lancedb")
    db.drop_table("corpus", ignore_missing=True)
    index = db.create_table("corpus", pa.table({"id": corpus["id"], "section": corpus["section"],
                                                "vector": corpus["embedding"]}))
    t0 = time.perf_counter()
    index.create_index("vector", config=IvfPq(distance_type="cosine", num_partitions=PARTITIONS,
                                              num_sub_vectors=SUB_VECTORS))
    print(f"LanceDB {lancedb.__version__}: {len(corpus):,} vectors, IVF_PQ ({PARTITIONS} partitions, "
          f"{SUB_VECTORS} sub-vectors), nprobes={NPROBES}, refine_factor={REFINE}: "
          f"built in {time.perf_counter() - t0:.1f} s")

    # 2. Search every query; the hits as a score table (a Polars DataFrame, written as parquet).
    row_of = {d: i for i, d in enumerate(corpus["id"].to_pylist())}
    rows = []
    for qid, section, vec in zip(queries["id"].to_pylist(), queries["section"].to_pylist(), qvec):
        ids, scores = search(index, vec, args.k)
        # The conversion, checked: the sample's vectors are unit length, so cos is the dot product.
        assert np.allclose(scores, cvec[[row_of[d] for d in ids]] @ vec, atol=1e-5), qid
        rows += [(qid, d, r, s, section) for r, (d, s) in enumerate(zip(ids, scores), 1)]
    hits = pl.DataFrame(rows, orient="row", schema={"query_id": pl.String, "doc_id": pl.String,
                                                   "rank": pl.UInt32, "score": pl.Float32, "section": pl.String})
    hits.write_parquet(out / "ann.parquet")

    # 3. How far is the index's top k from the exact top k? simcal scores the same files exactly.
    exact = simcal.score(queries_path, corpus_path, qrels=qrels, k=args.k, backend="cpu")
    pq.write_table(exact, out / "exact.parquet")
    rec = simcal.ann_recall(hits, exact)            # = simcal eval --scores ann.parquet --reference exact.parquet
    print(f"recall of the exact neighbours over {rec['queries']} queries: " + ", ".join(
        f"recall@{c} {rec['mean'][f'recall@{c}']:.3f} ({rec['below_one'][f'recall@{c}']} queries below 1)"
        for c in rec["cutoffs"]))

    # 4. Calibrate on the index's own hits, labeled from the qrels (the file just written, so that
    # the artifact names it: `simcal apply --calibration calibration.json --scores ann.parquet`
    # takes it; `simcal.fit(hits, qrels=...)` fits the Polars frame in memory the same). For
    # contrast, the same fit on the exact top k: what a calibration made without the index assumes.
    on_index = simcal.fit(out / "ann.parquet", qrels=qrels, target_precision=[TARGET], confidence=CONFIDENCE,
                          bootstrap=0)
    on_exact = simcal.fit(exact, target_precision=[TARGET], confidence=CONFIDENCE, bootstrap=0)
    on_index.save(out / "calibration.json")                       # the artifact an agent loads
    fits = {"the index's hits": on_index, "the exact top k": on_exact}
    for name, cal in fits.items():
        act_at = next(t for t in cal.thresholds.to_pylist() if t["target"] == "precision")["certified_threshold"]
        print(f"fitted on {name + ':':17} act at score >= {act_at:.4f}, certified precision >= {TARGET} "
              f"(confidence {CONFIDENCE})")

    # 5. The agent loop: search, then one call decides act / escalate / not found. Here the queries
    # are the ones the fits saw (in sample); on new queries the certificate is what holds.
    judged = pl.read_csv(qrels, separator="\t", schema_overrides={"query-id": pl.String, "corpus-id": pl.String})
    relevant = set(judged.filter(pl.col("score") > 0).select("query-id", "corpus-id").iter_rows())
    tally = {name: collections.Counter() for name in fits}
    t0 = time.perf_counter()
    for qid, vec in zip(queries["id"].to_pylist(), qvec):
        ids, scores = search(index, vec, args.k)
        for name, cal in fits.items():
            d = cal.decide(scores)
            tally[name][d.decision] += 1
            tally[name]["right"] += d.decision == "act" and (qid, ids[d.top]) in relevant
    print(f"agent: {len(queries)} searches, {1e3 * (time.perf_counter() - t0) / len(queries):.1f} ms each "
          f"with the decisions; top hit relevant where it acted (certified: >= {TARGET}):")
    for name, n in tally.items():
        print(f"  fitted on {name + ':':17} " + ", ".join(
            f"{d} {n[d]}" for d in ("act", "escalate", "not_found", "ambiguous") if n[d])
              + f"; precision {n['right']}/{n['act']} = {n['right'] / max(n['act'], 1):.3f}")
    print(f"wrote {out}/: lancedb/, ann.parquet, exact.parquet, calibration.json")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Seeds for the fuzz corpora (fuzz/corpus/TARGET/): small valid inputs of every format each
# reader takes, written by pyarrow/numpy (any Python with both) and by simcal itself.
#   fuzz/make_seeds.sh PYTHON SIMCAL
set -euo pipefail
PY=${1:?python with numpy and pyarrow}
SIMCAL=${2:?path to the simcal binary}
cd "$(dirname "$0")"
C=corpus
mkdir -p $C/{embeddings_parquet,embeddings_npy,qrels,trec_run,score_table,artifact,histograms,nightly_config,merge_part}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$PY" - "$C" "$W" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
C, W = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
v = rng.standard_normal((5, 4)).astype("f4")
ids = [f"d{i}" for i in range(5)]
pq.write_table(pa.table({"id": ids, "emb": pa.array(list(v), type=pa.list_(pa.float32())), "section": ["a", "b", "a", "b", "a"]}), f"{C}/embeddings_parquet/list_f32.parquet")
pq.write_table(pa.table({"id": pa.array(range(5), pa.int64()), "emb": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel().astype("f2")), 4)}), f"{C}/embeddings_parquet/fixed_f16.parquet")
pq.write_table(pa.table({"id": ids, "emb": pa.array(list(v.astype("f8")), type=pa.large_list(pa.float64()))}), f"{C}/embeddings_parquet/large_f64.parquet", row_group_size=2)
for t in ("f2", "f4", "f8"):
    np.save(f"{C}/embeddings_npy/c_{t}.npy", v.astype(t))
np.save(f"{C}/embeddings_npy/big_endian.npy", v.astype(">f4"))
np.save(f"{W}/q.npy", v[:3])
np.save(f"{W}/c.npy", v)
open(f"{C}/qrels/trec.txt", "w").write("0 0 d1 1\n0 0 d2 0\n1 0 d3 2\n")
open(f"{C}/qrels/beir.tsv", "w").write("query-id\tcorpus-id\tscore\n0\td1\t1\n1\td3\t2\n")
pq.write_table(pa.table({"query_id": ["0", "1"], "doc_id": ["d1", "d3"], "relevance": pa.array([1, 2], pa.int32())}), f"{C}/qrels/qrels.parquet")
open(f"{W}/qrels.txt", "w").write("0 0 1 1\n1 0 3 1\n2 0 4 2\n")
open(f"{C}/trec_run/run.txt", "w").write("q1 Q0 d1 1 0.9 t\nq1 Q0 d2 2 0.5 t\nq2 Q0 d1 1 0.25 t\n")
pq.write_table(pa.table({"query_id": pa.array(["a", "a", "b"]).dictionary_encode(), "doc_id": ["x", "y", "x"], "score": [0.9, 0.2, 0.5], "label": [1.0, float("nan"), 0.0]}), f"{C}/score_table/pandas.parquet")
open(f"{C}/nightly_config/full.toml", "w").write('out = "out"\nqrels = "data/qrels.tsv"\nk = 100\nbackend = "auto"\ngroup_by = ["section"]\nseed = 0\n\n[[encoder]]\nname = "minilm"\nqueries = "data/minilm.queries.parquet"\ncorpus = "data/minilm.corpus.parquet"\nmetric = "cosine"\n\n[[encoder]]\nname = "lsa"\nqueries = "/abs/lsa.queries.npy"\ncorpus = "lsa.corpus.npy"\nmetric = "dot"\n\n[drift]\nbaseline = "baseline"\nmax_ks = 0.1\nmax_precision_drop = 0.05\nmin_pairs = 500\nsignificance = 0.05\n')
open(f"{C}/nightly_config/minimal.toml", "w").write('qrels = "q"\n[[encoder]]\nname = "a"\nqueries = "q"\ncorpus = "c"\n')
open(f"{C}/nightly_config/inline.toml", "w").write('qrels = "q"\nk = 0\nbackend = "gpu"\nencoder = [{ name = "a/b", queries = "q", corpus = "c", metric = "l2" }]\ndrift = { baseline = "", max_ks = 1e400 }\n')
PY
"$SIMCAL" score --backend cpu -k 3 --queries "$W/q.npy" --corpus "$W/c.npy" --qrels "$W/qrels.txt" --out $C/score_table/simcal.parquet
"$SIMCAL" fit --scores $C/score_table/simcal.parquet --bootstrap 20 --folds 1 --out $C/artifact/cal.json 2>/dev/null || true
"$SIMCAL" hist --scores $C/score_table/simcal.parquet --out $C/histograms/h.json
for i in 0 1; do
  "$SIMCAL" score --backend cpu -k 3 --shard $i/2 --queries "$W/q.npy" --corpus "$W/c.npy" --qrels "$W/qrels.txt" --out $C/merge_part/part$i.parquet
done

"""simcal compare against ranx's compare on the same runs (benches/compare.sh runs it).

Makes 5 runs of 10,000 queries × 100 documents from benches/eval.py's table (the same documents,
each run's scores perturbed by its own noise, so rankings and measures differ a little) and
times, as whole processes from the files:
  - `simcal compare --scores R1 … R5 --qrels QRELS --metrics <5 measures> --test fisher
    --permutations 10000 --no-calibration` (and with `--test student`; ranx compares no
    calibrations);
  - ranx: Qrels.from_file, Run.from_df for each run, `compare(qrels, runs, metrics,
    stat_test="fisher", n_permutations=1000)` (ranx's default rounds), timed both as a whole
    process and in process (compare alone); numba compiles in the first process, later ones load
    its cache (the first is reported on its own).
Prints medians and ratios, and checks that the measures' values agree and how many
comparisons each marks significant.
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

sys.path.insert(0, os.path.dirname(__file__))
import eval as base  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
RUNS = 5
SIMCAL = "target/release/simcal"
MEASURES = ["ndcg_cut.10", "recall.100", "P.10", "recip_rank", "map"]
RANX_NAMES = ["ndcg@10", "recall@100", "precision@10", "mrr", "map"]

RANX_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import pyarrow.parquet as pq
from ranx import Qrels, Run, compare
qrels = Qrels.from_file(sys.argv[1], kind="trec")
runs = []
for path in sys.argv[2:]:
    df = pq.read_table(path, columns=["query_id", "doc_id", "score"]).to_pandas()
    df = df.astype({"query_id": object, "doc_id": object, "score": "float64"})
    run = Run.from_df(df, q_id_col="query_id", doc_id_col="doc_id", score_col="score")
    run.name = path.rsplit("-", 1)[-1].split(".")[0]
    runs.append(run)
t1 = time.perf_counter()
r = compare(qrels, runs, ["ndcg@10", "recall@100", "precision@10", "mrr", "map"], max_p=0.01, stat_test="fisher",
            n_permutations=1000)
t2 = time.perf_counter()
d = r.to_dict()
sig = sum(1 for a in d["model_names"] for b in d["model_names"] if a < b
          for m in d["metrics"] if d[a]["comparisons"][b][m] <= 0.01)
print(json.dumps({"compare": t2 - t1, "total": t2 - t0, "significant": sig,
                  "scores": {n: d[n]["scores"] for n in d["model_names"]}}))
"""


def make_runs():
    base.make()
    paths = [f"{base.DIR}/compare-{base.Q}-run{i}.parquet" for i in range(RUNS)]
    if all(os.path.exists(p) for p in paths):
        return paths
    t = pq.read_table(base.TABLE)
    meta = t.schema.metadata
    scores = t.column("score").to_numpy()
    rng = np.random.default_rng(11)
    for i, p in enumerate(paths):
        noisy = (scores + rng.normal(0, 0.01 * (i + 1), scores.size)).astype(np.float32)
        u = t.set_column(t.schema.get_field_index("score"), "score", pa.array(noisy))
        m = dict(meta)
        m[b"simcal.model"] = f"run{i}".encode()
        pq.write_table(u.replace_schema_metadata(m), p + ".tmp")
        os.rename(p + ".tmp", p)
    return paths


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, r.stdout


def main():
    paths = make_runs()
    print(f"compare bench: {RUNS} runs × {base.Q:,} queries × {base.K}, {len(MEASURES)} measures, {ROUNDS} rounds")
    ranx_cold, _ = timed([sys.executable, "-c", RANX_SCRIPT, base.QRELS, *paths])
    fisher, student, rx = [], [], []
    for _ in range(ROUNDS):
        cmd = [SIMCAL, "compare", "--scores", *paths, "--qrels", base.QRELS, "--metrics", *MEASURES, "--json",
               "--correction", "none", "--no-calibration"]
        w, out = timed(cmd + ["--test", "fisher", "--permutations", "10000"])
        fisher.append((w, json.loads(out)))
        w, out = timed(cmd + ["--test", "student"])
        student.append((w, json.loads(out)))
        w, out = timed([sys.executable, "-c", RANX_SCRIPT, base.QRELS, *paths])
        rx.append((w, json.loads(out)))
    m = statistics.median
    f, s, r = m(x[0] for x in fisher), m(x[0] for x in student), m(x[0] for x in rx)
    print(f"simcal compare, fisher 10,000 rounds  {f:7.3f} s (whole process: read, rank, measure, test, bootstrap)")
    print(f"simcal compare, student               {s:7.3f} s (whole process)")
    print(f"ranx compare, fisher 1,000 rounds     {r:7.3f} s (whole process, warm numba cache; compare alone "
          f"{m(x[1]['compare'] for x in rx):.3f} s in process)  ratio ×{r / f:.1f} against simcal's fisher")
    print(f"ranx (first run)                      {ranx_cold:7.3f} s (numba compiles)")
    ours, ref = fisher[-1][1], rx[-1][1]
    worst = 0.0
    for i, run in enumerate(ours["runs"]):
        for j, name in enumerate(ours["measures"]):
            worst = max(worst, abs(run["values"][name] - ref["scores"][run["name"]][RANX_NAMES[j]]))
    print(f"max |simcal - ranx| over the runs' measures = {worst:.2e}")
    sig = sum(1 for p in ours["pairs"] if p["significant"])
    print(f"significant at p ≤ 0.01, no correction: simcal fisher {sig}, simcal student "
          f"{sum(1 for p in student[-1][1]['pairs'] if p['significant'])}, ranx fisher {ref['significant']} "
          f"of {len(ours['pairs'])}")


if __name__ == "__main__":
    main()

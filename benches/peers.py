"""Driver for benches/peers.sh: makes the data, times each job as a whole process (as a user
would run it) in interleaved rounds, checks that the top-k ids agree, prints medians and ratios."""
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NQ, NC, D, K = 2048, 100_000, 768, 100
ROUNDS = int(os.environ.get("ROUNDS", "5"))
DIR = "bench-data"
SIMCAL = "target/release/simcal"
PY = sys.executable


def unit(rng, n):
    x = rng.standard_normal((n, D), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def write(path, x, list_type="fixed", start=0):
    vals = pa.array(x.reshape(-1))
    if list_type == "fixed":
        emb = pa.FixedSizeListArray.from_arrays(vals, D)
    else:
        emb = pa.ListArray.from_arrays(pa.array(np.arange(0, len(x) * D + 1, D, dtype=np.int32)), vals)
    return pa.table({"id": [f"d{start + i}" for i in range(len(x))], "embedding": emb})


def make_data():
    paths = {k: f"{DIR}/{k}.parquet" for k in ("queries", "corpus", "corpus_list")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = np.random.default_rng(1)
    q = unit(rng, NQ)
    c = unit(rng, NC)
    pq.write_table(write(paths["queries"], q), paths["queries"], row_group_size=8192)
    pq.write_table(write(paths["corpus"], c), paths["corpus"], row_group_size=8192)
    pq.write_table(write(paths["corpus_list"], c, "list"), paths["corpus_list"], row_group_size=8192)
    return paths


# Both Python jobs read the same way (pyarrow, zero-copy to numpy) and write the same table.
READ = r"""
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
def load(p):
    t = pq.read_table(p)
    col = t.column("embedding").combine_chunks()
    x = col.values.to_numpy(zero_copy_only=False).reshape(len(col), -1).astype(np.float32, copy=False)
    return t.column("id").to_pylist(), np.ascontiguousarray(x)
qi, q = load(sys.argv[1]); ci, c = load(sys.argv[2]); k = int(sys.argv[3])
"""
WRITE = r"""
ids = np.array(ci, dtype=object)
pq.write_table(pa.table({"query_id": np.repeat(np.array(qi, dtype=object), k), "doc_id": ids[I.reshape(-1)],
    "rank": np.tile(np.arange(1, k + 1, dtype=np.uint32), len(qi)), "score": D.reshape(-1)}), sys.argv[4])
"""

FAISS_JOB = READ + r"""
import faiss
faiss.normalize_L2(q); faiss.normalize_L2(c)
index = faiss.IndexFlatIP(c.shape[1]); index.add(c)
D, I = index.search(q, k)
""" + WRITE

NUMPY_JOB = READ + r"""
q = q / np.linalg.norm(q, axis=1, keepdims=True); c = c / np.linalg.norm(c, axis=1, keepdims=True)
I = np.empty((len(q), k), dtype=np.int64); D = np.empty((len(q), k), dtype=np.float32)
for s in range(0, len(q), 256):
    S = q[s:s + 256] @ c.T
    part = np.argpartition(-S, k, axis=1)[:, :k]
    ps = np.take_along_axis(S, part, 1)
    o = np.argsort(-ps, axis=1, kind="stable")
    I[s:s + 256] = np.take_along_axis(part, o, 1); D[s:s + 256] = np.take_along_axis(ps, o, 1)
""" + WRITE


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, out.stdout


def peak_rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, check=True, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    return int(m.group(1)) / 1024 if m else float("nan")


def main():
    paths = make_data()
    jobs = {
        "simcal": lambda: [SIMCAL, "score", "--queries", paths["queries"], "--corpus", paths["corpus"], "-k", str(K), "--backend", "cpu", "--out", f"{DIR}/simcal.parquet", "--json"],
        "simcal (List column)": lambda: [SIMCAL, "score", "--queries", paths["queries"], "--corpus", paths["corpus_list"], "-k", str(K), "--backend", "cpu", "--out", f"{DIR}/simcal_list.parquet", "--json"],
        "faiss-cpu": lambda: [PY, "-c", FAISS_JOB, paths["queries"], paths["corpus"], str(K), f"{DIR}/faiss.parquet"],
        "numpy": lambda: [PY, "-c", NUMPY_JOB, paths["queries"], paths["corpus"], str(K), f"{DIR}/numpy.parquet"],
    }
    times = {name: [] for name in jobs}
    gflops = []
    for r in range(ROUNDS):
        for name, cmd in jobs.items():
            t, out = timed(cmd())
            times[name].append(t)
            if name == "simcal":
                gflops.append(json.loads(out)["gflops"])
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in jobs), flush=True)

    a = pq.read_table(f"{DIR}/simcal.parquet")
    b = pq.read_table(f"{DIR}/faiss.parquet")
    same = np.mean(np.array(a.column("doc_id").to_pylist()) == np.array(b.column("doc_id").to_pylist()))
    dmax = float(np.max(np.abs(a.column("score").to_numpy() - b.column("score").to_numpy())))

    med = {n: statistics.median(v) for n, v in times.items()}
    flop = 2.0 * NQ * NC * D
    print(f"\n{NQ} queries × {NC} corpus × {D} dims, k = {K}; medians of {ROUNDS} interleaved rounds, whole processes")
    for n in jobs:
        print(f"  {n:22s} {med[n]:6.2f} s   simcal is {med[n] / med['simcal']:.2f}× faster")
    print(f"  simcal scoring phase: median {statistics.median(gflops):.1f} GFLOP/s (end to end {flop / med['simcal'] / 1e9:.1f} GFLOP/s)")
    print(f"  top-k ids identical to faiss at {same * 100:.3f}% of positions; max |score diff| {dmax:.2e}")
    if "--memory" in sys.argv:
        big = f"{DIR}/corpus_4g.parquet"
        n_big = 1_400_000
        if not os.path.exists(big):
            rng = np.random.default_rng(3)
            w = None
            for s in range(0, n_big, 100_000):
                t = write(big, unit(rng, 100_000), start=s)
                w = w or pq.ParquetWriter(big, t.schema, compression="none")
                w.write_table(t, row_group_size=8192)
            w.close()
        size = os.path.getsize(big) / 2**30
        rss = peak_rss([SIMCAL, "score", "--queries", paths["queries"], "--corpus", big, "-k", str(K), "--out", f"{DIR}/big.parquet"])
        print(f"  peak memory scoring a {size:.2f} GiB corpus file: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

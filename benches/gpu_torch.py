"""torch.matmul + torch.topk against `simcal score --backend gpu` on the same files and GPU.

Reads the files `cargo bench --bench gpu` writes (or any queries/corpus parquet pair with `id`
and a fixed-size-list `embedding` column), then in interleaved rounds times:
  - simcal, as a whole process: `simcal score --backend gpu --precision P --json` (wall, and the
    scoring seconds it reports);
  - torch, from the parquet read to the top-k on the host: read, normalise, upload, per corpus
    chunk `q @ c.T` and `topk`, merge the chunks' top-k, download. Its kernel time (matmul + topk
    on resident data, synchronised) is reported separately.
Prints medians, TFLOP/s and the ratios simcal / torch. Needs numpy, pyarrow and torch.

    python benches/gpu_torch.py --queries Q --corpus C [-k 100] [--rounds 5] [--precision f32,f16]
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import torch


def read(path):
    t = pq.read_table(path, columns=["embedding"])
    col = t.column("embedding").combine_chunks()
    d = col.type.list_size
    return np.array(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, d)


def torch_job(args, dtype, dev):
    """The whole job from files; returns (seconds, kernel seconds, top-k ids of the first query)."""
    t0 = time.perf_counter()
    q = torch.from_numpy(read(args.queries)).to(dev)
    c = torch.from_numpy(read(args.corpus)).to(dev)
    q = torch.nn.functional.normalize(q, dim=1).to(dtype)
    c = torch.nn.functional.normalize(c, dim=1).to(dtype)
    sync(dev)
    k0 = time.perf_counter()
    best_s, best_i = None, None
    for start in range(0, c.shape[0], args.chunk):
        s = q @ c[start:start + args.chunk].T
        v, i = torch.topk(s.float(), min(args.k, s.shape[1]), dim=1)
        i += start
        if best_s is None:
            best_s, best_i = v, i
        else:
            v = torch.cat([best_s, v], 1)
            i = torch.cat([best_i, i], 1)
            best_s, pos = torch.topk(v, args.k, dim=1)
            best_i = torch.gather(i, 1, pos)
    sync(dev)
    kernel = time.perf_counter() - k0
    ids = best_i.cpu().numpy()
    return time.perf_counter() - t0, kernel, ids[0]


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def simcal_job(args, precision):
    t = time.perf_counter()
    out = subprocess.run(
        [args.simcal, "score", "--backend", "gpu", "--precision", precision, "--json", "-k", str(args.k),
         "--queries", args.queries, "--corpus", args.corpus, "--out", f"{args.out}-{precision}.parquet"],
        check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    v = json.loads(out.stdout)
    return wall, v["scoring_seconds"], v["backend"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--queries", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("-k", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--precision", default="f32,f16")
    p.add_argument("--chunk", type=int, default=100_000, help="torch corpus rows per matmul")
    p.add_argument("--simcal", default="target/release/simcal")
    p.add_argument("--out", default="bench-data/gpu/torch-vs")
    args = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    nq = pq.ParquetFile(args.queries).metadata.num_rows
    nc = pq.ParquetFile(args.corpus).metadata.num_rows
    d = read(args.queries).shape[1]
    flops = 2.0 * nq * nc * d
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {name}: {nq} × {nc} × {d}, k = {args.k}, {args.rounds} rounds")
    torch_job(args, torch.float32, dev)  # warm-up: CUDA context, cuBLAS handles
    for precision in args.precision.split(","):
        dtype = {"f32": torch.float32, "f16": torch.float16}[precision]
        tw, tk, sw, ss = [], [], [], []
        backend = ""
        for _ in range(args.rounds):
            wall, kernel, _ = torch_job(args, dtype, dev)
            tw.append(wall)
            tk.append(kernel)
            wall, scoring, backend = simcal_job(args, precision)
            sw.append(wall)
            ss.append(scoring)
        m = statistics.median
        print(f"{precision}: torch end to end {m(tw):.3f} s, matmul+topk {m(tk):.3f} s ({flops / m(tk) / 1e12:.1f} TFLOP/s)")
        print(f"{precision}: simcal end to end {m(sw):.3f} s, scoring {m(ss):.3f} s ({flops / m(ss) / 1e12:.1f} TFLOP/s) [{backend}]")
        print(f"{precision}: simcal / torch: end to end ×{m(sw) / m(tw):.2f}, kernel ×{m(ss) / m(tk):.2f}")


if __name__ == "__main__":
    main()

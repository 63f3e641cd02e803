"""Random unit-vector queries and corpus as parquet (`id`, fixed-size-list `embedding`), for the
GPU benches on a machine without a Rust toolchain (`cargo bench --bench gpu` writes the same
shapes where cargo is at hand). Needs numpy and pyarrow.

    python benches/gpu_data.py --nq 10000 --n 1000000 --d 768 --dir bench-data/gpu
"""
import argparse
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write(path, prefix, n, d, seed):
    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32(), d))])
    tmp = path + ".tmp"
    with pq.ParquetWriter(tmp, schema, compression="none") as w:
        for start in range(0, n, 1 << 16):
            rows = min(1 << 16, n - start)
            v = rng.standard_normal((rows, d), dtype=np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            ids = pa.array([f"{prefix}{i}" for i in range(start, start + rows)])
            emb = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), d)
            w.write_table(pa.table({"id": ids, "embedding": emb}, schema=schema))
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nq", type=int, default=10_000)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--dir", default="bench-data/gpu")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    write(os.path.join(a.dir, f"queries-{a.nq}x{a.d}.parquet"), "q", a.nq, a.d, 1)
    write(os.path.join(a.dir, f"corpus-{a.n}x{a.d}.parquet"), "d", a.n, a.d, 2)


if __name__ == "__main__":
    main()

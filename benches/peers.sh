#!/usr/bin/env bash
# Times `simcal score` against its peers on the same files in one run and prints ratios:
#   faiss-cpu IndexFlatIP.search (pyarrow read, normalise, search, write the table) and numpy
#   (matmul + argpartition), on 2,048 queries × 100,000 corpus × 768 dims, k = 100.
# The Python peers live in a private virtualenv (bench-data/venv); the tests never need them.
#   benches/peers.sh            # speed
#   benches/peers.sh --memory   # also: peak memory scoring a ~4 GB corpus file
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow faiss=faiss-cpu
cargo bench --quiet --bench peak 2>/dev/null | grep -i "fma peak" | tee bench-data/peak.txt || true
exec "$VENV/bin/python" benches/peers.py "$@"

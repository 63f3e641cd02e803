#!/usr/bin/env bash
# simcal fuse against ranx fuse on the same three 10,000-query × 100 score tables: medians and
# ratios, each timed as a whole process from the files to the fused table on disk.
# The Python peer lives in a private virtualenv (bench-data/venv); the tests never need it.
#   benches/fuse.sh          # Q=10000 ROUNDS=5 by default
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow pandas ranx
exec "$VENV/bin/python" benches/fuse.py "$@"

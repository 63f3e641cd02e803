#!/usr/bin/env bash
# simcal compare against ranx's compare on the same 5 runs × 10,000 queries × 100: medians and
# ratios, whole processes. The Python peers live in a private virtualenv (bench-data/venv).
#   benches/compare.sh          # Q=10000 ROUNDS=5 by default
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow pandas ranx
exec "$VENV/bin/python" benches/compare.py "$@"

#!/usr/bin/env bash
# simcal fit against scikit-learn on the same 10M-pair score table: medians and ratios.
# The Python peers live in a private virtualenv (bench-data/venv); the tests never need them.
#   benches/fit.sh          # N=10000000 ROUNDS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=bench-data/venv
mkdir -p bench-data
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import numpy, pyarrow, sklearn" 2>/dev/null || "$VENV/bin/pip" install -q numpy pyarrow scikit-learn
cargo build --release --quiet
uptime
exec "$VENV/bin/python" benches/fit.py "$@"

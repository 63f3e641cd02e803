#!/usr/bin/env bash
# simcal fit against scikit-learn on the same 10M-pair score table: medians and ratios.
# The Python peers live in a private virtualenv (bench-data/venv); the tests never need them.
#   benches/fit.sh          # N=10000000 ROUNDS=5 by default
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow sklearn=scikit-learn
exec "$VENV/bin/python" benches/fit.py "$@"

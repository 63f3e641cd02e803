#!/usr/bin/env bash
# simcal eval against pytrec_eval and ranx on the same 10,000-query × 100 run and qrels:
# medians and ratios, each peer timed as a whole process from the files to the numbers.
# The Python peers live in a private virtualenv (bench-data/venv); the tests never need them.
#   benches/eval.sh          # Q=10000 ROUNDS=5 by default
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow pytrec_eval=pytrec_eval-terrier ranx
exec "$VENV/bin/python" benches/eval.py "$@"

#!/usr/bin/env bash
# The Python package against its peers in one process on the same arrays (benches/python.py):
# topk vs faiss, the calibrators vs scikit-learn, evaluate vs pytrec_eval, fuse vs ranx. Medians and ratios.
#   benches/python.sh            # ROUNDS=3; TOPK=2048x100000x768 CAL=10000000 EVAL=10000 by default
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow sklearn=scikit-learn pytrec_eval=pytrec_eval-terrier faiss=faiss-cpu ranx maturin
rm -rf bench-data/wheels
"$VENV/bin/maturin" build --release -m python/Cargo.toml -o bench-data/wheels -i "$VENV/bin/python" >/dev/null 2>&1
"$VENV/bin/pip" install -q --force-reinstall --no-deps bench-data/wheels/simcal-*.whl
exec "$VENV/bin/python" benches/python.py "$@"

#!/usr/bin/env bash
# How often the estimate and the certified threshold miss their target on held-out queries.
#   benches/splits.sh                      # the data/ sample, minilm, top 20, 200 splits
#   DATA=DIR benches/splits.sh             # a larger labeled set in the same layout
set -euo pipefail
. "$(dirname "$0")/venv.sh" numpy pyarrow
exec "$VENV/bin/python" benches/splits.py "$@"

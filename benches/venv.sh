# shellcheck shell=bash
# Sourced by the bench scripts: the private virtualenv of the Python peers (bench-data/venv;
# the tests never need it), with the modules named in $@ (import name=pip package).
#   . benches/venv.sh numpy pyarrow sklearn=scikit-learn
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit
VENV=bench-data/venv
mkdir -p bench-data
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
for spec in "$@"; do
  mod=${spec%%=*}
  pkg=${spec#*=}
  "$VENV/bin/python" -c "import $mod" 2>/dev/null || "$VENV/bin/pip" install -q "$pkg"
done
cargo build --release --quiet
uptime

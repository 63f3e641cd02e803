#!/usr/bin/env bash
# Renders an HTML report to a PNG with headless Chromium (Debian's `chromium` package):
#   docs/render_report.sh [out/report.html] [docs/report.png]
# The page needs no network and no script; what Chromium draws is what a reader sees.
set -euo pipefail
cd "$(dirname "$0")/.."
page=${1:-out/report.html}
png=${2:-docs/report.png}
[ -f "$page" ] || { echo "no $page: run 'cargo run --release -- run' first" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium: apt-get install chromium" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp" \
  --force-device-scale-factor=1 --window-size=1240,"${HEIGHT:-3300}" \
  --screenshot="$tmp/shot.png" "file://$(realpath "$page")" 2>/dev/null
mv "$tmp/shot.png" "$png"
echo "$page → $png"

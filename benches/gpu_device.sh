#!/bin/bash
# The GPU targets on a lent GPU machine (no Rust toolchain there): carries a release build of
# simcal, writes random data with benches/gpu_data.py, checks the adapter on a small corpus, then
# runs benches/gpu_torch.py (simcal --backend gpu vs torch.matmul + torch.topk, f32 and f16) on
# 10,000 × 1,000,000 × 768, k = 100. Logs to $OUT (or bench-data/gpu).
#   NQ= N= D= ROUNDS= benches/gpu_device.sh
set -uo pipefail
OUT=${OUT:-bench-data/gpu}; mkdir -p "$OUT"
NQ=${NQ:-10000}; SNQ=${SNQ:-1000}; SN=${SN:-100000}; N=${N:-1000000}; D=${D:-768}; ROUNDS=${ROUNDS:-3}
S=${SIMCAL:-target/release/simcal}
W=/tmp/simcal-gpu; mkdir -p $W
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
SECONDS=0
python3 benches/gpu_data.py --nq "$NQ" --n "$N" --d "$D" --dir $W || exit 1
python3 benches/gpu_data.py --nq "$SNQ" --n "$SN" --d "$D" --dir $W || exit 1
echo "data written in ${SECONDS} s"
Q=$W/queries-${NQ}x$D.parquet; C=$W/corpus-${N}x$D.parquet
for p in f32 f16; do
  timeout 120 "$S" score --backend gpu --precision $p --json -k 100 --queries "$W/queries-${SNQ}x$D.parquet" \
    --corpus "$W/corpus-${SN}x$D.parquet" --out $W/small-$p.parquet || exit 1
  echo
done
timeout 120 "$S" score --backend gpu --precision f32 --json -k 100 --queries "$Q" --corpus "$C" --out $W/full-f32.parquet || exit 1
echo
timeout 420 python3 benches/gpu_torch.py --queries "$Q" --corpus "$C" -k 100 --rounds "$ROUNDS" --simcal "$S" --out $W/torch-vs

#!/bin/bash
# The shard array, then the merge once every task succeeded (afterok): the merge refuses to
# run if a part is missing, repeated or from other inputs. A requeued task overwrites its own
# part atomically.
set -euo pipefail
cd "$(dirname "$0")"
DATA=${DATA:-$PWD/data}
export DATA
jid=$(sbatch --parsable simcal-shards.sbatch)
sbatch --dependency=afterok:"$jid" --job-name=simcal-merge --wrap \
  "simcal merge $DATA/parts/part-*.parquet --out $DATA/out/minilm.scores.parquet --json"
echo "shards: job $jid; merge queued after it"

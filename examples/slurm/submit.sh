#!/usr/bin/env bash
# Submits a claims session to Slurm: the shard array, then the merge, which waits for the array.
#
#   ./submit.sh [PYTEST ARGS...]          # e.g. ./submit.sh --claims-model ./our-ranker --claims-collection ./our-data
#   CLAIMS_SHARDS=8 ./submit.sh           # eight shards (array 0-7)
#
# Every CLAIMS_* variable of claims-array.sbatch / claims-merge.sbatch can be set here: sbatch hands the
# submitting shell's environment to the jobs (--export=ALL, its default).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARDS=${CLAIMS_SHARDS:-4}
# Both jobs write their logs here (#SBATCH --output=logs/...), relative to this directory, which
# Slurm does not create itself.
mkdir -p logs

# --parsable prints the job id alone ("1234", or "1234;cluster"): the array's id, which is also the
# session id its shards share and the name of its runs folder.
ARRAY_ID=$(sbatch --parsable --array="0-$((SHARDS - 1))" --export=ALL,CLAIMS_SHARDS="$SHARDS" \
           "$HERE/claims-array.sbatch" "$@")
ARRAY_ID=${ARRAY_ID%%;*}
RUNS=${CLAIMS_RUNS:-$PWD/claims-runs/$ARRAY_ID}

# afterany, not afterok: the merge runs once every task has ended, however it ended. With afterok one
# failed or timed-out shard would leave the merge pending forever (DependencyNeverSatisfied), with
# nothing written to say so; under afterany the merge itself checks what it got and says which shard
# is missing (exit 2), and after that shard is re-run the merge can be run again by hand. (A CONTRADICTED
# claim does not fail a task at all: the shards run with --claims-fail-on none.)
MERGE_ID=$(sbatch --parsable --dependency="afterany:$ARRAY_ID" --export=ALL,CLAIMS_RUNS="$RUNS" \
           "$HERE/claims-merge.sbatch")
MERGE_ID=${MERGE_ID%%;*}

echo "array $ARRAY_ID ($SHARDS shards), merge $MERGE_ID; runs in $RUNS"
echo "watch: squeue -j $ARRAY_ID,$MERGE_ID    logs: logs/claims-${ARRAY_ID}_*.out"

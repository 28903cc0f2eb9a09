#!/usr/bin/env bash
# Long accuracy runs for the closing notes (not part of CI): train seeds 1..5
# (or SEEDS="1 2 … 10") of a task, search lambda, evaluate on 200 fresh
# trials. One JSON line per step in OUT/TASK.jsonl.
#
#   bash scripts/accuracy_runs.sh TASK [OUT] [EXTRA TRAIN FLAGS...]
#   e.g. bash scripts/accuracy_runs.sh mante runs/acc --n 250 --n-trials 10000
# SEARCH_FLAGS go to both search and eval, e.g. the strict scoring preset:
#   SEARCH_FLAGS="--scoring strict" bash scripts/accuracy_runs.sh go-nogo runs/strict  (default: paper)
set -euo pipefail
cd "$(dirname "$0")/.."
task=$1; out=${2:-runs/accuracy}; shift $(( $# >= 2 ? 2 : 1 ))
cargo build --release --quiet
bin=target/release/spikernn
mkdir -p "$out"
log="$out/$task.jsonl"
for seed in ${SEEDS:-1 2 3 4 5}; do
  m="$out/$task-s$seed.mat"
  "$bin" train --task "$task" --seed "$seed" --out "$m" --force --json "$@" 2>/dev/null | tail -1 | sed 's/^/{"step":"train",/; s/^{"step":"train",{/{"step":"train",/' >> "$log"
  # shellcheck disable=SC2086
  "$bin" search "$m" --seed "$seed" ${SEARCH_FLAGS:-} --json 2>/dev/null | tail -1 | sed 's/^{/{"step":"search",/' >> "$log"
  # shellcheck disable=SC2086
  "$bin" eval "$m" --seed "$seed" --trials 200 ${SEARCH_FLAGS:-} --json 2>/dev/null | tail -1 | sed 's/^{/{"step":"eval",/' >> "$log"
done

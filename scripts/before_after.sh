#!/usr/bin/env bash
# Before/after accuracy check for a change that alters numbers (#15's
# tables in the README's speed paragraph were made this way; not part of CI).
#
#   bash scripts/before_after.sh OLD_BIN NEW_BIN OUT
#
# OLD_BIN, NEW_BIN: two `spikernn` binaries (e.g. built in a worktree of
# the commit before). Writes to OUT/:
#   {old,new}/<task>-s<seed>.{train,search,eval}.json — Go-NoGo seeds 1–5
#     and XOR 1–3 (generic `train` defaults), each binary training its own
#     networks, then `search` and `eval --trials 200` with the model's seed;
#   paired/<net>.{old,new}.json — the OLD binary's searched model files
#     (same network, λ and readout) evaluated by both on 1000 trials
#     (`--seed 9`): isolates a change of the spiking simulation;
#   fixture-{old,new}-<seed>.json — the MATLAB-protocol grid on the
#     reference model, seeds 1–3 (compare with tests/lif_fixture.rs's curve);
#   s3-{old,new}-<seed>.log — `run` (Fig. S3 defaults, --attempts 1), seeds
#     1–10.
# Then prints the tables (python3 scripts/before_after_tables.py OUT).
set -euo pipefail
old=$1; new=$2; out=$3
cd "$(dirname "$0")/.."
fixture=tests/fixtures/tf_sst_go_nogo_N200.mat
mkdir -p "$out"/{old,new,paired}
nets="go-nogo:1 go-nogo:2 go-nogo:3 go-nogo:4 go-nogo:5 xor:1 xor:2 xor:3"
for v in old new; do
  bin=$old; [ $v = new ] && bin=$new
  for ts in $nets; do
    task=${ts%%:*}; seed=${ts##*:}; m=$out/$v/$task-s$seed.mat
    "$bin" train --task "$task" --seed "$seed" --out "$m" --force --json 2>/dev/null | tail -1 > "$out/$v/$task-s$seed.train.json"
    "$bin" search "$m" --seed "$seed" --json 2>/dev/null | tail -1 > "$out/$v/$task-s$seed.search.json"
    "$bin" eval "$m" --seed "$seed" --trials 200 --json 2>/dev/null | tail -1 > "$out/$v/$task-s$seed.eval.json"
  done
  for seed in 1 2 3; do
    cp "$fixture" "$out/fx.mat"
    "$bin" search "$out/fx.mat" --json --seed $seed --scoring paper --no-refine --lambda-rule peak \
      --refit-readout=false --output-bias=false 2>/dev/null | tail -1 > "$out/fixture-$v-$seed.json"
  done
  for seed in $(seq 1 10); do
    "$bin" run --task go-nogo --seed "$seed" --attempts 1 --out "$out/s3-$v-$seed" > "$out/s3-$v-$seed.log" 2>&1
  done
done
for ts in $nets; do
  net=${ts%%:*}-s${ts##*:}
  for v in old new; do
    bin=$old; [ $v = new ] && bin=$new
    cp "$out/old/$net.mat" "$out/paired.mat"
    "$bin" eval "$out/paired.mat" --seed 9 --trials 1000 --json 2>/dev/null | tail -1 > "$out/paired/$net.$v.json"
  done
done
rm -f "$out/fx.mat" "$out/paired.mat"
python3 scripts/before_after_tables.py "$out"

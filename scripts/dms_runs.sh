#!/usr/bin/env bash
# DMS networks of issue #16 (acceptance 2) and their lesions (acceptance 1):
# for each seed, train with the short delay (50 ms) to the stopping rule,
# go on from that model with the long delay (750 ms; train --init), search λ
# (default scoring), evaluate 200 spiking trials at the best λ, make the
# figures, and evaluate 200 trials at the intact λ under each lesion.
#
#   scripts/dms_runs.sh OUT_DIR [SEEDS...]      (default seeds 1 2 3)
#
# BIN: the spikernn binary (default target/release/spikernn).
set -euo pipefail
out="${1:?usage: dms_runs.sh OUT_DIR [SEEDS...]}"; shift
seeds=("${@:-1 2 3}")
[ $# -eq 0 ] && seeds=(1 2 3)
bin="${BIN:-target/release/spikernn}"
mkdir -p "$out"
lesions=("ii:scale=0.7" "ii:scale=1.3" "ie:remove=0.5" "units=I:remove")
for s in "${seeds[@]}"; do
    short="$out/dms_s${s}_short.mat" long="$out/dms_s${s}.mat"
    "$bin" -q train --task dms --delay-ms 50 --seed "$s" --out "$short" --force --json >"$out/train_s${s}_short.json"
    "$bin" -q train --task dms --init "$short" --seed "$s" --out "$long" --force --json >"$out/train_s${s}_long.json"
    "$bin" -q search "$long" --seed "$s" ${SEARCH_FLAGS:-} --json >"$out/search_s${s}.json"
    "$bin" -q eval "$long" --trials 200 --seed "$s" --json >"$out/eval_s${s}.json"
    "$bin" -q plot "$long" --out "$out/figs_s${s}" --seed "$s" >/dev/null
    for l in "${lesions[@]}"; do
        "$bin" -q eval "$long" --trials 200 --seed "$s" --lesion "$l" --json >"$out/eval_s${s}_${l//[:=]/_}.json"
    done
    echo "seed $s done: $(date -u +%T)"
done

#!/usr/bin/env bash
# Spiking accuracy of one model under the lesions of docs/lesions.md
# (acceptance 1 of issue #16): search λ on the intact network (default
# scoring, stored in the model), then evaluate 200 trials at that λ intact
# and under each lesion (the intact λ is kept).
#
#   [SEARCH_FLAGS=...] scripts/lesion_table.sh MODEL.mat OUT_DIR [SEED]
# (docs/lesions.md was measured with SEARCH_FLAGS="--lambda-rule peak
# --refit-readout=false", the conversion before the per-task defaults)
set -euo pipefail
model="${1:?usage: lesion_table.sh MODEL.mat OUT_DIR [SEED]}" out="${2:?}" seed="${3:-1}"
bin="${BIN:-target/release/spikernn}"
mkdir -p "$out"
"$bin" -q search "$model" --seed "$seed" ${SEARCH_FLAGS:-} --json >"$out/search.json"
"$bin" -q eval "$model" --trials 200 --seed "$seed" --json >"$out/eval_intact.json"
for l in "ii:scale=0.7" "ii:scale=1.3" "ie:remove=0.5" "units=I:remove"; do
    "$bin" -q eval "$model" --trials 200 --seed "$seed" --lesion "$l" --json >"$out/eval_${l//[:=]/_}.json"
done

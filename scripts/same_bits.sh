#!/usr/bin/env bash
# Same bits: do two builds of spikernn produce byte-identical model files and
# the same JSON values for the same seeds? Used to check refactors that must
# not change numbers (issue #10).
#
#   scripts/same_bits.sh BASE_REV [OUT_DIR]
#
# Builds BASE_REV (release) in a git worktree under target/same-bits/, builds
# the working tree, then runs with both binaries:
#   train --task go-nogo --seed 1, --seed 2; train --task xor --seed 1
#   search --json on a copy of the reference fixture (strict scoring)
#   run --task go-nogo (strict scoring)
# and compares every .mat byte for byte and every JSON value except wall
# times (keys ending in "seconds") and the model's path; keys the new side adds are listed, not
# counted as differences. Exit 0 when all agree.
#
# NEW_FLAGS / OLD_FLAGS: extra flags for search/eval/run of each side, for a
# comparison across a change of defaults (e.g. NEW_FLAGS="--scoring strict").
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: same_bits.sh BASE_REV [OUT_DIR]}"
out="${2:-$(mktemp -d)}"
fixture="${FIXTURE:-../shared/fixtures/tf_sst_go_nogo_N200.mat}"
[ -f "$fixture" ] || fixture=tests/fixtures/tf_sst_go_nogo_N200.mat

rev=$(git rev-parse --short "$base")
wt="target/same-bits/$rev"
if [ ! -x "$wt/target/release/spikernn" ]; then
    rm -rf "$wt"; git worktree prune
    git worktree add --detach "$wt" "$rev" >/dev/null
    (cd "$wt" && cargo build --release --quiet --bin spikernn)
fi
cargo build --release --quiet --bin spikernn
old="$wt/target/release/spikernn"
new="target/release/spikernn"

side() { # side NAME BIN FLAGS
    local d="$out/$1" bin="$2" flags="$3"
    mkdir -p "$d"
    "$bin" train --task go-nogo --seed 1 --out "$d/gng1.mat" >/dev/null 2>&1
    "$bin" train --task go-nogo --seed 2 --out "$d/gng2.mat" >/dev/null 2>&1
    "$bin" train --task xor --seed 1 --out "$d/xor1.mat" >/dev/null 2>&1
    cp "$fixture" "$d/fixture.mat"
    # shellcheck disable=SC2086
    "$bin" search "$d/fixture.mat" --json $flags 2>/dev/null | tail -n 1 >"$d/search.json"
    # shellcheck disable=SC2086
    "$bin" run --task go-nogo --out "$d/run" $flags >/dev/null 2>&1
}
echo "running $rev …"
side old "$old" "${OLD_FLAGS:-}"
echo "running the working tree …"
side new "$new" "${NEW_FLAGS:-}"

python3 - "$out/old" "$out/new" <<'PY'
import filecmp, json, os, sys
a, b = sys.argv[1:]
bad = 0
def same_json(x, y, path=""):
    global bad
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            if k.endswith("seconds") or k == "model":  # wall times; the file's path
                continue
            if k not in y:
                print(f"  key {path}/{k} missing in new"); bad += 1
            elif k not in x:
                print(f"  (key {path}/{k} added in new)")
            else:
                same_json(x[k], y[k], f"{path}/{k}")
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (p, q) in enumerate(zip(x, y)):
            same_json(p, q, f"{path}[{i}]")
    elif x != y:
        print(f"  {path}: {x!r} != {y!r}"); bad += 1
for f in ["gng1.mat", "gng2.mat", "xor1.mat", "fixture.mat", "run/model.mat"]:
    ok = filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)
    print(f"{'same' if ok else 'DIFFERENT'} bytes: {f}"); bad += not ok
for f in ["search.json", "run/metrics.json"]:
    n0 = bad
    same_json(json.load(open(os.path.join(a, f))), json.load(open(os.path.join(b, f))))
    print(f"{'same' if bad == n0 else 'DIFFERENT'} values: {f}")
print("all the same" if bad == 0 else f"{bad} differences")
sys.exit(1 if bad else 0)
PY

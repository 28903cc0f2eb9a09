"""Markdown tables of scripts/before_after.sh's output directory (argument)."""
import json
import math
import re
import sys

out = sys.argv[1]
NETS = ["go-nogo-s1", "go-nogo-s2", "go-nogo-s3", "go-nogo-s4", "go-nogo-s5", "xor-s1", "xor-s2", "xor-s3"]
# MATLAB's curve on the reference model (tests/lif_fixture.rs).
MATLAB = [0.69, 0.85, 0.97, 0.97, 0.93, 0.95, 0.88, 0.76, 0.55, 0.36, 0.36, 0.45]


def load(path):
    with open(path) as f:
        return json.load(f)


def two_se(p, n):
    return 2 * math.sqrt(max(p * (1 - p), 1 / n) * 2 / n)


print("| network | trials, eval loss: old | new | search best (λ) old | new | eval 200 old | new | diff | 2·SE |")
print("|---|---|---|---|---|---|---|---|---|")
for net in NETS:
    t = [load(f"{out}/{v}/{net}.train.json") for v in ("old", "new")]
    s = [load(f"{out}/{v}/{net}.search.json") for v in ("old", "new")]
    e = [load(f"{out}/{v}/{net}.eval.json")["accuracy"] for v in ("old", "new")]
    print(f"| {net} | {t[0]['trials']}, {t[0]['eval_loss']:.2f} | {t[1]['trials']}, {t[1]['eval_loss']:.2f} "
          f"| {s[0]['best_accuracy']:.2f} ({s[0]['best_lambda']:.0f}) | {s[1]['best_accuracy']:.2f} ({s[1]['best_lambda']:.0f}) "
          f"| {e[0]:.3f} | {e[1]:.3f} | {e[1] - e[0]:+.3f} | {two_se((e[0] + e[1]) / 2, 200):.3f} |")

print("\n| network (old model file) | λ | 1000 trials old | new | diff | 2·SE | E Hz old / new | I Hz old / new |")
print("|---|---|---|---|---|---|---|---|")
for net in NETS:
    a, b = (load(f"{out}/paired/{net}.{v}.json") for v in ("old", "new"))
    print(f"| {net} | {a['lambda']:.0f} | {a['accuracy']:.3f} | {b['accuracy']:.3f} | {b['accuracy'] - a['accuracy']:+.3f} "
          f"| {two_se((a['accuracy'] + b['accuracy']) / 2, 1000):.3f} | {a['rate_exc_hz']:.2f} / {b['rate_exc_hz']:.2f} "
          f"| {a['rate_inh_hz']:.2f} / {b['rate_inh_hz']:.2f} |")

print()
for v in ("old", "new"):
    mads = []
    for seed in (1, 2, 3):
        acc = load(f"{out}/fixture-{v}-{seed}.json")["accuracies"]
        mads.append(sum(abs(x - m) for x, m in zip(acc, MATLAB)) / 12)
    print(f"fixture curve, {v}: mean |difference| to MATLAB " + ", ".join(f"{m:.3f}" for m in mads))

print("\n| seed | run search best (λ) old | new | eval 200 old | new |")
print("|---|---|---|---|---|")
for seed in range(1, 11):
    cells = []
    for v in ("old", "new"):
        text = open(f"{out}/s3-{v}-{seed}.log").read()
        lam, acc = re.findall(r"best lambda (\d+) \(accuracy ([0-9.]+)", text)[-1]
        ev = re.findall(r"spiking accuracy ([0-9.]+) \(95", text)[0]
        cells.append((lam, acc, ev))
    print(f"| {seed} | {cells[0][1]} ({cells[0][0]}) | {cells[1][1]} ({cells[1][0]}) | {cells[0][2]} | {cells[1][2]} |")

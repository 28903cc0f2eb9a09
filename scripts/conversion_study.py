#!/usr/bin/env python3
"""Tables and figure of examples/conversion_study.rs (issue #11 part 2).

    python3 scripts/conversion_study.py study/ docs/
Reads study/*.jsonl, prints markdown tables, writes docs/figures/conversion_study.png.
"""
import glob
import json
import os
import sys

OPTS = ["base", "bias", "margin", "bias_margin", "refit", "refit_margin"]
GOAL = {"go-nogo": 0.95, "xor": 0.95, "mante": 0.97}


def load(d):
    groups = {}
    for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        rows = {}
        for line in open(f):
            r = json.loads(line)
            rows[r["seed"]] = r  # last line per seed wins
        if rows:
            groups[os.path.basename(f)[:-6]] = [rows[s] for s in sorted(rows)]
    return groups


def var(r, proto, opt):
    for v in r["variants"]:
        if v["protocol"] == proto and v["option"] == opt:
            return v
    return None


def tables(groups):
    out = []
    for g, rows in groups.items():
        task = rows[0]["task"]
        goal = GOAL[task]
        protos = ["strict", "paper"] if task == "go-nogo" else ["strict", "paper"]
        out.append(f"\n### {g} ({task}, N {rows[0]['n']}, P_inh {rows[0]['p_inh']}, "
                   f"som_N {rows[0]['som_n']}, rec noise {rows[0]['rec_noise']}, "
                   f"input noise {rows[0]['input_noise']})\n")
        out.append("Cells: λ · search accuracy (trials) → accuracy on 200 fresh trials. "
                   "Refit rows: no search accuracy (readout fitted after λ).\n")
        for p in protos:
            if task != "go-nogo" and p == "paper":
                note = " (XOR: same as strict but window; Mante: window from 26 000)"
            else:
                note = ""
            out.append(f"\n**{p}**{note}\n")
            hdr = "| seed | b_out | rate acc | " + " | ".join(OPTS) + " |"
            out.append(hdr)
            out.append("|" + "---|" * (3 + len(OPTS)))
            passes = {o: 0 for o in OPTS}
            means = {o: [] for o in OPTS}
            for r in rows:
                cells = []
                for o in OPTS:
                    v = var(r, p, o)
                    e = v["eval"]["acc"]
                    means[o].append(e)
                    if e >= goal:
                        passes[o] += 1
                    mark = "**" if e >= goal else ""
                    if o.startswith("refit"):
                        cells.append(f"λ{v['lambda']:.0f} → {mark}{e:.3f}{mark}")
                    else:
                        cells.append(f"λ{v['lambda']:.0f} · {v['search_acc']:.2f} ({v['search_n']}) → {mark}{e:.3f}{mark}")
                out.append(f"| {r['seed']} | {r['b_out']:+.3f} | {r['rate_eval_acc_200']:.3f} | " + " | ".join(cells) + " |")
            out.append(f"| **≥ {goal}** | | | " + " | ".join(f"**{passes[o]}/{len(rows)}**" for o in OPTS) + " |")
            out.append("| mean | | | " + " | ".join(f"{sum(means[o])/len(means[o]):.3f}" for o in OPTS) + " |")
        # NoGo failure modes for Go-NoGo under strict, base and refit
        if task == "go-nogo":
            out.append("\nNoGo failures on the 200 fresh trials, strict (up = max out ≥ 0.3, "
                       "dip = max < 0.3 but min ≤ −0.3; mean = mean NoGo output in the window):\n")
            out.append("| seed | base up/dip/mean | bias up/dip/mean | refit up/dip/mean | Go failures base/refit |")
            out.append("|---|---|---|---|---|")
            for r in rows:
                c = []
                for o in ["base", "bias", "refit"]:
                    e = var(r, "strict", o)["eval"]
                    c.append(f"{e['nogo_up']}/{e['nogo_dip']}/{e['nogo_mean_out']:+.3f}")
                gf = []
                for o in ["base", "refit"]:
                    pt = var(r, "strict", o)["eval"]["per_type"][0]
                    gf.append(f"{pt['n'] - pt['correct']}")
                out.append(f"| {r['seed']} | " + " | ".join(c) + " | " + "/".join(gf) + " |")
        fits = [f for r in rows for f in r["fits"]]
        if fits:
            a = sorted(f["alpha_rel"] for f in fits)
            imp = [f["holdout_mse_orig"] / f["holdout_mse"] for f in fits]
            out.append(f"\nRefit: chosen relative ridge penalty a (α = a·tr(XᵀX)/N) median {a[len(a)//2]:g} "
                       f"(range {a[0]:g}–{a[-1]:g}); held-out MSE of the original readout / refit: "
                       f"median {sorted(imp)[len(imp)//2]:.2f}×.\n")
        tt = [r.get("train_trials") for r in rows]
        if any(tt):
            out.append(f"Rate training trials per seed: {tt}; rate accuracy (200 trials, SPEC noise): "
                       f"{[round(r['rate_eval_acc_200'], 3) for r in rows]}\n")
    return "\n".join(out)


def summary(groups):
    out = ["| network group | protocol | " + " | ".join(OPTS) + " |", "|---|---|" + "---|" * len(OPTS)]
    for g, rows in groups.items():
        task = rows[0]["task"]
        goal = GOAL[task]
        for p in ["strict", "paper"]:
            if task == "xor" and p == "paper":
                continue  # identical to strict for XOR
            cells = []
            for o in OPTS:
                vs = [var(r, p, o) for r in rows]
                k = sum(v["eval"]["acc"] >= goal for v in vs)
                m = sum(v["eval"]["acc"] for v in vs) / len(vs)
                if o.startswith("refit"):
                    cells.append(f"{k}/{len(vs)}, mean {m:.3f}")
                else:
                    ms = sum(v["search_acc"] for v in vs) / len(vs)
                    cells.append(f"{k}/{len(vs)}, mean {m:.3f} (search {ms:.3f})")
            seeds = ",".join(str(r["seed"]) for r in rows)
            out.append(f"| {g} (seeds {seeds}; goal {goal}) | {p} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def figure(groups, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    # (1) pass counts
    ax = axes[0]
    names = list(groups)
    width = 0.8 / len(OPTS)
    for j, o in enumerate(OPTS):
        vals = []
        for g in names:
            rows = groups[g]
            goal = GOAL[rows[0]["task"]]
            vals.append(sum(var(r, "strict", o)["eval"]["acc"] >= goal for r in rows) / len(rows))
        ax.bar([i + j * width for i in range(len(names))], vals, width, label=o)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("fraction of seeds at goal (strict, 200 fresh trials)")
    ax.set_title("networks reaching the goal, strict protocol")
    ax.legend(fontsize=7)
    # (2) accuracy per seed, gng strict, base vs bias vs refit
    ax = axes[1]
    g = "gng" if "gng" in groups else names[0]
    rows = groups[g]
    for o, mk in [("base", "o"), ("bias", "s"), ("margin", "^"), ("refit", "D"), ("refit_margin", "v")]:
        ax.plot([r["seed"] for r in rows], [var(r, "strict", o)["eval"]["acc"] for r in rows], mk + "-", label=o, alpha=0.8)
    gn = [k for k in groups if k.startswith("gngnoise")]
    if gn:
        rn = groups[gn[0]]
        for o, mk in [("bias", "s"), ("refit_margin", "v")]:
            ax.plot([r["seed"] for r in rn], [var(r, "strict", o)["eval"]["acc"] for r in rn], mk + ":",
                    color="k" if o == "bias" else "gray", label=f"noise-trained + {o}")
    ax.axhline(0.95, color="r", ls="--", lw=0.8)
    ax.set_xlabel("seed")
    ax.set_ylabel("spiking accuracy, 200 fresh trials")
    ax.set_title(f"{g}: strict protocol per seed")
    ax.legend(fontsize=7)
    # (3) NoGo example traces, original vs refit readout
    ax = axes[2]
    r = rows[0]
    for tr in r["traces"]:
        if tr["kind"] == 1:
            t = [20 * 0.05 * i for i in range(len(tr["out"]))]
            ax.plot(t, tr["out"], color="C0", lw=0.7, alpha=0.8)
            ax.plot(t, [x + r["b_out"] for x in tr["out"]], color="C1", lw=0.7, alpha=0.8)
            ax.plot(t, tr["refit"], color="C3", lw=0.7, alpha=0.8)
    ax.plot([], [], color="C0", label="w_out·r/λ (original)")
    ax.plot([], [], color="C1", label="+ b_out")
    ax.plot([], [], color="C3", label="refit readout")
    for y in (0.3, -0.3):
        ax.axhline(y, color="r", ls="--", lw=0.8)
    ax.axvline(375, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("spiking output")
    ax.set_title(f"{g} seed {r['seed']}: NoGo trials at λ {r['traces_lambda']:.0f}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "study"
    docs = sys.argv[2] if len(sys.argv) > 2 else None
    groups = load(d)
    print(summary(groups))
    print(tables(groups))
    if docs:
        os.makedirs(os.path.join(docs, "figures"), exist_ok=True)
        figure(groups, os.path.join(docs, "figures", "conversion_study.png"))

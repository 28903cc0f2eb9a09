#!/usr/bin/env python3
"""The spikernn tutorial in Python: train, save, convert and search lambda,
evaluate, figures (the four parts of README.md's tutorial).

    pip install ./python matplotlib scipy
    python examples/tutorial.py --out tutorial-out          # full: a few minutes
    python examples/tutorial.py --quick --out /tmp/tut      # small counts (CI)

Units: one rate step is 5 ms; one spiking step is 0.05 ms; taus are in rate
steps. Prints the wall time of each part and of the whole (the reference
package needs about 50 minutes for the same four parts).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.io as sio  # noqa: E402

import spikernn  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small trial counts (CI)")
    ap.add_argument("--out", default="tutorial-out", help="directory for the model and figures")
    ap.add_argument("--task", default="go-nogo", choices=spikernn.TASKS)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    fig_dir = os.path.join(a.out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    model_path = os.path.join(a.out, f"{a.task}.mat")
    t_start = time.perf_counter()
    parts = {}

    # ------------------------------------------------------------------
    # Part 1: train a rate RNN (Go-NoGo: N = 200, trained taus 4-20 steps =
    # 20-100 ms, Adam lr 0.01, stop at loss < 7 and accuracy > 0.95).
    t0 = time.perf_counter()
    if a.quick:
        model = spikernn.train(a.task, n=60, taus=(4, 20), seed=a.seed, n_trials=300,
                               eval_freq=100, eval_trials=20)
    else:
        model = spikernn.train(a.task, taus=(4, 20), seed=a.seed)
    tr = model.training
    print(f"part 1: {tr['verdict']} after {tr['trials']} trials "
          f"(eval accuracy {tr['eval_perf']}, eval loss {tr['eval_loss']})")
    task = spikernn.task(a.task)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    losses = np.asarray(tr["losses"])
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.5, color="0.6", label="per trial")
    if tr["eval_trials"]:
        ax.plot(tr["eval_trials"], tr["eval_losses"], "o-", ms=3, label="evaluation")
    ax.set_yscale("log")
    ax.set_xlabel("training trial")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "training_loss.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for kind in task.trial_types:
        u, target, _ = task.trial(kind, seed=a.seed)
        o, _ = model.forward(u, seed=a.seed)
        t_ms = np.arange(1, u.shape[1]) * 5.0
        ax.plot(t_ms, o, label=f"{kind}")
        ax.plot(t_ms, target, "--", color="0.5", lw=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate output")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "rate_output.png"), dpi=120)
    plt.close(fig)
    parts["1 train"] = time.perf_counter() - t0

    # ------------------------------------------------------------------
    # Part 2: the saved model is a MATLAB v5 file with the reference keys.
    t0 = time.perf_counter()
    model.save(model_path)
    keys = sorted(k for k in sio.loadmat(model_path) if not k.startswith("__"))
    print(f"part 2: saved {model_path}: {', '.join(keys)}")
    model = spikernn.RateModel.load(model_path)
    parts["2 save"] = time.perf_counter() - t0

    # ------------------------------------------------------------------
    # Part 3: convert to LIF and search lambda (grid 20, 25, ... 75 x 100
    # trials, then refinement; stored in the model file).
    t0 = time.perf_counter()
    if a.quick:
        res = spikernn.grid_search(model_path, lambdas=[30, 45, 60], trials=10, refine=False)
    else:
        res = spikernn.grid_search(model_path)
    print(f"part 3: best lambda {res.best_lambda} with accuracy {res.best_accuracy:.3f} "
          f"({res.seconds:.1f} s)")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(res.lambdas, res.accuracies, "o-", label="coarse grid")
    if res.refined_lambdas:
        ax.plot(res.refined_lambdas, res.refined_accuracies, "s", ms=4, label="refined")
    ax.axvline(res.best_lambda, color="r", ls="--", lw=0.8)
    ax.set_xlabel("scaling factor lambda")
    ax.set_ylabel("spiking accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "lambda_curve.png"), dpi=120)
    plt.close(fig)
    parts["3 search"] = time.perf_counter() - t0

    # ------------------------------------------------------------------
    # Part 4: evaluate at the stored optimum and look at one trial.
    t0 = time.perf_counter()
    ev = spikernn.evaluate(model_path, trials=20 if a.quick else 200)
    print(f"part 4: lambda {ev['lambda']}: accuracy {ev.accuracy:.3f} "
          f"(95% CI {ev.ci95[0]:.3f}-{ev.ci95[1]:.3f}, {ev.trials} trials); "
          f"E {ev.rate_exc_hz:.2f} Hz, I {ev.rate_inh_hz:.2f} Hz")
    for k, acc in ev.per_type.items():
        print(f"    {k:>8}: accuracy {acc:.3f}")
    model = spikernn.RateModel.load(model_path)
    net = spikernn.LifNetwork.from_rate(model, model.opt_scaling_factor)
    kind = task.trial_types[0]
    u, _, _ = task.trial(kind, seed=a.seed, spiking=True)
    sim = net.simulate(u, seed=a.seed)
    o, _ = model.forward(u[:, :-1], seed=a.seed)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, sim.n_steps + 1) * sim.dt * 1000, sim.out, lw=0.8, label="spiking")
    ax.plot(np.arange(1, len(o) + 1) * 5.0, o, lw=1.5, label="rate")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("output")
    ax.set_title(f"{kind} trial, lambda {net.lam}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "spiking_vs_rate.png"), dpi=120)
    plt.close(fig)

    inh = model.inh[:, 0]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    colours = np.where(inh[sim.spike_units], "tab:red", "tab:blue")
    ax.scatter(sim.spike_times * 1000, sim.spike_units, s=0.5, c=colours)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("unit")
    ax.set_title("raster (blue E, red I)")
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "raster.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(model.tau_steps * 5.0, bins=20)
    ax.set_xlabel("synaptic decay tau (ms)")
    ax.set_ylabel("units")
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "tau_histogram.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([sim.firing_rates[~inh], sim.firing_rates[inh]], bins=20,
            label=["excitatory", "inhibitory"], color=["tab:blue", "tab:red"])
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("units")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "firing_rates.png"), dpi=120)
    plt.close(fig)
    parts["4 evaluate + figures"] = time.perf_counter() - t0

    total = time.perf_counter() - t_start
    for k, v in parts.items():
        print(f"  part {k}: {v:.1f} s")
    figs = sorted(os.listdir(fig_dir))
    print(f"figures in {fig_dir}: {', '.join(figs)}")
    print(f"tutorial wall time: {total:.1f} s ({total / 60:.1f} min; "
          f"the reference package needs about 50 min)")


if __name__ == "__main__":
    main()

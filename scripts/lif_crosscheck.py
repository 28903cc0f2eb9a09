#!/usr/bin/env python3
"""Independent NumPy implementation of docs/model.md#spiking-conversion (LIF network from a rate model)
to cross-check the Rust simulator's Go-NoGo accuracy on a model file.

Written from docs/model.md#spiking-conversion's equations (update order: input, voltage + noise,
spikes, synaptic filters, reset), sharing no code with `src/lif.rs`. It is
slow (about 1 s per 1-s trial), so use it on a few λ with ~100 trials:

    python3 scripts/lif_crosscheck.py MODEL.mat LAMBDA [--trials 100] [--seed 1]

Prints the accuracy under the strict rule (NoGo: max |out| < 0.3 from step 7 500)
and under MATLAB's (NoGo: max out < 0.3 from step 10 000), with per-type
counts. Needs numpy and scipy.
"""
import argparse

import numpy as np
import scipy.io as sio

DT = 0.05e-3  # s
T_REF, T_M, V_RESET, V_TH, T_RISE = 2e-3, 10e-3, -65.0, -40.0, 2e-3


def load(path):
    d = sio.loadmat(path)
    w = np.maximum(d["w"], 0.0)  # relu: docs/model.md#model-files saves relu(w) under Dale
    w_eff = (w @ d["m"]) * d["som_m"]
    taus = d["taus"].ravel().astype(float)
    if taus.size > 1:
        tg = d["taus_gaus"].ravel()
        tau = 1 / (1 + np.exp(-tg)) * (taus[1] - taus[0]) + taus[0]
    else:
        tau = np.full(w.shape[0], taus[0])
    return w_eff, d["w_in"].astype(float), d["w_out"].ravel().astype(float), tau * 5e-3


def simulate(w_eff, w_in, w_out, td, lam, u, rng):
    """Output trace w_out/λ · r for stimulus u (n_in × (T+1) columns)."""
    n = w_eff.shape[0]
    w_spk = w_eff / lam
    ext = w_in @ u
    nt = int(round((u.shape[1] - 1) * 100))
    ipsc, h, r, hr = (np.zeros(n) for _ in range(4))
    jd = np.zeros(n)
    v = V_RESET + rng.random(n) * (30 - V_RESET)
    t_last = np.zeros(n)
    dec_d, dec_r = np.exp(-DT / td), np.exp(-DT / T_RISE)
    out = np.empty(nt)
    for i in range(1, nt + 1):
        cur = ipsc + V_TH + ext[:, min(round(i / 100), ext.shape[1] - 1)]
        free = DT * i > t_last + T_REF
        v = v + DT * free * (-v + cur) / T_M + rng.standard_normal(n) / 10
        fired = v >= V_TH
        any_fired = fired.any()
        if any_fired:
            jd = w_spk[:, fired].sum(axis=1)
        t_last = np.where(fired, DT * i, t_last)
        ipsc = ipsc * dec_d + h * DT
        h = h * dec_r + (jd / (T_RISE * td) if any_fired else 0.0)
        r = r * dec_d + hr * DT
        hr = hr * dec_r + fired / (T_RISE * td)
        v = np.where(fired, V_RESET, v)
        out[i - 1] = w_out @ r
    return out / lam


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("lam", type=float)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    model = load(a.model)
    rng = np.random.default_rng(a.seed)
    counts = {"go": [0, 0], "nogo": [0, 0]}
    matlab_ok = 0
    for _ in range(a.trials):
        go = rng.random() >= 0.5
        u = np.zeros((1, 201))
        if go:
            u[0, 50:75] = 1.0
        o = simulate(*model, a.lam, u, rng)
        spec = o[7500:]  # as src/search.rs: window index 75 × 100
        matlab = o[9999:]
        if go:
            ok, ok_m = spec.max() > 0.7, matlab.max() > 0.7
        else:
            ok, ok_m = np.abs(spec).max() < 0.3, matlab.max() < 0.3
        k = "go" if go else "nogo"
        counts[k][0] += ok
        counts[k][1] += 1
        matlab_ok += ok_m
    acc = (counts["go"][0] + counts["nogo"][0]) / a.trials
    print(
        f"{a.model} λ {a.lam:g}: strict rule {acc:.3f} (go {counts['go'][0]}/{counts['go'][1]}, "
        f"nogo {counts['nogo'][0]}/{counts['nogo'][1]}); MATLAB rule {matlab_ok / a.trials:.3f}"
    )


if __name__ == "__main__":
    main()

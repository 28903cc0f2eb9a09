"""Behaviour of the bindings against the CLI's output and the model's maths."""

import json
import shutil
import signal
import threading
import time
import _thread

import numpy as np
import pytest
import scipy.io as sio

import spikernn
from spikernn import compat


def cli_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def strip(d):
    d = dict(d)
    d.pop("seconds", None)
    d.pop("model", None)
    return d


# ---------------------------------------------------------------- tasks


@pytest.mark.parametrize("name", ["go-nogo", "xor", "mante", "dms"])
def test_task_arrays_shapes_and_determinism(name):
    t = spikernn.task(name)
    for kind in t.trial_types:
        u, z, k = t.trial(kind=kind, seed=7)
        assert k == kind
        assert u.dtype == np.float64 and z.dtype == np.float64
        assert u.shape == (t.n_inputs, t.n_steps)
        assert z.shape == (t.n_steps - 1,)
        u2, z2, _ = t.trial(kind=kind, seed=7)
        assert np.array_equal(u, u2) and np.array_equal(z, z2)
        us, _, _ = t.trial(kind=kind, seed=7, spiking=True)
        assert us.shape == (t.n_inputs, t.n_steps + 1)
        assert np.array_equal(us[:, :-1], u) and np.array_equal(us[:, -1], u[:, -1])
    u, z, k = t.trial(seed=3)
    assert k in t.trial_types
    # kind by index is the same trial as by name
    assert np.array_equal(t.trial(kind=0, seed=2)[0], t.trial(kind=t.trial_types[0], seed=2)[0])


@pytest.mark.parametrize("name", ["go-nogo", "xor", "mante"])
def test_task_trial_equals_cli_simulate_u(name, models, cli, tmp_path):
    t = spikernn.task(name)
    kind = t.trial_types[-1]
    out = tmp_path / "sim.mat"
    cli("simulate", models[name], "--lambda", 40, f"--trial-type={kind}", "--seed", 11, "--out", out)
    u_cli = sio.loadmat(out)["u"]
    u, _, k = t.trial(kind=kind, seed=11, spiking=True)
    assert k == kind
    assert u_cli.shape == u.shape
    assert np.array_equal(u_cli, u)


# ---------------------------------------------------------------- training and files


def test_train_small_equals_cli_train(cli, tmp_path):
    kw = dict(n=30, seed=2, n_trials=60, eval_freq=30, eval_trials=10)
    m = spikernn.train("go-nogo", progress=False, **kw)
    assert m.N == 30 and m.n_inputs == 1 and m.task == "go-nogo"
    assert m.w.shape == (30, 30) and m.w_in.shape == (30, 1) and m.w_out.shape == (1, 30)
    assert m.inh.shape == (30, 1) and m.inh.dtype == np.bool_
    assert np.array_equal(m.exc, ~m.inh)
    tr = m.training
    assert tr["trials"] == 60 and len(tr["losses"]) == 60 and tr["eval_trials"] == [30, 60]
    assert isinstance(tr["success"], bool) and tr["seconds"] >= 0
    out = tmp_path / "cli.mat"
    cli("train", "--task", "go-nogo", "--n", 30, "--seed", 2, "--n-trials", 60,
        "--eval-freq", 30, "--eval-trials", 10, "--out", out)
    f = sio.loadmat(out)
    for key in ("w", "w0", "w_in", "w_out", "taus_gaus", "m", "som_m"):
        assert np.array_equal(getattr(m, key), f[key]), key
    assert np.array_equal(m.inh, f["inh"].astype(bool))


def test_train_options_reach_the_network():
    m = spikernn.train("xor", n=24, taus=5, seed=1, p_inh=0.5, dale=True, n_trials=1, progress=False)
    assert m.N == 24 and m.n_inputs == 2
    assert np.array_equal(m.taus, [[5.0]])
    assert np.allclose(m.tau_steps, 5.0)
    # Dale: the sign mask is +1 on excitatory and -1 on inhibitory units
    assert np.array_equal(np.diag(m.m), np.where(m.inh[:, 0], -1.0, 1.0))
    nd = spikernn.train("xor", n=24, seed=1, dale=False, n_trials=1, progress=False)
    assert not nd.dale and not nd.inh.any()


def test_save_loadmat_load_round_trip(models, tmp_path):
    m = spikernn.RateModel.load(models["go-nogo"])
    p = tmp_path / "copy.mat"
    m.save(p)
    f = sio.loadmat(p)
    for key in ("w", "w0", "m", "som_m", "w_in", "w_out", "taus", "taus_gaus", "taus_gaus0"):
        assert np.array_equal(getattr(m, key), f[key]), key
    assert f["N"].item() == m.N and f["b_out"].item() == m.b_out
    assert np.array_equal(f["inh"].astype(bool), m.inh)
    m2 = spikernn.RateModel.load(str(p))
    for key in ("w", "w0", "w_in", "w_out", "taus_gaus", "inh"):
        assert np.array_equal(getattr(m, key), getattr(m2, key)), key
    assert m2.b_out == m.b_out and m2.task == m.task


def test_forward_output_is_readout_of_rates(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    u, _, _ = spikernn.task("go-nogo").trial("go", seed=1)
    o, r = m.forward(u, seed=4)
    assert o.shape == (u.shape[1] - 1,) and r.shape == (m.N, u.shape[1])
    assert ((r > 0) & (r < 1)).all()  # sigmoid rates
    # SPEC: o_t = w_out r_t + b_out for t = 1 .. T-1
    assert np.allclose(o, (m.w_out @ r[:, 1:])[0] + m.b_out, rtol=0, atol=1e-12)
    o2, _ = m.forward(u, seed=4)
    assert np.array_equal(o, o2)


# ---------------------------------------------------------------- spiking


def test_simulate_shapes_dtypes_and_counts(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    net = spikernn.LifNetwork.from_rate(m, 40.0)
    assert net.n == m.N and net.lam == 40.0 and net.w.shape == (m.N, m.N)
    u, _, _ = spikernn.task("go-nogo").trial("go", seed=1, spiking=True)
    s = net.simulate(u, seed=3, record=("spikes", "out", "spk", "rs", "v", "ipsc"))
    nt = (u.shape[1] - 1) * 100
    assert s.n_steps == nt and s.dt == pytest.approx(5e-5) and s.T == pytest.approx(nt * 5e-5)
    assert s.out.shape == (nt,) and s.out.dtype == np.float64
    assert s.spike_units.dtype == np.int64 and s.spike_steps.dtype == np.int64
    assert s.spike_times.dtype == np.float64
    assert s.spike_units.shape == s.spike_steps.shape == s.spike_times.shape
    for a in (s.rs, s.v, s.ipsc):
        assert a.shape == (m.N, nt) and a.dtype == np.float64
    assert s.spk.shape == (m.N, nt) and s.spk.dtype == np.bool_
    assert s.spk.sum() == len(s.spike_units)
    assert s.spk[s.spike_units, s.spike_steps].all()
    assert np.allclose(s.spike_times, (s.spike_steps + 1) * s.dt)
    # firing rate: spikes from step 10 on (MATLAB's spk(i, 10:end)) over T
    late = s.spike_steps >= 9
    counts = np.bincount(s.spike_units[late], minlength=m.N)
    assert np.allclose(s.firing_rates, counts / s.T)
    # SPEC: out = w_out_spk . r with w_out_spk = w_out / lambda
    assert np.allclose(s.out, net.w_out @ s.rs, atol=1e-9)
    assert np.allclose(net.w_out, m.w_out[0] / 40.0)
    # default: spikes and output only
    s2 = net.simulate(u, seed=3)
    assert s2.spk is None and s2.rs is None and s2.v is None
    assert np.array_equal(s2.out, s.out) and np.array_equal(s2.spike_units, s.spike_units)
    s3 = net.simulate(u, seed=3, downsample=2)
    assert s3.n_steps == nt // 2 and s3.dt == pytest.approx(1e-4)


# ---------------------------------------------------------------- search and evaluation vs the CLI


@pytest.mark.parametrize("scoring,flags", [
    ("strict", ["--scoring", "strict"]),
    ("paper", ["--scoring", "paper"]),
])
def test_grid_search_equals_cli_json(gonogo, cli, tmp_path, scoring, flags):
    other = tmp_path / "cli.mat"
    shutil.copy(gonogo, other)
    r = spikernn.grid_search(gonogo, lambdas=[30, 45], trials=6, seed=3, scoring=scoring,
                             refine=(scoring == "strict"), progress=False)
    args = ["search", other, "--lambdas", "30,45", "--trials", 6, "--seed", 3, "--json", *flags]
    if scoring != "strict":
        args.append("--no-refine")
    j = cli_json(cli(*args))
    assert strip(r) == strip(j)
    assert r.model == str(gonogo) and r.seconds > 0
    # both stored the same record
    a, b = sio.loadmat(gonogo), sio.loadmat(other)
    for key in ("opt_scaling_factor", "all_perfs", "scaling_factors"):
        assert np.array_equal(a[key], b[key]), key
    assert a["opt_scaling_factor"].item() == r.best_lambda
    assert spikernn.RateModel.load(gonogo).opt_scaling_factor == r.best_lambda


def test_evaluate_equals_cli_json(gonogo, cli):
    r = spikernn.evaluate(gonogo, lam=35, trials=12, seed=4, scoring="strict", progress=False)
    j = cli_json(cli("eval", gonogo, "--lambda", 35, "--trials", 12, "--seed", 4, "--json",
                       "--scoring", "strict"))
    assert dict(r) == j
    assert r.accuracy == j["accuracy"] and r.trials == 12
    p = spikernn.evaluate(gonogo, lam=35, trials=12, seed=4, progress=False)  # default: paper
    jp = cli_json(cli("eval", gonogo, "--lambda", 35, "--trials", 12, "--seed", 4, "--json"))
    assert dict(p) == jp
    # The paper preset is MATLAB's window and NoGo rule: the same trials
    # scored with both set by hand give the same accuracy.
    jm = cli_json(cli("eval", gonogo, "--lambda", 35, "--trials", 12, "--seed", 4, "--json",
                      "--window-start", 10000, "--nogo-rule", "max"))
    assert jm["accuracy"] == p.accuracy and jm["per_type"] == p.per_type


def test_conversion_defaults_and_their_off_switches(gonogo, cli, tmp_path):
    # go-nogo: margin λ rule and the readout refit by default (as the CLI);
    # the keywords switch them off exactly as the CLI's flags do.
    kw = dict(lambdas=[30, 45], trials=4, seed=2, progress=False)
    r = spikernn.grid_search(gonogo, **kw)
    assert "margin rule" in r["selection"] and "w_out_spk" in r
    ev = spikernn.evaluate(gonogo, trials=4, seed=2, progress=False)
    assert ev["readout"] == "refit" and ev["lambda"] == r["refit_lambda"]
    off = tmp_path / "off.mat"
    shutil.copy(gonogo, off)
    p = spikernn.grid_search(off, lambda_rule="peak", refit_readout=False, **kw)
    j = cli_json(cli("search", off, "--lambdas", "30,45", "--trials", 4, "--seed", 2,
                     "--json", "--lambda-rule", "peak", "--refit-readout=false"))
    assert "w_out_spk" not in p and strip(p) == strip(j)
    assert "readout" not in spikernn.evaluate(off, trials=4, seed=2, progress=False)
    with pytest.raises(TypeError, match="refit_readout"):
        spikernn.grid_search(off, refit_readout="yes", **kw)


def test_search_on_a_model_object_stores_the_optimum(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    r = spikernn.grid_search(m, lambdas="30:40:10", trials=4, refine=False, progress=False)
    assert r.model is None and r.lambdas == [30.0, 40.0]
    assert m.opt_scaling_factor == r.best_lambda
    ev = spikernn.evaluate(m, trials=4, progress=False)  # uses the stored lambda
    assert ev["lambda"] == r.best_lambda


def test_progress_callback_receives_events(models):
    events = []
    spikernn.evaluate(models["go-nogo"], lam=40, trials=5, progress=events.append)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert sum(e["n"] for e in events if e["kind"] == "advance") == 5
    assert all(isinstance(e["text"], str) for e in events)


# ---------------------------------------------------------------- compat


def test_compat_LIF_network_fnc_shapes(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    u, _, _ = spikernn.task("go-nogo").trial("go", seed=1, spiking=True)
    W, REC, spk, rs, all_fr, out, params = compat.LIF_network_fnc(
        str(models["go-nogo"]), 40.0, u, {"mode": "none"}, 1, False)
    N, nt = m.N, 20000
    assert W.shape == (N, N)
    assert REC.shape == (N, nt) and spk.shape == (N, nt) and rs.shape == (N, nt)
    assert spk.dtype == np.float64 and set(np.unique(spk)) <= {0.0, 1.0}
    assert all_fr.shape == (N,) and out.shape == (nt,)
    assert np.allclose(all_fr, spk[:, 9:].sum(axis=1) / params["T"])
    assert params["dt"] == pytest.approx(5e-5) and params["T"] == pytest.approx(1.0)
    assert params["nt"] == nt and params["IPSCs"].shape == (N, nt)
    assert params["td"].shape == (N,) and params["td0"].shape == (N,)
    assert np.allclose(params["td"], m.tau_steps * 5e-3)
    assert np.allclose(W, m.w_eff / 40.0)
    # downsampling and optogenetic stimulation as the reference's stims dict
    _, REC2, _, _, _, out2, p2 = compat.LIF_network_fnc(
        models["go-nogo"], 40.0, u, {"mode": "exc", "dur": [0, 5000], "units": [0, 1]}, 2, True)
    assert REC2.shape == (N, nt // 2) and out2.shape == (nt // 2,) and p2["dt"] == pytest.approx(1e-4)


def test_compat_lambda_grid_search_both_orders(models, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    shutil.copy(models["go-nogo"], d / "a.mat")
    best = compat.lambda_grid_search(str(d), "go-nogo", 3, [30, 50])
    f = sio.loadmat(d / "a.mat")
    assert best in (30.0, 50.0) and f["opt_scaling_factor"].item() == best
    assert np.array_equal(f["scaling_factors"], [[30.0, 50.0]])
    best2 = compat.lambda_grid_search(str(d / "a.mat"), 3, [30, 50], "go_nogo")
    assert best2 == best
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        compat.lambda_grid_search(str(tmp_path / "nothing-here"), "go-nogo", 3, [30])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw,exc,pat", [
    (dict(task="nope"), ValueError, "task"),
    (dict(n=0), ValueError, "invalid n"),
    (dict(p_inh=1.5), ValueError, "p.inh"),
    (dict(p_rec=0.0), ValueError, "p.rec"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(taus=(20, 4)), ValueError, "taus"),
    (dict(taus="fast"), ValueError, "taus"),
    (dict(act="tanh"), ValueError, "act"),
    (dict(loss="l3"), ValueError, "loss"),
    (dict(w_dist="x"), ValueError, "w.dist"),
    (dict(n_trials=-1), ValueError, "n_trials"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(bogus=1), TypeError, "bogus"),
])
def test_train_bad_input(kw, exc, pat):
    with pytest.raises(exc, match=pat):
        spikernn.train(progress=False, **kw)


def test_bad_files(tmp_path, models):
    missing = tmp_path / "missing.mat"
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        spikernn.RateModel.load(missing)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        spikernn.grid_search(missing, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        spikernn.evaluate(missing, lam=40, progress=False)
    bad = tmp_path / "bad.mat"
    bad.write_text("not a mat file")
    with pytest.raises(ValueError, match="bad.mat"):
        spikernn.RateModel.load(bad)
    m = spikernn.RateModel.load(models["go-nogo"])
    with pytest.raises(OSError, match="no-such-dir"):
        m.save(tmp_path / "no-such-dir" / "x.mat")
    with pytest.raises(TypeError, match="model_or_path"):
        spikernn.grid_search(123)


def test_bad_search_and_eval_parameters(gonogo):
    before = gonogo.read_bytes()
    for kw, pat in [
        (dict(trials=0), "trials"),
        (dict(lambdas=[-1]), "lambdas"),
        (dict(lambdas="abc"), "lambdas"),
        (dict(lambdas=[]), "lambdas"),
        (dict(scoring="foo"), "scoring"),
        (dict(task="xor"), "task"),
        (dict(downsample=0), "downsample"),
        (dict(neuron="hh"), "neuron"),
    ]:
        with pytest.raises(ValueError, match=pat):
            spikernn.grid_search(gonogo, progress=False, **kw)
    assert gonogo.read_bytes() == before
    with pytest.raises(ValueError, match="lam"):
        spikernn.evaluate(gonogo, progress=False)  # no stored optimum, no lam
    with pytest.raises(ValueError, match="trials"):
        spikernn.evaluate(gonogo, lam=40, trials=-3, progress=False)


def test_bad_network_and_task_input(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    with pytest.raises(ValueError, match="lambda"):
        spikernn.LifNetwork.from_rate(m, 0.0)
    with pytest.raises(ValueError, match="neuron"):
        spikernn.LifNetwork.from_rate(m, 40.0, neuron="hh")
    net = spikernn.LifNetwork.from_rate(m, 40.0)
    with pytest.raises(ValueError, match="stimulus"):
        net.simulate(np.zeros((2, 201)))
    with pytest.raises(ValueError, match="record"):
        net.simulate(np.zeros((1, 201)), record=["bogus"])
    with pytest.raises(ValueError, match="downsample"):
        net.simulate(np.zeros((1, 201)), downsample=0)
    with pytest.raises(ValueError, match="stims"):
        net.simulate(np.zeros((1, 201)), opto={"mode": "exc"})
    with pytest.raises(ValueError, match="kind"):
        spikernn.task("go-nogo").trial(kind="maybe")
    with pytest.raises(ValueError, match="kind"):
        spikernn.task("go-nogo").trial(kind=5)
    with pytest.raises(ValueError, match="task"):
        spikernn.task("stroop")
    with pytest.raises(ValueError, match="invalid u"):
        m.forward(np.zeros((3, 10)))


def test_progress_callback_exception_propagates(models):
    def boom(e):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        spikernn.evaluate(models["go-nogo"], lam=40, trials=50, progress=boom)


# ---------------------------------------------------------------- Ctrl-C and the GIL


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt even when the test run was started
    with SIGINT ignored (a background job of a non-interactive shell), where
    `_thread.interrupt_main` would otherwise do nothing."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_keyboard_interrupt_during_search_leaves_file_unchanged(gonogo, sigint_raises):
    before = gonogo.read_bytes()
    timer = threading.Timer(0.5, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            spikernn.grid_search(gonogo, trials=2000, progress=False)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0, f"took {elapsed:.1f} s to stop"
    assert gonogo.read_bytes() == before
    assert list(gonogo.parent.glob(".spikernn-*")) == []  # no temporary left behind


def test_keyboard_interrupt_during_training(sigint_raises):
    timer = threading.Timer(0.3, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            spikernn.train("go-nogo", n=100, n_trials=100000, loss_threshold=1e-9,
                           acc_threshold=1.0, progress=False)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 5.0


def test_gil_is_released_during_long_work(models):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    th = threading.Thread(target=tick)
    th.start()
    try:
        t0 = time.monotonic()
        spikernn.evaluate(models["go-nogo"], lam=40, trials=40, progress=False)
        dur = time.monotonic() - t0
    finally:
        stop.set()
        th.join()
    # the other thread kept running while Rust worked
    assert len(ticks) >= max(3, int(dur / 0.01 * 0.3))


# ---------------------------------------------------------------- DMS and lesions


def test_dms_task_and_training_take_the_delay():
    long, short = spikernn.task("dms"), spikernn.task("dms", delay_ms=50)
    # T = 241 + delay / 5 rate steps (docs: cue 150-400 ms, probe after the delay).
    assert (long.n_steps, short.n_steps) == (391, 251)
    u, z, _ = short.trial(kind="+-", seed=1)
    assert u[0, 30] == 1.0 and u[1, 90] == -1.0 and z[150] == -1.0
    m = spikernn.train("dms", n=20, seed=2, n_trials=20, eval_freq=10, eval_trials=4,
                       delay_ms=50, progress=False)
    assert m.task == "dms"
    with pytest.raises(ValueError, match="delay-ms"):
        spikernn.train("xor", n=20, n_trials=10, delay_ms=50, progress=False)


def test_lesion_keyword_equals_cli_json(gonogo, cli):
    before = gonogo.read_bytes()
    lesions = ["ii:scale=0.7", "ie:remove=0.5"]
    r = spikernn.evaluate(gonogo, lam=35, trials=6, seed=4, lesion=lesions, progress=False)
    args = ["eval", gonogo, "--lambda", 35, "--trials", 6, "--seed", 4, "--json"]
    j = cli_json(cli(*args, "--lesion", lesions[0], "--lesion", lesions[1]))
    assert dict(r) == j
    assert [x["lesion"] for x in r["lesions"]] == lesions
    intact = spikernn.evaluate(gonogo, lam=35, trials=6, seed=4, progress=False)
    assert "lesions" not in intact
    # A lesioned search is not stored; the file is unchanged.
    s = spikernn.grid_search(gonogo, lambdas=[35], trials=2, refine=False,
                             lesion="units=I:remove", progress=False)
    assert s["lesions"][0]["lesion"] == "units=I:remove"
    assert gonogo.read_bytes() == before
    with pytest.raises(ValueError, match="lesion"):
        spikernn.evaluate(gonogo, lam=35, trials=2, lesion=["xx:scale=2"], progress=False)


def test_lesioned_conversion_silences_the_units(models):
    m = spikernn.RateModel.load(models["go-nogo"])
    net = spikernn.LifNetwork.from_rate(m, 30.0, lesion=["units=I:remove"])
    inh = np.asarray(m.inh).astype(bool).ravel()
    assert np.all(net.w[:, inh] == 0.0) and np.all(net.w_out[inh] == 0.0)
    intact = spikernn.LifNetwork.from_rate(m, 30.0)
    assert np.array_equal(net.w[:, ~inh], intact.w[:, ~inh])

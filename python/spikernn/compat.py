"""Entry points of the reference Python package, on spikernn.

A notebook written for the reference package (the PyTorch port of
rkim35/spikeRNN's MATLAB ``spiking/`` folder, ``spikeRNN.spiking``) switches
by changing its import::

    # from spiking.LIF_network_fnc import LIF_network_fnc
    # from spiking.lambda_grid_search import lambda_grid_search
    from spikernn.compat import LIF_network_fnc, lambda_grid_search

Same positional signatures, same return values and shapes:

* ``LIF_network_fnc(model_path, scaling_factor, u, stims, downsample,
  use_initial_weights)`` returns ``(W, REC, spk, rs, all_fr, out, params)``:
  W (N x N), REC (N x nt, mV), spk (N x nt, float64 0/1), rs (N x nt),
  all_fr (N,) in Hz, out (nt,), params a dict with ``dt`` and ``T`` (s),
  ``nt``, ``w_out`` (1 x N, as stored), ``td`` and ``td0`` (s, per unit) and
  ``IPSCs`` (N x nt). ``u`` is the spiking stimulus, n_in x (T + 1) columns of
  5 ms (``spikernn.task(name).trial(kind, spiking=True)[0]`` builds one);
  ``stims`` is ``{"mode": "none" | "exc" | "inh", "dur": [on, off],
  "units": [...]}`` with ``dur`` in simulation steps.
* ``lambda_grid_search(model_dir, task_name, n_trials, scaling_factors)``
  searches every ``.mat`` file in ``model_dir`` (or the one file given),
  stores ``opt_scaling_factor``, ``all_perfs`` and ``scaling_factors`` in
  each, and returns the optimal scaling factor (of the first file, as the
  reference returns after its first file). The order
  ``(model_dir, n_trials, scaling_factors, task_name)`` of other versions
  is recognised as well (the task name is the one string argument).

Differences that remain (on purpose; spikernn follows SPEC.md):

* **Weights are relu'd.** The reference converts ``w * m * som_m`` with the
  raw trained ``w``; a Dale network's negative raw entries then flip signs.
  spikernn uses relu(w) (what the network was trained with); a file with
  negative raw weights triggers a warning. ``keep_negative_weights=True``
  (keyword) reproduces the reference.
* **Taus are the trained ones** (``taus_gaus`` through the sigmoid), per unit;
  the reference does the same in Python, but MATLAB versions differ.
* **Scoring is correct and reproducible.** ``lambda_grid_search`` scores with
  the reference's window (``scoring="paper"``: Go-NoGo from step 10000, XOR
  20000, Mante 26000, NoGo rule max o < 0.3) but counts a trial that fails
  to simulate as an error instead of silently as incorrect, uses seeded
  per-trial streams (same result for any number of threads) and writes the
  model file atomically (the reference rewrites it twice with savemat).
* **Randomness**: the reference draws from torch's global generator; here
  each call draws its seed from NumPy's global generator (so
  ``np.random.seed`` makes a notebook reproducible), or pass ``seed=``.
* ``all_fr`` counts the spikes from step 10 on divided by T, as MATLAB's
  ``spk(i, 10:end)``; the Python reference (``spk[i, 10:]``) skips one step
  more.
* ``model_path`` may also be a :class:`spikernn.RateModel`; a dict of
  loaded variables (the reference allows one) is not accepted.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from . import LifNetwork, RateModel, grid_search

__all__ = ["LIF_network_fnc", "lambda_grid_search"]


def _load(model_path: Any) -> RateModel:
    if isinstance(model_path, RateModel):
        return model_path
    if isinstance(model_path, (str, bytes, os.PathLike)):
        return RateModel.load(os.fsdecode(model_path))
    raise TypeError(
        "invalid model_path: expected a path to a .mat file or a RateModel, "
        f"got {type(model_path).__name__}"
    )


def _seed(seed: Optional[int]) -> int:
    if seed is not None:
        return int(seed)
    return int(np.random.randint(0, 2**62, dtype=np.int64))


def _td_seconds(taus: np.ndarray, gaus: np.ndarray) -> np.ndarray:
    """Per-unit decay time in s from the stored taus and sigmoid parameters."""
    taus = np.asarray(taus, dtype=np.float64).ravel()
    gaus = np.asarray(gaus, dtype=np.float64).ravel()
    if taus.size > 1:
        steps = 1.0 / (1.0 + np.exp(-gaus)) * (taus[1] - taus[0]) + taus[0]
    else:
        steps = np.full(gaus.shape, taus[0])
    return steps * 5.0 / 1000.0


def LIF_network_fnc(
    model_path: Union[str, "os.PathLike[str]", RateModel],
    scaling_factor: float,
    u: Any,
    stims: Optional[Dict[str, Any]],
    downsample: int,
    use_initial_weights: bool,
    *,
    seed: Optional[int] = None,
    keep_negative_weights: bool = False,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
    """Convert a trained rate RNN to a LIF network and simulate one trial.

    Parameters (as the reference)
    ----------
    model_path : model ``.mat`` file (or a RateModel).
    scaling_factor : lambda; the spiking weights are w / lambda.
    u : spiking stimulus, n_in x (T + 1) (5-ms columns).
    stims : optogenetic stimulation dict (``{"mode": "none"}`` for none).
    downsample : simulate every d-th step (dt = d * 0.05 ms).
    use_initial_weights : convert w0 instead of the trained w.
    seed : (extension) seed of this trial's noise; default: drawn from
        NumPy's global generator.
    keep_negative_weights : (extension) do not relu the raw weights.

    Returns ``(W, REC, spk, rs, all_fr, out, params)`` (see the module doc).
    """
    model = _load(model_path)
    net = LifNetwork.from_rate(
        model,
        float(scaling_factor),
        use_initial_weights=bool(use_initial_weights),
        keep_negative_weights=bool(keep_negative_weights),
    )
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 1:
        u = u.reshape(1, -1)
    if u.ndim != 2:
        raise ValueError(f"invalid u: expected an n_in x (T + 1) array, got shape {u.shape}")
    sim = net.simulate(
        np.ascontiguousarray(u),
        seed=_seed(seed),
        record=["spk", "rs", "v", "ipsc"],
        downsample=int(downsample),
        opto=dict(stims) if stims else None,
    )
    params = {
        "dt": sim.dt,
        "T": sim.T,
        "nt": sim.n_steps,
        "w_out": model.w_out,
        "td": net.td_ms / 1000.0,
        "td0": _td_seconds(model.taus, model.taus_gaus0),
        "IPSCs": sim.ipsc,
    }
    return (
        net.w,
        sim.v,
        sim.spk.astype(np.float64),
        sim.rs,
        sim.firing_rates,
        sim.out,
        params,
    )


def _task_name(name: str) -> str:
    return str(name).replace("_", "-")


def lambda_grid_search(
    model_dir: Union[str, "os.PathLike[str]"],
    task_name: Any,
    n_trials: Any,
    scaling_factors: Any,
    *,
    seed: int = 1,
) -> float:
    """Grid search of lambda over every model in ``model_dir`` (reference order).

    ``task_name``: "go-nogo", "xor" or "mante" (``go_nogo`` accepted);
    ``n_trials``: trials per scaling factor; ``scaling_factors``: the grid.
    Stores the results in each model file and returns the optimal scaling
    factor of the first file (sorted by name). Scored as the reference
    (``scoring="paper"``, no refinement).
    """
    # The order (model_dir, n_trials, scaling_factors, task_name) of another
    # version of the reference: the task name is the only string.
    if not isinstance(task_name, str) and isinstance(scaling_factors, str):
        task_name, n_trials, scaling_factors = scaling_factors, task_name, n_trials
    path = os.fsdecode(model_dir)
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".mat")
        )
        if not files:
            raise FileNotFoundError(f"No .mat files found in directory: {path}")
    elif os.path.exists(path):
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such model file or directory (model_dir)")
    grid = [float(x) for x in np.asarray(scaling_factors, dtype=np.float64).ravel()]
    best = None
    for f in files:
        r = grid_search(
            f,
            lambdas=grid,
            trials=n_trials,
            seed=seed,
            scoring="paper",
            refine=False,
            task=_task_name(task_name),
            save=True,
        )
        print(f"{os.path.basename(f)}: best scaling factor {r.best_lambda} ({r.best_accuracy:.3f})")
        if best is None:
            best = r.best_lambda
    return best  # type: ignore[return-value]

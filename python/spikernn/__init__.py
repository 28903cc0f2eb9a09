"""spikernn: functional spiking RNNs from trained rate RNNs.

The method of Kim, Li & Sejnowski (PNAS 2019): train a continuous-rate RNN
under Dale's principle by backpropagation through time, map it one-to-one
onto a leaky integrate-and-fire (LIF) network with a scaling factor lambda,
search lambda, evaluate. This package is a thin layer over the Rust library
(``spikernn._spikernn``); the command-line program ``spikernn`` does the same
work with the same defaults, seeds and results.

Units
-----
* rate network: one step is 5 ms; ``taus`` are in rate steps (4-20 steps =
  20-100 ms);
* spiking network: one step is 0.05 ms (100 spiking steps per rate step);
  spike times ``dt`` and ``T`` are in seconds, voltages in mV, firing rates
  in Hz;
* accuracies are fractions in [0, 1]; the scaling factor lambda has no unit.

Quick start
-----------
>>> import spikernn
>>> model = spikernn.train("go-nogo", n=200, seed=1)          # doctest: +SKIP
>>> model.save("go-nogo.mat")                                   # doctest: +SKIP
>>> res = spikernn.grid_search("go-nogo.mat")                   # doctest: +SKIP
>>> ev = spikernn.evaluate("go-nogo.mat", trials=200)           # doctest: +SKIP
>>> ev.accuracy, ev.ci95                                        # doctest: +SKIP

Long calls (``train``, ``grid_search``, ``evaluate``) release the GIL, show
progress (``progress=None``: a tqdm bar when tqdm is installed; ``False``:
nothing; a callable: receives every event as a dict) and stop promptly on
Ctrl-C with ``KeyboardInterrupt``, leaving every file as it was.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _spikernn as _rs
from ._spikernn import LifNetwork, RateModel, SimResult, Task, extend_stimulus

__version__: str = _rs.__version__

#: Names of the built-in tasks.
TASKS: Tuple[str, ...] = tuple(_rs.task_names())

__all__ = [
    "__version__",
    "TASKS",
    "RateModel",
    "Task",
    "LifNetwork",
    "SimResult",
    "SearchResult",
    "EvalResult",
    "task",
    "train",
    "grid_search",
    "evaluate",
    "extend_stimulus",
]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[None, bool, Callable[[dict], Any]]


class _Result(dict):
    """A dict (the CLI's ``--json`` object) whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self):
        return list(super().__dir__()) + list(self.keys())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class SearchResult(_Result):
    """Result of :func:`grid_search`: the object ``spikernn search --json`` prints.

    Keys (also attributes): ``lambdas``, ``accuracies`` (coarse grid, fractions
    on ``trials_per_lambda`` trials), ``refined_lambdas``,
    ``refined_accuracies``, ``best_lambda``, ``best_accuracy``,
    ``trials_per_lambda``, ``model`` (the file, or None), ``seconds`` (wall
    time, s), ``scoring`` (how trials were scored).
    """


class EvalResult(_Result):
    """Result of :func:`evaluate`: the object ``spikernn eval --json`` prints.

    Keys (also attributes): ``lambda``, ``accuracy`` (fraction), ``ci95``
    (95 % Wilson interval), ``per_type`` (accuracy per trial type),
    ``rate_exc_hz``, ``rate_inh_hz`` (mean firing rates, Hz), ``trials``,
    ``per_type_rates``, ``scoring``.
    """


# ---------------------------------------------------------------------------
# argument checks (the Rust side checks ranges; these give ValueError, not
# OverflowError, for negative counts)


def _count(name: str, v: Any, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) and not hasattr(v, "__index__"):
        raise ValueError(f"invalid {name}: expected an integer, got {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"invalid {name}: must be at least {minimum}, got {v}")
    return v


def _opt_count(name: str, v: Any, minimum: int = 0) -> Optional[int]:
    return None if v is None else _count(name, v, minimum)


def _opt_bool(name: str, v: Any) -> Optional[bool]:
    if v is None or isinstance(v, bool):
        return v
    raise TypeError(f"{name} must be True, False or None, not {v!r}")


def _model_arg(model_or_path: Any, name: str = "model_or_path") -> Any:
    if isinstance(model_or_path, RateModel):
        return model_or_path
    if isinstance(model_or_path, (str, bytes, os.PathLike)):
        return os.fsdecode(model_or_path)
    raise TypeError(
        f"invalid {name}: expected a RateModel or a path to a .mat file, "
        f"got {type(model_or_path).__name__}"
    )


def _lambdas_arg(lambdas: Any) -> Optional[str]:
    """None, 'START:STOP:STEP', 'a,b,c' or numbers -> the CLI's --lambdas text."""
    if lambdas is None or isinstance(lambdas, str):
        return lambdas
    try:
        vals = [float(x) for x in lambdas]
    except (TypeError, ValueError):
        raise ValueError(
            f"invalid lambdas: expected numbers or 'START:STOP:STEP', got {lambdas!r}"
        ) from None
    if not vals:
        raise ValueError("invalid lambdas: the grid is empty")
    return ",".join(repr(v) for v in vals)


# ---------------------------------------------------------------------------
# progress


class _Progress:
    """Turns the library's events into warnings, a tqdm bar or callback calls."""

    def __init__(self, progress: Progress):
        self.callback: Optional[Callable[[dict], Any]] = None
        self.tqdm = None
        self.bar = None
        if callable(progress):
            self.callback = progress
        elif progress is None or progress is True:
            try:
                from tqdm.auto import tqdm  # type: ignore

                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None

    def __call__(self, e: dict) -> None:
        kind = e["kind"]
        if kind == "warning":
            warnings.warn(e["text"], UserWarning, stacklevel=3)
        if self.callback is not None:
            self.callback(e)
            return
        if self.tqdm is None:
            return
        if kind == "begin":
            self.close()
            self.bar = self.tqdm(total=e["total"], desc=e["stage"], unit="trial", leave=False)
        elif self.bar is None:
            if kind in ("info", "lambda"):
                self.tqdm.write(e["text"], file=sys.stderr)
        elif kind == "total":
            self.bar.total = e["total"]
            self.bar.refresh()
        elif kind == "advance":
            self.bar.update(e["n"])
        elif kind == "end":
            self.close()
        elif kind == "phase":
            self.bar.set_description(e["text"])
        elif kind == "train_eval":
            self.bar.set_postfix(
                loss=f"{e['eval_loss']:.3f}", acc=f"{e['eval_accuracy']:.3f}"
            )
        elif kind in ("lambda", "info"):
            self.bar.write(e["text"], file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _with_progress(progress: Progress, f: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    p = _Progress(progress)
    try:
        return f(*args, progress=p, **kw)
    finally:
        p.close()


# ---------------------------------------------------------------------------
# public functions


def _lesions(lesion: Union[str, Sequence[str]]) -> list:
    """``lesion`` as a list of spec strings (one string is one lesion)."""
    if isinstance(lesion, str):
        return [lesion]
    return [str(x) for x in lesion]


def task(name: str, delay_ms: Optional[float] = None) -> Task:
    """The task ``name`` ("go-nogo", "xor", "mante" or "dms") as a :class:`Task`;
    ``delay_ms``: the DMS delay between cue offset and probe onset in ms
    (a multiple of 5; default 750).

    ``task(name).trial(kind=None, seed=1)`` returns ``(u, target, kind)``:
    the stimulus ``u`` (n_inputs x T float64, rate steps of 5 ms), the target
    (T-1,) float64 and the trial type name -- the same trial ``spikernn
    simulate --trial-type KIND --seed SEED`` uses (``spiking=True`` appends
    the extra column of the spiking stimulus, as that command's ``u``).
    """
    return Task(name, None if delay_ms is None else float(delay_ms))


def train(
    task: str = "go-nogo",
    n: Optional[int] = None,
    taus: Union[float, Sequence[float]] = (4, 20),
    seed: int = 1,
    *,
    p_inh: Optional[float] = None,
    p_rec: Optional[float] = None,
    gain: Optional[float] = None,
    som_n: Optional[int] = None,
    dale: bool = True,
    w_dist: Optional[str] = None,
    act: Optional[str] = None,
    n_trials: Optional[int] = None,
    eval_freq: Optional[int] = None,
    eval_trials: Optional[int] = None,
    lr: Optional[float] = None,
    batch: Optional[int] = None,
    loss: Optional[str] = None,
    loss_threshold: Optional[float] = None,
    acc_threshold: Optional[float] = None,
    delay_ms: Optional[float] = None,
    progress: Progress = None,
) -> RateModel:
    """Train a rate RNN on ``task`` by BPTT (``spikernn train``).

    Parameters (None: the task's default, as ``spikernn config --task T``)
    ----------
    task : "go-nogo", "xor", "mante" or "dms".
    n : number of units N [go-nogo, xor, dms 200; mante 250].
    taus : synaptic decay constant(s) in rate steps of 5 ms: one value
        (fixed) or (min, max) (trained per unit) [(4, 20) = 20-100 ms;
        pass (4, 25) for the DMS networks of Kim & Sejnowski 2021].
    seed : seed of every random draw [1]; the same seed gives the same
        network as ``spikernn train --seed``.
    p_inh : probability that a unit is inhibitory, in [0, 1] [0.2].
    p_rec : initial connection probability, in (0, 1] [0.2].
    gain : gain of the gaus initial weights [1.5].
    som_n : number of SOM units [0].
    dale : Dale's principle [True].
    w_dist : initial weight distribution, "gaus" or "gamma" ["gaus"].
    act : "sigmoid", "clipped_relu" or "softplus" ["sigmoid"].
    n_trials : maximum training trials [go-nogo 6000; xor, mante 10000;
        dms 20000].
    eval_freq : evaluate every this many trials [100].
    eval_trials : trials per evaluation [100].
    lr : Adam learning rate [0.01].
    batch : trials per Adam update [1].
    loss : "l2" (the paper's) or "l1" ["l2"].
    loss_threshold : stop when the mean evaluation loss is below this [7] ...
    acc_threshold : ... and the evaluation accuracy above this [0.95].
    delay_ms : DMS only: delay between cue offset and probe onset in ms, a
        multiple of 5 [750] (the follow-up paper first trained with 50).
    progress : None (tqdm bar if installed), False, or a callable receiving
        event dicts (``kind``, ``text`` and the event's fields).

    Returns the trained :class:`RateModel`; ``model.training`` holds the
    losses, evaluations, ``success`` (stopping rule met) and ``seconds``.
    Ctrl-C raises KeyboardInterrupt within a fraction of a second.
    """
    if isinstance(taus, (int, float)):
        taus_list = [float(taus)]
    else:
        try:
            taus_list = [float(t) for t in taus]
        except (TypeError, ValueError):
            raise ValueError(
                f"invalid taus: expected a number or (min, max), got {taus!r}"
            ) from None
    return _with_progress(
        progress,
        _rs.train,
        str(task),
        _count("seed", seed),
        n=_opt_count("n", n, 1),
        taus=taus_list,
        p_inh=p_inh,
        p_rec=p_rec,
        gain=gain,
        som_n=_opt_count("som_n", som_n),
        dale=bool(dale),
        w_dist=w_dist,
        act=act,
        n_trials=_opt_count("n_trials", n_trials),
        eval_freq=_opt_count("eval_freq", eval_freq),
        eval_trials=_opt_count("eval_trials", eval_trials),
        lr=lr,
        batch=_opt_count("batch", batch),
        loss=loss,
        loss_threshold=loss_threshold,
        acc_threshold=acc_threshold,
        delay_ms=None if delay_ms is None else float(delay_ms),
    )


def grid_search(
    model_or_path: Union[RateModel, PathLike],
    lambdas: Union[None, str, Iterable[float]] = None,
    trials: int = 100,
    seed: int = 1,
    scoring: Optional[str] = None,
    refine: bool = True,
    *,
    task: Optional[str] = None,
    save: bool = True,
    downsample: int = 1,
    use_initial_weights: bool = False,
    keep_negative_weights: bool = False,
    neuron: str = "lif",
    tr_ms: Optional[float] = None,
    lesion: Sequence[str] = (),
    lambda_rule: Optional[str] = None,
    refit_readout: Optional[bool] = None,
    output_bias: Optional[bool] = None,
    progress: Progress = None,
) -> SearchResult:
    """Grid search for the scaling factor lambda (``spikernn search``).

    Parameters
    ----------
    model_or_path : a :class:`RateModel` or a model ``.mat`` file.
    lambdas : coarse grid: None (20, 25, ... 75), "START:STOP:STEP"
        (inclusive), "a,b,c" or a sequence of numbers.
    trials : spiking trials per lambda [100].
    seed : seed of the per-trial streams [1] (same as ``--seed``).
    scoring : "paper" (default: MATLAB's window, Go-NoGo 10000 / XOR 20000 /
        Mante 26000 spiking steps, and its NoGo rule) or "strict" (the
        task's response window, max |o| < 0.3 for NoGo).
    refine : refine around the best coarse lambda [True]; False is the
        MATLAB protocol.
    task : the task (default: the model's stored task, else by its inputs).
    save : store ``opt_scaling_factor``, ``all_perfs``, ``scaling_factors``
        in the file (atomically) or, for a RateModel, in the object [True].
    downsample : simulate every d-th step, dt = d * 0.05 ms [1].
    use_initial_weights, keep_negative_weights, neuron ("lif"/"qif"),
    tr_ms (synaptic rise, ms; 0: single exponential) : conversion options.
    lesion : lesions applied to the loaded network first, as ``--lesion``
        takes them (docs/lesions.md), e.g. ``["ii:scale=0.7",
        "ie:remove=0.5", "units=I:remove"]``; random removals draw from
        ``seed``; the model (file or object) is never changed, and a
        lesioned search is not saved. The result's ``lesions`` lists them.
    lambda_rule : "margin" or "peak"; refit_readout, output_bias : bools.
        None (default) = the task's defaults, as the CLI's (margin for every
        task, the readout refit for go-nogo, b_out in the readout for xor;
        docs/conversion.md, "Defaults"). The paper's conversion is
        ``lambda_rule="peak", refit_readout=False, output_bias=False``.
    progress : as in :func:`train`.

    Returns a :class:`SearchResult`, the ``spikernn search --json`` object.
    Ctrl-C raises KeyboardInterrupt promptly and leaves the file unchanged.
    """
    return SearchResult(
        _with_progress(
            progress,
            _rs.grid_search,
            _model_arg(model_or_path),
            lambdas=_lambdas_arg(lambdas),
            trials=_count("trials", trials, 1),
            seed=_count("seed", seed),
            scoring="paper" if scoring is None else str(scoring),
            refine=bool(refine),
            task=task,
            save=bool(save),
            downsample=_count("downsample", downsample, 1),
            use_initial_weights=bool(use_initial_weights),
            keep_negative_weights=bool(keep_negative_weights),
            neuron=str(neuron),
            tr_ms=tr_ms,
            lesion=_lesions(lesion),
            lambda_rule=None if lambda_rule is None else str(lambda_rule),
            refit_readout=_opt_bool("refit_readout", refit_readout),
            output_bias=_opt_bool("output_bias", output_bias),
        )
    )


def evaluate(
    model_or_path: Union[RateModel, PathLike],
    lam: Optional[float] = None,
    trials: int = 200,
    seed: int = 1,
    scoring: Optional[str] = None,
    *,
    task: Optional[str] = None,
    downsample: int = 1,
    use_initial_weights: bool = False,
    keep_negative_weights: bool = False,
    neuron: str = "lif",
    tr_ms: Optional[float] = None,
    lesion: Sequence[str] = (),
    output_bias: Optional[bool] = None,
    progress: Progress = None,
) -> EvalResult:
    """Accuracy and firing rates of the spiking network (``spikernn eval``).

    ``lam``: the scaling factor (default: the model's stored
    ``opt_scaling_factor``); ``trials``: fresh trials [200]; ``seed`` [1];
    ``scoring`` as in :func:`grid_search` (default "paper"); the other
    options, ``lesion`` included, as in :func:`grid_search` (the result's
    ``lesions`` lists what each lesion changed).

    Returns an :class:`EvalResult`, the ``spikernn eval --json`` object.
    """
    return EvalResult(
        _with_progress(
            progress,
            _rs.evaluate,
            _model_arg(model_or_path),
            lam=None if lam is None else float(lam),
            trials=_count("trials", trials, 1),
            seed=_count("seed", seed),
            scoring="paper" if scoring is None else str(scoring),
            task=task,
            downsample=_count("downsample", downsample, 1),
            use_initial_weights=bool(use_initial_weights),
            keep_negative_weights=bool(keep_negative_weights),
            neuron=str(neuron),
            tr_ms=tr_ms,
            lesion=_lesions(lesion),
            output_bias=_opt_bool("output_bias", output_bias),
        )
    )

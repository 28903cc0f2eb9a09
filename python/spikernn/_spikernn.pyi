"""Type stub of the compiled extension (python/src/lib.rs).

Units: rate steps of 5 ms, spiking steps of 0.05 ms, seconds for ``dt`` /
``T`` / spike times, mV for voltages, Hz for firing rates.
"""

from os import PathLike
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike]
_F64 = npt.NDArray[np.float64]
_Bool = npt.NDArray[np.bool_]
_I64 = npt.NDArray[np.int64]

__version__: str

class RateModel:
    """A rate RNN; arrays are copies, shaped as ``scipy.io.loadmat`` reads the model file."""

    @staticmethod
    def load(path: _Path) -> RateModel:
        """Load a model .mat file (FileNotFoundError / ValueError naming the file)."""
    def save(self, path: _Path) -> None:
        """Save as a .mat file, atomically (OSError naming the file)."""
    @property
    def w(self) -> _F64:
        """Trained recurrent weights, raw (N x N)."""
    @property
    def w0(self) -> _F64:
        """Initial recurrent weights (N x N)."""
    @property
    def m(self) -> _F64:
        """Dale sign mask (N x N diagonal, +1 E / -1 I)."""
    @property
    def som_m(self) -> _F64:
        """SOM mask (N x N)."""
    @property
    def w_in(self) -> _F64:
        """Input weights (N x n_inputs)."""
    @property
    def w_out(self) -> _F64:
        """Readout weights (1 x N)."""
    @property
    def b_out(self) -> float:
        """Readout bias."""
    @property
    def N(self) -> int:
        """Number of units."""
    @property
    def n(self) -> int:
        """Number of units."""
    @property
    def som_N(self) -> int:
        """Number of SOM units."""
    @property
    def n_inputs(self) -> int:
        """Number of input channels."""
    @property
    def inh(self) -> _Bool:
        """Inhibitory units (N x 1)."""
    @property
    def exc(self) -> _Bool:
        """Excitatory units (N x 1)."""
    @property
    def taus(self) -> _F64:
        """Tau range in rate steps (1 x 1 fixed, 1 x 2 [min, max])."""
    @property
    def taus_gaus(self) -> _F64:
        """Trained tau parameters (N x 1); tau = sigmoid(g)(max - min) + min steps."""
    @property
    def taus_gaus0(self) -> _F64:
        """Initial tau parameters (N x 1)."""
    @property
    def tau_steps(self) -> _F64:
        """Decay constant of each unit in rate steps of 5 ms (N,)."""
    @property
    def w_eff(self) -> _F64:
        """Effective recurrent weights relu(w) m som_m (N x N)."""
    @property
    def activation(self) -> str: ...
    @property
    def dale(self) -> bool: ...
    @property
    def task(self) -> Optional[str]: ...
    @property
    def opt_scaling_factor(self) -> Optional[float]:
        """Stored optimal lambda, or None before a search."""
    @property
    def all_perfs(self) -> Optional[_F64]:
        """Stored search accuracies (n x 1)."""
    @property
    def scaling_factors(self) -> Optional[_F64]:
        """Stored search grid (1 x n)."""
    @property
    def training(self) -> Optional[Dict[str, Any]]:
        """losses, trials, eval_* and (trained here) success, seconds, verdict."""
    def forward(self, u: _F64, seed: int = 1) -> Tuple[_F64, _F64]:
        """Run on u (n_inputs x T): outputs o_1..o_{T-1} (T-1,) and rates r (N x T)."""

class Task:
    """A cognitive task: "go-nogo", "xor", "mante" or "dms" (delay_ms: the DMS delay, ms)."""

    def __init__(self, name: str, delay_ms: Optional[float] = None) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def n_inputs(self) -> int: ...
    @property
    def n_steps(self) -> int:
        """Trial length T in rate steps of 5 ms."""
    @property
    def trial_types(self) -> List[str]: ...
    @property
    def response_start(self) -> int:
        """First rate step of the response window."""
    def trial(
        self, kind: Union[None, str, int] = None, seed: int = 1, spiking: bool = False
    ) -> Tuple[_F64, _F64, str]:
        """(u: n_inputs x T (T + 1 if spiking), target: (T - 1,), kind name);
        the trial of ``spikernn simulate --trial-type KIND --seed SEED``."""
    def score(self, kind: Union[str, int], o: _F64, steps_per_rate_step: int = 1) -> bool:
        """Whether output trace o is correct (100 steps per rate step for spiking output)."""

class SimResult:
    """One simulated spiking trial."""

    spike_units: _I64
    spike_steps: _I64
    spike_times: _F64
    out: _F64
    dt: float
    T: float
    n_steps: int
    firing_rates: _F64
    spk: Optional[_Bool]
    rs: Optional[_F64]
    v: Optional[_F64]
    ipsc: Optional[_F64]

class LifNetwork:
    """A LIF (or QIF) network converted from a rate model with scaling factor lam."""

    @staticmethod
    def from_rate(
        model: Union[RateModel, _Path],
        lam: float,
        *,
        use_initial_weights: bool = False,
        keep_negative_weights: bool = False,
        neuron: str = "lif",
        tr_ms: Optional[float] = None,
        lesion: List[str] = ...,
        seed: int = 1,
    ) -> LifNetwork:
        """Convert: W_spk = relu(w) m som_m / lam, w_out_spk = w_out / lam;
        tr_ms: synaptic rise time in ms (default 2; 0: single exponential);
        lesion: lesion specs applied to the model first (random removals
        drawn from seed; docs/lesions.md)."""
    @property
    def n(self) -> int: ...
    @property
    def lam(self) -> float: ...
    @property
    def w(self) -> _F64:
        """W_spk (N x N, post x pre)."""
    @property
    def w_out(self) -> _F64:
        """Spiking readout (N,)."""
    @property
    def inh(self) -> _Bool: ...
    @property
    def td_ms(self) -> _F64:
        """Synaptic decay time per unit (ms)."""
    @property
    def tr_ms(self) -> float: ...
    def simulate(
        self,
        u: _F64,
        *,
        seed: int = 1,
        record: Sequence[str] = (),
        downsample: int = 1,
        opto: Optional[Mapping[str, Any]] = None,
    ) -> SimResult:
        """Simulate one trial of the spiking stimulus u (n_inputs x (T + 1));
        nt = T * 100 / downsample steps of downsample * 0.05 ms. Spikes and
        output are always returned; record may add "spk" (dense raster),
        "rs", "v", "ipsc" (N x nt). opto: {"mode": "exc"|"inh", "dur": [on, off],
        "units": [...]}."""

def train(
    task: str,
    seed: int,
    n: Optional[int] = ...,
    taus: Optional[Sequence[float]] = ...,
    p_inh: Optional[float] = ...,
    p_rec: Optional[float] = ...,
    gain: Optional[float] = ...,
    som_n: Optional[int] = ...,
    dale: Optional[bool] = ...,
    w_dist: Optional[str] = ...,
    act: Optional[str] = ...,
    n_trials: Optional[int] = ...,
    eval_freq: Optional[int] = ...,
    eval_trials: Optional[int] = ...,
    lr: Optional[float] = ...,
    batch: Optional[int] = ...,
    loss: Optional[str] = ...,
    loss_threshold: Optional[float] = ...,
    acc_threshold: Optional[float] = ...,
    delay_ms: Optional[float] = ...,
    progress: Optional[Callable[[Dict[str, Any]], Any]] = ...,
) -> RateModel: ...
def grid_search(
    model: Union[RateModel, _Path],
    *,
    lambdas: Optional[str] = ...,
    trials: int = ...,
    seed: int = ...,
    scoring: str = ...,
    refine: bool = ...,
    task: Optional[str] = ...,
    save: bool = ...,
    downsample: int = ...,
    use_initial_weights: bool = ...,
    keep_negative_weights: bool = ...,
    neuron: str = ...,
    tr_ms: Optional[float] = ...,
    lesion: List[str] = ...,
    lambda_rule: Optional[str] = ...,
    refit_readout: Optional[bool] = ...,
    output_bias: Optional[bool] = ...,
    progress: Optional[Callable[[Dict[str, Any]], Any]] = ...,
) -> Dict[str, Any]: ...
def evaluate(
    model: Union[RateModel, _Path],
    *,
    lam: Optional[float] = ...,
    trials: int = ...,
    seed: int = ...,
    scoring: str = ...,
    task: Optional[str] = ...,
    downsample: int = ...,
    use_initial_weights: bool = ...,
    keep_negative_weights: bool = ...,
    neuron: str = ...,
    tr_ms: Optional[float] = ...,
    lesion: List[str] = ...,
    output_bias: Optional[bool] = ...,
    progress: Optional[Callable[[Dict[str, Any]], Any]] = ...,
) -> Dict[str, Any]: ...
def extend_stimulus(u: _F64, extra: int = 1) -> _F64:
    """Repeat the last column of u extra times (the spiking stimulus has T + 1 columns)."""
def task_names() -> List[str]: ...

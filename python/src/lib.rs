//! Python bindings of spikernn (`spikernn._spikernn`). The Python package
//! (`python/spikernn/__init__.py`) shapes the public API on top of these
//! functions: defaults, progress bars, result objects, `compat`.
//!
//! Every option goes through [`RunConfig`] the way the CLI's flags do, so the
//! bindings validate and name parameters exactly as `spikernn` does. Long work
//! runs on a worker thread ([`run_cancellable`]) while the calling thread
//! waits without the GIL, forwards progress events to Python and turns Ctrl-C
//! into a cancellation of the library's [`Observer`].

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyUserWarning,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::{json, Value};

use spikernn::config::parse_name;
use spikernn::config::RunConfig;
use spikernn::io::model_file;
use spikernn::lesion::Lesion;
use spikernn::observe::{Event, Observer};
use spikernn::rate::RateModel;
use spikernn::spiking::lif::{LifNetwork, Opto, OptoMode, Record, SimOptions};
use spikernn::spiking::search::{self, EvalResult, SearchResult};
use spikernn::task::{builtin_task, extend_stimulus, Task, TaskSpec};
use spikernn::{rng, Error};

/// Stream tag of `spikernn simulate` (ASCII "SIM"): trials and simulations
/// drawn here are those of the CLI for the same seed and trial type.
const SIM_TAG: u64 = rng::tag::SIMULATE;

// ---------------------------------------------------------------------------
// Errors

/// The library's error as the Python exception a user expects; the message
/// is the CLI's (it names the parameter or file).
fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    // A failed pipeline step raises the class of its cause.
    let mut c = &e;
    while let Error::Step { cause, .. } = c {
        c = cause;
    }
    match c {
        Error::Param { .. }
        | Error::MatFormat { .. }
        | Error::MissingKey { .. }
        | Error::BadKey { .. } => PyValueError::new_err(msg),
        Error::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(msg)
        }
        Error::Io { .. } => PyOSError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}

/// An optional enum keyword (`act="softplus"` …) parsed as the CLI and
/// TOML parse it; errors name the keyword.
fn parse_opt<T: serde::de::DeserializeOwned>(key: &str, v: Option<String>) -> PyResult<Option<T>> {
    v.map(|s| parse_name(key, &s).map_err(py_err)).transpose()
}

fn value_err(name: &str, msg: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("invalid {name}: {msg}"))
}

fn warn(py: Python<'_>, msg: &str) -> PyResult<()> {
    let c = CString::new(msg.replace('\0', " ")).expect("no NUL");
    PyErr::warn(py, &py.get_type::<PyUserWarning>(), &c, 2)
}

// ---------------------------------------------------------------------------
// Results as the CLI's JSON

/// A result the CLI prints with `--json`.
enum JsonResult<'a> {
    Search(&'a SearchResult),
    Eval(&'a EvalResult),
    /// How trials were scored under a configuration (the `scoring` field).
    Scoring(&'a RunConfig),
}

/// THE one place that turns library results into the CLI's `--json`
/// objects: the results' `Serialize`, as the CLI prints them.
fn result_json(r: JsonResult<'_>) -> PyResult<Value> {
    let v = match r {
        JsonResult::Search(r) => serde_json::to_value(r),
        JsonResult::Eval(r) => serde_json::to_value(r),
        JsonResult::Scoring(c) => serde_json::to_value(c.scoring().map_err(py_err)?),
    };
    v.map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// A JSON value as Python objects (via the `json` module: `null` → None).
fn json_to_py(py: Python<'_>, v: &Value) -> PyResult<PyObject> {
    let s = v.to_string();
    Ok(py.import("json")?.call_method1("loads", (s,))?.unbind())
}

// ---------------------------------------------------------------------------
// Scoring presets

/// The `scoring=` preset (`"paper"` or `"strict"`): the config's typed
/// [`spikernn::config::ScoringPreset`], parsed as the CLI and TOML parse it.
fn apply_scoring_preset(c: &mut RunConfig, preset: &str) -> PyResult<()> {
    c.search.scoring = parse_name("scoring", preset).map_err(py_err)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Long work: worker thread, progress, Ctrl-C

enum Msg {
    Event(Event),
    Done,
}

/// The library's observer on the worker side: queues events for the
/// waiting thread; cancelled when the waiting thread says so.
struct Relay {
    cancel: AtomicBool,
    tx: mpsc::Sender<Msg>,
    forward: bool,
}

impl Observer for Relay {
    fn event(&self, e: &Event) {
        if self.forward {
            let _ = self.tx.send(Msg::Event(e.clone()));
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

fn event_to_py<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let kind = match e {
        Event::Begin { stage, total } => {
            d.set_item("stage", stage.name())?;
            d.set_item("total", total)?;
            "begin"
        }
        Event::Total(t) => {
            d.set_item("total", t)?;
            "total"
        }
        Event::Advance(n) => {
            d.set_item("n", n)?;
            "advance"
        }
        Event::End => "end",
        Event::Phase(_) => "phase",
        Event::TrainEval {
            trial,
            loss,
            eval_loss,
            eval_accuracy,
        } => {
            d.set_item("trial", trial)?;
            d.set_item("loss", loss)?;
            d.set_item("eval_loss", eval_loss)?;
            d.set_item("eval_accuracy", eval_accuracy)?;
            "train_eval"
        }
        Event::Lambda {
            lambda,
            accuracy,
            trials,
        } => {
            d.set_item("lambda", lambda)?;
            d.set_item("accuracy", accuracy)?;
            d.set_item("trials", trials)?;
            "lambda"
        }
        Event::Jobs { done, total, .. } => {
            d.set_item("done", done)?;
            d.set_item("total", total)?;
            "jobs"
        }
        Event::Info(_) => "info",
        Event::Warning(_) => "warning",
    };
    d.set_item("kind", kind)?;
    d.set_item("text", e.to_string())?;
    Ok(d)
}

/// Run `work` on a worker thread. The calling thread waits in 50-ms slices
/// without the GIL, hands queued events to `progress`, and checks for
/// signals between slices: on KeyboardInterrupt (or an exception raised by
/// `progress`) it cancels the observer, waits for the worker (the library
/// then stops with `Error::Interrupted`, having written nothing) and raises.
fn run_cancellable<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&dyn Observer) -> spikernn::Result<T> + Send,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let done = tx.clone();
    let relay = Relay {
        cancel: AtomicBool::new(false),
        tx,
        forward: progress.is_some(),
    };
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        let relay = &relay;
        let worker = s.spawn(move || {
            let r = work(relay);
            let _ = done.send(Msg::Done);
            r
        });
        let mut failure: Option<PyErr> = None;
        let mut finished = false;
        while !finished {
            let batch: Vec<Msg> = py.allow_threads(|| {
                let rx = rx.lock().expect("receiver");
                let mut v = Vec::new();
                if let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
                    v.push(m);
                    while let Ok(m) = rx.try_recv() {
                        v.push(m);
                    }
                }
                v
            });
            for m in batch {
                match m {
                    Msg::Done => finished = true,
                    Msg::Event(e) => {
                        if let (Some(cb), None) = (progress, &failure) {
                            if let Err(err) = event_to_py(py, &e).and_then(|d| cb.call1((d,))) {
                                failure = Some(err);
                            }
                        }
                    }
                }
            }
            if failure.is_none() {
                if let Err(e) = py.check_signals() {
                    failure = Some(e);
                }
            }
            if failure.is_some() {
                relay.cancel.store(true, Ordering::Relaxed);
            }
        }
        let result = py.allow_threads(|| worker.join());
        match (result, failure) {
            (_, Some(e)) => Err(e),
            (Ok(r), None) => r.map_err(py_err),
            (Err(_), None) => Err(PyRuntimeError::new_err(
                "spikernn: the worker thread panicked",
            )),
        }
    })
}

// ---------------------------------------------------------------------------
// Models and tasks as the CLI resolves them

/// A model given as a `RateModel` or a path to a `.mat` file.
#[derive(FromPyObject)]
enum ModelArg<'py> {
    Model(Bound<'py, PyRateModel>),
    Path(PathBuf),
}

fn load_model(py: Python<'_>, path: &Path) -> PyResult<RateModel> {
    let (m, warnings) = py
        .allow_threads(|| model_file::load_model_with_warnings(path))
        .map_err(py_err)?;
    for w in warnings {
        warn(py, &w)?;
    }
    Ok(m)
}

/// The model and, when it came from a file, the file.
fn resolve(py: Python<'_>, m: &ModelArg<'_>) -> PyResult<(RateModel, Option<PathBuf>)> {
    match m {
        ModelArg::Model(b) => Ok((b.borrow().inner.clone(), None)),
        ModelArg::Path(p) => Ok((load_model(py, p)?, Some(p.clone()))),
    }
}

fn label(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("the model".into(), |p| p.display().to_string())
}

/// The task of a model: `task`, else the stored one, else by its inputs
/// (the library's rule, as the CLI uses it).
fn model_task(model: &RateModel, task: Option<&str>, path: &Option<PathBuf>) -> PyResult<TaskSpec> {
    let given = task.map(TaskSpec::from);
    let t = model.task(given.as_ref(), &label(path)).map_err(py_err)?;
    Ok(t.spec())
}

/// Apply the lesion specs `lesion` (as `--lesion` takes them) to `model`,
/// random removals drawn from `seed`; returns what they changed as JSON
/// (`None` without lesions).
fn apply_lesions(
    c: &mut RunConfig,
    model: &mut RateModel,
    lesion: &[String],
) -> PyResult<Option<serde_json::Value>> {
    c.search.lesion = lesion
        .iter()
        .map(|l| l.parse::<Lesion>())
        .collect::<spikernn::Result<_>>()
        .map_err(py_err)?;
    let applied = c.apply_lesions(model).map_err(py_err)?;
    if applied.is_empty() {
        return Ok(None);
    }
    serde_json::to_value(&applied)
        .map(Some)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// `lam`, else the model's stored optimum.
fn stored_lambda(model: &RateModel, lam: Option<f64>, path: &Option<PathBuf>) -> PyResult<f64> {
    model.lambda(lam, &label(path)).map_err(py_err)
}

/// Spiking options shared by search, evaluation and conversion.
#[derive(Clone)]
struct SpikeOpts {
    downsample: usize,
    use_initial_weights: bool,
    keep_negative_weights: bool,
    neuron: String,
    tr_ms: Option<f64>,
}

impl SpikeOpts {
    fn apply(&self, c: &mut RunConfig) -> PyResult<()> {
        c.search.downsample = self.downsample;
        c.search.initial_weights = self.use_initial_weights;
        c.search.keep_negative_weights = self.keep_negative_weights;
        c.search.neuron = parse_name("neuron", &self.neuron).map_err(py_err)?;
        if let Some(t) = self.tr_ms {
            c.search.tr_ms = t;
        }
        Ok(())
    }
}

fn kind_index(task: &dyn Task, kind: &Bound<'_, PyAny>) -> PyResult<usize> {
    let types = task.trial_types();
    let bad = |s: String| {
        value_err(
            "kind",
            format!("'{s}' (task {} has {})", task.name(), types.join(", ")),
        )
    };
    if let Ok(s) = kind.downcast::<PyString>() {
        let s: String = s.extract()?;
        let s = s.as_str();
        if let Some(k) = types.iter().position(|t| t.eq_ignore_ascii_case(s)) {
            return Ok(k);
        }
        return match s.parse::<usize>() {
            Ok(k) if k < types.len() => Ok(k),
            _ => Err(bad(s.to_string())),
        };
    }
    match kind.extract::<i64>() {
        Ok(k) if k >= 0 && (k as usize) < types.len() => Ok(k as usize),
        _ => Err(bad(kind.str()?.to_string())),
    }
}

// ---------------------------------------------------------------------------
// RateModel

/// `(o, r)` of [`PyRateModel::forward`].
type Pair<'py> = (
    Bound<'py, numpy::PyArray1<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
);

/// `(u, target, kind)` of [`PyTask::trial`].
type TrialArrays<'py> = (
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
    String,
);

/// A trained (or freshly initialised) rate RNN.
#[pyclass(name = "RateModel", module = "spikernn")]
pub struct PyRateModel {
    inner: RateModel,
    /// Outcome of `train` (success, trials, seconds), when trained here.
    outcome: Option<Value>,
}

fn col(v: Vec<f64>) -> Array2<f64> {
    let n = v.len();
    Array2::from_shape_vec((n, 1), v).expect("shape")
}

fn row(v: Vec<f64>) -> Array2<f64> {
    let n = v.len();
    Array2::from_shape_vec((1, n), v).expect("shape")
}

fn bool_col(v: &[bool]) -> Array2<bool> {
    Array2::from_shape_vec((v.len(), 1), v.to_vec()).expect("shape")
}

#[pymethods]
impl PyRateModel {
    /// Load a model `.mat` file (ours or the reference tools').
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(PyRateModel {
            inner: load_model(py, &path)?,
            outcome: None,
        })
    }

    /// Save as a `.mat` file (atomically: nothing is half-written).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let m = &self.inner;
        py.allow_threads(|| model_file::save_model(&path, m))
            .map_err(py_err)
    }

    /// Trained recurrent weights (raw, N×N).
    #[getter]
    fn w<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.w.clone().into_pyarray(py)
    }
    /// Initial recurrent weights (N×N).
    #[getter]
    fn w0<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.w0.clone().into_pyarray(py)
    }
    /// Dale sign mask (N×N diagonal: +1 excitatory, −1 inhibitory).
    #[getter]
    fn m<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.m.clone().into_pyarray(py)
    }
    /// SOM mask (N×N).
    #[getter]
    fn som_m<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.som_m.clone().into_pyarray(py)
    }
    /// Input weights (N×n_in).
    #[getter]
    fn w_in<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.w_in.clone().into_pyarray(py)
    }
    /// Readout weights (1×N, as in the file).
    #[getter]
    fn w_out<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        row(self.inner.w_out.to_vec()).into_pyarray(py)
    }
    /// Readout bias.
    #[getter]
    fn b_out(&self) -> f64 {
        self.inner.b_out
    }
    /// Number of units.
    #[getter(N)]
    fn n_upper(&self) -> usize {
        self.inner.n()
    }
    /// Number of units.
    #[getter]
    fn n(&self) -> usize {
        self.inner.n()
    }
    /// Number of SOM units.
    #[getter(som_N)]
    fn som_n(&self) -> usize {
        self.inner.som_n
    }
    /// Number of input channels.
    #[getter]
    fn n_inputs(&self) -> usize {
        self.inner.n_inputs()
    }
    /// Inhibitory units (N×1 bool).
    #[getter]
    fn inh<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<bool>> {
        bool_col(&self.inner.inh).into_pyarray(py)
    }
    /// Excitatory units (N×1 bool).
    #[getter]
    fn exc<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<bool>> {
        bool_col(&self.inner.exc()).into_pyarray(py)
    }
    /// Tau range in rate steps of 5 ms (1×1 fixed or 1×2 [min, max]).
    #[getter]
    fn taus<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        row(self.inner.taus.to_vec()).into_pyarray(py)
    }
    /// Trained tau parameters (N×1; tau = sigmoid(g)·(max−min) + min steps).
    #[getter]
    fn taus_gaus<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        col(self.inner.taus_gaus.to_vec()).into_pyarray(py)
    }
    /// Initial tau parameters (N×1).
    #[getter]
    fn taus_gaus0<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        col(self.inner.taus_gaus0.to_vec()).into_pyarray(py)
    }
    /// Synaptic decay constant of each unit in rate steps of 5 ms (N,).
    #[getter]
    fn tau_steps<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        self.inner.tau_steps().into_pyarray(py)
    }
    /// Effective recurrent weights (relu(w)·m·som_m under Dale), N×N.
    #[getter]
    fn w_eff<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.effective_weights().into_pyarray(py)
    }
    /// Activation: sigmoid, clipped_relu or softplus.
    #[getter]
    fn activation(&self) -> &'static str {
        self.inner.activation.name()
    }
    /// Whether Dale's principle holds.
    #[getter]
    fn dale(&self) -> bool {
        self.inner.dale
    }
    /// The stored task name, if any.
    #[getter]
    fn task(&self) -> Option<String> {
        self.inner.task.as_ref().map(|t| t.name().to_string())
    }
    /// Stored optimal scaling factor λ (None before a search).
    #[getter]
    fn opt_scaling_factor(&self) -> Option<f64> {
        self.inner.search.as_ref().map(|s| s.opt_scaling_factor)
    }
    /// Stored search accuracies (n×1) or None.
    #[getter]
    fn all_perfs<'py>(&self, py: Python<'py>) -> Option<Bound<'py, numpy::PyArray2<f64>>> {
        self.inner
            .search
            .as_ref()
            .map(|s| col(s.all_perfs.clone()).into_pyarray(py))
    }
    /// Stored search grid (1×n) or None.
    #[getter]
    fn scaling_factors<'py>(&self, py: Python<'py>) -> Option<Bound<'py, numpy::PyArray2<f64>>> {
        self.inner
            .search
            .as_ref()
            .map(|s| row(s.scaling_factors.clone()).into_pyarray(py))
    }
    /// Training record as a dict (losses, trials, evaluations, and, when
    /// trained in this process, success and seconds), or None.
    #[getter]
    fn training(&self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        let Some(t) = &self.inner.training else {
            return Ok(None);
        };
        let mut j = json!({
            "losses": t.losses, "trials": t.trials,
            "eval_perf_mean": t.eval_perf_mean, "eval_loss_mean": t.eval_loss_mean,
            "eval_trials": t.evals.iter().map(|e| e.trial).collect::<Vec<_>>(),
            "eval_perfs": t.evals.iter().map(|e| e.accuracy).collect::<Vec<_>>(),
            "eval_losses": t.evals.iter().map(|e| e.loss).collect::<Vec<_>>(),
        });
        if let (Some(Value::Object(o)), Value::Object(m)) = (&self.outcome, &mut j) {
            for (k, v) in o {
                m.insert(k.clone(), v.clone());
            }
        }
        json_to_py(py, &j).map(Some)
    }

    /// Run the rate network on stimulus `u` (n_in × T, rate steps of 5 ms)
    /// with the initial state and noise drawn from `seed`. Returns `(o, r)`:
    /// outputs o_1 … o_{T−1} (T−1,) and rates r (N × T).
    #[pyo3(signature = (u, seed = 1))]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        u: PyReadonlyArray2<'py, f64>,
        seed: u64,
    ) -> PyResult<Pair<'py>> {
        let u = u.as_array().to_owned();
        let m = &self.inner;
        if u.nrows() != m.n_inputs() {
            return Err(value_err(
                "u",
                format!(
                    "expected {} rows (one per network input), got {}",
                    m.n_inputs(),
                    u.nrows()
                ),
            ));
        }
        if u.ncols() < 2 {
            return Err(value_err("u", "needs at least 2 time steps (columns)"));
        }
        if u.iter().any(|x| !x.is_finite()) {
            return Err(value_err("u", "holds NaN or infinite values"));
        }
        let (o, r) = py.allow_threads(|| {
            let prep = spikernn::rate::bptt::Prepared::exact(m);
            let mut trace = spikernn::rate::bptt::Trace::default();
            let mut g = rng::from_seed(seed);
            spikernn::rate::bptt::forward(m, &prep, &u, &mut g, &mut trace);
            (trace.o, trace.r.t().to_owned())
        });
        Ok((Array1::from(o).into_pyarray(py), r.into_pyarray(py)))
    }

    fn __repr__(&self) -> String {
        format!(
            "RateModel(N={}, n_inputs={}, task={}, activation={}, dale={}, opt_scaling_factor={})",
            self.inner.n(),
            self.inner.n_inputs(),
            self.inner.task.as_ref().map_or("None", |t| t.name()),
            self.inner.activation.name(),
            self.inner.dale,
            self.inner
                .search
                .as_ref()
                .map_or("None".into(), |s| s.opt_scaling_factor.to_string())
        )
    }
}

// ---------------------------------------------------------------------------
// Training

/// Train a rate RNN (see `spikernn.train` for the parameters).
#[pyfunction]
#[pyo3(signature = (task, seed, n=None, taus=None, p_inh=None, p_rec=None, gain=None,
    som_n=None, dale=None, w_dist=None, act=None, n_trials=None, eval_freq=None,
    eval_trials=None, lr=None, batch=None, loss=None, loss_threshold=None,
    acc_threshold=None, delay_ms=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    task: &str,
    seed: u64,
    n: Option<usize>,
    taus: Option<Vec<f64>>,
    p_inh: Option<f64>,
    p_rec: Option<f64>,
    gain: Option<f64>,
    som_n: Option<usize>,
    dale: Option<bool>,
    w_dist: Option<String>,
    act: Option<String>,
    n_trials: Option<usize>,
    eval_freq: Option<usize>,
    eval_trials: Option<usize>,
    lr: Option<f64>,
    batch: Option<usize>,
    loss: Option<String>,
    loss_threshold: Option<f64>,
    acc_threshold: Option<f64>,
    delay_ms: Option<f64>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<PyRateModel> {
    let mut c = RunConfig::for_task(task).map_err(py_err)?;
    c.delay_ms = delay_ms;
    c.seed = seed;
    fn set<T>(dst: &mut T, v: Option<T>) {
        if let Some(v) = v {
            *dst = v;
        }
    }
    let nt = &mut c.net;
    set(&mut nt.n, n);
    set(&mut nt.taus, taus);
    set(&mut nt.p_inh, p_inh);
    set(&mut nt.p_rec, p_rec);
    set(&mut nt.gain, gain);
    set(&mut nt.som_n, som_n);
    set(&mut nt.dale, dale);
    set(&mut nt.w_dist, parse_opt("w_dist", w_dist)?);
    set(&mut nt.act, parse_opt("act", act)?);
    let t = &mut c.train;
    set(&mut t.n_trials, n_trials);
    set(&mut t.eval_freq, eval_freq);
    set(&mut t.eval_trials, eval_trials);
    set(&mut t.lr, lr);
    set(&mut t.batch, batch);
    set(&mut t.loss, parse_opt("loss", loss)?);
    set(&mut t.loss_threshold, loss_threshold);
    set(&mut t.acc_threshold, acc_threshold);
    let task = c.task().map_err(py_err)?;
    let net = c.net_config().map_err(py_err)?;
    let cfg = c.train_config().map_err(py_err)?;
    let out = run_cancellable(py, progress.as_ref(), |obs| {
        spikernn::rate::train::train(&net, &cfg, task.as_ref(), obs)
    })?;
    let last = out.last_eval();
    let outcome = json!({
        "success": out.success, "seconds": out.seconds, "verdict": out.verdict(),
        "eval_perf": last.map(|e| e.accuracy), "eval_loss": last.map(|e| e.loss),
    });
    Ok(PyRateModel {
        inner: out.model,
        outcome: Some(outcome),
    })
}

// ---------------------------------------------------------------------------
// Tasks

/// A cognitive task: go-nogo, xor, mante or dms (`delay_ms`: the DMS delay in ms, default 750).
#[pyclass(name = "Task", module = "spikernn")]
pub struct PyTask {
    inner: Box<dyn Task>,
}

#[pymethods]
impl PyTask {
    #[new]
    #[pyo3(signature = (name, delay_ms = None))]
    fn new(name: &str, delay_ms: Option<f64>) -> PyResult<Self> {
        Ok(PyTask {
            inner: builtin_task(name, delay_ms).map_err(py_err)?,
        })
    }
    /// Task name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }
    /// Number of input channels.
    #[getter]
    fn n_inputs(&self) -> usize {
        self.inner.n_inputs()
    }
    /// Trial length T in rate steps of 5 ms.
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.n_steps()
    }
    /// Names of the trial types.
    #[getter]
    fn trial_types(&self) -> Vec<String> {
        self.inner.trial_types()
    }
    /// First rate step of the response window.
    #[getter]
    fn response_start(&self) -> usize {
        self.inner.response_start()
    }

    /// One trial: `(u, target, kind)`.
    #[pyo3(signature = (kind = None, seed = 1, spiking = false))]
    fn trial<'py>(
        &self,
        py: Python<'py>,
        kind: Option<Bound<'py, PyAny>>,
        seed: u64,
        spiking: bool,
    ) -> PyResult<TrialArrays<'py>> {
        let task = self.inner.as_ref();
        let k = match kind {
            Some(k) => kind_index(task, &k)?,
            None => {
                use rand::RngCore;
                let n = task.trial_types().len() as u64;
                (rng::stream(seed, &[SIM_TAG]).next_u64() % n) as usize
            }
        };
        let mut r = rng::stream(seed, &[SIM_TAG, k as u64]);
        let t = task.trial_of_kind(k, &mut r);
        let u = if spiking {
            extend_stimulus(&t.u, 1)
        } else {
            t.u
        };
        Ok((
            u.into_pyarray(py),
            Array1::from(t.target).into_pyarray(py),
            task.trial_types()[k].clone(),
        ))
    }

    /// Whether output trace `o` is correct for a trial of type `kind`.
    #[pyo3(signature = (kind, o, steps_per_rate_step = 1))]
    fn score(
        &self,
        kind: Bound<'_, PyAny>,
        o: PyReadonlyArray1<'_, f64>,
        steps_per_rate_step: usize,
    ) -> PyResult<bool> {
        let k = kind_index(self.inner.as_ref(), &kind)?;
        if steps_per_rate_step == 0 {
            return Err(value_err("steps_per_rate_step", "must be at least 1"));
        }
        let o = o.as_array().to_vec();
        Ok(self.inner.score(k, &o, steps_per_rate_step))
    }

    fn __repr__(&self) -> String {
        format!("Task('{}')", self.inner.name())
    }
}

// ---------------------------------------------------------------------------
// Spiking network

/// A LIF (or QIF) network converted from a rate model with scaling factor λ.
#[pyclass(name = "LifNetwork", module = "spikernn")]
pub struct PyLif {
    inner: LifNetwork,
}

/// One simulated trial.
#[pyclass(name = "SimResult", module = "spikernn", get_all)]
pub struct PySim {
    /// Unit index of each spike (int64, 0-based).
    spike_units: PyObject,
    /// Step of each spike (int64, 0-based).
    spike_steps: PyObject,
    /// Time of each spike in s, (step + 1)·dt (as `spikernn simulate`'s t_spk).
    spike_times: PyObject,
    /// Network output (nt,).
    out: PyObject,
    /// Time step in s.
    dt: f64,
    /// Trial duration in s.
    #[pyo3(name = "T")]
    t: f64,
    /// Number of steps nt.
    n_steps: usize,
    /// Firing rate of each unit in Hz (N,).
    firing_rates: PyObject,
    /// Dense spike raster N×nt (bool) when recorded ("spk"), else None.
    spk: PyObject,
    /// Filtered spike trains N×nt when recorded ("rs"), else None.
    rs: PyObject,
    /// Membrane voltages N×nt in mV when recorded ("v"), else None.
    v: PyObject,
    /// Synaptic currents N×nt when recorded ("ipsc"), else None.
    ipsc: PyObject,
}

#[pymethods]
impl PySim {
    fn __repr__(&self) -> String {
        format!(
            "SimResult(n_steps={}, dt={} s, T={} s)",
            self.n_steps, self.dt, self.t
        )
    }
}

#[pymethods]
impl PyLif {
    /// Convert `model` with scaling factor `lam` (see `spikernn.LifNetwork`).
    #[staticmethod]
    #[pyo3(signature = (model, lam, *, use_initial_weights = false, keep_negative_weights = false,
        neuron = "lif", tr_ms = None, lesion = vec![], seed = 1))]
    #[allow(clippy::too_many_arguments)]
    fn from_rate(
        py: Python<'_>,
        model: ModelArg<'_>,
        lam: f64,
        use_initial_weights: bool,
        keep_negative_weights: bool,
        neuron: &str,
        tr_ms: Option<f64>,
        lesion: Vec<String>,
        seed: u64,
    ) -> PyResult<Self> {
        let (mut m, _) = resolve(py, &model)?;
        let mut c = RunConfig::for_task("go-nogo").map_err(py_err)?;
        c.seed = seed;
        apply_lesions(&mut c, &mut m, &lesion)?;
        SpikeOpts {
            downsample: 1,
            use_initial_weights,
            keep_negative_weights,
            neuron: neuron.to_string(),
            tr_ms,
        }
        .apply(&mut c)?;
        let conv = c.conversion().map_err(py_err)?;
        let net = LifNetwork::from_rate(&m, lam, &conv).map_err(py_err)?;
        if let Some(w) = net.warning() {
            warn(py, &w)?;
        }
        Ok(PyLif { inner: net })
    }

    /// Number of units.
    #[getter]
    fn n(&self) -> usize {
        self.inner.n()
    }
    /// Scaling factor λ.
    #[getter]
    fn lam(&self) -> f64 {
        self.inner.lambda()
    }
    /// Spiking recurrent weights W_spk (N×N, post × pre).
    #[getter]
    fn w<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f64>> {
        self.inner.w_spk().into_pyarray(py)
    }
    /// Spiking readout weights (N,).
    #[getter]
    fn w_out<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        Array1::from(self.inner.w_out().to_vec()).into_pyarray(py)
    }
    /// Inhibitory units (N,).
    #[getter]
    fn inh<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<bool>> {
        Array1::from(self.inner.inh().to_vec()).into_pyarray(py)
    }
    /// Synaptic decay time of each unit in ms (N,).
    #[getter]
    fn td_ms<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        Array1::from(self.inner.td_ms().to_vec()).into_pyarray(py)
    }
    /// Synaptic rise time in ms.
    #[getter]
    fn tr_ms(&self) -> f64 {
        self.inner.tr_ms()
    }

    /// Simulate one trial (see `spikernn.LifNetwork.simulate`).
    #[pyo3(signature = (u, *, seed = 1, record = vec![], downsample = 1, opto = None))]
    fn simulate(
        &self,
        py: Python<'_>,
        u: PyReadonlyArray2<'_, f64>,
        seed: u64,
        record: Vec<String>,
        downsample: usize,
        opto: Option<Bound<'_, PyDict>>,
    ) -> PyResult<PySim> {
        let mut rec = Record::default();
        let mut dense = false;
        for r in &record {
            match r.to_ascii_lowercase().as_str() {
                "spikes" | "out" => {}
                "spk" => dense = true,
                "rs" | "rates" => rec.rates = true,
                "v" | "rec" | "voltages" => rec.voltages = true,
                "ipsc" | "currents" => rec.currents = true,
                o => {
                    return Err(value_err(
                        "record",
                        format!("'{o}' (expected spikes, out, spk, rs, v or ipsc)"),
                    ))
                }
            }
        }
        let opto = parse_opto(opto, self.inner.n())?;
        let opts = SimOptions {
            downsample,
            opto,
            record: rec,
        };
        let u: Array2<f64> = u.as_array().to_owned();
        let net = &self.inner;
        let sim = py
            .allow_threads(|| {
                let mut g = rng::stream(seed, &[SIM_TAG]);
                net.simulate(&u, &opts, &mut g)
            })
            .map_err(py_err)?;
        let n = net.n();
        let nt = sim.n_steps;
        let dt_s = sim.dt_ms / 1000.0;
        let units: Vec<i64> = sim.spikes.iter().map(|&(u, _)| u as i64).collect();
        let steps: Vec<i64> = sim.spikes.iter().map(|&(_, s)| s as i64).collect();
        let times: Vec<f64> = sim
            .spikes
            .iter()
            .map(|&(_, s)| (s as f64 + 1.0) * dt_s)
            .collect();
        let spk = if dense {
            let mut a = Array2::<bool>::from_elem((n, nt), false);
            for &(u, s) in &sim.spikes {
                a[[u as usize, s as usize]] = true;
            }
            a.into_pyarray(py).into_any().unbind()
        } else {
            py.None()
        };
        let opt = |a: Option<Array2<f64>>| match a {
            Some(a) => a.into_pyarray(py).into_any().unbind(),
            None => py.None(),
        };
        Ok(PySim {
            spike_units: Array1::from(units).into_pyarray(py).into_any().unbind(),
            spike_steps: Array1::from(steps).into_pyarray(py).into_any().unbind(),
            spike_times: Array1::from(times).into_pyarray(py).into_any().unbind(),
            out: Array1::from(sim.out).into_pyarray(py).into_any().unbind(),
            dt: dt_s,
            t: sim.t_sec,
            n_steps: nt,
            firing_rates: Array1::from(sim.rates_hz)
                .into_pyarray(py)
                .into_any()
                .unbind(),
            spk,
            rs: opt(sim.rates),
            v: opt(sim.voltages),
            ipsc: opt(sim.currents),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "LifNetwork(N={}, lam={}, tr_ms={})",
            self.inner.n(),
            self.inner.lambda(),
            self.inner.tr_ms()
        )
    }
}

/// Optogenetic stimulation from the reference's `stims` dict: `mode`
/// ("none", "exc", "inh"), `dur` ([on, off) in spiking steps), `units`.
fn parse_opto(d: Option<Bound<'_, PyDict>>, n: usize) -> PyResult<Opto> {
    let Some(d) = d else {
        return Ok(Opto::default());
    };
    let mode: String = match d.get_item("mode")? {
        Some(m) => m.extract()?,
        None => "none".into(),
    };
    let mode = match mode.to_ascii_lowercase().as_str() {
        "none" => OptoMode::None,
        "exc" => OptoMode::Exc,
        "inh" => OptoMode::Inh,
        o => {
            return Err(value_err(
                "stims['mode']",
                format!("'{o}' (expected none, exc or inh)"),
            ))
        }
    };
    if mode == OptoMode::None {
        return Ok(Opto::default());
    }
    let dur: Vec<usize> = match d.get_item("dur")? {
        Some(v) => v
            .extract()
            .map_err(|_| value_err("stims['dur']", "expected [on, off] steps"))?,
        None => vec![],
    };
    let units: Vec<usize> = match d.get_item("units")? {
        Some(v) => v
            .extract()
            .map_err(|_| value_err("stims['units']", "expected unit indices"))?,
        None => vec![],
    };
    if dur.len() != 2 || dur[0] >= dur[1] || units.is_empty() {
        return Err(value_err(
            "stims",
            "stimulation needs 'dur': [on, off] with on < off and non-empty 'units'",
        ));
    }
    if let Some(u) = units.iter().find(|&&u| u >= n) {
        return Err(value_err("stims['units']", format!("unit {u} ≥ N = {n}")));
    }
    Ok(Opto {
        mode,
        on: dur[0],
        off: dur[1],
        units,
    })
}

// ---------------------------------------------------------------------------
// Search and evaluation

/// The λ grid search (see `spikernn.grid_search`); returns the CLI's
/// `search --json` object as a dict.
#[pyfunction]
#[pyo3(signature = (model, *, lambdas = None, trials = 100, seed = 1, scoring = "paper",
    refine = true, task = None, save = true, downsample = 1, use_initial_weights = false,
    keep_negative_weights = false, neuron = "lif", tr_ms = None, lesion = vec![],
    lambda_rule = None, refit_readout = None, output_bias = None, progress = None))]
#[allow(clippy::too_many_arguments)]
fn grid_search(
    py: Python<'_>,
    model: ModelArg<'_>,
    lambdas: Option<String>,
    trials: usize,
    seed: u64,
    scoring: &str,
    refine: bool,
    task: Option<&str>,
    save: bool,
    downsample: usize,
    use_initial_weights: bool,
    keep_negative_weights: bool,
    neuron: &str,
    tr_ms: Option<f64>,
    lesion: Vec<String>,
    lambda_rule: Option<&str>,
    refit_readout: Option<bool>,
    output_bias: Option<bool>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<PyObject> {
    let (mut m, path) = resolve(py, &model)?;
    let task = model_task(&m, task, &path)?;
    let mut c = RunConfig::for_spec(&task).map_err(py_err)?;
    c.seed = seed;
    let lesions = apply_lesions(&mut c, &mut m, &lesion)?;
    if let Some(l) = lambdas {
        c.search.lambdas = l;
    }
    c.search.trials = trials;
    c.search.refine = refine;
    if let Some(r) = lambda_rule {
        c.search.lambda_rule = parse_name("lambda_rule", r).map_err(py_err)?;
    }
    c.search.refit_readout = refit_readout.unwrap_or(c.search.refit_readout);
    c.search.output_bias = output_bias.unwrap_or(c.search.output_bias);
    SpikeOpts {
        downsample,
        use_initial_weights,
        keep_negative_weights,
        neuron: neuron.to_string(),
        tr_ms,
    }
    .apply(&mut c)?;
    apply_scoring_preset(&mut c, scoring)?;
    let stask = c.scoring_task().map_err(py_err)?;
    let opts = c.search_options().map_err(py_err)?;
    let t0 = Instant::now();
    let r = run_cancellable(py, progress.as_ref(), |obs| {
        search::grid_search(&m, stask.as_ref(), &opts, obs)
    })?;
    let secs = t0.elapsed().as_secs_f64();
    if save && lesions.is_none() {
        match (&model, &path) {
            (_, Some(p)) => {
                let rec = r.to_record();
                py.allow_threads(|| model_file::write_search_record(p, &rec))
                    .map_err(py_err)?;
            }
            (ModelArg::Model(b), None) => b.borrow_mut().inner.search = Some(r.to_record()),
            _ => {}
        }
    }
    let mut j = result_json(JsonResult::Search(&r))?;
    j["model"] = json!(path);
    j["seconds"] = json!(secs);
    j["scoring"] = result_json(JsonResult::Scoring(&c))?;
    if let Some(l) = lesions {
        j["lesions"] = l;
    }
    json_to_py(py, &j)
}

/// Spiking evaluation (see `spikernn.evaluate`); returns the CLI's
/// `eval --json` object as a dict.
#[pyfunction]
#[pyo3(signature = (model, *, lam = None, trials = 200, seed = 1, scoring = "paper",
    task = None, downsample = 1, use_initial_weights = false, keep_negative_weights = false,
    neuron = "lif", tr_ms = None, lesion = vec![], output_bias = None, progress = None))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    model: ModelArg<'_>,
    lam: Option<f64>,
    trials: usize,
    seed: u64,
    scoring: &str,
    task: Option<&str>,
    downsample: usize,
    use_initial_weights: bool,
    keep_negative_weights: bool,
    neuron: &str,
    tr_ms: Option<f64>,
    lesion: Vec<String>,
    output_bias: Option<bool>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<PyObject> {
    let (mut m, path) = resolve(py, &model)?;
    let task = model_task(&m, task, &path)?;
    let lam = stored_lambda(&m, lam, &path)?;
    let mut c = RunConfig::for_spec(&task).map_err(py_err)?;
    c.seed = seed;
    let lesions = apply_lesions(&mut c, &mut m, &lesion)?;
    c.eval.trials = trials;
    c.search.output_bias = output_bias.unwrap_or(c.search.output_bias);
    SpikeOpts {
        downsample,
        use_initial_weights,
        keep_negative_weights,
        neuron: neuron.to_string(),
        tr_ms,
    }
    .apply(&mut c)?;
    apply_scoring_preset(&mut c, scoring)?;
    let stask = c.scoring_task().map_err(py_err)?;
    let mut opts = c.eval_options().map_err(py_err)?;
    opts.readout = spikernn::spiking::readout::stored_readout(&m, lam);
    let r = run_cancellable(py, progress.as_ref(), |obs| {
        search::evaluate(&m, stask.as_ref(), lam, &opts, obs)
    })?;
    let mut j = result_json(JsonResult::Eval(&r))?;
    j["scoring"] = result_json(JsonResult::Scoring(&c))?;
    if let Some(l) = lesions {
        j["lesions"] = l;
    }
    json_to_py(py, &j)
}

/// Repeat the last column of `u` `extra` times (the spiking stimulus is the
/// rate stimulus with one extra column).
#[pyfunction]
#[pyo3(signature = (u, extra = 1))]
fn extend_stimulus_py<'py>(
    py: Python<'py>,
    u: PyReadonlyArray2<'py, f64>,
    extra: usize,
) -> Bound<'py, numpy::PyArray2<f64>> {
    extend_stimulus(&u.as_array().to_owned(), extra).into_pyarray(py)
}

/// Names of the built-in tasks.
#[pyfunction]
fn task_names() -> Vec<&'static str> {
    spikernn::task::TASK_NAMES.to_vec()
}

#[pymodule]
fn _spikernn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyRateModel>()?;
    m.add_class::<PyTask>()?;
    m.add_class::<PyLif>()?;
    m.add_class::<PySim>()?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(grid_search, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(task_names, m)?)?;
    let f = wrap_pyfunction!(extend_stimulus_py, m)?;
    m.add("extend_stimulus", f)?;
    Ok(())
}

//! The continuous-rate RNN (docs/model.md#rate-network): parameters, initialisation and the
//! effective recurrent matrix. The forward pass and its exact gradient live in
//! [`crate::rate::bptt`]; training in [`crate::rate::train`].
//!
//! Conventions: row i of every N×N matrix is postsynaptic unit i; time
//! constants `tau` are in rate steps (1 step = 5 ms).

use ndarray::{Array1, Array2};
use rand::{Rng, RngCore};
use rand_distr::{Distribution, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::task::{Task, TaskSpec};

/// Rate activation phi(x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// 1 / (1 + e^(−x)).
    Sigmoid,
    /// min(max(x, 0), 20).
    #[cfg_attr(feature = "cli", value(name = "clipped_relu", alias = "relu"))]
    #[serde(alias = "relu")]
    ClippedRelu,
    /// min(ln(1 + e^x), 20).
    Softplus,
}

impl Activation {
    /// The name used in `.mat` files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::ClippedRelu => "clipped_relu",
            Activation::Softplus => "softplus",
        }
    }
    /// Parse a name (`sigmoid`, `clipped_relu`, `softplus`).
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name("activation", s)
    }
    /// phi(x).
    #[inline]
    pub fn f(self, x: f64) -> f64 {
        match self {
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::ClippedRelu => x.clamp(0.0, 20.0),
            Activation::Softplus => softplus(x).min(20.0),
        }
    }
    /// phi'(x) given x and r = phi(x) (saves an exp for the sigmoid).
    #[inline]
    pub fn df_with(self, x: f64, r: f64) -> f64 {
        match self {
            Activation::Sigmoid => r * (1.0 - r),
            _ => self.df(x),
        }
    }
    /// phi'(x) (0 where the clip is active).
    #[inline]
    pub fn df(self, x: f64) -> f64 {
        match self {
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }
            Activation::ClippedRelu => {
                if x > 0.0 && x < 20.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Softplus => {
                if softplus(x) < 20.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    0.0
                }
            }
        }
    }
}

#[inline]
fn softplus(x: f64) -> f64 {
    // ln(1 + e^x) without overflow.
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// Distribution of the initial recurrent weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum WeightDist {
    /// N(0, 1) · gain / sqrt(N · P_rec).
    #[serde(alias = "gauss", alias = "gaussian")]
    Gaus,
    /// Gamma(shape 2, scale 0.003).
    Gamma,
}

impl WeightDist {
    /// Parse `gaus` / `gamma`.
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name("w-dist", s)
    }
}

/// Synaptic decay constants, in rate steps (1 step = 5 ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taus {
    /// One fixed value for every unit (not trained).
    Fixed(f64),
    /// tau_i = sigmoid(g_i)·(max − min) + min, g_i trained.
    Range(f64, f64),
}

impl Taus {
    /// From the command-line / file form: one value or [min, max].
    pub fn from_slice(v: &[f64]) -> Result<Self> {
        let t = match v {
            [t] => Taus::Fixed(*t),
            [a, b] if a == b => Taus::Fixed(*a),
            [a, b] => Taus::Range(*a, *b),
            _ => {
                return Err(Error::param(
                    "taus",
                    format!("expected 1 or 2 values, got {}", v.len()),
                ))
            }
        };
        t.validate()?;
        Ok(t)
    }
    /// Check positivity and min ≤ max.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Taus::Fixed(t) if !(t.is_finite() && t >= 1.0) => Err(Error::param(
                "taus",
                format!("tau must be a finite number ≥ 1 step, got {t}"),
            )),
            Taus::Range(a, b) if !(a.is_finite() && b.is_finite() && a >= 1.0) => {
                Err(Error::param(
                    "taus",
                    format!("taus must be finite and ≥ 1 step, got {a} {b}"),
                ))
            }
            Taus::Range(a, b) if a > b => Err(Error::param(
                "taus",
                format!("min {a} is greater than max {b}"),
            )),
            _ => Ok(()),
        }
    }
    /// The file form: `[tau]` or `[min, max]`.
    pub fn to_vec(&self) -> Vec<f64> {
        match *self {
            Taus::Fixed(t) => vec![t],
            Taus::Range(a, b) => vec![a, b],
        }
    }
    /// tau_i (rate steps) from the trained parameter g_i.
    #[inline]
    pub fn tau(&self, g: f64) -> f64 {
        match *self {
            Taus::Fixed(t) => t,
            Taus::Range(a, b) => sigmoid(g) * (b - a) + a,
        }
    }
    /// d tau_i / d g_i.
    #[inline]
    pub fn dtau(&self, g: f64) -> f64 {
        match *self {
            Taus::Fixed(_) => 0.0,
            Taus::Range(a, b) => {
                let s = sigmoid(g);
                s * (1.0 - s) * (b - a)
            }
        }
    }
    /// Whether the taus are trained.
    pub fn trained(&self) -> bool {
        matches!(self, Taus::Range(..))
    }
}

#[inline]
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Architecture of a rate network (docs/model.md#rate-network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Number of units.
    pub n: usize,
    /// Probability that a unit is inhibitory (Dale's principle only).
    pub p_inh: f64,
    /// Connection probability of the initial recurrent weights.
    pub p_rec: f64,
    /// Gain of the `gaus` initial weights.
    pub gain: f64,
    /// Number of SOM units (the first `som_n` inhibitory units).
    pub som_n: usize,
    /// Initial weight distribution.
    pub w_dist: WeightDist,
    /// Dale's principle (separate excitatory and inhibitory units).
    pub dale: bool,
    /// Activation function.
    pub activation: Activation,
    /// Synaptic decay constants (rate steps).
    pub taus: Taus,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            n: 200,
            p_inh: 0.2,
            p_rec: 0.2,
            gain: 1.5,
            som_n: 0,
            w_dist: WeightDist::Gaus,
            dale: true,
            activation: Activation::Sigmoid,
            taus: Taus::Range(4.0, 20.0),
        }
    }
}

impl NetConfig {
    /// Check every field; errors name the CLI flag.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::param("n", "the number of units must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.p_inh) {
            return Err(Error::param(
                "p-inh",
                format!("must lie in [0, 1], got {}", self.p_inh),
            ));
        }
        if !(self.p_rec > 0.0 && self.p_rec <= 1.0) {
            return Err(Error::param(
                "p-rec",
                format!("must lie in (0, 1], got {}", self.p_rec),
            ));
        }
        if !(self.gain.is_finite() && self.gain > 0.0) {
            return Err(Error::param(
                "gain",
                format!("must be positive, got {}", self.gain),
            ));
        }
        self.taus.validate()
    }
}

/// Training bookkeeping stored with a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingRecord {
    /// Loss of every training trial (or mini-batch).
    pub losses: Vec<f64>,
    /// Training trials used.
    pub trials: usize,
    /// Mean accuracy of the last evaluation.
    pub eval_perf_mean: f64,
    /// Mean loss of the last evaluation.
    pub eval_loss_mean: f64,
    /// Every evaluation during training (`.mat` keys `eval_trials`,
    /// `eval_perfs`, `eval_losses`; empty for files without them).
    pub evals: Vec<EvalPoint>,
    /// Noise of the training trials (`.mat` keys `rec_noise_sd`,
    /// `input_noise_sd`, written only when not the defaults 0.1 and 0).
    pub noise: TrainNoise,
}

/// Noise SDs of rate training (docs/conversion.md, option c), per unit (or
/// input channel) and rate step of 5 ms, dimensionless (units of x and u).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainNoise {
    /// SD σ_rec of the recurrent noise: x_t += σ_rec·N(0, 1) each rate step
    /// (docs/model.md: 0.1, i.e. N(0, 0.01)).
    pub rec_sd: f64,
    /// SD σ_in of the input noise: u_t += σ_in·N(0, 1) per channel and rate
    /// step of a training trial (0: clean inputs, as the paper).
    pub input_sd: f64,
}

impl Default for TrainNoise {
    fn default() -> Self {
        TrainNoise {
            rec_sd: REC_NOISE_SD,
            input_sd: 0.0,
        }
    }
}

/// The recurrent noise SD of docs/model.md (per rate step of 5 ms); rate
/// evaluations always use it.
pub const REC_NOISE_SD: f64 = 0.1;

/// One evaluation during training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalPoint {
    /// Training trials done when evaluated.
    pub trial: usize,
    /// Mean loss over the evaluation trials.
    pub loss: f64,
    /// Fraction of evaluation trials correct.
    pub accuracy: f64,
}

/// Where a model's training started (`train --init`).
#[derive(Debug, Clone, PartialEq)]
pub struct InitSource {
    /// The model file it was initialised from, as given.
    pub path: String,
    /// That file's task name (empty when the file recorded none).
    pub task: String,
}

/// Lambda-search results stored with a model (docs/model.md#model-files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRecord {
    /// The chosen scaling factor.
    pub opt_scaling_factor: f64,
    /// Accuracy at every scaling factor.
    pub all_perfs: Vec<f64>,
    /// The scaling factors tried.
    pub scaling_factors: Vec<f64>,
    /// The refitted spiking readout, if `search --refit-readout` made one.
    pub refit: Option<RefitRecord>,
}

/// A spiking readout refitted after the λ search
/// ([`crate::spiking::readout`]), stored as `w_out_spk`, `b_out_spk`,
/// `refit_lambda`, `refit_alpha`, `refit_trials`, `refit_holdout_mse`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RefitRecord {
    /// Readout weights on the filtered spike trains r (1 × N, ms): out = w·r + b.
    pub w_out_spk: Vec<f64>,
    /// Readout bias (dimensionless).
    pub b_out_spk: f64,
    /// The λ the readout was fitted at (it applies at that λ only).
    #[serde(rename = "refit_lambda")]
    pub lambda: f64,
    /// Ridge penalty α chosen on the held-out trials.
    #[serde(rename = "refit_alpha")]
    pub alpha: f64,
    /// Fitting trials K.
    #[serde(rename = "refit_trials")]
    pub trials: usize,
    /// Held-out mean squared error per rate-step sample at α.
    #[serde(rename = "refit_holdout_mse")]
    pub holdout_mse: f64,
}

/// A rate network's parameters: what is trained, converted and saved.
#[derive(Debug, Clone, PartialEq)]
pub struct RateModel {
    /// Raw recurrent weights w (N×N); under Dale's principle the effective
    /// weights use relu(w).
    pub w: Array2<f64>,
    /// Initial raw weights (N×N).
    pub w0: Array2<f64>,
    /// Sign mask m (N×N, diagonal: +1 excitatory, −1 inhibitory).
    pub m: Array2<f64>,
    /// SOM mask (N×N): 0 where a SOM unit (row) would receive inhibition.
    pub som_m: Array2<f64>,
    /// Input weights (N×n_in), fixed.
    pub w_in: Array2<f64>,
    /// Readout weights (N).
    pub w_out: Array1<f64>,
    /// Readout bias.
    pub b_out: f64,
    /// Number of SOM units.
    pub som_n: usize,
    /// Inhibitory units.
    pub inh: Vec<bool>,
    /// Decay constants spec (rate steps).
    pub taus: Taus,
    /// Trained tau parameters g_i (N).
    pub taus_gaus: Array1<f64>,
    /// Initial tau parameters (N).
    pub taus_gaus0: Array1<f64>,
    /// Activation.
    pub activation: Activation,
    /// Dale's principle was applied.
    pub dale: bool,
    /// Training bookkeeping, if trained.
    pub training: Option<TrainingRecord>,
    /// Lambda search results, if searched.
    pub search: Option<SearchRecord>,
    /// The task the model was trained on, if known (file keys `task`,
    /// `task_delay_ms`, `task_file`, `task_file_path`).
    pub task: Option<TaskSpec>,
    /// The model file this model's training started from (`train --init`),
    /// and that file's task: keys `init_from`, `init_task`.
    pub init_from: Option<InitSource>,
}

impl RateModel {
    /// Draw a new network (docs/model.md#rate-network). Every draw comes from `rng`, in a fixed
    /// order, so a seed reproduces the network bit for bit.
    pub fn init(cfg: &NetConfig, n_in: usize, rng: &mut dyn RngCore) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.n;
        let inh: Vec<bool> = (0..n)
            .map(|_| cfg.dale && rng.random::<f64>() < cfg.p_inh)
            .collect();
        let scale = cfg.gain / ((n as f64) * cfg.p_rec).sqrt();
        let gamma = Gamma::new(2.0, 0.003).expect("valid gamma parameters");
        let mut w = Array2::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                if rng.random::<f64>() < cfg.p_rec {
                    let v: f64 = match cfg.w_dist {
                        WeightDist::Gaus => {
                            let z: f64 = StandardNormal.sample(rng);
                            z * scale
                        }
                        WeightDist::Gamma => gamma.sample(rng),
                    };
                    w[[i, j]] = if cfg.dale { v.abs() } else { v };
                }
            }
        }
        let mut m = Array2::zeros((n, n));
        for i in 0..n {
            m[[i, i]] = if inh[i] { -1.0 } else { 1.0 };
        }
        let som_units: Vec<usize> = (0..n).filter(|&i| inh[i]).take(cfg.som_n).collect();
        if som_units.len() < cfg.som_n {
            return Err(Error::param(
                "som-n",
                format!(
                    "{} SOM units requested but the network has only {} inhibitory units",
                    cfg.som_n,
                    som_units.len()
                ),
            ));
        }
        let mut som_m = Array2::ones((n, n));
        for &i in &som_units {
            for j in 0..n {
                if inh[j] {
                    som_m[[i, j]] = 0.0;
                }
            }
        }
        let w_in = Array2::from_shape_fn((n, n_in), |_| -> f64 { StandardNormal.sample(rng) });
        let w_out = Array1::from_shape_fn(n, |_| {
            let v: f64 = StandardNormal.sample(rng);
            v / 100.0
        });
        let taus_gaus = Array1::from_shape_fn(n, |_| -> f64 { StandardNormal.sample(rng) });
        Ok(RateModel {
            w0: w.clone(),
            w,
            m,
            som_m,
            w_in,
            w_out,
            b_out: 0.0,
            som_n: cfg.som_n,
            inh,
            taus: cfg.taus,
            taus_gaus0: taus_gaus.clone(),
            taus_gaus,
            activation: cfg.activation,
            dale: cfg.dale,
            training: None,
            search: None,
            task: None,
            init_from: None,
        })
    }

    /// Number of units N.
    pub fn n(&self) -> usize {
        self.w.nrows()
    }

    /// Number of inputs n_in.
    pub fn n_inputs(&self) -> usize {
        self.w_in.ncols()
    }

    /// Excitatory units (`!inh`).
    pub fn exc(&self) -> Vec<bool> {
        self.inh.iter().map(|&b| !b).collect()
    }

    /// Diagonal of the sign mask m.
    pub fn signs(&self) -> Array1<f64> {
        self.m.diag().to_owned()
    }

    /// Effective recurrent matrix W = (relu(w)·m) ⊙ som_m (Dale) or
    /// (w·m) ⊙ som_m (no Dale), computed from raw weights `w`.
    pub fn effective_weights_of(&self, w: &Array2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros(w.raw_dim());
        self.effective_weights_into(w, &mut out);
        out
    }

    /// [`RateModel::effective_weights_of`] written into `out` (same shape as `w`).
    pub fn effective_weights_into(&self, w: &Array2<f64>, out: &mut Array2<f64>) {
        let s = self.signs();
        // Row by row, with the Dale test outside the inner loop, so that
        // the inner loop runs on contiguous rows and vectorises.
        ndarray::Zip::from(out.rows_mut())
            .and(w.rows())
            .and(self.som_m.rows())
            .for_each(|o, w, som| {
                let row = ndarray::Zip::from(o).and(w).and(som).and(&s);
                if self.dale {
                    row.for_each(|o, &wij, &sm, &sj| *o = wij.max(0.0) * sj * sm);
                } else {
                    row.for_each(|o, &wij, &sm, &sj| *o = wij * sj * sm);
                }
            });
    }

    /// Effective recurrent matrix of the trained weights.
    pub fn effective_weights(&self) -> Array2<f64> {
        self.effective_weights_of(&self.w)
    }

    /// The task of this model: `given` if any (a bare built-in name equal
    /// to the stored task keeps the stored parameters, e.g. the DMS delay),
    /// else the task stored in its file, else the one with its number of
    /// inputs (1: go-nogo, 2: xor, 4: mante); checked against its inputs.
    /// `source` names the model (a file) in errors.
    pub fn task(&self, given: Option<&TaskSpec>, source: &str) -> Result<Box<dyn Task>> {
        let k = self.n_inputs();
        let spec = match (given, &self.task) {
            (
                Some(TaskSpec::Builtin {
                    name,
                    delay_ms: None,
                }),
                Some(stored),
            ) if stored.is_builtin()
                && crate::task::task_by_name(name)?.name() == stored.name() =>
            {
                stored.clone()
            }
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => match k {
                1 => TaskSpec::builtin("go-nogo"),
                2 => TaskSpec::builtin("xor"),
                4 => TaskSpec::builtin("mante"),
                _ => {
                    return Err(Error::param(
                        "task",
                        format!("{source} has {k} inputs and no stored task; name the task"),
                    ))
                }
            },
        };
        let task = spec.build()?;
        if task.n_inputs() != k {
            return Err(Error::param(
                "task",
                format!(
                    "{} has {} inputs but {source} has {k}",
                    task.name(),
                    task.n_inputs()
                ),
            ));
        }
        Ok(task)
    }

    /// The scaling factor to use: `given`, else the stored
    /// `opt_scaling_factor` of a λ search. `source` names the model in
    /// errors.
    pub fn lambda(&self, given: Option<f64>, source: &str) -> Result<f64> {
        match (given, &self.search) {
            (Some(l), _) => Ok(l),
            (None, Some(s)) => Ok(s.opt_scaling_factor),
            (None, None) => Err(Error::param(
                "lambda",
                format!(
                    "{source} has no stored opt_scaling_factor (search λ first) and no λ was given"
                ),
            )),
        }
    }

    /// tau_i in rate steps.
    pub fn tau_steps(&self) -> Array1<f64> {
        self.taus_gaus.mapv(|g| self.taus.tau(g))
    }

    /// Check internal consistency of shapes and values; `what` names the
    /// source (a file path) in the error.
    pub fn validate(&self, what: &std::path::Path) -> Result<()> {
        let n = self.n();
        let bad = |key: &str, expected: String, found: String| Error::BadKey {
            path: what.to_path_buf(),
            key: key.into(),
            expected,
            found,
        };
        let sq = |key: &str, a: &Array2<f64>| -> Result<()> {
            if a.dim() != (n, n) {
                return Err(bad(key, format!("{n}×{n}"), format!("{:?}", a.dim())));
            }
            if a.iter().any(|v| !v.is_finite()) {
                return Err(bad(key, "finite values".into(), "NaN or inf".into()));
            }
            Ok(())
        };
        sq("w", &self.w)?;
        sq("w0", &self.w0)?;
        sq("m", &self.m)?;
        sq("som_m", &self.som_m)?;
        for i in 0..n {
            for j in 0..n {
                if i != j && self.m[[i, j]] != 0.0 {
                    return Err(bad(
                        "m",
                        "a diagonal sign mask".into(),
                        format!("off-diagonal entry at ({i}, {j})"),
                    ));
                }
            }
        }
        if self.w_in.nrows() != n {
            return Err(bad(
                "w_in",
                format!("{n}×n_in"),
                format!("{:?}", self.w_in.dim()),
            ));
        }
        let vec_len = |key: &str, shape: String, len: usize| -> Result<()> {
            if len != n {
                return Err(bad(key, shape, format!("{len}")));
            }
            Ok(())
        };
        vec_len("w_out", format!("1×{n}"), self.w_out.len())?;
        vec_len("taus_gaus", format!("{n}×1"), self.taus_gaus.len())?;
        vec_len("inh", format!("{n}×1"), self.inh.len())?;
        if self
            .w_in
            .iter()
            .chain(self.w_out.iter())
            .any(|v| !v.is_finite())
        {
            return Err(bad(
                "w_in/w_out",
                "finite values".into(),
                "NaN or inf".into(),
            ));
        }
        self.taus.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn init_respects_dale_som_and_sparsity() {
        let cfg = NetConfig {
            n: 300,
            p_inh: 0.3,
            som_n: 10,
            ..NetConfig::default()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let m = RateModel::init(&cfg, 2, &mut rng).unwrap();
        let n_inh = m.inh.iter().filter(|&&b| b).count() as f64;
        // Binomial(300, 0.3): mean 90, sd ~7.9.
        assert!((n_inh - 90.0).abs() < 40.0, "{n_inh}");
        let nz = m.w.iter().filter(|&&v| v != 0.0).count() as f64 / (300.0 * 300.0);
        assert!((nz - 0.2).abs() < 0.01, "{nz}");
        assert!(m.w.iter().all(|&v| v >= 0.0));
        let we = m.effective_weights();
        for i in 0..300 {
            for j in 0..300 {
                if m.inh[j] {
                    assert!(we[[i, j]] <= 0.0);
                } else {
                    assert!(we[[i, j]] >= 0.0);
                }
            }
        }
        let som: Vec<usize> = (0..300).filter(|&i| m.inh[i]).take(10).collect();
        for &i in &som {
            for j in 0..300 {
                if m.inh[j] {
                    assert_eq!(we[[i, j]], 0.0);
                }
            }
        }
        assert_eq!(m.w_in.dim(), (300, 2));
    }

    #[test]
    fn same_seed_same_network() {
        let cfg = NetConfig::default();
        let a = RateModel::init(&cfg, 1, &mut Xoshiro256PlusPlus::seed_from_u64(1)).unwrap();
        let b = RateModel::init(&cfg, 1, &mut Xoshiro256PlusPlus::seed_from_u64(1)).unwrap();
        let c = RateModel::init(&cfg, 1, &mut Xoshiro256PlusPlus::seed_from_u64(2)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.w, c.w);
    }

    #[test]
    fn bad_config_names_the_flag() {
        let mut cfg = NetConfig {
            n: 0,
            ..NetConfig::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("n"));
        cfg.n = 10;
        cfg.p_inh = 1.5;
        assert!(cfg.validate().unwrap_err().to_string().contains("p-inh"));
        cfg.p_inh = 0.2;
        cfg.taus = Taus::Range(20.0, 4.0);
        assert!(cfg.validate().unwrap_err().to_string().contains("taus"));
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in [
            Activation::Sigmoid,
            Activation::ClippedRelu,
            Activation::Softplus,
        ] {
            for &x in &[-3.0, -0.4, 0.3, 2.0, 5.0, 19.5] {
                let h = 1e-6;
                let fd = (act.f(x + h) - act.f(x - h)) / (2.0 * h);
                assert!((fd - act.df(x)).abs() < 1e-6, "{act:?} at {x}");
            }
        }
    }
}

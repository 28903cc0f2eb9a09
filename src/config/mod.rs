//! Run configuration: every parameter of training, the lambda search and the
//! evaluation in one serialisable struct, with per-task defaults. This is
//! what `spikernn config --task T` prints, what `spikernn run --config F`
//! reads (TOML), and what a run directory keeps as `config.toml`.
//!
//! Every parameter is defined once, in `config::section`: its type, its default
//! and its doc. The command-line flags ([`NetFlags`], [`TrainFlags`],
//! [`SearchFlags`], [`SpikeFlags`], [`EvalFlags`]) and a partial TOML file
//! ([`RunPatch`]) are generated from that definition. Precedence: flags
//! over the file over the per-task defaults of [`RunConfig::for_task`] /
//! [`RunConfig::for_run`].

use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lesion::Applied;
use crate::rate::train::TrainConfig;
use crate::rate::RateModel;
use crate::rate::{NetConfig, Taus, TrainNoise};
use crate::spiking::lif::{ConversionOptions, LifParams};
use crate::spiking::readout::RefitOptions;
use crate::spiking::search::{EvalOptions, LambdaRule, SearchOptions};
use crate::task::{task_by_name, with_nogo_rule, Task, TaskSpec};
use crate::units::SPIKING_STEPS_PER_RATE_STEP;

#[macro_use]
mod section;
mod scoring;

pub use scoring::{Scoring, ScoringPreset, WindowSource};
pub use section::{
    EvalFlags, EvalPatch, EvalSection, NetFlags, NetPatch, NetSection, SearchFlags, SearchPatch,
    SearchSection, SpikeFlags, TrainFlags, TrainPatch, TrainSection,
};

/// The whole configuration of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Task name: go-nogo, xor, mante or dms (or a task file's `name`).
    pub task: String,
    /// A task file (TOML, docs/tasks.md) that defines the task instead of
    /// a built-in; `task` is then the file's `name`. In a configuration
    /// file a relative path is relative to that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_file: Option<PathBuf>,
    /// DMS only: the delay between cue offset and probe onset, in ms (a
    /// multiple of the 5-ms rate step). Absent: 750 ms
    /// ([`crate::task::Dms::DEFAULT_DELAY_MS`], the follow-up paper's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<f64>,
    /// The task as resolved: a task file's text once read, or the task a
    /// model file recorded (not serialised; `task_file` / `delay_ms` are).
    #[serde(skip)]
    pub spec: Option<TaskSpec>,
    /// Seed of every random draw (training, search, evaluation).
    pub seed: u64,
    /// Networks `run` trains at most: while the spiking network of one
    /// misses `target_accuracy`, it trains another with the next seed
    /// (`seed`, `seed + 1`, …); 1 = exactly one network.
    #[serde(default = "default_attempts")]
    pub attempts: usize,
    /// Best spiking accuracy (fraction) of the λ search that makes `run`
    /// accept a network. Absent: the task's default (the paper's accuracy:
    /// 0.95 Go-NoGo and Mante, 0.90 XOR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_accuracy: Option<f64>,
    /// Network.
    pub net: NetSection,
    /// Training.
    pub train: TrainSection,
    /// Lambda search.
    pub search: SearchSection,
    /// Evaluation.
    pub eval: EvalSection,
}

/// A partial run configuration as a TOML file may give it: only the keys it
/// changes; unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunPatch {
    /// Task name.
    pub task: Option<String>,
    /// Task file (relative to the configuration file).
    pub task_file: Option<PathBuf>,
    /// DMS delay in ms.
    pub delay_ms: Option<f64>,
    /// Seed of every random draw.
    pub seed: Option<u64>,
    /// Networks `run` trains at most.
    pub attempts: Option<usize>,
    /// Spiking accuracy (fraction) that accepts a network.
    pub target_accuracy: Option<f64>,
    /// `[net]`.
    pub net: NetPatch,
    /// `[train]`.
    pub train: TrainPatch,
    /// `[search]`.
    pub search: SearchPatch,
    /// `[eval]`.
    pub eval: EvalPatch,
}

/// A TOML error in the file `path` (content `text`) as [`Error::Config`]:
/// the message, the line of its span and that line's text.
pub(crate) fn toml_error(e: &toml::de::Error, text: &str, path: &Path) -> Error {
    let line = e
        .span()
        .map(|r| text[..r.start.min(text.len())].matches('\n').count() + 1);
    let what = line
        .and_then(|l| text.lines().nth(l - 1))
        .map(|t| format!(" (`{}`)", t.trim()))
        .unwrap_or_default();
    Error::Config {
        path: path.to_path_buf(),
        line,
        msg: format!("{}{what}", e.message().trim_end()),
    }
}

impl RunPatch {
    /// Parse TOML text; `path` names the file in errors, which also give
    /// the line and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_error(&e, text, path))
    }

    /// Set in `c` every value this patch gives (not `task` and
    /// `task_file`).
    pub fn apply(&self, c: &mut RunConfig) {
        if self.delay_ms.is_some() {
            c.delay_ms = self.delay_ms;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(a) = self.attempts {
            c.attempts = a;
        }
        if self.target_accuracy.is_some() {
            c.target_accuracy = self.target_accuracy;
        }
        self.net.apply(&mut c.net);
        self.train.apply(&mut c.train);
        self.search.apply(&mut c.search);
        self.eval.apply(&mut c.eval);
    }
}

/// Parse a name into one of the library's enums (activation, loss, weight
/// distribution, NoGo rule, neuron model, scoring preset …), the one way
/// strings become enums outside clap: case-insensitive, `-` read as `_`,
/// through the enum's serde names (so TOML, `.mat` files and this agree).
/// The error names `key` and lists the accepted names.
///
/// # Examples
/// ```
/// use spikernn::config::parse_name;
/// use spikernn::rate::Activation;
/// let a: Activation = parse_name("activation", "Clipped-ReLU").unwrap();
/// assert_eq!(a, Activation::ClippedRelu);
/// let e = parse_name::<Activation>("activation", "tanh").unwrap_err();
/// assert!(e.to_string().contains("activation") && e.to_string().contains("sigmoid"));
/// ```
pub fn parse_name<T: DeserializeOwned>(key: &str, s: &str) -> Result<T> {
    let norm = s.trim().to_ascii_lowercase().replace('-', "_");
    let de: serde::de::value::StrDeserializer<serde::de::value::Error> =
        norm.as_str().into_deserializer();
    T::deserialize(de).map_err(|e| Error::param(key, e.to_string()))
}

impl RunConfig {
    /// Defaults for `task`: the library's defaults (each defined once, in
    /// `config::section`) with the paper's per-task settings (N = 250 for Mante,
    /// 10 000 training trials for XOR and Mante; for DMS (Kim & Sejnowski
    /// 2021) taus 4–25 rate steps (20–125 ms) and 20 000 training trials)
    /// and the conversion that measured best per task (docs/conversion.md,
    /// "Defaults"):
    ///
    /// | task | λ rule | readout |
    /// |---|---|---|
    /// | go-nogo | margin | refitted (ridge, [`RefitOptions`]) |
    /// | xor | margin | w_out/λ + b_out |
    /// | mante, dms, task files | margin | w_out/λ (the paper's) |
    ///
    /// The MATLAB-identical conversion is `lambda_rule = "peak"`,
    /// `refit_readout = false`, `output_bias = false` (plus
    /// `scoring = "paper"`, `refine = false`).
    ///
    /// # Examples
    /// ```
    /// use spikernn::config::RunConfig;
    /// use spikernn::spiking::search::LambdaRule;
    /// let c = RunConfig::for_task("mante").unwrap();
    /// assert_eq!((c.net.n, c.train.n_trials), (250, 10_000));
    /// assert_eq!(c.search.lambda_rule, LambdaRule::Margin);
    /// assert!(RunConfig::for_task("go-nogo").unwrap().search.refit_readout);
    /// assert_eq!(RunConfig::for_task("dms").unwrap().net.taus, vec![4.0, 25.0]);
    /// ```
    pub fn for_task(task: &str) -> Result<Self> {
        let t = task_by_name(task)?;
        let mut c = Self::generic(t.name());
        match t.name() {
            "mante" => (c.net.n, c.train.n_trials) = (250, 10_000),
            "xor" => (c.train.n_trials, c.search.output_bias) = (10_000, true),
            "dms" => (c.net.taus, c.train.n_trials) = (vec![4.0, 25.0], 20_000),
            "go-nogo" => c.search.refit_readout = true,
            _ => {}
        }
        Ok(c)
    }

    /// The library's defaults for a task called `name`, without per-task settings.
    fn generic(name: &str) -> Self {
        RunConfig {
            task: name.to_string(),
            task_file: None,
            delay_ms: None,
            spec: None,
            seed: TrainConfig::default().seed,
            attempts: default_attempts(),
            target_accuracy: Some(default_target(name)),
            net: NetSection::default(),
            train: TrainSection::default(),
            search: SearchSection {
                lambda_rule: LambdaRule::Margin,
                ..SearchSection::default()
            },
            eval: EvalSection::default(),
        }
    }

    /// Defaults for the task `spec`: [`for_task`] of a built-in (with its
    /// DMS delay); for a task file the library's defaults, with `task` its
    /// name and `task_file` its path.
    ///
    /// [`for_task`]: RunConfig::for_task
    pub fn for_spec(spec: &TaskSpec) -> Result<Self> {
        match spec {
            TaskSpec::Builtin { name, delay_ms } => {
                let mut c = Self::for_task(name)?;
                c.delay_ms = *delay_ms;
                c.task()?;
                Ok(c)
            }
            TaskSpec::File { name, path, .. } => {
                let mut c = Self::generic(name);
                let p = PathBuf::from(path);
                c.task_file = Some(std::fs::canonicalize(&p).unwrap_or(p));
                c.spec = Some(spec.clone());
                Ok(c)
            }
        }
    }

    /// The task as [`TaskSpec`]: the resolved one, else `task_file` read
    /// now, else the built-in `task` with `delay_ms`.
    pub fn task_spec(&self) -> Result<TaskSpec> {
        if let Some(s) = &self.spec {
            return Ok(s.clone());
        }
        match &self.task_file {
            Some(p) => TaskSpec::read_file(p),
            None => Ok(TaskSpec::Builtin {
                name: self.task.clone(),
                delay_ms: self.delay_ms,
            }),
        }
    }

    /// Whether the task is a built-in (not a task file).
    fn builtin(&self) -> bool {
        self.task_file.is_none() && self.spec.as_ref().is_none_or(TaskSpec::is_builtin)
    }

    /// The spiking accuracy `run` aims for (see `target_accuracy`).
    pub fn target(&self) -> f64 {
        self.target_accuracy
            .unwrap_or_else(|| default_target(&self.task))
    }

    /// Defaults of `spikernn run` (and `spikernn config`): [`for_task`]
    /// except for Go-NoGo, which uses the network of the paper's Fig. S3
    /// (P_inh 0.33 with 20 SOM units, the settings of the reference model
    /// in `tests/fixtures/tf_sst_go_nogo_N200.mat`) instead of the generic
    /// P_inh 0.2 without SOM units (docs/model.md, "Rate network"). Measured
    /// here (seeds 1–10, N 200, taus 4–20, coarse λ grid of 100 trials
    /// each): 8 of 10 such networks reach ≥ 95 % spiking accuracy under the
    /// |output| < 0.3 NoGo rule against 5 of 10 with the generic settings,
    /// whose failing NoGo trials drift into the Go state. `spikernn train`
    /// keeps the generic defaults.
    ///
    /// [`for_task`]: RunConfig::for_task
    pub fn for_run(task: &str) -> Result<Self> {
        let mut c = Self::for_task(task)?;
        if c.task == "go-nogo" {
            c.net.p_inh = 0.33;
            c.net.som_n = 20;
        }
        Ok(c)
    }

    /// Read a TOML file that gives only what it changes: [`for_run`] of its
    /// `task` (else of `task`, else Go-NoGo) or of its `task_file`, then the
    /// file's values. Errors name the file, the line and the key.
    ///
    /// [`for_run`]: RunConfig::for_run
    pub fn load(path: &Path, task: Option<&str>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let patch = RunPatch::parse(&text, path)?;
        let in_file = |e: Error| match e {
            Error::Config { .. } => e,
            e => Error::Config {
                path: path.to_path_buf(),
                line: None,
                msg: e.to_string(),
            },
        };
        let mut cfg = match &patch.task_file {
            Some(f) => {
                let f = path.parent().unwrap_or(Path::new("")).join(f);
                let spec = TaskSpec::read_file(&f)?;
                if let Some(t) = patch.task.as_deref().filter(|t| *t != spec.name()) {
                    return Err(in_file(Error::param(
                        "task",
                        format!(
                            "'{t}' disagrees with the name '{}' in {}",
                            spec.name(),
                            f.display()
                        ),
                    )));
                }
                Self::for_run_spec(&spec).map_err(in_file)?
            }
            None => {
                let name = patch.task.as_deref().or(task).unwrap_or("go-nogo");
                Self::for_run(name).map_err(in_file)?
            }
        };
        patch.apply(&mut cfg);
        if cfg.builtin() {
            cfg.spec = None;
        }
        cfg.validate().map_err(in_file)?;
        Ok(cfg)
    }

    /// [`for_spec`] with the run defaults of [`for_run`] for built-ins.
    ///
    /// [`for_spec`]: RunConfig::for_spec
    /// [`for_run`]: RunConfig::for_run
    pub fn for_run_spec(spec: &TaskSpec) -> Result<Self> {
        let mut c = Self::for_spec(spec)?;
        if let TaskSpec::Builtin { name, .. } = spec {
            let run = Self::for_run(name)?;
            (c.net, c.train) = (run.net, run.train);
        }
        Ok(c)
    }

    /// As TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// The task (for training and the rate network's scoring).
    pub fn task(&self) -> Result<Box<dyn Task>> {
        self.task_spec()?.build()
    }

    /// The task as the spiking search and evaluation score it: [`task`]
    /// with the NoGo rule of [`scoring`] applied.
    ///
    /// [`task`]: RunConfig::task
    /// [`scoring`]: RunConfig::scoring
    pub fn scoring_task(&self) -> Result<Box<dyn Task>> {
        with_nogo_rule(self.task()?, self.nogo_rule())
    }

    /// `search.nogo_rule`, else the preset's (tasks without NoGo trials
    /// keep the default rule; an explicit `max` for them is an error of
    /// [`with_nogo_rule`]).
    fn nogo_rule(&self) -> crate::task::NoGoRule {
        let preset = match self.task.as_str() {
            "go-nogo" if self.builtin() => self.search.scoring.nogo_rule(),
            _ => crate::task::NoGoRule::default(),
        };
        self.search.nogo_rule.unwrap_or(preset)
    }

    /// How the spiking search and evaluation score trials: the preset, with
    /// `window_start` and `nogo_rule` overriding its parts.
    ///
    /// # Examples
    /// ```
    /// use spikernn::config::{RunConfig, ScoringPreset};
    /// let mut c = RunConfig::for_task("go-nogo").unwrap();
    /// assert_eq!(c.scoring().unwrap().window_start_step, 10_000);
    /// c.search.scoring = ScoringPreset::Strict;
    /// assert_eq!(c.scoring().unwrap().window_start_step, 7_500);
    /// ```
    pub fn scoring(&self) -> Result<Scoring> {
        let task = self.task()?;
        let preset = self.search.scoring;
        let builtin = self.builtin();
        let (window_start_step, window) = match (
            self.search.window_start,
            preset.window_start_step(task.name()).filter(|_| builtin),
        ) {
            (Some(w), _) => (w, WindowSource::Override),
            (None, Some(w)) => (w, WindowSource::Preset),
            (None, None) => (
                task.response_start() * SPIKING_STEPS_PER_RATE_STEP,
                WindowSource::Task,
            ),
        };
        Ok(Scoring {
            preset,
            window_start_step,
            window,
            nogo_rule: (builtin && task.name() == "go-nogo").then(|| self.nogo_rule()),
        })
    }

    /// The network configuration.
    pub fn net_config(&self) -> Result<NetConfig> {
        let n = &self.net;
        let cfg = NetConfig {
            n: n.n,
            p_inh: n.p_inh,
            p_rec: n.p_rec,
            gain: n.gain,
            som_n: n.som_n,
            w_dist: n.w_dist,
            dale: n.dale,
            activation: n.act,
            taus: Taus::from_slice(&n.taus)?,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The training configuration.
    pub fn train_config(&self) -> Result<TrainConfig> {
        let t = &self.train;
        let cfg = TrainConfig {
            n_trials: t.n_trials,
            eval_freq: t.eval_freq,
            eval_trials: t.eval_trials,
            lr: t.lr,
            batch: t.batch,
            loss: t.loss,
            loss_threshold: t.loss_threshold,
            acc_threshold: t.acc_threshold,
            seed: self.seed,
            noise: TrainNoise {
                rec_sd: t.rec_noise_sd,
                input_sd: t.input_noise_sd,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Apply `search.lesion` to a loaded `model` (random removals draw from
    /// `seed`); returns what each lesion changed. The file is not touched.
    pub fn apply_lesions(&self, model: &mut RateModel) -> Result<Vec<Applied>> {
        crate::lesion::apply(model, &self.search.lesion, self.seed)
    }

    /// Conversion options of the spiking network.
    pub fn conversion(&self) -> Result<ConversionOptions> {
        let s = &self.search;
        let mut neuron = LifParams::for_model(s.neuron);
        if let Some(t) = s.refractory_ms {
            neuron.t_ref_ms = t;
            neuron.validate()?;
        }
        Ok(ConversionOptions {
            use_initial_weights: s.initial_weights,
            keep_negative_weights: s.keep_negative_weights,
            neuron,
            tr_ms: s.tr_ms,
            output_bias: s.output_bias,
        })
    }

    /// Options of the lambda search.
    pub fn search_options(&self) -> Result<SearchOptions> {
        let s = &self.search;
        if s.trials == 0 {
            return Err(Error::param("trials", "must be at least 1"));
        }
        if s.downsample == 0 {
            return Err(Error::param("downsample", "must be at least 1"));
        }
        if s.refit_trials < 2 {
            return Err(Error::param("refit-trials", "must be at least 2"));
        }
        if !(s.refit_holdout > 0.0 && s.refit_holdout < 1.0) {
            return Err(Error::param("refit-holdout", "must lie in (0, 1)"));
        }
        Ok(SearchOptions {
            lambdas: parse_lambdas(&s.lambdas)?,
            n_trials: s.trials,
            seed: self.seed,
            downsample: s.downsample,
            window_start_override: self.scoring()?.window_start_override(),
            refine: s.refine,
            conversion: self.conversion()?,
            lambda_rule: s.lambda_rule,
            refit: s.refit_readout.then_some(RefitOptions {
                n_trials: s.refit_trials,
                holdout: s.refit_holdout,
            }),
            ..SearchOptions::default()
        })
    }

    /// Options of the evaluation.
    pub fn eval_options(&self) -> Result<EvalOptions> {
        if self.eval.trials == 0 {
            return Err(Error::param("trials", "must be at least 1"));
        }
        Ok(EvalOptions {
            n_trials: self.eval.trials,
            seed: self.seed,
            downsample: self.search.downsample,
            window_start_override: self.scoring()?.window_start_override(),
            conversion: self.conversion()?,
            readout: None,
        })
    }

    /// Check every section.
    pub fn validate(&self) -> Result<()> {
        self.scoring_task()?;
        if self.attempts == 0 || self.attempts > 100 {
            return Err(Error::param(
                "attempts",
                format!("must be between 1 and 100, got {}", self.attempts),
            ));
        }
        if let Some(t) = self.target_accuracy {
            if !(t > 0.0 && t <= 1.0) {
                return Err(Error::param(
                    "target-accuracy",
                    format!("must be in (0, 1], got {t}"),
                ));
            }
        }
        self.net_config()?;
        self.train_config()?;
        self.search_options()?;
        self.eval_options()?;
        Ok(())
    }
}

fn default_attempts() -> usize {
    3
}

/// The paper's spiking accuracy for a task: 0.90 for XOR, 0.95 otherwise.
fn default_target(task: &str) -> f64 {
    if task == "xor" {
        0.90
    } else {
        0.95
    }
}

/// Parse a lambda grid: `START:STOP:STEP` (inclusive of STOP) or `a,b,c`.
/// Every lambda must be finite and positive.
pub fn parse_lambdas(s: &str) -> Result<Vec<f64>> {
    let bad = |m: String| Error::param("lambdas", m);
    let num = |t: &str| -> Result<f64> {
        t.trim()
            .parse::<f64>()
            .map_err(|_| bad(format!("'{t}' is not a number")))
    };
    let v: Vec<f64> = if s.contains(':') {
        let p: Vec<&str> = s.split(':').collect();
        if p.len() != 3 {
            return Err(bad(format!("expected START:STOP:STEP, got '{s}'")));
        }
        let (a, b, st) = (num(p[0])?, num(p[1])?, num(p[2])?);
        if st.is_nan() || st <= 0.0 || b < a {
            return Err(bad(format!("'{s}' needs STEP > 0 and STOP ≥ START")));
        }
        let k = ((b - a) / st + 1e-9).floor() as usize;
        if k > 10_000 {
            return Err(bad(format!("'{s}' has more than 10000 values")));
        }
        (0..=k).map(|i| a + st * i as f64).collect()
    } else {
        s.split(',').map(num).collect::<Result<_>>()?
    };
    if v.is_empty() {
        return Err(bad("empty grid".into()));
    }
    if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return Err(bad(format!("every lambda must be positive, got {x}")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_grids() {
        let g = parse_lambdas("20:75:5").unwrap();
        assert_eq!(g.len(), 12);
        assert_eq!(g[0], 20.0);
        assert_eq!(g[11], 75.0);
        assert_eq!(parse_lambdas("30, 35").unwrap(), vec![30.0, 35.0]);
        for bad in ["0:10:5", "10:5:1", "a:b:c", "20,-3", "", "1:2"] {
            let e = parse_lambdas(bad).unwrap_err().to_string();
            assert!(e.contains("lambdas"), "{bad}: {e}");
        }
    }

    /// The conversion defaults per task (docs/conversion.md, "Defaults"),
    /// and what they give the library's search options; a file can switch
    /// each off.
    #[test]
    fn conversion_defaults_per_task() {
        let get = |t: &str| RunConfig::for_task(t).unwrap().search;
        let want = [
            ("go-nogo", true, false),
            ("xor", false, true),
            ("mante", false, false),
        ];
        for (t, refit, bias) in want {
            let s = get(t);
            assert_eq!(s.lambda_rule, LambdaRule::Margin, "{t}");
            assert_eq!((s.refit_readout, s.output_bias), (refit, bias), "{t}");
        }
        let c = RunConfig::for_task("go-nogo").unwrap();
        assert!(c.search_options().unwrap().refit.is_some());
        assert!(!c.conversion().unwrap().output_bias);
        let x = RunConfig::for_task("xor").unwrap();
        assert!(x.search_options().unwrap().refit.is_none());
        assert!(x.conversion().unwrap().output_bias);
        let mut off = RunConfig::for_run("go-nogo").unwrap();
        let p = RunPatch::parse(
            "[search]\nrefit_readout = false\nlambda_rule = \"peak\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        p.apply(&mut off);
        assert!(off.search_options().unwrap().refit.is_none());
        assert_eq!(off.search_options().unwrap().lambda_rule, LambdaRule::Peak);
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        for t in crate::task::TASK_NAMES {
            let c = RunConfig::for_task(t).unwrap();
            c.validate().unwrap();
            let back: RunConfig = toml::from_str(&c.to_toml()).unwrap();
            assert_eq!(back, c);
        }
        assert_eq!(RunConfig::for_task("mante").unwrap().net.n, 250);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let mut s = RunConfig::for_task("go-nogo").unwrap().to_toml();
        s = s.replace("[net]", "[net]\nbogus = 1");
        assert!(toml::from_str::<RunConfig>(&s).is_err());
    }

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_file_needs_only_what_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "task = \"xor\"\n[net]\nn = 50\n[search]\nact_unused = 1\n",
        );
        let e = RunConfig::load(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("c.toml, line 5") && e.contains("act_unused"),
            "{e}"
        );
        let p = write(dir.path(), "task = \"xor\"\n[net]\nn = 50\n");
        let c = RunConfig::load(&p, None).unwrap();
        let mut want = RunConfig::for_run("xor").unwrap();
        want.net.n = 50;
        assert_eq!(c, want);
        // Without `task`, the caller's task; Go-NoGo's run defaults apply.
        let p = write(dir.path(), "[search]\nscoring = \"strict\"\n");
        let c = RunConfig::load(&p, Some("go-nogo")).unwrap();
        assert_eq!((c.net.p_inh, c.net.som_n), (0.33, 20));
        assert_eq!(c.search.scoring, ScoringPreset::Strict);
    }

    #[test]
    fn bad_values_name_the_key_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("[net]\nn = \"many\"\n", "line 2", "n = \"many\""),
            ("[net]\nact = \"tanh\"\n", "line 2", "tanh"),
            ("seed = 1\n[train]\nlr = 0.0\n", "c.toml", "invalid lr"),
        ];
        for (text, at, what) in cases {
            let p = write(dir.path(), text);
            let e = RunConfig::load(&p, None).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn patches_apply_only_what_they_give() {
        let mut c = RunConfig::for_task("go-nogo").unwrap();
        let flags = NetFlags {
            p_inh: Some(0.4),
            dale: Some(false),
            ..NetFlags::default()
        };
        flags.apply(&mut c.net);
        let mut want = RunConfig::for_task("go-nogo").unwrap();
        (want.net.p_inh, want.net.dale) = (0.4, false);
        assert_eq!(c, want);
        let spike = SpikeFlags {
            window_start: Some(123),
            ..SpikeFlags::default()
        };
        spike.apply(&mut c.search);
        assert_eq!(c.search.window_start, Some(123));
        assert!(c.to_toml().contains("window_start = 123"));
        assert!(!RunConfig::for_task("xor")
            .unwrap()
            .to_toml()
            .contains("window_start"));
    }

    #[test]
    fn every_task_validates_under_every_preset() {
        for t in crate::task::TASK_NAMES {
            for p in ScoringPreset::ALL {
                let mut c = RunConfig::for_run(t).unwrap();
                c.search.scoring = p;
                c.validate().unwrap();
                let want = p.window_start_step(t).is_some();
                assert_eq!(
                    c.search_options().unwrap().window_start_override.is_some(),
                    want
                );
            }
        }
    }

    #[test]
    fn names_become_enums_one_way() {
        use crate::rate::{Activation, WeightDist};
        use crate::task::NoGoRule;
        assert_eq!(Activation::parse("relu").unwrap(), Activation::ClippedRelu);
        assert_eq!(WeightDist::parse("Gaussian").unwrap(), WeightDist::Gaus);
        assert_eq!("MAX".parse::<NoGoRule>().unwrap(), NoGoRule::Max);
        let e = parse_name::<ScoringPreset>("scoring", "loose")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid scoring") && e.contains("paper") && e.contains("strict"),
            "{e}"
        );
    }
}

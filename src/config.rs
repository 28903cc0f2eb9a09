//! Run configuration: every parameter of training, the lambda search and the
//! evaluation in one serialisable struct, with per-task defaults. This is
//! what `spikernn config --task T` prints, what `spikernn run --config F`
//! reads (TOML), and what a run directory keeps as `config.toml`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rate::bptt::Loss;
use crate::rate::train::TrainConfig;
use crate::rate::{Activation, NetConfig, Taus, WeightDist};
use crate::spiking::lif::{ConversionOptions, LifParams, NeuronModel};
use crate::spiking::search::{EvalOptions, SearchOptions};
use crate::task::{task_by_name, task_with_nogo_rule, NoGoRule, Task};
use crate::units::{SPIKING_DT_MS, SPIKING_STEPS_PER_RATE_STEP};

/// Network architecture, as on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSection {
    /// Number of units N.
    pub n: usize,
    /// One fixed tau or [min, max], in rate steps of 5 ms.
    pub taus: Vec<f64>,
    /// Probability that a unit is inhibitory.
    pub p_inh: f64,
    /// Initial connection probability.
    pub p_rec: f64,
    /// Gain of the gaus initial weights.
    pub gain: f64,
    /// Number of SOM units.
    pub som_n: usize,
    /// Dale's principle.
    pub dale: bool,
    /// Initial weight distribution: gaus or gamma.
    pub w_dist: String,
    /// Activation: sigmoid, clipped_relu or softplus.
    pub act: String,
}

/// Training, as on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Maximum number of training trials.
    pub n_trials: usize,
    /// Evaluate every this many trials.
    pub eval_freq: usize,
    /// Trials per evaluation.
    pub eval_trials: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Trials per update.
    pub batch: usize,
    /// Loss: l2 or l1.
    pub loss: String,
    /// Stopping rule: mean evaluation loss below this …
    pub loss_threshold: f64,
    /// … and accuracy above this.
    pub acc_threshold: f64,
}

/// Lambda search, as on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSection {
    /// Coarse grid `START:STOP:STEP` (inclusive) or a comma-separated list.
    pub lambdas: String,
    /// Trials per lambda.
    pub trials: usize,
    /// Refine around the best coarse lambda.
    pub refine: bool,
    /// Score from this spiking step instead of the task's window (MATLAB:
    /// Go-NoGo 10000, XOR 20000, Mante 26000); absent: the task's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<usize>,
    /// NoGo scoring of the spiking output: `abs` (max |o| < 0.3, SPEC §2)
    /// or `max` (max o < 0.3, MATLAB's search); absent: `abs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nogo_rule: Option<String>,
    /// Down-sampling factor of the spiking simulation (1: dt = 0.05 ms).
    pub downsample: usize,
    /// Neuron model: lif or qif.
    pub neuron: String,
    /// Use the initial weights w0 instead of the trained ones.
    pub initial_weights: bool,
    /// Keep negative raw weights of a Dale model instead of applying relu.
    pub keep_negative_weights: bool,
    /// Synaptic rise time (ms); 0 selects the single-exponential synapse.
    pub tr_ms: f64,
}

/// How spiking trials are scored ([`RunConfig::scoring`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scoring {
    /// First scored spiking step (steps of 0.05 ms, before down-sampling).
    pub window_start_step: usize,
    /// The step is the task's response window (else `window_start`).
    pub from_task: bool,
    /// The NoGo rule; `None` for tasks without NoGo trials.
    pub nogo_rule: Option<NoGoRule>,
}

impl Scoring {
    /// Start of the scored window in ms.
    pub fn window_start_ms(&self) -> f64 {
        self.window_start_step as f64 * SPIKING_DT_MS
    }

    /// In words, for reports and progress lines (no `|`: it goes into
    /// Markdown tables).
    pub fn describe(&self) -> String {
        let how = if self.from_task {
            "the task's window"
        } else {
            "--window-start"
        };
        let mut t = format!(
            "from {} ms (spiking step {}, {how})",
            self.window_start_ms(),
            self.window_start_step
        );
        match self.nogo_rule {
            Some(NoGoRule::Max) => {
                t.push_str("; NoGo correct when max output < 0.3 (MATLAB's rule)")
            }
            Some(NoGoRule::Abs) => t.push_str("; NoGo correct when max abs(output) < 0.3"),
            None => {}
        }
        t
    }
}

/// Spiking evaluation, as on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Fresh trials for the final evaluation.
    pub trials: usize,
}

/// The whole configuration of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Task name: go-nogo, xor or mante.
    pub task: String,
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

impl RunConfig {
    /// Defaults for `task` (the paper's settings: N = 200 for Go-NoGo and
    /// XOR, N = 250 for Mante; trained taus 4–20 steps = 20–100 ms).
    pub fn for_task(task: &str) -> Result<Self> {
        let t = task_by_name(task)?;
        let (n, n_trials) = match t.name() {
            "mante" => (250, 10_000),
            "xor" => (200, 10_000),
            _ => (200, 6000),
        };
        Ok(RunConfig {
            task: t.name().to_string(),
            seed: 1,
            attempts: default_attempts(),
            target_accuracy: Some(default_target(t.name())),
            net: NetSection {
                n,
                taus: vec![4.0, 20.0],
                p_inh: 0.2,
                p_rec: 0.2,
                gain: 1.5,
                som_n: 0,
                dale: true,
                w_dist: "gaus".into(),
                act: "sigmoid".into(),
            },
            train: TrainSection {
                n_trials,
                eval_freq: 100,
                eval_trials: 100,
                lr: 0.01,
                batch: 1,
                loss: "l2".into(),
                loss_threshold: 7.0,
                acc_threshold: 0.95,
            },
            search: SearchSection {
                lambdas: "20:75:5".into(),
                trials: 100,
                refine: true,
                window_start: None,
                nogo_rule: None,
                downsample: 1,
                neuron: "lif".into(),
                initial_weights: false,
                keep_negative_weights: false,
                tr_ms: 2.0,
            },
            eval: EvalSection { trials: 200 },
        })
    }

    /// The spiking accuracy `run` aims for (see `target_accuracy`).
    pub fn target(&self) -> f64 {
        self.target_accuracy
            .unwrap_or_else(|| default_target(&self.task))
    }

    /// Defaults of `spikernn run` (and `spikernn config`): [`for_task`]
    /// except for Go-NoGo, which uses the network of the paper's Fig. S3
    /// (P_inh 0.33 with 20 SOM units, the settings of the reference model
    /// in `tests/fixtures/tf_sst_go_nogo_N200.mat`) instead of SPEC §1's
    /// generic P_inh 0.2 without SOM units. Measured here (seeds 1–10, N
    /// 200, taus 4–20, coarse λ grid of 100 trials each): 8 of 10 such
    /// networks reach ≥ 95 % spiking accuracy under the |output| < 0.3 NoGo
    /// rule against 5 of 10 with the generic settings, whose failing NoGo
    /// trials drift into the Go state. `spikernn train` keeps SPEC §1's
    /// defaults.
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

    /// Read a TOML file; errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: RunConfig = toml::from_str(&text)
            .map_err(|e| Error::param("config", format!("{}: {}", path.display(), e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// As TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// The task (for training and the rate network's scoring).
    pub fn task(&self) -> Result<Box<dyn Task>> {
        task_by_name(&self.task)
    }

    /// The task as the spiking search and evaluation score it: [`task`]
    /// with `search.nogo_rule` applied.
    ///
    /// [`task`]: RunConfig::task
    pub fn scoring_task(&self) -> Result<Box<dyn Task>> {
        task_with_nogo_rule(&self.task, self.nogo_rule()?)
    }

    /// `search.nogo_rule`, parsed (absent: [`NoGoRule::Abs`]).
    fn nogo_rule(&self) -> Result<NoGoRule> {
        match &self.search.nogo_rule {
            Some(r) => r.parse(),
            None => Ok(NoGoRule::Abs),
        }
    }

    /// How the spiking search and evaluation score trials.
    pub fn scoring(&self) -> Result<Scoring> {
        let task = self.scoring_task()?;
        Ok(Scoring {
            window_start_step: self
                .search
                .window_start
                .unwrap_or(task.response_start() * SPIKING_STEPS_PER_RATE_STEP),
            from_task: self.search.window_start.is_none(),
            nogo_rule: (task.name() == "go-nogo")
                .then(|| self.nogo_rule())
                .transpose()?,
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
            w_dist: WeightDist::parse(&n.w_dist)?,
            dale: n.dale,
            activation: Activation::parse(&n.act)?,
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
            loss: Loss::parse(&t.loss)?,
            loss_threshold: t.loss_threshold,
            acc_threshold: t.acc_threshold,
            seed: self.seed,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Conversion options of the spiking network.
    pub fn conversion(&self) -> Result<ConversionOptions> {
        let s = &self.search;
        let neuron = match s.neuron.to_ascii_lowercase().as_str() {
            "lif" => NeuronModel::Lif,
            "qif" => NeuronModel::Qif,
            o => {
                return Err(Error::param(
                    "neuron",
                    format!("unknown neuron model '{o}' (expected lif or qif)"),
                ))
            }
        };
        Ok(ConversionOptions {
            use_initial_weights: s.initial_weights,
            keep_negative_weights: s.keep_negative_weights,
            neuron: LifParams::for_model(neuron),
            tr_ms: s.tr_ms,
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
        Ok(SearchOptions {
            lambdas: parse_lambdas(&s.lambdas)?,
            n_trials: s.trials,
            seed: self.seed,
            downsample: s.downsample,
            window_start_override: s.window_start,
            refine: s.refine,
            conversion: self.conversion()?,
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
            window_start_override: self.search.window_start,
            conversion: self.conversion()?,
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
}

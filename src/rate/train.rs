//! Training protocol (docs/model.md#rate-network): Adam on one trial per update (or a
//! mini-batch), evaluation every `eval_freq` trials on `eval_trials` fresh
//! trials, and the stopping rule (mean eval loss < `loss_threshold` and
//! accuracy > `acc_threshold`, after the task's minimum number of trials).
//!
//! Random streams (all from the one `seed`): network initialisation,
//! training trials and noise, and each evaluation trial have streams of their
//! own (see [`crate::rng::stream`]), so evaluation can run in parallel and a
//! seed reproduces the whole run bit for bit.

use std::time::Instant;

use ndarray::{Array2, Zip};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::observe::{Event, Observer, Stage};
use crate::rate::bptt::{forward, loss_and_grad, Grads, Loss, Prepared, Trace, Workspace};
use crate::rate::{NetConfig, RateModel, TrainNoise, TrainingRecord};
use crate::rng;
use crate::task::Task;

/// Stream tags: the parts after the seed in [`rng::stream`].
const TAG_INIT: u64 = 1;
const TAG_TRAIN: u64 = 2;
const TAG_EVAL: u64 = 3;

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Maximum number of training trials.
    pub n_trials: usize,
    /// Evaluate every this many trials.
    pub eval_freq: usize,
    /// Trials per evaluation.
    pub eval_trials: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Trials per update (1 = the reference's per-trial updates).
    pub batch: usize,
    /// Loss function.
    pub loss: Loss,
    /// Stop when the mean evaluation loss is below this …
    pub loss_threshold: f64,
    /// … and the evaluation accuracy above this.
    pub acc_threshold: f64,
    /// Seed for every random draw.
    pub seed: u64,
    /// Noise of the training trials (default: σ_rec 0.1, σ_in 0, the
    /// paper's); the stopping rule's evaluations always use the defaults.
    #[serde(default)]
    pub noise: TrainNoise,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            n_trials: 6000,
            eval_freq: 100,
            eval_trials: 100,
            lr: 0.01,
            batch: 1,
            loss: Loss::L2,
            loss_threshold: 7.0,
            acc_threshold: 0.95,
            seed: 1,
            noise: TrainNoise::default(),
        }
    }
}

impl TrainConfig {
    /// Check every field; errors name the CLI flag.
    pub fn validate(&self) -> Result<()> {
        if self.n_trials == 0 {
            return Err(Error::param("n-trials", "must be at least 1"));
        }
        if self.eval_freq == 0 {
            return Err(Error::param("eval-freq", "must be at least 1"));
        }
        if self.eval_trials == 0 {
            return Err(Error::param("eval-trials", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param(
                "lr",
                format!("must be positive, got {}", self.lr),
            ));
        }
        if self.batch == 0 {
            return Err(Error::param("batch", "must be at least 1"));
        }
        if !self.loss_threshold.is_finite() {
            return Err(Error::param("loss-threshold", "must be finite"));
        }
        let finite_sd = |x: f64| x.is_finite() && x >= 0.0;
        if !finite_sd(self.noise.rec_sd) {
            return Err(Error::param("rec-noise", "must be finite and ≥ 0"));
        }
        if !finite_sd(self.noise.input_sd) {
            return Err(Error::param("input-noise", "must be finite and ≥ 0"));
        }
        if !(0.0..=1.0).contains(&self.acc_threshold) {
            return Err(Error::param("acc-threshold", "must lie in [0, 1]"));
        }
        Ok(())
    }
}

/// Adam (Kingma & Ba) with PyTorch's defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.
///
/// Under Dale's principle a raw weight w_ij ≤ 0 gets zero gradient
/// (relu' = 0); if its moments are zero too its update is exactly zero, so
/// it never moves. Those entries are skipped: at the first step the
/// optimiser records the entries with w_ij > 0 (or a nonzero gradient) and
/// updates only them afterwards, which gives the same numbers as the dense
/// update at a fifth of its cost for P_rec = 0.2. A model whose `w` is
/// edited between steps therefore needs a fresh `Adam`.
#[derive(Debug, Clone)]
pub struct Adam {
    lr: f64,
    t: i32,
    m: Grads,
    v: Grads,
    /// Flat indices of the raw weights that can move (Dale), or `None` (all).
    active: Option<Vec<u32>>,
}

impl Adam {
    /// A fresh optimiser for an N-unit network.
    pub fn new(n: usize, lr: f64) -> Self {
        Adam {
            lr,
            t: 0,
            m: Grads::zeros(n),
            v: Grads::zeros(n),
            active: None,
        }
    }

    /// One update of the trained parameters of `model` with gradient `g`.
    pub fn step(&mut self, model: &mut RateModel, g: &Grads) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-8;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let lr = self.lr;
        let upd = |p: &mut f64, g: f64, m: &mut f64, v: &mut f64| {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + EPS);
        };
        /// Apply `f` to matching entries of four standard-layout arrays.
        fn each<D: ndarray::Dimension>(
            p: &mut ndarray::Array<f64, D>,
            g: &ndarray::Array<f64, D>,
            m: &mut ndarray::Array<f64, D>,
            v: &mut ndarray::Array<f64, D>,
            f: &impl Fn(&mut f64, f64, &mut f64, &mut f64),
        ) {
            Zip::from(p)
                .and(g)
                .and(m)
                .and(v)
                .for_each(|p, &g, m, v| f(p, g, m, v));
        }
        if self.t == 1 && model.dale {
            self.active = Some(
                model
                    .w
                    .iter()
                    .zip(g.w.iter())
                    .enumerate()
                    .filter(|(_, (&w, &gw))| w > 0.0 || gw != 0.0)
                    .map(|(k, _)| k as u32)
                    .collect(),
            );
        }
        match (
            &self.active,
            model.w.as_slice_mut(),
            g.w.as_slice(),
            self.m.w.as_slice_mut(),
            self.v.w.as_slice_mut(),
        ) {
            (Some(active), Some(p), Some(gw), Some(m), Some(v)) => {
                for &k in active {
                    let k = k as usize;
                    upd(&mut p[k], gw[k], &mut m[k], &mut v[k]);
                }
            }
            _ => each(&mut model.w, &g.w, &mut self.m.w, &mut self.v.w, &upd),
        }
        each(
            &mut model.w_out,
            &g.w_out,
            &mut self.m.w_out,
            &mut self.v.w_out,
            &upd,
        );
        upd(
            &mut model.b_out,
            g.b_out,
            &mut self.m.b_out,
            &mut self.v.b_out,
        );
        if model.taus.trained() {
            each(
                &mut model.taus_gaus,
                &g.taus_gaus,
                &mut self.m.taus_gaus,
                &mut self.v.taus_gaus,
                &upd,
            );
        }
    }
}

pub use crate::rate::EvalPoint;

/// What [`train`] returns.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The trained model (w after relu under Dale's principle), with its
    /// [`TrainingRecord`].
    pub model: RateModel,
    /// The stopping rule was met.
    pub success: bool,
    /// Training trials used.
    pub trials: usize,
    /// Every evaluation, in order.
    pub evals: Vec<EvalPoint>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl TrainOutcome {
    /// The last evaluation (accuracy and loss), if any.
    pub fn last_eval(&self) -> Option<EvalPoint> {
        self.evals.last().copied()
    }

    /// "stopping rule met" or "stopping rule NOT met", for messages.
    pub fn verdict(&self) -> &'static str {
        if self.success {
            "stopping rule met"
        } else {
            "stopping rule NOT met"
        }
    }
}

/// u += σ_in·N(0, 1) per channel and rate step; no draw at all for σ_in = 0
/// (so default training draws exactly the paper's random numbers).
fn add_input_noise<R: RngCore + ?Sized>(u: &mut Array2<f64>, sd: f64, rng: &mut R) {
    if sd > 0.0 {
        for x in u.iter_mut() {
            let z: f64 = StandardNormal.sample(rng);
            *x += sd * z;
        }
    }
}

/// Mean loss and accuracy of `model` on `n` fresh trials; trial `i` uses the
/// stream (seed, tag, i), so the result does not depend on the thread count.
pub fn evaluate_rate(
    model: &RateModel,
    task: &dyn Task,
    loss: Loss,
    n: usize,
    seed: u64,
    tag: u64,
) -> (f64, f64) {
    let prep = Prepared::new(model);
    let res: Vec<(f64, bool)> = (0..n)
        .into_par_iter()
        .map_init(Trace::default, |trace, i| {
            let mut r = rng::stream(seed, &[TAG_EVAL, tag, i as u64]);
            let trial = task.sample(&mut r);
            forward(model, &prep, &trial.u, &mut r, trace);
            let mut g = vec![0.0; trial.target.len()];
            let l = loss.eval(&trace.o, &trial.target, &mut g);
            (l, task.score(trial.kind, &trace.o, 1))
        })
        .collect();
    let mean_loss = res.iter().map(|r| r.0).sum::<f64>() / n as f64;
    let acc = res.iter().filter(|r| r.1).count() as f64 / n as f64;
    (mean_loss, acc)
}

/// Initialise a network for `task` from `net` and train it by `cfg`.
/// Progress goes to `obs` (a [`Stage::Training`] stage over the trials and
/// one [`Event::TrainEval`] per evaluation); when `obs` is cancelled the
/// run stops with [`Error::Interrupted`].
pub fn train(
    net: &NetConfig,
    cfg: &TrainConfig,
    task: &dyn Task,
    obs: &dyn Observer,
) -> Result<TrainOutcome> {
    net.validate()?;
    cfg.validate()?;
    let model = RateModel::init(
        net,
        task.n_inputs(),
        &mut rng::stream(cfg.seed, &[TAG_INIT]),
    )?;
    train_model(model, cfg, task, obs)
}

/// Train an existing `model` (e.g. freshly initialised, or loaded to go on
/// training) by `cfg`; progress and cancellation as in [`train`].
pub fn train_model(
    model: RateModel,
    cfg: &TrainConfig,
    task: &dyn Task,
    obs: &dyn Observer,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    if model.n_inputs() != task.n_inputs() {
        return Err(Error::param(
            "task",
            format!(
                "model has {} inputs but task {} has {}",
                model.n_inputs(),
                task.name(),
                task.n_inputs()
            ),
        ));
    }
    obs.event(&Event::Begin {
        stage: Stage::Training,
        total: cfg.n_trials as u64,
    });
    let mut t = Trainer::new(model, cfg, task);
    let stopped = t.run(obs);
    obs.event(&Event::End);
    stopped.map(|success| t.finish(success))
}

/// Prepare a loaded `model` (from the file `source`) to go on training on
/// `task` with [`train_model`] (`train --init`): its weights, masks, Dale
/// signs, taus and readout are kept; its training and λ-search records
/// are dropped (they belonged to the earlier training) and it records
/// `source` and that file's task as [`InitSource`]. `w0` and `taus_gaus0`
/// stay the network's initial draw. Fails, naming `init`, when the model's
/// number of inputs differs from the task's.
///
/// [`InitSource`]: crate::rate::InitSource
pub fn init_from(mut model: RateModel, source: &str, task: &dyn Task) -> Result<RateModel> {
    if model.n_inputs() != task.n_inputs() {
        return Err(Error::param(
            "init",
            format!(
                "{source} has {} input channels but task {} has {}",
                model.n_inputs(),
                task.name(),
                task.n_inputs()
            ),
        ));
    }
    model.init_from = Some(crate::rate::InitSource {
        path: source.to_string(),
        task: model
            .task
            .as_ref()
            .map(|t| t.name().to_string())
            .unwrap_or_default(),
    });
    model.training = None;
    model.search = None;
    model.task = None;
    Ok(model)
}

/// The state of one training run: the model, Adam, the buffers of the
/// backward pass and the record so far.
struct Trainer<'a> {
    model: RateModel,
    cfg: &'a TrainConfig,
    task: &'a dyn Task,
    adam: Adam,
    grads: Grads,
    ws: Workspace,
    prep: Prepared,
    rng: rng::Rng,
    losses: Vec<f64>,
    evals: Vec<EvalPoint>,
    trials: usize,
    start: Instant,
}

impl<'a> Trainer<'a> {
    fn new(model: RateModel, cfg: &'a TrainConfig, task: &'a dyn Task) -> Self {
        let n = model.n();
        Trainer {
            adam: Adam::new(n, cfg.lr),
            grads: Grads::zeros(n),
            ws: Workspace::default(),
            prep: Prepared::new(&model),
            rng: rng::stream(cfg.seed, &[TAG_TRAIN]),
            losses: Vec::with_capacity(cfg.n_trials),
            evals: Vec::new(),
            trials: 0,
            start: Instant::now(),
            model,
            cfg,
            task,
        }
    }

    /// Update until the stopping rule is met (`Ok(true)`) or the trials
    /// are used up (`Ok(false)`).
    fn run(&mut self, obs: &dyn Observer) -> Result<bool> {
        while self.trials < self.cfg.n_trials {
            if obs.cancelled() {
                return Err(Error::Interrupted);
            }
            let before = self.trials;
            let batch_loss = self.update()?;
            obs.event(&Event::Advance((self.trials - before) as u64));
            if self.trials / self.cfg.eval_freq > before / self.cfg.eval_freq {
                let e = self.evaluate()?;
                obs.event(&Event::TrainEval {
                    trial: self.trials,
                    loss: batch_loss,
                    eval_loss: e.loss,
                    eval_accuracy: e.accuracy,
                });
                if e.loss < self.cfg.loss_threshold
                    && e.accuracy > self.cfg.acc_threshold
                    && self.trials > self.task.min_training_trials()
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// One Adam update on a batch of fresh trials; returns the mean loss.
    fn update(&mut self) -> Result<f64> {
        self.prep.refresh(&self.model);
        self.prep.rec_noise_sd = self.cfg.noise.rec_sd;
        self.grads.clear();
        let b = self.cfg.batch.min(self.cfg.n_trials - self.trials);
        let mut batch_loss = 0.0;
        for _ in 0..b {
            let mut trial = self.task.sample(&mut self.rng);
            add_input_noise(&mut trial.u, self.cfg.noise.input_sd, &mut self.rng);
            batch_loss += loss_and_grad(
                &self.model,
                &self.prep,
                &trial,
                self.cfg.loss,
                &mut self.rng,
                &mut self.ws,
                &mut self.grads,
            );
        }
        batch_loss /= b as f64;
        if !batch_loss.is_finite() {
            return Err(Error::Diverged {
                trial: self.trials + 1,
                loss: batch_loss,
            });
        }
        if b > 1 {
            self.grads.scale(1.0 / b as f64);
        }
        self.adam.step(&mut self.model, &self.grads);
        self.trials += b;
        self.losses.push(batch_loss);
        Ok(batch_loss)
    }

    /// Evaluate on fresh trials and record the result.
    fn evaluate(&mut self) -> Result<EvalPoint> {
        let c = self.cfg;
        let n = self.trials as u64;
        let (loss, accuracy) =
            evaluate_rate(&self.model, self.task, c.loss, c.eval_trials, c.seed, n);
        if !loss.is_finite() {
            return Err(Error::Diverged {
                trial: self.trials,
                loss,
            });
        }
        let e = EvalPoint {
            trial: self.trials,
            loss,
            accuracy,
        };
        self.evals.push(e);
        Ok(e)
    }

    /// The trained model (relu'd under Dale's principle) with its record.
    fn finish(self, success: bool) -> TrainOutcome {
        let mut model = self.model;
        if model.dale {
            model.w.mapv_inplace(|v| v.max(0.0));
        }
        let last = self.evals.last().copied();
        model.task = Some(self.task.spec());
        model.training = Some(TrainingRecord {
            losses: self.losses,
            trials: self.trials,
            eval_perf_mean: last.map_or(f64::NAN, |e| e.accuracy),
            eval_loss_mean: last.map_or(f64::NAN, |e| e.loss),
            evals: self.evals.clone(),
            noise: self.cfg.noise,
        });
        TrainOutcome {
            model,
            success,
            trials: self.trials,
            evals: self.evals,
            seconds: self.start.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::Taus;
    use crate::task::GoNoGo;

    #[test]
    fn init_keeps_the_network_and_checks_the_inputs() {
        let net = NetConfig {
            n: 12,
            ..NetConfig::default()
        };
        let cfg = TrainConfig {
            n_trials: 4,
            eval_freq: 2,
            eval_trials: 2,
            ..TrainConfig::default()
        };
        let first = train(&net, &cfg, &GoNoGo::default(), &crate::observe::Silent).unwrap();
        let m = init_from(first.model.clone(), "a.mat", &GoNoGo::default()).unwrap();
        assert_eq!((m.training.is_none(), m.task.is_none()), (true, true));
        assert_eq!(m.init_from.as_ref().unwrap().task, "go-nogo");
        assert_eq!(
            (m.w.clone(), m.inh.clone()),
            (first.model.w.clone(), first.model.inh.clone())
        );
        let again = train_model(m, &cfg, &GoNoGo::default(), &crate::observe::Silent).unwrap();
        assert_eq!(again.model.init_from.unwrap().path, "a.mat");
        let e = init_from(first.model, "a.mat", &crate::task::Dms::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid init")
                && e.contains("a.mat has 1 input channels but task dms has 2"),
            "{e}"
        );
    }

    #[test]
    fn adam_skipping_frozen_dale_weights_equals_the_dense_update() {
        // Under Dale's principle Adam updates only the entries that can
        // move; 30 real BPTT steps must give the same bits as the dense
        // update of every entry.
        let cfg = NetConfig {
            n: 24,
            taus: Taus::Range(4.0, 20.0),
            ..NetConfig::default()
        };
        let task = GoNoGo::default();
        let init = RateModel::init(&cfg, 1, &mut rng::from_seed(3)).unwrap();
        let run = |dense: bool| {
            let mut model = init.clone();
            let mut adam = Adam::new(24, 0.01);
            let mut grads = Grads::zeros(24);
            let mut ws = Workspace::default();
            let mut r = rng::from_seed(9);
            for _ in 0..30 {
                let prep = Prepared::new(&model);
                grads.clear();
                let trial = task.sample(&mut r);
                loss_and_grad(&model, &prep, &trial, Loss::L2, &mut r, &mut ws, &mut grads);
                adam.step(&mut model, &grads);
                if dense {
                    adam.active = None;
                }
            }
            (model, adam.active.map(|a| a.len()))
        };
        let (sparse, n_active) = run(false);
        let (dense, _) = run(true);
        assert!(
            n_active.unwrap() < 24 * 24 / 2,
            "{n_active:?} active entries"
        );
        assert_eq!(sparse.w, dense.w);
        assert_eq!(sparse.w_out, dense.w_out);
        assert_eq!(sparse.taus_gaus, dense.taus_gaus);
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        // With bias correction the first Adam step is lr · sign(g).
        let cfg = NetConfig {
            n: 5,
            ..NetConfig::default()
        };
        let mut m = RateModel::init(&cfg, 1, &mut rng::from_seed(0)).unwrap();
        let before = m.clone();
        let mut g = Grads::zeros(5);
        g.w.fill(2.0);
        g.w_out.fill(-3.0);
        g.b_out = 0.5;
        g.taus_gaus.fill(1e-3);
        let mut adam = Adam::new(5, 0.01);
        adam.step(&mut m, &g);
        for (a, b) in m.w.iter().zip(before.w.iter()) {
            assert!((b - a - 0.01).abs() < 1e-9);
        }
        for (a, b) in m.w_out.iter().zip(before.w_out.iter()) {
            assert!((a - b - 0.01).abs() < 1e-9);
        }
        assert!((before.b_out - m.b_out - 0.01).abs() < 1e-9);
        assert!((before.taus_gaus[0] - m.taus_gaus[0] - 0.01).abs() < 1e-6);
    }

    #[test]
    fn a_small_network_learns_go_nogo() {
        // N = 60 learns the task within 1500 trials; an untrained network
        // scores about 0.5 (it never reaches 0.7 on Go trials).
        let net = NetConfig {
            n: 60,
            taus: Taus::Range(4.0, 20.0),
            ..NetConfig::default()
        };
        let task = GoNoGo::default();
        let cfg = TrainConfig {
            n_trials: 1500,
            eval_freq: 500,
            eval_trials: 100,
            seed: 1,
            ..TrainConfig::default()
        };
        let out = train(&net, &cfg, &task, &crate::observe::Silent).unwrap();
        let first = out.evals[0];
        let last = out.last_eval().unwrap();
        assert!(last.accuracy >= 0.9, "{:?}", out.evals);
        assert!(
            last.loss < 0.5 * first.loss || first.accuracy >= 0.9,
            "{:?}",
            out.evals
        );
        let l = &out.model.training.as_ref().unwrap().losses;
        let early: f64 = l[..100].iter().sum::<f64>() / 100.0;
        let late: f64 = l[1400..].iter().sum::<f64>() / 100.0;
        assert!(late < 0.5 * early, "early {early} late {late}");
        assert!(out.model.w.iter().all(|&v| v >= 0.0));
        // Trained taus moved away from their initial draw.
        assert!(out.model.taus_gaus != out.model.taus_gaus0);
    }

    #[test]
    fn same_seed_same_training_run() {
        let net = NetConfig {
            n: 20,
            ..NetConfig::default()
        };
        let cfg = TrainConfig {
            n_trials: 30,
            eval_freq: 10,
            eval_trials: 8,
            batch: 2,
            ..TrainConfig::default()
        };
        let task = GoNoGo::default();
        let a = train(&net, &cfg, &task, &crate::observe::Silent).unwrap();
        let b = train(&net, &cfg, &task, &crate::observe::Silent).unwrap();
        assert_eq!(a.model, b.model);
        assert_eq!(a.evals, b.evals);
    }

    #[test]
    fn divergence_is_an_error() {
        let net = NetConfig {
            n: 10,
            activation: crate::rate::Activation::Softplus,
            dale: false,
            ..NetConfig::default()
        };
        let cfg = TrainConfig {
            n_trials: 5,
            lr: 1e300,
            ..TrainConfig::default()
        };
        let task = GoNoGo::default();
        let mut model = RateModel::init(&net, 1, &mut rng::from_seed(0)).unwrap();
        model.w_out.fill(f64::INFINITY);
        let e = train_model(model, &cfg, &task, &crate::observe::Silent).unwrap_err();
        assert!(matches!(e, Error::Diverged { .. }), "{e}");
    }
}

//! Train → save → λ search, retried over seeds until a network converts to
//! a spiking network that reaches the target accuracy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::{model_file, write_atomic};
use crate::observe::{Event, Observer};
use crate::rate::train::{self, TrainOutcome};
use crate::spiking::search::{self, SearchResult};
use crate::task::Task;

use super::metrics::{AttemptMetrics, AttemptSearchMetrics};
use super::{step, RunPaths};

/// Stream tag of the rate evaluation trials.
pub const TAG_RATE_EVAL: u64 = 0x0052_4556;

/// Seed of attempt `k` (0-based) of a run with seed `seed`: `seed + k`, so
/// attempt k is reproduced by `spikernn train/search/eval --seed seed+k`.
pub fn attempt_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add(k as u64)
}

/// How an attempt gets its trained network from its configuration (with
/// the attempt's seed) and task: [`train_network`] trains it; a sweep's
/// training cache may load it instead (`crate::sweep::cache`). The result
/// must be what [`train_network`] gives for the same arguments.
pub type TrainFn<'a> = &'a dyn Fn(&RunConfig, &dyn Task, &dyn Observer) -> Result<TrainOutcome>;

/// Train a fresh network on `task` by `cfg`'s `[net]`, `[train]` and seed.
pub fn train_network(cfg: &RunConfig, task: &dyn Task, obs: &dyn Observer) -> Result<TrainOutcome> {
    train::train(&cfg.net_config()?, &cfg.train_config()?, task, obs)
}

/// One trained and (usually) searched network.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The configuration with this attempt's seed.
    pub cfg: RunConfig,
    /// Its model file (with its search record once searched).
    pub file: PathBuf,
    /// Training result.
    pub train: TrainOutcome,
    /// Rate accuracy on `cfg.eval.trials` fresh trials (fraction).
    pub rate_accuracy: f64,
    /// Rate loss on the same trials (dimensionless).
    pub rate_loss: f64,
    /// The λ search; `None` when the network was dropped after training.
    pub search: Option<SearchResult>,
    /// Search time (s).
    pub search_seconds: f64,
    /// Stopping rule met and best spiking accuracy ≥ the target.
    pub accepted: bool,
}

impl Attempt {
    /// Best spiking accuracy of its search (fraction), if searched.
    pub fn best_accuracy(&self) -> Option<f64> {
        self.search.as_ref().map(|s| s.best_accuracy)
    }

    /// Its `attempts` entry of metrics.json (file relative to `dir`).
    pub fn metrics(&self, target: f64, dir: &Path) -> AttemptMetrics {
        let file = self.file.strip_prefix(dir).unwrap_or(&self.file);
        AttemptMetrics {
            seed: self.cfg.seed,
            file: file.display().to_string(),
            train_trials: self.train.trials,
            train_success: self.train.success,
            train_seconds: self.train.seconds,
            rate_accuracy: self.rate_accuracy,
            target_accuracy: target,
            accepted: self.accepted,
            search: self.search.as_ref().map(|s| AttemptSearchMetrics {
                best_lambda: s.best_lambda,
                best_accuracy: s.best_accuracy,
                best_trials: s.best_trials(),
                best_lower_bound: s.best_lower_bound(),
                search_seconds: self.search_seconds,
            }),
        }
    }
}

/// Every network [`train_until_converts`] trained, and which one it kept.
#[derive(Debug, Clone)]
pub struct Attempts {
    /// In training order.
    pub tried: Vec<Attempt>,
    /// Index of the kept one in `tried`: the accepted network, else the
    /// searched one with the best spiking accuracy.
    pub kept: usize,
    /// Spiking accuracy asked for (fraction).
    pub target: f64,
}

impl Attempts {
    /// The kept network (always searched).
    pub fn kept(&self) -> &Attempt {
        &self.tried[self.kept]
    }

    /// Whether the kept network reached the target.
    pub fn target_met(&self) -> bool {
        self.kept().accepted
    }
}

/// Train a network on `cfg`'s task, save it, search λ and accept it when
/// the search's best spiking accuracy reaches `cfg.target()`; otherwise
/// train the next seed ([`attempt_seed`]), up to `cfg.attempts` networks.
/// Every network is kept on disk: `paths.model()` for a single attempt,
/// `paths.attempt_model(k, seed)` for several, and then the kept one is
/// copied to `paths.model()`. Steps and warnings go to `obs`.
///
/// # Examples
///
/// ```
/// use spikernn::config::RunConfig;
/// use spikernn::observe::Silent;
/// use spikernn::pipeline::{train_until_converts, RunPaths};
///
/// let mut cfg = RunConfig::for_task("go-nogo")?;
/// cfg.net.n = 10;
/// cfg.train.n_trials = 4;
/// cfg.train.eval_freq = 2;
/// cfg.train.eval_trials = 2;
/// cfg.search.lambdas = "30".into();
/// cfg.search.trials = 2;
/// cfg.search.refine = false;
/// cfg.attempts = 2;
/// let dir = tempfile::tempdir()?;
/// let paths = RunPaths { dir: dir.path().to_path_buf() };
/// let a = train_until_converts(&cfg, &Silent, &paths)?;
/// // Four training trials never meet the stopping rule: the first network
/// // is dropped before its search, the last one is searched and kept.
/// assert_eq!(a.tried.len(), 2);
/// assert!(a.tried[0].search.is_none() && !a.target_met());
/// assert_eq!((a.kept, a.kept().cfg.seed), (1, cfg.seed + 1));
/// assert!(paths.model().exists() && paths.attempt_model(0, cfg.seed).exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn train_until_converts(
    cfg: &RunConfig,
    obs: &dyn Observer,
    paths: &RunPaths,
) -> Result<Attempts> {
    train_until_converts_with(cfg, obs, paths, &mut |_| Ok(()))
}

/// [`train_until_converts`], calling `after_each` with the attempts so far
/// after every attempt (e.g. to rewrite metrics.json).
pub fn train_until_converts_with(
    cfg: &RunConfig,
    obs: &dyn Observer,
    paths: &RunPaths,
    after_each: &mut dyn FnMut(&[Attempt]) -> Result<()>,
) -> Result<Attempts> {
    train_until_converts_using(cfg, obs, paths, &train_network, after_each)
}

/// [`train_until_converts_with`], each attempt's network coming from
/// `train_fn` (called with the attempt's configuration, i.e. its seed) instead
/// of [`train_network`].
pub fn train_until_converts_using(
    cfg: &RunConfig,
    obs: &dyn Observer,
    paths: &RunPaths,
    train_fn: TrainFn,
    after_each: &mut dyn FnMut(&[Attempt]) -> Result<()>,
) -> Result<Attempts> {
    cfg.validate()?;
    let task = cfg.task()?;
    let spike_task = cfg.scoring_task()?;
    let target = cfg.target();
    let say = |s: String| obs.event(&Event::Info(s));
    let mut tried: Vec<Attempt> = Vec::new();
    for k in 0..cfg.attempts {
        let seed = attempt_seed(cfg.seed, k);
        let mut ck = cfg.clone();
        ck.seed = seed;
        let last = k + 1 == cfg.attempts;
        let file = if cfg.attempts == 1 {
            paths.model()
        } else {
            paths.attempt_model(k, seed)
        };
        let tasks = (task.as_ref(), spike_task.as_ref());
        let a = run_attempt(&ck, tasks, (k, last), &file, train_fn, obs)?;
        let accepted = a.accepted;
        tried.push(a);
        after_each(&tried)?;
        if accepted {
            say(format!(
                "      accepted: best spiking accuracy {:.3} ≥ {target:.2}",
                tried[k].best_accuracy().unwrap_or(0.0)
            ));
            break;
        }
        if !last {
            say(format!(
                "      rejected (target {target:.2}); training another network [attempt {} of {}]",
                k + 2,
                cfg.attempts
            ));
        }
    }
    let kept = keep(&tried);
    let out = Attempts {
        tried,
        kept,
        target,
    };
    if !out.target_met() {
        obs.event(&Event::Warning(format!(
            "no network reached spiking accuracy {target:.2} in {} attempt(s); keeping the best (seed {})",
            cfg.attempts,
            out.kept().cfg.seed
        )));
    }
    if cfg.attempts > 1 {
        let from = &out.kept().file;
        step("save", || {
            let bytes = std::fs::read(from).map_err(|e| Error::io(from, e))?;
            write_atomic(&paths.model(), &bytes)
        })?;
    }
    Ok(out)
}

/// Index of the network to keep: the accepted one, else the first with the
/// best spiking accuracy (searched before unsearched).
fn keep(tried: &[Attempt]) -> usize {
    if let Some(i) = tried.iter().position(|a| a.accepted) {
        return i;
    }
    let score = |a: &Attempt| a.best_accuracy().unwrap_or(-1.0);
    (0..tried.len()).fold(0, |b, i| {
        if score(&tried[i]) > score(&tried[b]) {
            i
        } else {
            b
        }
    })
}

/// Train one network on `tasks.0` (saved to `file`), evaluate its rate
/// accuracy, and search λ with trials scored by `tasks.1` unless the
/// network is hopeless and this is not the `last` attempt: a failed
/// stopping rule skips the search, a coarse grid far below the target
/// skips the refinement. `k` is the attempt's index; its network comes
/// from `train_fn`.
fn run_attempt(
    cfg: &RunConfig,
    tasks: (&dyn Task, &dyn Task),
    (k, last): (usize, bool),
    file: &Path,
    train_fn: TrainFn,
    obs: &dyn Observer,
) -> Result<Attempt> {
    let mut a = train_attempt(cfg, tasks.0, (k, file), train_fn, obs)?;
    if !a.train.success && !last {
        return Ok(a);
    }
    obs.event(&Event::Info(
        "[2/5] lambda grid search on the spiking network".into(),
    ));
    let t0 = Instant::now();
    let mut opts = cfg.search_options()?;
    if !last {
        opts.refine_min_accuracy = cfg.target() - 0.1;
    }
    let sr = step("search", || {
        let r = search::grid_search(&a.train.model, tasks.1, &opts, obs)?;
        model_file::write_search_record(file, &r.to_record())?;
        Ok(r)
    })?;
    a.search_seconds = t0.elapsed().as_secs_f64();
    obs.event(&Event::Info(format!(
        "      best lambda {} (accuracy {:.3} on {} trials, 95% lower bound {:.3}) in {:.1} s",
        sr.best_lambda,
        sr.best_accuracy,
        sr.best_trials(),
        sr.best_lower_bound(),
        a.search_seconds
    )));
    a.accepted = a.train.success && sr.best_accuracy >= cfg.target();
    a.search = Some(sr);
    Ok(a)
}

/// Train (through `train_fn`), save to `file` and rate-evaluate the network
/// of attempt `k` (step 1 of a run).
fn train_attempt(
    cfg: &RunConfig,
    task: &dyn Task,
    (k, file): (usize, &Path),
    train_fn: TrainFn,
    obs: &dyn Observer,
) -> Result<Attempt> {
    let say = |s: String| obs.event(&Event::Info(s));
    let of = if cfg.attempts > 1 {
        format!(", attempt {} of {}", k + 1, cfg.attempts)
    } else {
        String::new()
    };
    say(format!(
        "[1/5] training a {}-unit rate network on {} (seed {}{of})",
        cfg.net.n,
        task.name(),
        cfg.seed
    ));
    let out = step("train", || {
        let o = train_fn(cfg, task, obs)?;
        if let Some(d) = file.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        model_file::save_model(file, &o.model)?;
        Ok(o)
    })?;
    let tcfg = cfg.train_config()?;
    let (rate_loss, rate_accuracy) = train::evaluate_rate(
        &out.model,
        task,
        tcfg.loss,
        cfg.eval.trials,
        cfg.seed,
        TAG_RATE_EVAL,
    );
    say(format!(
        "      {} after {} trials ({:.1} s); rate accuracy on {} fresh trials: {:.3}",
        out.verdict(),
        out.trials,
        out.seconds,
        cfg.eval.trials,
        rate_accuracy
    ));
    Ok(Attempt {
        cfg: cfg.clone(),
        file: file.to_path_buf(),
        train: out,
        rate_accuracy,
        rate_loss,
        search: None,
        search_seconds: 0.0,
        accepted: false,
    })
}

//! The whole tutorial in one call: train → save → lambda search → evaluate →
//! figures → report, into a run directory. Each step writes its files as soon
//! as it finishes (metrics.json is rewritten after every step), so a failure
//! leaves the finished steps intact and the error names the failed step.
//!
//! - [`run`] — the whole run, as named steps;
//! - [`train_until_converts`] — train → save → λ search, retried over seeds
//!   until the spiking network reaches the target (also for examples and
//!   sweeps);
//! - [`RunMetrics`] — metrics.json, typed.

mod attempts;
mod metrics;

use crate::spiking::readout::SpikingReadout;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::observe::{Event, Observer};
use crate::rate::RateModel;
use crate::report::run_report::{self, ReportInput};
use crate::spiking::search::{self, EvalResult, SearchResult};

pub use crate::report::figures::{make_figures, plot_simulation, Figures};
pub use attempts::{
    attempt_seed, train_network, train_until_converts, train_until_converts_using,
    train_until_converts_with, Attempt, Attempts, TrainFn, TAG_RATE_EVAL,
};
pub use metrics::{AttemptMetrics, AttemptSearchMetrics, EvalMetrics, KeptMetrics, RunMetrics};

/// Files of a run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
}

impl RunPaths {
    /// The trained model.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.mat")
    }
    /// The configuration used.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Metrics.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.json")
    }
    /// Model of attempt `k` (0-based) with seed `seed`, when a run may train
    /// several networks.
    pub fn attempt_model(&self, k: usize, seed: u64) -> PathBuf {
        self.dir
            .join("attempts")
            .join(format!("attempt-{}-seed-{seed}.mat", k + 1))
    }
    /// Figures directory.
    pub fn figures(&self) -> PathBuf {
        self.dir.join("figures")
    }
}

/// Runs `f` as the step `name`: its error becomes "step 'name' failed".
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    f().map_err(|e| match e {
        Error::Interrupted => Error::Interrupted,
        e => Error::Step {
            step: name.to_string(),
            cause: Box::new(e),
        },
    })
}

/// Everything a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The trained (and searched) model.
    pub model: RateModel,
    /// Rate-network accuracy on fresh trials.
    pub rate_accuracy: f64,
    /// Lambda search.
    pub search: SearchResult,
    /// Spiking evaluation at the chosen lambda.
    pub eval: EvalResult,
    /// metrics.json contents.
    pub metrics: RunMetrics,
}

/// A run in progress: its directory, configuration, observer and metrics.
struct Run<'a> {
    cfg: &'a RunConfig,
    paths: RunPaths,
    obs: &'a dyn Observer,
    metrics: RunMetrics,
}

impl Run<'_> {
    fn say(&self, s: String) {
        self.obs.event(&Event::Info(s));
    }

    /// Marks `name` finished and rewrites metrics.json.
    fn finished(&mut self, name: &str) -> Result<()> {
        self.metrics.complete(name);
        write_metrics(&self.paths, &self.metrics)
    }
}

/// Run the whole pipeline of `cfg` into `dir`. An existing non-empty `dir`
/// is an error unless `force`. Progress, steps and warnings go to `obs`,
/// which can also cancel the run.
///
/// # Examples
///
/// ```no_run
/// use spikernn::config::RunConfig;
/// use spikernn::observe::Silent;
///
/// let cfg = RunConfig::for_run("go-nogo")?;
/// let out = spikernn::pipeline::run(&cfg, "runs/go-nogo".as_ref(), false, &Silent)?;
/// println!("spiking accuracy {:.3} at λ {}", out.eval.overall.accuracy, out.search.best_lambda);
/// # Ok::<(), spikernn::Error>(())
/// ```
pub fn run(cfg: &RunConfig, dir: &Path, force: bool, obs: &dyn Observer) -> Result<RunOutcome> {
    if !cfg.search.lesion.is_empty() {
        return Err(Error::param(
            "lesion",
            "lesions apply to a trained model file (spikernn search, eval, simulate); run does not take them",
        ));
    }
    let mut r = start(cfg, dir, force, obs)?;
    let attempts = train_and_search(&mut r)?;
    let kept = attempts.kept();
    let sr = kept.search.clone().expect("the kept attempt was searched");
    let mut model = kept.train.model.clone();
    model.search = Some(sr.to_record());
    let ev = evaluate(&mut r, &model, kept, &sr)?;
    let figs = figures(&mut r, &model, kept, &sr)?;
    r.say("[5/5] report".into());
    let input = ReportInput {
        cfg: &kept.cfg,
        metrics: &r.metrics,
        search: &sr,
        eval: &ev,
        figures: &figs,
    };
    step("report", || run_report::write_report(&r.paths.dir, &input))?;
    r.finished("report")?;
    r.say(format!(
        "done: {}",
        r.paths.dir.join("report.html").display()
    ));
    Ok(RunOutcome {
        model,
        rate_accuracy: kept.rate_accuracy,
        search: sr,
        eval: ev,
        metrics: r.metrics,
    })
}

/// Validates `cfg`, prepares `dir` and writes config.toml.
fn start<'a>(
    cfg: &'a RunConfig,
    dir: &Path,
    force: bool,
    obs: &'a dyn Observer,
) -> Result<Run<'a>> {
    cfg.validate()?;
    let task = cfg.task()?;
    prepare_dir(dir, force)?;
    // A forced re-run must not leave another run's networks beside its own.
    let old_attempts = dir.join("attempts");
    if force && old_attempts.is_dir() {
        std::fs::remove_dir_all(&old_attempts).map_err(|e| Error::io(&old_attempts, e))?;
    }
    let paths = RunPaths {
        dir: dir.to_path_buf(),
    };
    write_atomic(&paths.config(), cfg.to_toml().as_bytes())?;
    let metrics = RunMetrics {
        task: task.name().to_string(),
        seed: cfg.seed,
        n: cfg.net.n,
        ..RunMetrics::default()
    };
    Ok(Run {
        cfg,
        paths,
        obs,
        metrics,
    })
}

/// Steps 1–2: networks trained and searched until one converts; metrics
/// rewritten after each; the kept network's numbers recorded.
fn train_and_search(r: &mut Run) -> Result<Attempts> {
    let (target, paths) = (r.cfg.target(), r.paths.clone());
    let metrics = &mut r.metrics;
    let attempts = train_until_converts_with(r.cfg, r.obs, &paths, &mut |tried| {
        metrics.attempts = tried
            .iter()
            .map(|a| a.metrics(target, &paths.dir))
            .collect();
        write_metrics(&paths, metrics)
    })?;
    let kept = attempts.kept();
    let sr = kept.search.as_ref().expect("the kept attempt was searched");
    if let Some(w) = sr.shortfall(target) {
        r.obs.event(&Event::Warning(w));
    }
    r.metrics.kept = Some(KeptMetrics {
        seed_used: kept.cfg.seed,
        target_accuracy: target,
        target_met: attempts.target_met(),
        train_trials: kept.train.trials,
        train_success: kept.train.success,
        train_seconds: kept.train.seconds,
        rate_accuracy: kept.rate_accuracy,
        rate_loss: kept.rate_loss,
        search: to_json(sr),
        scoring: scoring_json(r.cfg)?,
        best_lambda: sr.best_lambda,
        search_seconds: kept.search_seconds,
    });
    r.metrics.complete("train");
    r.finished("search")?;
    Ok(attempts)
}

/// Step 3: the spiking network at the chosen λ on fresh trials.
fn evaluate(
    r: &mut Run,
    model: &RateModel,
    kept: &Attempt,
    sr: &SearchResult,
) -> Result<EvalResult> {
    let spike_task = r.cfg.scoring_task()?;
    r.say(format!(
        "[3/5] evaluating the spiking network at lambda {} on {} fresh trials",
        sr.best_lambda, r.cfg.eval.trials
    ));
    let t0 = Instant::now();
    let ev = step("eval", || {
        let mut opts = kept.cfg.eval_options()?;
        opts.readout = sr.refit.as_ref().map(|f| SpikingReadout {
            w: f.w_out_spk.clone(),
            b: f.b_out_spk,
        });
        search::evaluate(model, spike_task.as_ref(), sr.best_lambda, &opts, r.obs)
    })?;
    let eval_seconds = t0.elapsed().as_secs_f64();
    r.say(format!(
        "      spiking accuracy {:.3} (95% CI {:.3}–{:.3}); E {:.1} Hz, I {:.1} Hz",
        ev.overall.accuracy, ev.ci95.0, ev.ci95.1, ev.overall.exc_rate_hz, ev.overall.inh_rate_hz
    ));
    r.metrics.evaluation = Some(EvalMetrics {
        spiking_accuracy: ev.overall.accuracy,
        eval: to_json(&ev),
        eval_seconds,
    });
    r.finished("eval")?;
    Ok(ev)
}

/// Step 4: every figure of the kept network.
fn figures(r: &mut Run, model: &RateModel, kept: &Attempt, sr: &SearchResult) -> Result<Figures> {
    let spike_task = r.cfg.scoring_task()?;
    r.say("[4/5] figures".into());
    let figs = step("figures", || {
        make_figures(
            model,
            spike_task.as_ref(),
            sr.best_lambda,
            Some(sr),
            &kept.train.evals,
            &kept.cfg,
            &r.paths.figures(),
        )
    })?;
    r.metrics.figures = Some(figs.names.clone());
    r.finished("figures")?;
    Ok(figs)
}

fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(Error::param(
                "out",
                format!(
                    "run directory {} exists and is not empty; pass --force to overwrite it or choose a new --out",
                    dir.display()
                ),
            ));
        }
    }
    std::fs::create_dir_all(dir.join("figures")).map_err(|e| Error::io(dir, e))
}

/// A typed result as a JSON value (plain data: cannot fail).
fn to_json<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("plain data serialises")
}

fn write_metrics(paths: &RunPaths, m: &RunMetrics) -> Result<()> {
    let s = serde_json::to_string_pretty(&m.to_value()).expect("json");
    write_atomic(&paths.metrics(), s.as_bytes())
}

/// How spiking trials are scored under `cfg` ([`RunConfig::scoring`]), as
/// JSON: `{"window_start_step": 7500, "window_start_ms": 375.0, "window":
/// "task" | "override", "nogo_rule": "abs" | "max" | null}`.
pub fn scoring_json(cfg: &RunConfig) -> Result<Value> {
    Ok(to_json(&cfg.scoring()?))
}

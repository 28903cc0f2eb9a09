//! The whole tutorial in one call: train → save → lambda search → evaluate →
//! figures → report, into a run directory. Each step writes its files as soon
//! as it finishes (metrics.json is rewritten after every step), so a failure
//! leaves the finished steps intact and the error names the failed step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::model_file;
use crate::io::write_atomic;
use crate::observe::{Event, Observer};
use crate::rate::bptt::{forward, Prepared, Trace};
use crate::rate::train::{self, EvalPoint};
use crate::rate::RateModel;
use crate::report::plot::{self, Panel, RasterPanel, TraceStyle};
use crate::rng;
use crate::spiking::lif::{LifNetwork, SimOptions, SimResult};
use crate::spiking::search::{self, EvalResult, SearchResult};
use crate::task::{extend_stimulus, Task};
use crate::units::RATE_DT_MS;

/// Stream tags of the figure trials (distinct from training, search, eval).
const TAG_FIG: u64 = 0x0046_4947;
const TAG_RATE_EVAL: u64 = 0x0052_4556;

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
    pub metrics: Value,
}

/// Run the whole pipeline of `cfg` into `dir`. An existing non-empty `dir`
/// is an error unless `force`. Progress, steps and warnings go to `obs`,
/// which can also cancel the run.
pub fn run(cfg: &RunConfig, dir: &Path, force: bool, obs: &dyn Observer) -> Result<RunOutcome> {
    cfg.validate()?;
    let task = cfg.task()?;
    let spike_task = cfg.scoring_task()?;
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
    let mut metrics = json!({ "task": task.name(), "seed": cfg.seed, "n": cfg.net.n,
                              "steps_completed": [] });
    let say = |s: &str| obs.event(&Event::Info(s.to_string()));

    // 1–2. Train and search; retrain (next attempt) while the spiking
    // network falls short of the target.
    let target = cfg.target();
    let mut attempts: Vec<Value> = Vec::new();
    let mut chosen: Option<Attempt> = None;
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
        let a = run_attempt(&ck, task.as_ref(), spike_task.as_ref(), k, last, &file, obs)?;
        let accepted = a.accepted(target);
        let mut j = a.to_json(target, &paths.dir);
        j["accepted"] = json!(accepted);
        attempts.push(j);
        metrics["attempts"] = json!(attempts);
        write_metrics(&paths, &metrics)?;
        let better = chosen.as_ref().is_none_or(|c| a.score() > c.score());
        if accepted {
            say(&format!(
                "      accepted: best spiking accuracy {:.3} ≥ {target:.2}",
                a.search.as_ref().map_or(0.0, |s| s.best_accuracy)
            ));
            chosen = Some(a);
            break;
        }
        if !last {
            say(&format!(
                "      rejected (target {target:.2}); training another network [attempt {} of {}]",
                k + 2,
                cfg.attempts
            ));
        }
        if better {
            chosen = Some(a);
        }
    }
    let chosen = chosen.expect("at least one attempt");
    let target_met = chosen.accepted(target);
    if !target_met {
        say(&format!(
            "      warning: no network reached spiking accuracy {target:.2} in {} attempt(s); keeping the best (seed {})",
            cfg.attempts, chosen.cfg.seed
        ));
    }
    if cfg.attempts > 1 {
        step("save", || {
            let bytes = std::fs::read(&chosen.file).map_err(|e| Error::io(&chosen.file, e))?;
            write_atomic(&paths.model(), &bytes)
        })?;
    }
    let Attempt {
        cfg: ccfg,
        train: out,
        rate_accuracy,
        rate_loss,
        search: sr,
        search_seconds,
        ..
    } = chosen;
    let sr = sr.expect("the kept attempt was searched");
    let mut model = out.model.clone();
    model.search = Some(sr.to_record());
    metrics["seed_used"] = json!(ccfg.seed);
    metrics["target_accuracy"] = json!(target);
    metrics["target_met"] = json!(target_met);
    metrics["train_trials"] = json!(out.trials);
    metrics["train_success"] = json!(out.success);
    metrics["train_seconds"] = json!(out.seconds);
    metrics["rate_accuracy"] = json!(rate_accuracy);
    metrics["rate_loss"] = json!(rate_loss);
    metrics["search"] = search_json(&sr);
    metrics["scoring"] = scoring_json(cfg)?;
    metrics["best_lambda"] = json!(sr.best_lambda);
    metrics["search_seconds"] = json!(search_seconds);
    metrics["steps_completed"] = json!(["train", "search"]);
    write_metrics(&paths, &metrics)?;

    // 3. Evaluation.
    say(&format!(
        "[3/5] evaluating the spiking network at lambda {} on {} fresh trials",
        sr.best_lambda, cfg.eval.trials
    ));
    let t0 = Instant::now();
    let ev = step("eval", || {
        search::evaluate(
            &model,
            spike_task.as_ref(),
            sr.best_lambda,
            &ccfg.eval_options()?,
            obs,
        )
    })?;
    let eval_seconds = t0.elapsed().as_secs_f64();
    say(&format!(
        "      spiking accuracy {:.3} (95% CI {:.3}–{:.3}); E {:.1} Hz, I {:.1} Hz",
        ev.overall.accuracy, ev.ci95.0, ev.ci95.1, ev.overall.exc_rate_hz, ev.overall.inh_rate_hz
    ));
    metrics["spiking_accuracy"] = json!(ev.overall.accuracy);
    metrics["eval"] = eval_json(&ev);
    metrics["eval_seconds"] = json!(eval_seconds);
    metrics["steps_completed"] = json!(["train", "search", "eval"]);
    write_metrics(&paths, &metrics)?;

    // 4. Figures.
    say("[4/5] figures");
    let evals: Vec<EvalPoint> = out.evals.clone();
    let figs = step("figures", || {
        make_figures(
            &model,
            spike_task.as_ref(),
            sr.best_lambda,
            Some(&sr),
            &evals,
            &ccfg,
            &paths.figures(),
        )
    })?;
    metrics["figures"] = json!(figs.names);
    metrics["steps_completed"] = json!(["train", "search", "eval", "figures"]);
    write_metrics(&paths, &metrics)?;

    // 5. Report.
    say("[5/5] report");
    step("report", || write_report(&paths, &ccfg, &metrics, &figs))?;
    metrics["steps_completed"] = json!(["train", "search", "eval", "figures", "report"]);
    write_metrics(&paths, &metrics)?;
    say(&format!(
        "done: {}",
        paths.dir.join("report.html").display()
    ));
    Ok(RunOutcome {
        model,
        rate_accuracy,
        search: sr,
        eval: ev,
        metrics,
    })
}

/// Seed of attempt `k` (0-based) of a run with seed `seed`: `seed + k`, so
/// attempt k is reproduced by `spikernn train/search/eval --seed seed+k`.
pub fn attempt_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add(k as u64)
}

/// One trained and (usually) searched network of a run.
struct Attempt {
    /// The configuration with this attempt's seed.
    cfg: RunConfig,
    file: PathBuf,
    train: train::TrainOutcome,
    rate_accuracy: f64,
    rate_loss: f64,
    /// `None` when the network was dropped after training.
    search: Option<SearchResult>,
    search_seconds: f64,
}

impl Attempt {
    /// Stopping rule met and the search's best spiking accuracy reaches
    /// `target` (the criterion of the reference grid search).
    fn accepted(&self, target: f64) -> bool {
        self.train.success
            && self
                .search
                .as_ref()
                .is_some_and(|s| s.best_accuracy >= target)
    }

    /// Ranking among rejected attempts: searched before unsearched, then
    /// best spiking accuracy.
    fn score(&self) -> f64 {
        self.search.as_ref().map_or(-1.0, |s| s.best_accuracy)
    }

    fn to_json(&self, target: f64, dir: &Path) -> Value {
        let file = self.file.strip_prefix(dir).unwrap_or(&self.file);
        let mut j = json!({
            "seed": self.cfg.seed, "file": file.display().to_string(),
            "train_trials": self.train.trials, "train_success": self.train.success,
            "train_seconds": self.train.seconds, "rate_accuracy": self.rate_accuracy,
            "target_accuracy": target,
        });
        if let Some(s) = &self.search {
            j["best_lambda"] = json!(s.best_lambda);
            j["best_accuracy"] = json!(s.best_accuracy);
            j["best_trials"] = json!(s.best_trials());
            j["best_lower_bound"] = json!(s.best_lower_bound());
            j["search_seconds"] = json!(self.search_seconds);
        }
        j
    }
}

/// Train one network on `task` (saved to `file`), evaluate its rate
/// accuracy, and search λ with trials scored by `spike_task` unless the
/// network is hopeless and this is not the `last` attempt: a failed
/// stopping rule skips the search, a coarse grid far below the target
/// skips the refinement.
#[allow(clippy::too_many_arguments)]
fn run_attempt(
    cfg: &RunConfig,
    task: &dyn Task,
    spike_task: &dyn Task,
    k: usize,
    last: bool,
    file: &Path,
    obs: &dyn Observer,
) -> Result<Attempt> {
    let say = |s: &str| obs.event(&Event::Info(s.to_string()));
    let of = if cfg.attempts > 1 {
        format!(", attempt {} of {}", k + 1, cfg.attempts)
    } else {
        String::new()
    };
    say(&format!(
        "[1/5] training a {}-unit rate network on {} (seed {}{of})",
        cfg.net.n,
        task.name(),
        cfg.seed
    ));
    let out = step("train", || {
        let o = train::train(&cfg.net_config()?, &cfg.train_config()?, task, obs)?;
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
    say(&format!(
        "      {} after {} trials ({:.1} s); rate accuracy on {} fresh trials: {:.3}",
        out.verdict(),
        out.trials,
        out.seconds,
        cfg.eval.trials,
        rate_accuracy
    ));
    let mut a = Attempt {
        cfg: cfg.clone(),
        file: file.to_path_buf(),
        train: out,
        rate_accuracy,
        rate_loss,
        search: None,
        search_seconds: 0.0,
    };
    if !a.train.success && !last {
        return Ok(a);
    }
    say("[2/5] lambda grid search on the spiking network");
    let t0 = Instant::now();
    let mut opts = cfg.search_options()?;
    if !last {
        opts.refine_min_accuracy = cfg.target() - 0.1;
    }
    let sr = step("search", || {
        let r = search::grid_search(&a.train.model, spike_task, &opts, obs)?;
        model_file::write_search_record(file, &r.to_record())?;
        Ok(r)
    })?;
    a.search_seconds = t0.elapsed().as_secs_f64();
    say(&format!(
        "      best lambda {} (accuracy {:.3} on {} trials, 95% lower bound {:.3}) in {:.1} s",
        sr.best_lambda,
        sr.best_accuracy,
        sr.best_trials(),
        sr.best_lower_bound(),
        a.search_seconds
    ));
    a.search = Some(sr);
    Ok(a)
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

fn write_metrics(paths: &RunPaths, m: &Value) -> Result<()> {
    let s = serde_json::to_string_pretty(m).expect("json");
    write_atomic(&paths.metrics(), s.as_bytes())
}

/// The search result as JSON (the `search --json` object).
pub fn search_json(r: &SearchResult) -> Value {
    json!({
        "lambdas": r.lambdas, "accuracies": r.accuracies,
        "refined_lambdas": r.refined_lambdas, "refined_accuracies": r.refined_accuracies,
        "best_lambda": r.best_lambda, "best_accuracy": r.best_accuracy,
        "trials_per_lambda": r.n_trials,
    })
}

/// The evaluation result as JSON (the `eval --json` object).
pub fn eval_json(r: &EvalResult) -> Value {
    let per_type: BTreeMap<&str, f64> = r
        .per_type
        .iter()
        .map(|(k, v)| (k.as_str(), v.accuracy))
        .collect();
    let rates: BTreeMap<&str, Value> = r
        .per_type
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                json!({"exc_hz": v.exc_rate_hz, "inh_hz": v.inh_rate_hz, "trials": v.n_trials}),
            )
        })
        .collect();
    json!({
        "lambda": r.lambda, "accuracy": r.overall.accuracy, "per_type": per_type,
        "ci95": [r.ci95.0, r.ci95.1], "rate_exc_hz": nan_null(r.overall.exc_rate_hz),
        "rate_inh_hz": nan_null(r.overall.inh_rate_hz), "trials": r.overall.n_trials,
        "per_type_rates": rates,
    })
}

fn nan_null(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// Names (stems) of the figures written, relative to the figures directory.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Figure stems with a caption each.
    pub names: Vec<String>,
    /// Captions, same order.
    pub captions: Vec<String>,
}

/// One simulated trial per trial type at `lambda`, plus the rate output.
struct TypeRun {
    kind: usize,
    name: String,
    rate_o: Vec<f64>,
    target: Vec<f64>,
    sim: SimResult,
}

fn type_runs(
    model: &RateModel,
    task: &dyn Task,
    lambda: f64,
    cfg: &RunConfig,
) -> Result<Vec<TypeRun>> {
    let net = LifNetwork::from_rate(model, lambda, &cfg.conversion()?)?;
    let prep = Prepared::new(model);
    let sim_opts = SimOptions {
        downsample: cfg.search.downsample,
        ..SimOptions::default()
    };
    task.trial_types()
        .into_iter()
        .enumerate()
        .map(|(k, _)| {
            let name = task.describe_type(k);
            let mut r = rng::stream(cfg.seed, &[TAG_FIG, k as u64]);
            let trial = task.trial_of_kind(k, &mut r);
            let mut tr = Trace::default();
            forward(model, &prep, &trial.u, &mut r, &mut tr);
            let sim = net.simulate(&extend_stimulus(&trial.u, 1), &sim_opts, &mut r)?;
            Ok(TypeRun {
                kind: k,
                name,
                rate_o: tr.o,
                target: trial.target,
                sim,
            })
        })
        .collect()
}

/// Make every figure of a model into `dir`: training loss (if the model
/// holds losses), rate output vs target, spiking vs rate output, rasters
/// (E red, I blue), accuracy vs lambda (if searched), tau histogram (ms),
/// firing-rate distributions. One trial per trial type, seeded by `cfg.seed`.
pub fn make_figures(
    model: &RateModel,
    task: &dyn Task,
    lambda: f64,
    search: Option<&SearchResult>,
    evals: &[EvalPoint],
    cfg: &RunConfig,
    dir: &Path,
) -> Result<Figures> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut f = Figures::default();
    let mut add = |name: &str, caption: String| {
        f.names.push(name.to_string());
        f.captions.push(caption);
    };
    if let Some(tr) = &model.training {
        if !tr.losses.is_empty() {
            let ev: Vec<(usize, f64, f64)> = evals
                .iter()
                .map(|e| (e.trial, e.loss, e.accuracy))
                .collect();
            plot::training_loss(&dir.join("training_loss"), &tr.losses, &ev)?;
            add(
                "training_loss",
                format!("Training loss per trial ({} trials).", tr.trials),
            );
        }
    }
    let runs = type_runs(model, task, lambda, cfg)?;
    let t_rate: Vec<f64> = (1..task.n_steps()).map(|k| k as f64 * RATE_DT_MS).collect();
    let trace = |label: &str, t: &[f64], y: &[f64], style| plot::Trace {
        label: label.into(),
        t_ms: t.to_vec(),
        y: y.to_vec(),
        style,
    };
    // Scoring thresholds drawn over the response window.
    let thresholds = |kind: usize, from_ms: f64, to_ms: f64| -> Vec<plot::Trace> {
        task.thresholds(kind)
            .into_iter()
            .map(|v| {
                trace(
                    "scoring threshold",
                    &[from_ms, to_ms],
                    &[v, v],
                    TraceStyle::Threshold,
                )
            })
            .collect()
    };
    let rate_from = task.response_start() as f64 * RATE_DT_MS;
    let rate_to = t_rate.last().copied().unwrap_or(rate_from);
    let spk_from = cfg.scoring()?.window_start_ms();
    let panels: Vec<Panel> = runs
        .iter()
        .map(|r| {
            let mut traces = vec![
                trace("target", &t_rate, &r.target, TraceStyle::Target),
                trace("rate output", &t_rate, &r.rate_o, TraceStyle::Main),
            ];
            traces.extend(thresholds(r.kind, rate_from, rate_to));
            Panel {
                title: r.name.clone(),
                traces,
            }
        })
        .collect();
    plot::output_panels(
        &dir.join("rate_output"),
        &format!("Rate network output vs target ({})", task.name()),
        &panels,
        "output (a.u.)",
    )?;
    add(
        "rate_output",
        "Rate-network output against the target, one trial per trial type; dashed red: the scoring thresholds over the response window.".into(),
    );
    let panels: Vec<Panel> = runs
        .iter()
        .map(|r| {
            let t_spk: Vec<f64> = (1..=r.sim.out.len())
                .map(|i| i as f64 * r.sim.dt_ms)
                .collect();
            let mut traces = vec![
                trace("rate output", &t_rate, &r.rate_o, TraceStyle::Secondary),
                trace("spiking output", &t_spk, &r.sim.out, TraceStyle::Main),
            ];
            let spk_to = t_spk.last().copied().unwrap_or(spk_from);
            traces.extend(thresholds(r.kind, spk_from, spk_to));
            Panel {
                title: r.name.clone(),
                traces,
            }
        })
        .collect();
    plot::output_panels(
        &dir.join("spiking_vs_rate"),
        &format!("Spiking (λ = {lambda}) vs rate output ({})", task.name()),
        &panels,
        "output (a.u.)",
    )?;
    add(
        "spiking_vs_rate",
        format!("Spiking network output (λ = {lambda}) against the rate network's, same stimulus; dashed red: the scoring thresholds over the spiking response window."),
    );
    let rasters: Vec<RasterPanel> = runs
        .iter()
        .map(|r| RasterPanel {
            title: r.name.clone(),
            n_units: model.n(),
            t_max_ms: r.sim.n_steps as f64 * r.sim.dt_ms,
            spikes: r
                .sim
                .spikes
                .iter()
                .map(|&(u, s)| (u, s as f64 * r.sim.dt_ms))
                .collect(),
            inh: model.inh.clone(),
        })
        .collect();
    plot::raster(&dir.join("raster"), &rasters)?;
    add(
        "raster",
        "Spike rasters, one trial per trial type: excitatory units red, inhibitory blue.".into(),
    );
    let lam_pts = match (search, &model.search) {
        (Some(s), _) => Some((
            s.lambdas
                .iter()
                .cloned()
                .zip(s.accuracies.iter().cloned())
                .collect::<Vec<_>>(),
            s.refined_lambdas
                .iter()
                .cloned()
                .zip(s.refined_accuracies.iter().cloned())
                .collect::<Vec<_>>(),
            (s.best_lambda, s.best_accuracy),
        )),
        (None, Some(rec)) => {
            let pts: Vec<(f64, f64)> = rec
                .scaling_factors
                .iter()
                .cloned()
                .zip(rec.all_perfs.iter().cloned())
                .collect();
            let best = pts
                .iter()
                .find(|p| p.0 == rec.opt_scaling_factor)
                .map_or((rec.opt_scaling_factor, f64::NAN), |p| *p);
            Some((pts, vec![], best))
        }
        _ => None,
    };
    if let Some((coarse, refined, best)) = lam_pts {
        plot::lambda_curve(&dir.join("lambda_curve"), &coarse, &refined, best)?;
        add(
            "lambda_curve",
            "Spiking accuracy against the scaling factor λ.".into(),
        );
    }
    let taus_ms: Vec<f64> = model.tau_steps().iter().map(|t| t * RATE_DT_MS).collect();
    let init_ms: Vec<f64> = model
        .taus_gaus0
        .iter()
        .map(|&g| model.taus.tau(g) * RATE_DT_MS)
        .collect();
    plot::tau_histogram(&dir.join("tau_histogram"), &taus_ms, Some(&init_ms))?;
    add(
        "tau_histogram",
        "Synaptic decay constants (ms), trained against initial.".into(),
    );
    let n = model.n();
    let mut mean_rate = vec![0.0; n];
    for r in &runs {
        for (m, x) in mean_rate.iter_mut().zip(&r.sim.rates_hz) {
            *m += x / runs.len() as f64;
        }
    }
    let exc: Vec<f64> = (0..n)
        .filter(|&i| !model.inh[i])
        .map(|i| mean_rate[i])
        .collect();
    let inh: Vec<f64> = (0..n)
        .filter(|&i| model.inh[i])
        .map(|i| mean_rate[i])
        .collect();
    plot::firing_rates(&dir.join("firing_rates"), &exc, &inh)?;
    add(
        "firing_rates",
        "Firing rates of excitatory and inhibitory units (Hz), averaged over one trial per type."
            .into(),
    );
    Ok(f)
}

/// How spiking trials are scored under `cfg` ([`RunConfig::scoring`]), as
/// JSON (the keys of [`crate::config::Scoring`]'s Serialize).
pub fn scoring_json(cfg: &RunConfig) -> Result<Value> {
    Ok(serde_json::to_value(cfg.scoring()?).expect("scoring serialises"))
}

fn write_report(paths: &RunPaths, cfg: &RunConfig, m: &Value, figs: &Figures) -> Result<()> {
    let g = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    let f3 = |v: Value| v.as_f64().map_or("–".to_string(), |x| format!("{x:.3}"));
    let mut md = String::new();
    let _ = writeln!(md, "# spikernn run: {}\n", cfg.task);
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| quantity | value |\n|---|---|");
    let _ = writeln!(md, "| task | {} |", cfg.task);
    let _ = writeln!(md, "| units N | {} |", cfg.net.n);
    let _ = writeln!(
        md,
        "| seed of this network | {} (run seed {}) |",
        cfg.seed,
        g("seed")
    );
    let n_att = m["attempts"].as_array().map_or(0, |a| a.len());
    let _ = writeln!(
        md,
        "| networks trained | {} of at most {} (target spiking accuracy {}: {}) |",
        n_att,
        cfg.attempts,
        f3(g("target_accuracy")),
        if g("target_met") == json!(true) {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = writeln!(
        md,
        "| training trials | {} (stopping rule met: {}) |",
        g("train_trials"),
        g("train_success")
    );
    let _ = writeln!(md, "| training time | {} s |", f3(g("train_seconds")));
    let _ = writeln!(
        md,
        "| rate accuracy | {} ({} fresh trials) |",
        f3(g("rate_accuracy")),
        cfg.eval.trials
    );
    let _ = writeln!(md, "| best lambda | {} |", g("best_lambda"));
    let _ = writeln!(
        md,
        "| spiking trials scored | {} |",
        cfg.scoring()?.describe()
    );
    let ev = g("eval");
    let _ = writeln!(
        md,
        "| spiking accuracy | {} (95% CI {}–{}, {} fresh trials) |",
        f3(g("spiking_accuracy")),
        f3(ev["ci95"][0].clone()),
        f3(ev["ci95"][1].clone()),
        cfg.eval.trials
    );
    let _ = writeln!(
        md,
        "| mean firing rate | E {} Hz, I {} Hz |",
        f3(ev["rate_exc_hz"].clone()),
        f3(ev["rate_inh_hz"].clone())
    );
    let _ = writeln!(md, "| search time | {} s |", f3(g("search_seconds")));
    let _ = writeln!(md, "\n## Spiking accuracy per trial type\n");
    let _ = writeln!(
        md,
        "| trial type | accuracy | E rate (Hz) | I rate (Hz) |\n|---|---|---|---|"
    );
    if let Some(pt) = ev["per_type_rates"].as_object() {
        for (k, v) in pt {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                k,
                f3(ev["per_type"][k].clone()),
                f3(v["exc_hz"].clone()),
                f3(v["inh_hz"].clone())
            );
        }
    }
    if n_att > 1 {
        let _ = writeln!(
            md,
            "\n## Networks trained\n\nA network is accepted when the best spiking accuracy of its λ search reaches the target; otherwise another network is trained (the lower bound is that of the 95% Wilson interval over the search trials at the best λ).\n"
        );
        let _ = writeln!(
            md,
            "| attempt | seed | training trials | rate accuracy | best lambda | best spiking accuracy (trials) | 95% lower bound | accepted |\n|---|---|---|---|---|---|---|---|"
        );
        for (i, a) in m["attempts"].as_array().into_iter().flatten().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} ({}) | {} | {} |",
                i + 1,
                a["seed"],
                a["train_trials"],
                f3(a["rate_accuracy"].clone()),
                a.get("best_lambda").cloned().unwrap_or(json!("–")),
                f3(a.get("best_accuracy").cloned().unwrap_or(Value::Null)),
                a.get("best_trials").cloned().unwrap_or(json!("–")),
                f3(a.get("best_lower_bound").cloned().unwrap_or(Value::Null)),
                if a["accepted"] == json!(true) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
    }
    let s = g("search");
    let _ = writeln!(md, "\n## Lambda search\n");
    let _ = writeln!(md, "| lambda | accuracy |\n|---|---|");
    if let (Some(l), Some(a)) = (s["lambdas"].as_array(), s["accuracies"].as_array()) {
        for (l, a) in l.iter().zip(a) {
            let _ = writeln!(md, "| {} | {} |", l, f3(a.clone()));
        }
    }
    if let (Some(l), Some(a)) = (
        s["refined_lambdas"].as_array(),
        s["refined_accuracies"].as_array(),
    ) {
        if !l.is_empty() {
            let _ = writeln!(md, "\nRefined around the best coarse lambda:\n");
            let _ = writeln!(md, "| lambda | accuracy |\n|---|---|");
            for (l, a) in l.iter().zip(a) {
                let _ = writeln!(md, "| {} | {} |", l, f3(a.clone()));
            }
        }
    }
    let _ = writeln!(md, "\n## Figures\n");
    let body_md = md.clone();
    for (name, cap) in figs.names.iter().zip(&figs.captions) {
        let _ = writeln!(md, "### {name}\n\n{cap}\n\n![{name}](figures/{name}.png)\n");
    }
    let _ = writeln!(md, "## Configuration\n\n```toml\n{}```", cfg.to_toml());
    write_atomic(&paths.dir.join("report.md"), md.as_bytes())?;

    // HTML: same content, SVG figures inline (viewable offline, one file).
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spikernn report</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}\
         svg{max-width:100%;height:auto}pre{background:#f4f4f4;padding:1em}</style></head><body>\n",
    );
    html.push_str(&markdown_tables_to_html(&body_md));
    for (name, cap) in figs.names.iter().zip(&figs.captions) {
        let svg_path = paths.figures().join(format!("{name}.svg"));
        let svg = std::fs::read_to_string(&svg_path).map_err(|e| Error::io(&svg_path, e))?;
        let svg = svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = writeln!(html, "<h3>{name}</h3><p>{}</p>{svg}", escape(cap));
    }
    let _ = writeln!(
        html,
        "<h2>Configuration</h2><pre>{}</pre></body></html>",
        escape(&cfg.to_toml())
    );
    write_atomic(&paths.dir.join("report.html"), html.as_bytes())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Render the small markdown subset the report uses (headings, pipe tables,
/// paragraphs) as HTML.
fn markdown_tables_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            if t.starts_with("|---") {
                continue;
            }
            if !in_table {
                out.push_str("<table>\n");
                in_table = true;
            }
            out.push_str("<tr>");
            for c in t.trim_matches('|').split('|') {
                let _ = write!(out, "<td>{}</td>", escape(c.trim()));
            }
            out.push_str("</tr>\n");
            continue;
        }
        if in_table {
            out.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = t.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", escape(h));
        } else if let Some(h) = t.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", escape(h));
        } else if !t.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", escape(t));
        }
    }
    if in_table {
        out.push_str("</table>\n");
    }
    out
}

/// Figures of a `spikernn simulate` output file (`spk`, `out`, `dt`, `inh`):
/// the spike raster and the output trace. Returns the figure stems written.
pub fn plot_simulation(
    file: &crate::io::mat::MatFile,
    path: &Path,
    dir: &Path,
) -> Result<Vec<String>> {
    let need = |k: &str| {
        file.get(k).ok_or_else(|| Error::MissingKey {
            path: path.to_path_buf(),
            key: k.into(),
        })
    };
    let bad = |k: &str, e: &str| Error::BadKey {
        path: path.to_path_buf(),
        key: k.into(),
        expected: e.into(),
        found: "something else".into(),
    };
    let spk = need("spk")?;
    let (n, nt) = spk
        .matrix_dims()
        .ok_or_else(|| bad("spk", "an N×nt matrix"))?;
    let spk_v = spk.to_f64().ok_or_else(|| bad("spk", "numbers"))?;
    let out = need("out")?.to_f64().ok_or_else(|| bad("out", "numbers"))?;
    let dt_ms = need("dt")?
        .to_f64()
        .and_then(|v| v.first().copied())
        .ok_or_else(|| bad("dt", "a scalar (s)"))?
        * 1000.0;
    let inh: Vec<bool> = match file.get("inh").and_then(|v| v.to_f64()) {
        Some(v) if v.len() == n => v.iter().map(|&x| x != 0.0).collect(),
        _ => vec![false; n],
    };
    let title = file
        .get("trial_type")
        .and_then(|v| v.as_str())
        .map_or("simulated trial".to_string(), |s| format!("{s} trial"));
    let mut spikes = Vec::new();
    for step in 0..nt {
        for unit in 0..n {
            if spk_v[unit + n * step] != 0.0 {
                spikes.push((unit as u32, step as f64 * dt_ms));
            }
        }
    }
    plot::raster(
        &dir.join("raster"),
        &[RasterPanel {
            title: title.clone(),
            n_units: n,
            t_max_ms: nt as f64 * dt_ms,
            spikes,
            inh,
        }],
    )?;
    let t: Vec<f64> = (1..=out.len()).map(|i| i as f64 * dt_ms).collect();
    plot::output_panels(
        &dir.join("spiking_output"),
        "Spiking network output",
        &[Panel {
            title,
            traces: vec![plot::Trace {
                label: "spiking output".into(),
                t_ms: t,
                y: out,
                style: TraceStyle::Main,
            }],
        }],
        "output (a.u.)",
    )?;
    Ok(vec!["raster".into(), "spiking_output".into()])
}

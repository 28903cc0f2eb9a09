//! The figures of a model, one function each: training loss, rate output,
//! spiking vs rate output, rasters, the λ search, synaptic time constants,
//! firing rates; and the figures of a `spikernn simulate` file.

use std::path::Path;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::io::mat::MatFile;
use crate::io::sim_file::{self, Simulation};
use crate::rate::bptt::{forward, Prepared, Trace};
use crate::rate::train::EvalPoint;
use crate::rate::RateModel;
use crate::report::plot::{self, LambdaKind, LambdaMark, Panel, RasterPanel, TraceStyle};
use crate::rng;
use crate::spiking::lif::{SimOptions, SimResult};
use crate::spiking::readout::network_as_scored;
use crate::spiking::search::{SearchResult, SearchStage};
use crate::task::{extend_stimulus, Task};
use crate::units::RATE_DT_MS;

/// Stream tag of the figure trials (distinct from training, search, eval).
const TAG_FIG: u64 = 0x0046_4947;

/// The t = 0 volley, said where rasters and firing rates are shown.
pub const VOLLEY_NOTE: &str = "Initial voltages are uniform in [−65, 30] mV (as in the original \
     code), above the −40 mV threshold for most units, so most units spike in the first step: \
     the volley at t = 0.";

/// Names (stems) of the figures written, relative to the figures directory.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Figure stems with a caption each.
    pub names: Vec<String>,
    /// Captions, same order.
    pub captions: Vec<String>,
}

impl Figures {
    fn add(&mut self, name: &str, caption: String) {
        self.names.push(name.to_string());
        self.captions.push(caption);
    }
}

/// One simulated trial per trial type at `lambda`, plus the rate output.
struct TypeRun {
    kind: usize,
    name: String,
    rate_o: Vec<f64>,
    target: Vec<f64>,
    sim: SimResult,
}

/// What the trial figures share.
struct Ctx<'a> {
    model: &'a RateModel,
    task: &'a dyn Task,
    lambda: f64,
    dir: &'a Path,
    runs: Vec<TypeRun>,
    /// Times of the rate output (ms).
    t_rate: Vec<f64>,
    /// Start of the spiking response window (ms).
    spk_from: f64,
}

impl Ctx<'_> {
    /// The scoring thresholds of trial type `kind` from `from_ms` to `to_ms`.
    fn thresholds(&self, kind: usize, from_ms: f64, to_ms: f64) -> Vec<plot::Trace> {
        self.task
            .thresholds(kind)
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
    }
}

fn trace(label: &str, t: &[f64], y: &[f64], style: TraceStyle) -> plot::Trace {
    plot::Trace {
        label: label.into(),
        t_ms: t.to_vec(),
        y: y.to_vec(),
        style,
    }
}

fn type_runs(
    model: &RateModel,
    task: &dyn Task,
    lambda: f64,
    cfg: &RunConfig,
) -> Result<Vec<TypeRun>> {
    let net = network_as_scored(model, lambda, &cfg.conversion()?)?;
    let prep = Prepared::new(model);
    let sim_opts = SimOptions {
        downsample: cfg.search.downsample,
        ..SimOptions::default()
    };
    (0..task.trial_types().len())
        .map(|k| {
            let mut r = rng::stream(cfg.seed, &[TAG_FIG, k as u64]);
            let trial = task.trial_of_kind(k, &mut r);
            let mut tr = Trace::default();
            forward(model, &prep, &trial.u, &mut r, &mut tr);
            let sim = net.simulate(&extend_stimulus(&trial.u, 1), &sim_opts, &mut r)?;
            Ok(TypeRun {
                kind: k,
                name: task.describe_type(k),
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
    loss_figure(model, evals, cfg.train.loss_threshold, dir, &mut f)?;
    let ctx = Ctx {
        model,
        task,
        lambda,
        dir,
        runs: type_runs(model, task, lambda, cfg)?,
        t_rate: (1..task.n_steps()).map(|k| k as f64 * RATE_DT_MS).collect(),
        spk_from: cfg.scoring()?.window_start_ms(),
    };
    rate_output_figure(&ctx, &mut f)?;
    spiking_vs_rate_figure(&ctx, &mut f)?;
    raster_figure(&ctx, &mut f)?;
    lambda_figure(model, search, dir, &mut f)?;
    tau_figure(model, dir, &mut f)?;
    firing_rate_figure(&ctx, &mut f)?;
    Ok(f)
}

fn loss_figure(
    model: &RateModel,
    evals: &[EvalPoint],
    stop_loss: f64,
    dir: &Path,
    f: &mut Figures,
) -> Result<()> {
    let Some(tr) = model.training.as_ref().filter(|t| !t.losses.is_empty()) else {
        return Ok(());
    };
    let ev: Vec<(usize, f64, f64)> = evals
        .iter()
        .map(|e| (e.trial, e.loss, e.accuracy))
        .collect();
    plot::training_loss(&dir.join("training_loss"), &tr.losses, &ev, Some(stop_loss))?;
    f.add(
        "training_loss",
        format!(
            "Training loss per trial ({} trials), log scale; dashed: the stopping rule's loss {stop_loss} (training stops once the mean evaluation loss is below it and the evaluation accuracy above its threshold).",
            tr.trials
        ),
    );
    Ok(())
}

fn rate_output_figure(c: &Ctx, f: &mut Figures) -> Result<()> {
    let rate_from = c.task.response_start() as f64 * RATE_DT_MS;
    let rate_to = c.t_rate.last().copied().unwrap_or(rate_from);
    let panels: Vec<Panel> = c
        .runs
        .iter()
        .map(|r| {
            let mut traces = vec![
                trace("target", &c.t_rate, &r.target, TraceStyle::Target),
                trace("rate output", &c.t_rate, &r.rate_o, TraceStyle::Main),
            ];
            traces.extend(c.thresholds(r.kind, rate_from, rate_to));
            Panel {
                title: r.name.clone(),
                traces,
            }
        })
        .collect();
    plot::output_panels(
        &c.dir.join("rate_output"),
        &format!("Rate network output vs target ({})", c.task.name()),
        &panels,
        "output (a.u.)",
    )?;
    f.add(
        "rate_output",
        "Rate-network output against the target, one trial per trial type; dashed red: the scoring thresholds over the response window.".into(),
    );
    Ok(())
}

fn spiking_vs_rate_figure(c: &Ctx, f: &mut Figures) -> Result<()> {
    let panels: Vec<Panel> = c
        .runs
        .iter()
        .map(|r| {
            let t_spk = spiking_times(&r.sim);
            let mut traces = vec![
                trace("rate output", &c.t_rate, &r.rate_o, TraceStyle::Secondary),
                trace("spiking output", &t_spk, &r.sim.out, TraceStyle::Main),
            ];
            let spk_to = t_spk.last().copied().unwrap_or(c.spk_from);
            traces.extend(c.thresholds(r.kind, c.spk_from, spk_to));
            Panel {
                title: r.name.clone(),
                traces,
            }
        })
        .collect();
    let lambda = c.lambda;
    plot::output_panels(
        &c.dir.join("spiking_vs_rate"),
        &format!("Spiking (λ = {lambda}) vs rate output ({})", c.task.name()),
        &panels,
        "output (a.u.)",
    )?;
    f.add(
        "spiking_vs_rate",
        format!(
            "Spiking network output (λ = {lambda}) against the rate network's, same stimulus; dashed red: the scoring thresholds over the spiking response window. {}",
            amplitude_note(c)
        ),
    );
    Ok(())
}

/// Spiking step times (ms), step k ending at (k + 1)·dt.
fn spiking_times(sim: &SimResult) -> Vec<f64> {
    (1..=sim.out.len()).map(|i| i as f64 * sim.dt_ms).collect()
}

/// The sentence on the spiking output's amplitude against the rate
/// output's, with the peak ratio over the response windows of these trials.
fn amplitude_note(c: &Ctx) -> String {
    let peak = |t: &[f64], y: &[f64], from: f64| {
        t.iter()
            .zip(y)
            .filter(|(t, y)| **t >= from && y.is_finite())
            .fold(0.0_f64, |m, (_, y)| m.max(y.abs()))
    };
    let rate_from = c.task.response_start() as f64 * RATE_DT_MS;
    let ratios: Vec<f64> = c
        .runs
        .iter()
        .filter_map(|r| {
            let rate = peak(&c.t_rate, &r.rate_o, rate_from);
            let spk = peak(&spiking_times(&r.sim), &r.sim.out, c.spk_from);
            (rate > 0.1).then_some(spk / rate)
        })
        .collect();
    let general = "The spiking output typically runs 1.5–2× the rate output's amplitude; trials are scored against thresholds, not the target's amplitude, so this does not cost accuracy.";
    match (
        ratios.iter().copied().reduce(f64::min),
        ratios.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => {
            format!("{general} Here its peak is {lo:.1}–{hi:.1}× the rate output's peak.")
        }
        _ => general.to_string(),
    }
}

fn raster_figure(c: &Ctx, f: &mut Figures) -> Result<()> {
    let rasters: Vec<RasterPanel> = c
        .runs
        .iter()
        .map(|r| RasterPanel {
            title: r.name.clone(),
            n_units: c.model.n(),
            t_max_ms: r.sim.n_steps as f64 * r.sim.dt_ms,
            spikes: r
                .sim
                .spikes
                .iter()
                .map(|&(u, s)| (u, s as f64 * r.sim.dt_ms))
                .collect(),
            inh: c.model.inh.clone(),
        })
        .collect();
    plot::raster(&c.dir.join("raster"), &rasters)?;
    f.add(
        "raster",
        format!("Spike rasters, one trial per trial type: excitatory units red, inhibitory blue. {VOLLEY_NOTE}"),
    );
    Ok(())
}

/// The points of the λ figure: every scored λ of `search` once (pooled,
/// with its 95 % interval), or, from a model file, its stored record
/// (`scaling_factors`/`all_perfs`, whose stages are unknown).
fn lambda_marks(
    model: &RateModel,
    search: Option<&SearchResult>,
) -> Option<(Vec<LambdaMark>, f64)> {
    if let Some(s) = search {
        let marks = s
            .points()
            .iter()
            .map(|p| LambdaMark {
                lambda: p.lambda,
                accuracy: p.accuracy,
                ci95: Some(p.ci95),
                kind: match p.stage {
                    SearchStage::Coarse => LambdaKind::Grid,
                    SearchStage::Refined => LambdaKind::Refined,
                    SearchStage::Finalist => LambdaKind::Finalist,
                },
            })
            .collect();
        return Some((marks, s.best_lambda));
    }
    let rec = model.search.as_ref()?;
    let marks = rec
        .scaling_factors
        .iter()
        .zip(&rec.all_perfs)
        .map(|(&lambda, &accuracy)| LambdaMark {
            lambda,
            accuracy,
            ci95: None,
            kind: LambdaKind::Stored,
        })
        .collect();
    Some((marks, rec.opt_scaling_factor))
}

fn lambda_figure(
    model: &RateModel,
    search: Option<&SearchResult>,
    dir: &Path,
    f: &mut Figures,
) -> Result<()> {
    let Some((marks, chosen)) = lambda_marks(model, search) else {
        return Ok(());
    };
    plot::lambda_curve(&dir.join("lambda_curve"), &marks, chosen)?;
    let caption = match search {
        Some(s) => format!(
            "Spiking accuracy against the scaling factor λ, every scored λ once with all its trials pooled; bars: 95 % intervals; ringed: the chosen λ. {}",
            s.selection()
        ),
        None => "Spiking accuracy against the scaling factor λ, as stored in the model file; ringed: the chosen λ.".into(),
    };
    f.add("lambda_curve", caption);
    Ok(())
}

fn tau_figure(model: &RateModel, dir: &Path, f: &mut Figures) -> Result<()> {
    let taus_ms: Vec<f64> = model.tau_steps().iter().map(|t| t * RATE_DT_MS).collect();
    let init_ms: Vec<f64> = model
        .taus_gaus0
        .iter()
        .map(|&g| model.taus.tau(g) * RATE_DT_MS)
        .collect();
    plot::tau_histogram(&dir.join("tau_histogram"), &taus_ms, Some(&init_ms))?;
    f.add(
        "tau_histogram",
        "Synaptic decay constants (ms), trained against initial.".into(),
    );
    Ok(())
}

fn firing_rate_figure(c: &Ctx, f: &mut Figures) -> Result<()> {
    let n = c.model.n();
    let mut mean_rate = vec![0.0; n];
    for r in &c.runs {
        for (m, x) in mean_rate.iter_mut().zip(&r.sim.rates_hz) {
            *m += x / c.runs.len() as f64;
        }
    }
    let pick = |inh: bool| -> Vec<f64> {
        (0..n)
            .filter(|&i| c.model.inh[i] == inh)
            .map(|i| mean_rate[i])
            .collect()
    };
    let basis = format!("one trial per trial type, {} trials", c.runs.len());
    plot::firing_rates(
        &c.dir.join("firing_rates"),
        &pick(false),
        &pick(true),
        &basis,
    )?;
    f.add(
        "firing_rates",
        format!(
            "Firing rates of excitatory and inhibitory units (Hz), each unit averaged over the figures' {} trials (one per trial type), so the means differ somewhat from the evaluation's mean over all its trials. Rates count spikes from the 10th step on, leaving out the t = 0 volley.",
            c.runs.len()
        ),
    );
    Ok(())
}

/// Figures of a `spikernn simulate` output file (see [`sim_file`]): the
/// spike raster and the output trace. `path` is the file `file` was read
/// from (named in errors). Returns the figure stems written.
pub fn plot_simulation(file: &MatFile, path: &Path, dir: &Path) -> Result<Vec<String>> {
    let sim = sim_file::simulation_from_mat(file, path)?;
    draw_simulation(&sim, dir)
}

/// The raster and output figures of a read simulation into `dir`.
pub fn draw_simulation(sim: &Simulation, dir: &Path) -> Result<Vec<String>> {
    let title = sim
        .trial_type
        .as_ref()
        .map_or("simulated trial".to_string(), |s| format!("{s} trial"));
    let spikes = sim
        .spikes
        .iter()
        .map(|&(u, k)| (u, k as f64 * sim.dt_ms))
        .collect();
    plot::raster(
        &dir.join("raster"),
        &[RasterPanel {
            title: title.clone(),
            n_units: sim.n_units,
            t_max_ms: sim.n_steps as f64 * sim.dt_ms,
            spikes,
            inh: sim.inh.clone(),
        }],
    )?;
    let t: Vec<f64> = (1..=sim.out.len()).map(|i| i as f64 * sim.dt_ms).collect();
    plot::output_panels(
        &dir.join("spiking_output"),
        "Spiking network output",
        &[Panel {
            title,
            traces: vec![trace("spiking output", &t, &sim.out, TraceStyle::Main)],
        }],
        "output (a.u.)",
    )?;
    Ok(vec!["raster".into(), "spiking_output".into()])
}

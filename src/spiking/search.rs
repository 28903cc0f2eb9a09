//! Lambda grid search and spiking evaluation (SPEC §3).
//!
//! [`grid_search`] converts the rate model at every scaling factor λ of a grid
//! (default 20, 25, … 75), simulates `n_trials` random trials of the task per
//! λ (default 100) and scores the spiking output with the task's own rule.
//! Because accuracy vs λ has a narrow peak, it then (by default) refines
//! around the best coarse λ with step 1 within ±4 and re-tests the top 3
//! points of that window with 2× more trials, picking the best on the pooled
//! trials. `refine: false` gives exactly the MATLAB protocol
//! (`lambda_grid_search.m`), whose best λ is the first maximum of the grid.
//!
//! Scoring window: by default the task's response window mapped to spiking
//! steps (rate steps × 100/d: Go-NoGo from step 7 500, XOR 20 000, Mante
//! 30 000 at d = 1). The MATLAB search scored Go-NoGo from step 10 000, XOR
//! from 20 000 and Mante from 26 000; set `window_start_override` to
//! reproduce it. MATLAB's NoGo rule is `max(out) < 0.3`, the task's rule
//! (SPEC §2) `max |out| < 0.3`; pass a task built with
//! [`crate::task::NoGoRule::Max`] (CLI `--nogo-rule max`) for MATLAB's.
//! The whole MATLAB protocol on the command line: `--window-start 10000
//! --nogo-rule max --no-refine`.
//!
//! Reproducibility: trial `t` at scaling factor λ draws its stimulus and its
//! simulation from `rng::stream(seed, &[λ.to_bits(), t])`, so results do not
//! depend on the number of threads, and re-testing a point with more trials
//! reuses its first trials. [`evaluate`] uses streams tagged with
//! [`EVAL_TAG`], distinct from the search's.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::observe::{Event, Observer, Stage};
use crate::rate::{RateModel, SearchRecord};
use crate::rng;
use crate::spiking::lif::{ConversionOptions, LifNetwork, SimOptions};
use crate::task::{extend_stimulus, Task};
use crate::units::SPIKING_STEPS_PER_RATE_STEP;

/// First stream part of [`evaluate`]'s trials (ASCII "EVAL"), so that
/// evaluation trials never coincide with search trials.
pub const EVAL_TAG: u64 = 0x4556_414c;

/// Options of [`grid_search`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Coarse grid of scaling factors (default 20, 25, … 75).
    pub lambdas: Vec<f64>,
    /// Trials per scaling factor (default 100).
    pub n_trials: usize,
    /// Seed of the per-trial streams.
    pub seed: u64,
    /// Down-sampling factor d of the simulation (1: dt = 0.05 ms).
    pub downsample: usize,
    /// First scored output sample (0-based index into `out`), in spiking
    /// steps of 0.05 ms (divided by d when down-sampling), instead of the
    /// task's response window. MATLAB used Go-NoGo 10 000, XOR 20 000, Mante
    /// 26 000 (its `out(10000:end)` is 1-based, so it also scores one sample
    /// earlier; immaterial for a maximum over 10 000 samples).
    pub window_start_override: Option<usize>,
    /// Refine around the best coarse λ (off: the MATLAB protocol).
    pub refine: bool,
    /// Half-width of the refinement window (λ units, default 4).
    pub refine_radius: f64,
    /// Step of the refinement grid (λ units, default 1).
    pub refine_step: f64,
    /// Number of finalists re-tested with more trials (default 3).
    pub finalists: usize,
    /// Finalists get `finalist_factor × n_trials` extra trials (default 2).
    pub finalist_factor: usize,
    /// Refine only when the best coarse accuracy reaches this (default 0:
    /// always); `run` uses it to drop a hopeless network quickly.
    pub refine_min_accuracy: f64,
    /// Conversion options (weights, neuron, synapse).
    pub conversion: ConversionOptions,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            lambdas: (0..12).map(|k| 20.0 + 5.0 * k as f64).collect(),
            n_trials: 100,
            seed: 0,
            downsample: 1,
            window_start_override: None,
            refine: true,
            refine_radius: 4.0,
            refine_step: 1.0,
            finalists: 3,
            finalist_factor: 2,
            refine_min_accuracy: 0.0,
            conversion: ConversionOptions::default(),
        }
    }
}

/// Which stage of the search scored a λ last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchStage {
    /// A point of the coarse grid, `n_trials` trials.
    Coarse,
    /// A refinement point (off the coarse grid), `n_trials` trials.
    Refined,
    /// A finalist: re-tested, its trials pooled (`(1 + finalist_factor)·n_trials`).
    Finalist,
}

/// One scored scaling factor: all its trials pooled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LambdaPoint {
    /// Scaling factor λ.
    pub lambda: f64,
    /// Fraction of correct trials (pooled over all `trials`).
    pub accuracy: f64,
    /// Trials behind `accuracy`.
    pub trials: usize,
    /// 95 % Wilson score interval of `accuracy`.
    pub ci95: (f64, f64),
    /// The last stage that scored it.
    pub stage: SearchStage,
    /// Whether λ is on the coarse grid.
    pub on_grid: bool,
}

/// The result of [`grid_search`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// Coarse grid of scaling factors.
    pub lambdas: Vec<f64>,
    /// Accuracy at each coarse λ (`n_trials` trials each).
    pub accuracies: Vec<f64>,
    /// Refinement points (the whole window around the best coarse λ, which
    /// includes it); empty without refinement.
    pub refined_lambdas: Vec<f64>,
    /// Accuracy at each refinement point, pooled over all its trials.
    pub refined_accuracies: Vec<f64>,
    /// Trials behind each refined accuracy (`n_trials`, or
    /// `(1 + finalist_factor)·n_trials` for finalists).
    pub refined_trials: Vec<usize>,
    /// Chosen λ: the best finalist on pooled trials with refinement, the
    /// first maximum of the coarse grid without.
    pub best_lambda: f64,
    /// Accuracy at `best_lambda` (pooled for a finalist).
    pub best_accuracy: f64,
    /// Trials per coarse λ.
    pub n_trials: usize,
    /// Conversion warnings (e.g. negative weights clipped).
    pub warnings: Vec<String>,
}

impl SearchResult {
    /// Every scored λ once, sorted by λ, with all its trials pooled (a
    /// finalist's coarse and re-test trials together): the one table and
    /// curve of a search.
    pub fn points(&self) -> Vec<LambdaPoint> {
        let mut pts: Vec<LambdaPoint> = Vec::new();
        let mut put = |lambda: f64, accuracy: f64, trials: usize, stage, on_grid| {
            let k = (accuracy * trials as f64).round() as usize;
            let p = LambdaPoint {
                lambda,
                accuracy,
                trials,
                ci95: wilson_interval(k, trials, 1.959_963_984_540_054),
                stage,
                on_grid,
            };
            match pts.iter_mut().find(|q| q.lambda == lambda) {
                Some(q) => {
                    *q = LambdaPoint {
                        on_grid: q.on_grid,
                        ..p
                    }
                }
                None => pts.push(p),
            }
        };
        for (&l, &a) in self.lambdas.iter().zip(&self.accuracies) {
            put(l, a, self.n_trials, SearchStage::Coarse, true);
        }
        let refined = self.refined_lambdas.iter().zip(&self.refined_accuracies);
        for ((&l, &a), &n) in refined.zip(&self.refined_trials) {
            let stage = if n > self.n_trials {
                SearchStage::Finalist
            } else if self.lambdas.contains(&l) {
                SearchStage::Coarse
            } else {
                SearchStage::Refined
            };
            put(l, a, n, stage, self.lambdas.contains(&l));
        }
        pts.sort_by(|a, b| a.lambda.total_cmp(&b.lambda));
        pts
    }

    /// Trials behind `best_accuracy`.
    pub fn best_trials(&self) -> usize {
        self.refined_lambdas
            .iter()
            .position(|&l| l == self.best_lambda)
            .map_or(self.n_trials, |i| self.refined_trials[i])
    }

    /// Lower end of the 95 % Wilson interval of `best_accuracy`: the
    /// accuracy the chosen λ reaches with 95 % confidence (one-sided 97.5 %).
    pub fn best_lower_bound(&self) -> f64 {
        let n = self.best_trials();
        let k = (self.best_accuracy * n as f64).round() as usize;
        wilson_interval(k, n, 1.96).0
    }

    /// The record stored with the model: `opt_scaling_factor` = best λ;
    /// `scaling_factors`/`all_perfs` = the coarse grid followed by the refined
    /// points not on it, sorted by λ; where a λ is both, the value with more
    /// trials (the refined one) is kept.
    pub fn to_record(&self) -> SearchRecord {
        let mut pts: Vec<(f64, f64)> = self
            .lambdas
            .iter()
            .cloned()
            .zip(self.accuracies.iter().cloned())
            .collect();
        for (&l, &a) in self.refined_lambdas.iter().zip(&self.refined_accuracies) {
            match pts.iter_mut().find(|(x, _)| *x == l) {
                Some(p) => p.1 = a,
                None => pts.push((l, a)),
            }
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        SearchRecord {
            opt_scaling_factor: self.best_lambda,
            scaling_factors: pts.iter().map(|p| p.0).collect(),
            all_perfs: pts.iter().map(|p| p.1).collect(),
        }
    }
}

/// The outcome of one simulated trial.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    kind: usize,
    correct: bool,
    exc_hz: f64,
    inh_hz: f64,
}

/// Shared per-run settings of [`run_trials`].
struct Runner<'a> {
    model: &'a RateModel,
    task: &'a dyn Task,
    conversion: &'a ConversionOptions,
    downsample: usize,
    window_start: Option<usize>,
    seed: u64,
    tag: Option<u64>,
    obs: &'a dyn Observer,
}

impl Runner<'_> {
    /// Trials `range` at `lambda`, in parallel, in trial order.
    fn run(&self, lambda: f64, range: std::ops::Range<usize>) -> Result<Vec<Outcome>> {
        let net = LifNetwork::from_rate(self.model, lambda, self.conversion)?;
        let exc: Vec<bool> = net.inh().iter().map(|&b| !b).collect();
        let sim = SimOptions {
            downsample: self.downsample,
            ..SimOptions::default()
        };
        let per_rate_step = SPIKING_STEPS_PER_RATE_STEP / self.downsample;
        range
            .into_par_iter()
            .map(|t| {
                if self.obs.cancelled() {
                    return Err(Error::Interrupted);
                }
                let mut s = match self.tag {
                    Some(tag) => rng::stream(self.seed, &[tag, lambda.to_bits(), t as u64]),
                    None => rng::stream(self.seed, &[lambda.to_bits(), t as u64]),
                };
                let trial = self.task.sample(&mut s);
                let u = extend_stimulus(&trial.u, 1);
                let res = net.simulate(&u, &sim, &mut s)?;
                let correct = match self.window_start {
                    Some(w) => {
                        let start = (w / self.downsample).min(res.out.len());
                        self.task.is_correct(trial.kind, &res.out[start..])
                    }
                    None => self.task.score(trial.kind, &res.out, per_rate_step),
                };
                self.obs.event(&Event::Advance(1));
                Ok(Outcome {
                    kind: trial.kind,
                    correct,
                    exc_hz: res.mean_rate_hz(&exc),
                    inh_hz: res.mean_rate_hz(net.inh()),
                })
            })
            .collect()
    }
}

fn accuracy(o: &[Outcome]) -> f64 {
    if o.is_empty() {
        return f64::NAN;
    }
    o.iter().filter(|x| x.correct).count() as f64 / o.len() as f64
}

fn check_common(model: &RateModel, task: &dyn Task, n_trials: usize, d: usize) -> Result<()> {
    if n_trials == 0 {
        return Err(Error::param("n_trials", "must be at least 1"));
    }
    if d == 0 || !SPIKING_STEPS_PER_RATE_STEP.is_multiple_of(d) {
        return Err(Error::param(
            "downsample",
            format!("must divide {SPIKING_STEPS_PER_RATE_STEP}, got {d}"),
        ));
    }
    if model.n_inputs() != task.n_inputs() {
        return Err(Error::param(
            "task",
            format!(
                "task '{}' has {} inputs but the model has {}",
                task.name(),
                task.n_inputs(),
                model.n_inputs()
            ),
        ));
    }
    Ok(())
}

/// Grid search for the scaling factor λ (see the module docs). Trials run in
/// parallel on the current rayon pool. Progress goes to `obs` (a
/// [`Stage::Search`] over all trials, one [`Event::Lambda`] per scored λ);
/// `obs` is asked before every trial whether to stop, and then the search
/// returns [`Error::Interrupted`].
pub fn grid_search(
    model: &RateModel,
    task: &dyn Task,
    opts: &SearchOptions,
    obs: &dyn Observer,
) -> Result<SearchResult> {
    check_common(model, task, opts.n_trials, opts.downsample)?;
    if opts.lambdas.is_empty() {
        return Err(Error::param("lambdas", "the grid is empty"));
    }
    if let Some(l) = opts.lambdas.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        return Err(Error::param(
            "lambdas",
            format!("scaling factors must be positive, got {l}"),
        ));
    }
    if opts.refine
        && !(opts.refine_step.is_finite()
            && opts.refine_step > 0.0
            && opts.refine_radius.is_finite()
            && opts.refine_radius >= 0.0)
    {
        return Err(Error::param(
            "refine",
            format!(
                "step must be positive and radius ≥ 0, got step {} radius {}",
                opts.refine_step, opts.refine_radius
            ),
        ));
    }
    let n = opts.n_trials;
    let probe = LifNetwork::from_rate(model, opts.lambdas[0], &opts.conversion)?;
    let warnings: Vec<String> = probe.warning().into_iter().collect();
    let half = if opts.refine {
        (opts.refine_radius / opts.refine_step + 1e-9).floor() as usize
    } else {
        0
    };
    let extra = if opts.refine {
        (2 * half).min(opts.finalists) * opts.finalist_factor * n
    } else {
        0
    };
    let total = (opts.lambdas.len() + 2 * half) * n + extra;
    obs.event(&Event::Begin {
        stage: Stage::Search,
        total: total as u64,
    });
    for w in &warnings {
        obs.event(&Event::Warning(w.clone()));
    }
    let runner = Runner {
        model,
        task,
        conversion: &opts.conversion,
        downsample: opts.downsample,
        window_start: opts.window_start_override,
        seed: opts.seed,
        tag: None,
        obs,
    };

    let mut done: HashMap<u64, Vec<Outcome>> = HashMap::new();
    let mut accuracies = Vec::with_capacity(opts.lambdas.len());
    obs.event(&Event::Phase("coarse grid".into()));
    for &l in &opts.lambdas {
        let o = match done.get(&l.to_bits()) {
            Some(o) => o.clone(),
            None => runner.run(l, 0..n)?,
        };
        let a = accuracy(&o);
        obs.event(&Event::Lambda {
            lambda: l,
            accuracy: a,
            trials: n,
        });
        accuracies.push(a);
        done.insert(l.to_bits(), o);
    }
    // First maximum, as MATLAB's max().
    let (ib, _) =
        accuracies
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(bi, ba), (i, &a)| {
                if a > ba {
                    (i, a)
                } else {
                    (bi, ba)
                }
            });
    let coarse_best = opts.lambdas[ib];
    let mut result = SearchResult {
        lambdas: opts.lambdas.clone(),
        accuracies: accuracies.clone(),
        refined_lambdas: Vec::new(),
        refined_accuracies: Vec::new(),
        refined_trials: Vec::new(),
        best_lambda: coarse_best,
        best_accuracy: accuracies[ib],
        n_trials: n,
        warnings,
    };
    if !opts.refine || accuracies[ib] < opts.refine_min_accuracy {
        obs.event(&Event::End);
        return Ok(result);
    }

    obs.event(&Event::Phase("refining".into()));
    let h = half as i64;
    let window: Vec<f64> = (-h..=h)
        .map(|k| coarse_best + k as f64 * opts.refine_step)
        .filter(|&l| l > 0.0)
        .collect();
    let mut pooled: Vec<Vec<Outcome>> = Vec::with_capacity(window.len());
    for &l in &window {
        let o = match done.get(&l.to_bits()) {
            Some(o) => o.clone(),
            None => {
                let o = runner.run(l, 0..n)?;
                obs.event(&Event::Lambda {
                    lambda: l,
                    accuracy: accuracy(&o),
                    trials: n,
                });
                o
            }
        };
        pooled.push(o);
    }
    // Finalists: best n-trial accuracy; ties go to the point nearer the
    // coarse optimum, then the smaller λ.
    let mut order: Vec<usize> = (0..window.len()).collect();
    order.sort_by(|&a, &b| {
        accuracy(&pooled[b])
            .total_cmp(&accuracy(&pooled[a]))
            .then(
                (window[a] - coarse_best)
                    .abs()
                    .total_cmp(&(window[b] - coarse_best).abs()),
            )
            .then(window[a].total_cmp(&window[b]))
    });
    let finalists: Vec<usize> = order.into_iter().take(opts.finalists.max(1)).collect();
    let m = opts.finalist_factor * n;
    if m > 0 {
        obs.event(&Event::Phase("finalists".into()));
        for &f in &finalists {
            let more = runner.run(window[f], n..n + m)?;
            pooled[f].extend(more);
            obs.event(&Event::Lambda {
                lambda: window[f],
                accuracy: accuracy(&pooled[f]),
                trials: pooled[f].len(),
            });
        }
    }
    let best = finalists
        .iter()
        .cloned()
        .fold(None::<usize>, |b, f| match b {
            Some(b) if accuracy(&pooled[b]) >= accuracy(&pooled[f]) => Some(b),
            _ => Some(f),
        })
        .expect("at least one finalist");
    result.refined_accuracies = pooled.iter().map(|o| accuracy(o)).collect();
    result.refined_trials = pooled.iter().map(|o| o.len()).collect();
    result.best_lambda = window[best];
    result.best_accuracy = accuracy(&pooled[best]);
    result.refined_lambdas = window;
    obs.event(&Event::End);
    Ok(result)
}

/// Options of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Number of fresh trials (default 200).
    pub n_trials: usize,
    /// Seed of the per-trial streams (tagged with [`EVAL_TAG`]).
    pub seed: u64,
    /// Down-sampling factor d of the simulation.
    pub downsample: usize,
    /// As [`SearchOptions::window_start_override`].
    pub window_start_override: Option<usize>,
    /// Conversion options.
    pub conversion: ConversionOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            n_trials: 200,
            seed: 0,
            downsample: 1,
            window_start_override: None,
            conversion: ConversionOptions::default(),
        }
    }
}

/// Accuracy and firing rates of a group of trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupStats {
    /// Number of trials.
    pub n_trials: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean firing rate of the excitatory units (Hz), averaged over trials.
    pub exc_rate_hz: f64,
    /// Mean firing rate of the inhibitory units (Hz; NaN without any).
    pub inh_rate_hz: f64,
}

impl GroupStats {
    fn of(o: &[Outcome]) -> Self {
        let k = o.len() as f64;
        GroupStats {
            n_trials: o.len(),
            accuracy: accuracy(o),
            exc_rate_hz: o.iter().map(|x| x.exc_hz).sum::<f64>() / k,
            inh_rate_hz: o.iter().map(|x| x.inh_hz).sum::<f64>() / k,
        }
    }
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// Scaling factor evaluated.
    pub lambda: f64,
    /// All trials together.
    pub overall: GroupStats,
    /// 95% Wilson score interval of the overall accuracy.
    pub ci95: (f64, f64),
    /// Per trial type (task's type names); types never drawn are absent.
    pub per_type: BTreeMap<String, GroupStats>,
}

/// Wilson score interval for `k` successes in `n` trials at normal quantile
/// `z` (1.96 for 95%).
pub fn wilson_interval(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Evaluate the spiking network at `lambda` on fresh random trials: accuracy
/// overall (with a 95% Wilson interval) and per trial type, mean E and I
/// firing rates (Hz). Progress and cancellation through `obs` as in
/// [`grid_search`] (a [`Stage::Evaluation`] stage).
pub fn evaluate(
    model: &RateModel,
    task: &dyn Task,
    lambda: f64,
    opts: &EvalOptions,
    obs: &dyn Observer,
) -> Result<EvalResult> {
    check_common(model, task, opts.n_trials, opts.downsample)?;
    obs.event(&Event::Begin {
        stage: Stage::Evaluation,
        total: opts.n_trials as u64,
    });
    let runner = Runner {
        model,
        task,
        conversion: &opts.conversion,
        downsample: opts.downsample,
        window_start: opts.window_start_override,
        seed: opts.seed,
        tag: Some(EVAL_TAG),
        obs,
    };
    let o = runner.run(lambda, 0..opts.n_trials)?;
    obs.event(&Event::End);
    let names = task.trial_types();
    let mut per_type = BTreeMap::new();
    for (kind, name) in names.iter().enumerate() {
        let g: Vec<Outcome> = o.iter().filter(|x| x.kind == kind).cloned().collect();
        if !g.is_empty() {
            per_type.insert(name.clone(), GroupStats::of(&g));
        }
    }
    let k = o.iter().filter(|x| x.correct).count();
    Ok(EvalResult {
        lambda,
        overall: GroupStats::of(&o),
        ci95: wilson_interval(k, o.len(), 1.959_963_984_540_054),
        per_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::NetConfig;
    use crate::task::GoNoGo;
    use std::sync::atomic::AtomicBool;

    fn small_model() -> RateModel {
        let cfg = NetConfig {
            n: 24,
            ..NetConfig::default()
        };
        RateModel::init(&cfg, 1, &mut rng::from_seed(4)).unwrap()
    }

    fn small_opts() -> SearchOptions {
        SearchOptions {
            lambdas: vec![10.0, 30.0],
            n_trials: 6,
            seed: 3,
            downsample: 4,
            refine_radius: 1.0,
            finalists: 2,
            finalist_factor: 1,
            ..SearchOptions::default()
        }
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let model = small_model();
        let task = GoNoGo::default();
        let opts = small_opts();
        let cancel = AtomicBool::new(false);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| grid_search(&model, &task, &opts, &cancel).unwrap())
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a, b);
        assert_eq!(a.lambdas, vec![10.0, 30.0]);
        assert_eq!(a.refined_lambdas.len(), 3);
        assert!(a.refined_lambdas.contains(&a.best_lambda));
        let pooled: Vec<usize> = a
            .refined_trials
            .iter()
            .cloned()
            .filter(|&t| t == 12)
            .collect();
        assert_eq!(pooled.len(), 2, "{:?}", a.refined_trials);
        // The coarse optimum is re-used, not re-simulated: same accuracy.
        let ib = a
            .lambdas
            .iter()
            .position(|&l| l == a.refined_lambdas[1])
            .unwrap();
        if a.refined_trials[1] == 6 {
            assert_eq!(a.refined_accuracies[1], a.accuracies[ib]);
        }
        let e = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    evaluate(
                        &model,
                        &task,
                        30.0,
                        &EvalOptions {
                            n_trials: 8,
                            downsample: 4,
                            ..EvalOptions::default()
                        },
                        &cancel,
                    )
                    .unwrap()
                })
        };
        assert_eq!(e(1), e(2));
    }

    #[test]
    fn without_refinement_best_is_first_grid_maximum() {
        let model = small_model();
        let task = GoNoGo::default();
        let opts = SearchOptions {
            refine: false,
            lambdas: vec![5.0, 30.0, 30.0],
            ..small_opts()
        };
        let r = grid_search(&model, &task, &opts, &AtomicBool::new(false)).unwrap();
        assert!(r.refined_lambdas.is_empty());
        assert_eq!(r.accuracies[1], r.accuracies[2]);
        let max = r
            .accuracies
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let first = r.accuracies.iter().position(|&a| a == max).unwrap();
        assert_eq!(r.best_lambda, r.lambdas[first]);
        assert_eq!(r.best_accuracy, max);
        let rec = r.to_record();
        assert_eq!(rec.opt_scaling_factor, r.best_lambda);
        assert_eq!(rec.scaling_factors, vec![5.0, 30.0, 30.0]);
    }

    #[test]
    fn points_pool_finalists_and_keep_every_lambda_once() {
        let r = SearchResult {
            lambdas: vec![20.0, 25.0, 30.0],
            accuracies: vec![0.5, 0.9, 0.8],
            refined_lambdas: vec![24.0, 25.0, 26.0],
            refined_accuracies: vec![0.7, 0.95, 0.85],
            refined_trials: vec![100, 300, 100],
            best_lambda: 25.0,
            best_accuracy: 0.95,
            n_trials: 100,
            warnings: vec![],
        };
        let p = r.points();
        let l: Vec<f64> = p.iter().map(|q| q.lambda).collect();
        assert_eq!(l, vec![20.0, 24.0, 25.0, 26.0, 30.0]);
        assert_eq!((p[2].accuracy, p[2].trials), (0.95, 300));
        assert_eq!(p[2].stage, SearchStage::Finalist);
        assert!(p[2].on_grid && !p[1].on_grid);
        assert_eq!(p[1].stage, SearchStage::Refined);
        // 285 of 300: the Wilson interval contains the estimate.
        assert!(p[2].ci95.0 < 0.95 && 0.95 < p[2].ci95.1);
    }

    #[test]
    fn cancellation_interrupts() {
        let model = small_model();
        let r = grid_search(
            &model,
            &GoNoGo::default(),
            &small_opts(),
            &AtomicBool::new(true),
        );
        assert!(matches!(r, Err(Error::Interrupted)));
    }

    #[test]
    fn bad_options_name_the_parameter() {
        let model = small_model();
        let task = GoNoGo::default();
        let c = AtomicBool::new(false);
        let bad = |o: SearchOptions| grid_search(&model, &task, &o, &c).unwrap_err().to_string();
        assert!(bad(SearchOptions {
            lambdas: vec![20.0, -1.0],
            ..small_opts()
        })
        .contains("lambdas"));
        assert!(bad(SearchOptions {
            n_trials: 0,
            ..small_opts()
        })
        .contains("n_trials"));
        assert!(bad(SearchOptions {
            downsample: 3,
            ..small_opts()
        })
        .contains("downsample"));
        let xor = crate::task::Xor::default();
        let e = grid_search(&model, &xor, &small_opts(), &c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("task"), "{e}");
    }

    #[test]
    fn record_merges_coarse_and_refined_points() {
        let r = SearchResult {
            lambdas: vec![20.0, 25.0, 30.0],
            accuracies: vec![0.5, 0.9, 0.7],
            refined_lambdas: vec![24.0, 25.0, 26.0],
            refined_accuracies: vec![0.8, 0.93, 0.85],
            refined_trials: vec![100, 300, 100],
            best_lambda: 25.0,
            best_accuracy: 0.93,
            n_trials: 100,
            warnings: vec![],
        };
        let rec = r.to_record();
        assert_eq!(rec.scaling_factors, vec![20.0, 24.0, 25.0, 26.0, 30.0]);
        assert_eq!(rec.all_perfs, vec![0.5, 0.8, 0.93, 0.85, 0.7]);
        assert_eq!(rec.opt_scaling_factor, 25.0);
    }

    #[test]
    fn wilson_interval_known_values() {
        let (lo, hi) = wilson_interval(8, 10, 1.96);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 20, 1.96);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-3, "{hi}");
        let (lo, hi) = wilson_interval(20, 20, 1.96);
        assert!((lo - 0.8389).abs() < 1e-3 && hi == 1.0);
    }

    #[test]
    fn evaluation_splits_by_trial_type() {
        let model = small_model();
        let e = evaluate(
            &model,
            &GoNoGo::default(),
            25.0,
            &EvalOptions {
                n_trials: 10,
                downsample: 4,
                ..EvalOptions::default()
            },
            &AtomicBool::new(false),
        )
        .unwrap();
        let total: usize = e.per_type.values().map(|g| g.n_trials).sum();
        assert_eq!(total, 10);
        assert!(e.per_type.keys().all(|k| k == "go" || k == "nogo"));
        assert!(e.ci95.0 <= e.overall.accuracy && e.overall.accuracy <= e.ci95.1);
        assert!(e.overall.exc_rate_hz.is_finite() && e.overall.exc_rate_hz >= 0.0);
        let pooled: f64 = e
            .per_type
            .values()
            .map(|g| g.accuracy * g.n_trials as f64)
            .sum::<f64>()
            / 10.0;
        assert!((pooled - e.overall.accuracy).abs() < 1e-12);
    }
}

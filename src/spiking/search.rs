//! Lambda grid search and spiking evaluation (docs/model.md#spiking-conversion).
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
//! Scoring (docs/model.md#scoring-protocols): the search scores with the
//! task it is given, from `window_start_override` (spiking steps) or, when
//! that is `None`, from the task's own response window × 100/d (Go-NoGo
//! 7 500, XOR 20 000, Mante 30 000 at d = 1). The run configuration's
//! presets fill both in ([`crate::config::ScoringPreset`]): `paper` (the
//! default; MATLAB's `lambda_grid_search.m`: Go-NoGo from 10 000 with NoGo
//! `max(out) < 0.3`, XOR 20 000, Mante 26 000) and `strict` (the task's
//! window and rule, NoGo `max |out| < 0.3`). The whole MATLAB protocol on
//! the command line: `--scoring paper --no-refine`.
//!
//! Reproducibility: trial `t` at scaling factor λ draws its stimulus and its
//! simulation from `rng::stream(seed, &[λ.to_bits(), t])`, so results do not
//! depend on the number of threads, and re-testing a point with more trials
//! reuses its first trials. Trials are simulated in batches of four
//! ([`crate::spiking::batch`]), bit-identical per trial to one-by-one
//! simulation, so results do not depend on the batching either. [`evaluate`] uses streams tagged with
//! [`crate::rng::tag::EVAL`], distinct from the search's.
//!
//! The search runs as three named stages over typed [`LambdaPoint`]s:
//! [`coarse grid`](SearchStage::Coarse) → [`refinement`](SearchStage::Refined)
//! → [`finalists`](SearchStage::Finalist); [`SearchResult::selection`] says
//! in one sentence which rule chose the λ.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::observe::{Event, Observer, Stage};
use crate::rate::{RateModel, RefitRecord, SearchRecord};
use crate::spiking::eval::{wilson_interval, Z95};
use crate::spiking::network::{ConversionOptions, LifNetwork};
use crate::spiking::readout::{refit_readout, RefitOptions};
use crate::spiking::trials::{accuracy, check_common, Outcome, Runner};
use crate::task::Task;

// Former home of the evaluation; kept so that `spiking::search::evaluate`
// and friends still resolve.
pub use crate::spiking::eval::{evaluate, EvalOptions, EvalResult, GroupStats};

/// First stream part of [`evaluate`]'s trials: [`crate::rng::tag::EVAL`].
pub const EVAL_TAG: u64 = crate::rng::tag::EVAL;

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
    /// How the refinement picks λ (default [`LambdaRule::Peak`]).
    pub lambda_rule: LambdaRule,
    /// Refit the spiking readout at the chosen λ (default `None`: off);
    /// the result is [`SearchResult::refit`].
    pub refit: Option<RefitOptions>,
}

/// How the refinement picks λ among its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum LambdaRule {
    /// The best finalist on pooled trials.
    #[default]
    Peak,
    /// [`margin_lambda`] over the window with radius `refine_step`: the λ
    /// whose trials pooled with those of its neighbours have the highest
    /// lower 95 % Wilson bound (docs/conversion.md, option d).
    Margin,
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
            lambda_rule: LambdaRule::Peak,
            refit: None,
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

impl SearchStage {
    /// In words, for tables: "coarse grid", "refinement", "finalist".
    pub fn describe(self) -> &'static str {
        match self {
            SearchStage::Coarse => "coarse grid",
            SearchStage::Refined => "refinement",
            SearchStage::Finalist => "finalist",
        }
    }
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

impl LambdaPoint {
    /// The point of `lambda` scored on `outcomes` (accuracy = correct/trials).
    fn scored(lambda: f64, outcomes: &[Outcome], stage: SearchStage, on_grid: bool) -> Self {
        let k = outcomes.iter().filter(|o| o.correct).count();
        LambdaPoint {
            lambda,
            accuracy: accuracy(outcomes),
            trials: outcomes.len(),
            ci95: wilson_interval(k, outcomes.len(), Z95),
            stage,
            on_grid,
        }
    }
}

/// How the search chose its λ (the rule behind [`SearchResult::selection`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// No refinement asked for: the first maximum of the coarse grid.
    FirstMaximum,
    /// Refinement skipped: the coarse best fell below this accuracy.
    BelowRefineThreshold(f64),
    /// The best of `count` finalists, each on `trials` (pooled) trials.
    Finalists { count: usize, trials: usize },
    /// [`LambdaRule::Margin`]: the highest lower Wilson bound `lower` of
    /// `trials` pooled trials within ±`radius`; the peak rule chose `peak`.
    Margin {
        lower: f64,
        trials: usize,
        radius: f64,
        peak: f64,
    },
}

/// Accuracy more than this far below a target makes
/// [`SearchResult::shortfall`] warn.
pub const SHORTFALL_MARGIN: f64 = 0.1;

/// The result of [`grid_search`]: the scored points of each stage, the chosen
/// λ and why. Serialises (serde) to the `search --json` object: `lambdas`,
/// `accuracies` (coarse grid), `refined_lambdas`, `refined_accuracies`,
/// `best_lambda`, `best_accuracy`, `trials_per_lambda`, `points`
/// ([`SearchResult::points`]), `best_trials` and `selection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "SearchReport")]
pub struct SearchResult {
    /// The coarse grid in the order given, `n_trials` trials each.
    coarse: Vec<LambdaPoint>,
    /// The refinement window (around and including the best coarse λ), in
    /// λ order, each pooled over all its trials; empty without refinement.
    refined: Vec<LambdaPoint>,
    /// The rule that chose `best_lambda`.
    rule: Rule,
    /// Trials behind `best_accuracy`.
    best_trials: usize,
    /// Chosen λ: the best finalist on pooled trials with refinement, the
    /// first maximum of the coarse grid without.
    pub best_lambda: f64,
    /// Accuracy at `best_lambda` (pooled for a finalist).
    pub best_accuracy: f64,
    /// Trials per coarse λ.
    pub n_trials: usize,
    /// Conversion warnings (e.g. negative weights clipped).
    pub warnings: Vec<String>,
    /// The readout refitted at `best_lambda`, if [`SearchOptions::refit`].
    pub refit: Option<RefitRecord>,
}

impl SearchResult {
    /// A result from parallel lists — the coarse grid (λ, accuracy), the
    /// refinement window (λ, accuracy, trials) and the chosen (λ, accuracy)
    /// — with `n` trials per coarse λ; points with more than `n` trials are
    /// finalists. For results kept elsewhere (and tests).
    pub fn from_lists(
        coarse: (&[f64], &[f64]),
        refined: (&[f64], &[f64], &[usize]),
        best: (f64, f64),
        n: usize,
    ) -> Self {
        let point = |l: f64, a: f64, t: usize, on_grid: bool| {
            let k = (a * t as f64).round() as usize;
            let stage = if t > n {
                SearchStage::Finalist
            } else if on_grid {
                SearchStage::Coarse
            } else {
                SearchStage::Refined
            };
            LambdaPoint {
                lambda: l,
                accuracy: a,
                trials: t,
                ci95: wilson_interval(k, t, Z95),
                stage,
                on_grid,
            }
        };
        let zipped = coarse.0.iter().zip(coarse.1);
        let refined_pts = refined.0.iter().zip(refined.1).zip(refined.2);
        let refined: Vec<LambdaPoint> = refined_pts
            .map(|((&l, &a), &t)| point(l, a, t, coarse.0.contains(&l)))
            .collect();
        SearchResult {
            coarse: zipped.map(|(&l, &a)| point(l, a, n, true)).collect(),
            rule: Rule::Finalists {
                count: refined.iter().filter(|p| p.trials > n).count(),
                trials: refined.iter().map(|p| p.trials).max().unwrap_or(n),
            },
            best_trials: refined
                .iter()
                .find(|p| p.lambda == best.0)
                .map_or(n, |p| p.trials),
            refined,
            best_lambda: best.0,
            best_accuracy: best.1,
            n_trials: n,
            warnings: vec![],
            refit: None,
        }
    }

    /// The coarse grid's points, in the grid's order (`n_trials` each).
    pub fn coarse(&self) -> &[LambdaPoint] {
        &self.coarse
    }

    /// The refinement window's points in λ order, pooled (empty without
    /// refinement).
    pub fn refined(&self) -> &[LambdaPoint] {
        &self.refined
    }

    /// The coarse grid of scaling factors.
    pub fn lambdas(&self) -> Vec<f64> {
        self.coarse.iter().map(|p| p.lambda).collect()
    }

    /// Accuracy at each coarse λ (`n_trials` trials each).
    pub fn accuracies(&self) -> Vec<f64> {
        self.coarse.iter().map(|p| p.accuracy).collect()
    }

    /// The refinement points' λ.
    pub fn refined_lambdas(&self) -> Vec<f64> {
        self.refined.iter().map(|p| p.lambda).collect()
    }

    /// Accuracy at each refinement point, pooled over all its trials.
    pub fn refined_accuracies(&self) -> Vec<f64> {
        self.refined.iter().map(|p| p.accuracy).collect()
    }

    /// Trials behind each refined accuracy (`n_trials`, or
    /// `(1 + finalist_factor)·n_trials` for finalists).
    pub fn refined_trials(&self) -> Vec<usize> {
        self.refined.iter().map(|p| p.trials).collect()
    }

    /// Every scored λ once, sorted by λ, with all its trials pooled (a
    /// finalist's coarse and re-test trials together): the one table and
    /// curve of a search.
    pub fn points(&self) -> Vec<LambdaPoint> {
        let mut pts: Vec<LambdaPoint> = Vec::new();
        for p in self.coarse.iter().chain(&self.refined) {
            match pts.iter_mut().find(|q| q.lambda == p.lambda) {
                Some(q) => *q = *p,
                None => pts.push(*p),
            }
        }
        pts.sort_by(|a, b| a.lambda.total_cmp(&b.lambda));
        pts
    }

    /// Trials behind `best_accuracy`.
    pub fn best_trials(&self) -> usize {
        self.best_trials
    }

    /// Lower end of the 95 % Wilson interval of `best_accuracy`: the
    /// accuracy the chosen λ reaches with 95 % confidence (one-sided 97.5 %).
    pub fn best_lower_bound(&self) -> f64 {
        let n = self.best_trials();
        let k = (self.best_accuracy * n as f64).round() as usize;
        wilson_interval(k, n, 1.96).0
    }

    /// Why `best_lambda` was chosen, in one sentence, e.g. "λ 41: best of
    /// the 3 finalists on 300 pooled trials each (the coarse grid's best was
    /// λ 40 at 0.990 on 100 trials)".
    pub fn selection(&self) -> String {
        let best = self.best_lambda;
        match self.rule {
            Rule::FirstMaximum => {
                format!("λ {best}: first maximum of the coarse grid (MATLAB's rule, no refinement)")
            }
            Rule::BelowRefineThreshold(min) => format!(
                "λ {best}: first maximum of the coarse grid (not refined: its accuracy \
                 {:.3} is below the refinement threshold {min:.3})",
                self.best_accuracy
            ),
            Rule::Finalists { count, trials } => {
                let c = &self.coarse[first_maximum(&self.coarse)];
                let pooled = if trials > self.n_trials {
                    " pooled"
                } else {
                    ""
                };
                format!(
                    "λ {best}: best of the {count} finalists on {trials}{pooled} trials each \
                     (the coarse grid's best was λ {} at {:.3} on {} trials)",
                    c.lambda, c.accuracy, c.trials
                )
            }
            Rule::Margin {
                lower,
                trials,
                radius,
                peak,
            } => format!(
                "λ {best}: margin rule, highest lower 95 % Wilson bound ({lower:.3}) of the \
                 {trials} trials pooled within ±{radius} (the peak rule's λ was {peak})"
            ),
        }
    }

    /// A warning when the best accuracy lies more than [`SHORTFALL_MARGIN`]
    /// below `target` (e.g. an untrained model scores 0.000 and its "optimal"
    /// λ means nothing); `None` otherwise.
    ///
    /// ```
    /// # use spikernn::spiking::SearchResult;
    /// # fn check(r: &SearchResult) {
    /// if let Some(w) = r.shortfall(0.95) {
    ///     assert!(w.contains("below the target"));
    /// }
    /// # }
    /// ```
    pub fn shortfall(&self, target: f64) -> Option<String> {
        (self.best_accuracy < target - SHORTFALL_MARGIN).then(|| {
            format!(
                "the best spiking accuracy {:.3} (λ {}) is far below the target {target:.3}: \
                 no λ of the search makes the spiking network work (is the rate model trained?)",
                self.best_accuracy, self.best_lambda
            )
        })
    }

    /// The record stored with the model: `opt_scaling_factor` = best λ;
    /// `scaling_factors`/`all_perfs` = the coarse grid followed by the refined
    /// points not on it, sorted by λ; where a λ is both, the value with more
    /// trials (the refined one) is kept.
    pub fn to_record(&self) -> SearchRecord {
        let mut pts: Vec<(f64, f64)> = self.coarse.iter().map(|p| (p.lambda, p.accuracy)).collect();
        for p in &self.refined {
            match pts.iter_mut().find(|(x, _)| *x == p.lambda) {
                Some(q) => q.1 = p.accuracy,
                None => pts.push((p.lambda, p.accuracy)),
            }
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        SearchRecord {
            opt_scaling_factor: self.best_lambda,
            scaling_factors: pts.iter().map(|p| p.0).collect(),
            all_perfs: pts.iter().map(|p| p.1).collect(),
            refit: self.refit.clone(),
        }
    }
}

/// The JSON form of [`SearchResult`] (the `search --json` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct SearchReport {
    lambdas: Vec<f64>,
    accuracies: Vec<f64>,
    refined_lambdas: Vec<f64>,
    refined_accuracies: Vec<f64>,
    best_lambda: f64,
    best_accuracy: f64,
    trials_per_lambda: usize,
    points: Vec<LambdaPoint>,
    best_trials: usize,
    selection: String,
    #[serde(flatten)]
    refit: Option<RefitRecord>,
}

impl From<SearchResult> for SearchReport {
    fn from(r: SearchResult) -> Self {
        SearchReport {
            lambdas: r.lambdas(),
            accuracies: r.accuracies(),
            refined_lambdas: r.refined_lambdas(),
            refined_accuracies: r.refined_accuracies(),
            best_lambda: r.best_lambda,
            best_accuracy: r.best_accuracy,
            trials_per_lambda: r.n_trials,
            points: r.points(),
            best_trials: r.best_trials,
            selection: r.selection(),
            refit: r.refit,
        }
    }
}

/// Index of the first maximum accuracy (MATLAB's `max`).
fn first_maximum(points: &[LambdaPoint]) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, p) in points.iter().enumerate() {
        if p.accuracy > best.1 {
            best = (i, p.accuracy);
        }
    }
    best.0
}

/// A λ with its outcomes, while the search still adds trials to it.
struct Candidate {
    lambda: f64,
    outcomes: Vec<Outcome>,
    on_grid: bool,
}

impl Candidate {
    fn point(&self, n_trials: usize) -> LambdaPoint {
        let stage = if self.outcomes.len() > n_trials {
            SearchStage::Finalist
        } else if self.on_grid {
            SearchStage::Coarse
        } else {
            SearchStage::Refined
        };
        LambdaPoint::scored(self.lambda, &self.outcomes, stage, self.on_grid)
    }
}

/// The search in progress: the runner, the options, every λ's outcomes so
/// far (keyed by the bits of λ, so a λ is never simulated twice).
struct Search<'a> {
    runner: Runner<'a>,
    opts: &'a SearchOptions,
    obs: &'a dyn Observer,
    done: HashMap<u64, Vec<Outcome>>,
}

impl Search<'_> {
    /// `n_trials` outcomes at `lambda`, simulated unless known; reports an
    /// [`Event::Lambda`] for new ones (or for every one with `always_report`).
    fn first_trials(&mut self, lambda: f64, always_report: bool) -> Result<Vec<Outcome>> {
        let n = self.opts.n_trials;
        let known = self.done.get(&lambda.to_bits()).cloned();
        let is_new = known.is_none();
        let o = match known {
            Some(o) => o,
            None => self.runner.run(lambda, 0..n)?,
        };
        if is_new || always_report {
            self.obs.event(&Event::Lambda {
                lambda,
                accuracy: accuracy(&o),
                trials: n,
            });
        }
        self.done.insert(lambda.to_bits(), o.clone());
        Ok(o)
    }

    /// Stage 1: every λ of the grid on `n_trials` trials.
    fn coarse_grid(&mut self) -> Result<Vec<LambdaPoint>> {
        self.obs.event(&Event::Phase("coarse grid".into()));
        let grid = self.opts.lambdas.clone();
        grid.iter()
            .map(|&l| {
                let o = self.first_trials(l, true)?;
                Ok(LambdaPoint::scored(l, &o, SearchStage::Coarse, true))
            })
            .collect()
    }

    /// Stage 2: the window `centre ± half·refine_step` (λ > 0) on
    /// `n_trials` trials each, re-using the coarse grid's trials.
    fn refinement(&mut self, centre: f64, half: usize) -> Result<Vec<Candidate>> {
        self.obs.event(&Event::Phase("refining".into()));
        let h = half as i64;
        let window: Vec<f64> = (-h..=h)
            .map(|k| centre + k as f64 * self.opts.refine_step)
            .filter(|&l| l > 0.0)
            .collect();
        window
            .into_iter()
            .map(|lambda| {
                Ok(Candidate {
                    lambda,
                    outcomes: self.first_trials(lambda, false)?,
                    on_grid: self.opts.lambdas.contains(&lambda),
                })
            })
            .collect()
    }

    /// Stage 3: the `finalists` best of the window on `n_trials` trials
    /// (ties: nearer `centre`, then smaller λ) get `finalist_factor ×
    /// n_trials` more; the best on pooled trials wins (ties: the higher
    /// ranked). Returns the winner's index and the number of finalists.
    fn finalists(&mut self, window: &mut [Candidate], centre: f64) -> Result<(usize, usize)> {
        let mut order: Vec<usize> = (0..window.len()).collect();
        let acc = |c: &Candidate| accuracy(&c.outcomes);
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&window[a], &window[b]);
            acc(cb)
                .total_cmp(&acc(ca))
                .then(
                    (ca.lambda - centre)
                        .abs()
                        .total_cmp(&(cb.lambda - centre).abs()),
                )
                .then(ca.lambda.total_cmp(&cb.lambda))
        });
        order.truncate(self.opts.finalists.max(1));
        let n = self.opts.n_trials;
        let m = self.opts.finalist_factor * n;
        if m > 0 {
            self.obs.event(&Event::Phase("finalists".into()));
            for &f in &order {
                let c = &mut window[f];
                c.outcomes.extend(self.runner.run(c.lambda, n..n + m)?);
                self.obs.event(&Event::Lambda {
                    lambda: c.lambda,
                    accuracy: acc(c),
                    trials: c.outcomes.len(),
                });
            }
        }
        let mut best = order[0];
        for &f in &order[1..] {
            if acc(&window[best]) < acc(&window[f]) {
                best = f;
            }
        }
        Ok((best, order.len()))
    }
}

/// λ choice with a margin (docs/conversion.md, option d): among
/// `candidates`, the λ whose trials pooled with those of every tested λ
/// within `radius` of it (itself included) have the highest lower 95 %
/// Wilson bound. `points` are (λ, correct trials, trials) of everything
/// tested. Ties go to the first candidate. Prefers the middle of a plateau
/// to an isolated peak. Returns (λ, lower bound, pooled trials).
pub fn margin_lambda(
    points: &[(f64, usize, usize)],
    candidates: &[f64],
    radius: f64,
) -> Option<(f64, f64, usize)> {
    let mut best: Option<(f64, f64, usize)> = None;
    for &c in candidates {
        let (k, n) = points
            .iter()
            .filter(|p| (p.0 - c).abs() <= radius + 1e-9)
            .fold((0, 0), |(k, n), p| (k + p.1, n + p.2));
        if n == 0 {
            continue;
        }
        let lo = wilson_interval(k, n, Z95).0;
        if best.is_none_or(|b| lo > b.1) {
            best = Some((c, lo, n));
        }
    }
    best
}

/// Apply [`LambdaRule::Margin`] to the refinement window.
fn apply_margin(result: &mut SearchResult, window: &[Candidate], radius: f64) {
    let pts: Vec<(f64, usize, usize)> = window
        .iter()
        .map(|c| {
            let k = c.outcomes.iter().filter(|o| o.correct).count();
            (c.lambda, k, c.outcomes.len())
        })
        .collect();
    let lambdas: Vec<f64> = pts.iter().map(|p| p.0).collect();
    if let Some((l, lower, trials)) = margin_lambda(&pts, &lambdas, radius) {
        let peak = result.best_lambda;
        let p = result.refined.iter().find(|p| p.lambda == l).copied();
        if let Some(p) = p {
            (result.best_lambda, result.best_accuracy, result.best_trials) =
                (p.lambda, p.accuracy, p.trials);
        }
        result.rule = Rule::Margin {
            lower,
            trials,
            radius,
            peak,
        };
    }
}

/// Check the λ grid and the refinement options.
fn check_grid(opts: &SearchOptions) -> Result<()> {
    if opts.lambdas.is_empty() {
        return Err(Error::param("lambdas", "the grid is empty"));
    }
    if let Some(l) = opts.lambdas.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        return Err(Error::param(
            "lambdas",
            format!("scaling factors must be positive, got {l}"),
        ));
    }
    let step_ok = opts.refine_step.is_finite() && opts.refine_step > 0.0;
    let radius_ok = opts.refine_radius.is_finite() && opts.refine_radius >= 0.0;
    if opts.refine && !(step_ok && radius_ok) {
        return Err(Error::param(
            "refine",
            format!(
                "step must be positive and radius ≥ 0, got step {} radius {}",
                opts.refine_step, opts.refine_radius
            ),
        ));
    }
    Ok(())
}

/// Refinement half-width in steps (0 without refinement) and the total
/// number of trials the search will run at most (for progress).
fn planned(opts: &SearchOptions) -> (usize, u64) {
    let n = opts.n_trials;
    if !opts.refine {
        return (0, (opts.lambdas.len() * n) as u64);
    }
    let half = (opts.refine_radius / opts.refine_step + 1e-9).floor() as usize;
    let extra = (2 * half).min(opts.finalists) * opts.finalist_factor * n;
    (half, ((opts.lambdas.len() + 2 * half) * n + extra) as u64)
}

/// Grid search for the scaling factor λ (see the module docs): coarse grid
/// → refinement → finalists. Trials run in parallel on the current rayon
/// pool. Progress goes to `obs` (a [`Stage::Search`] over all trials, one
/// [`Event::Lambda`] per scored λ); `obs` is asked before every trial
/// whether to stop, and then the search returns [`Error::Interrupted`].
///
/// # Examples
///
/// A freshly initialised (untrained) 12-unit network, two λ, 2 trials each
/// at dt = 0.2 ms, no refinement:
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use spikernn::rate::{NetConfig, RateModel};
/// use spikernn::spiking::{grid_search, SearchOptions};
/// use spikernn::task::GoNoGo;
///
/// let cfg = NetConfig { n: 12, ..NetConfig::default() };
/// let model = RateModel::init(&cfg, 1, &mut spikernn::rng::from_seed(1)).unwrap();
/// let opts = SearchOptions {
///     lambdas: vec![20.0, 40.0],
///     n_trials: 2,
///     downsample: 4,
///     refine: false,
///     ..SearchOptions::default()
/// };
/// let r = grid_search(&model, &GoNoGo::default(), &opts, &AtomicBool::new(false)).unwrap();
/// assert_eq!(r.lambdas(), vec![20.0, 40.0]);
/// assert_eq!(r.points().len(), 2);
/// assert!(r.selection().contains("first maximum"));
/// assert_eq!(r.to_record().scaling_factors, vec![20.0, 40.0]);
/// ```
pub fn grid_search(
    model: &RateModel,
    task: &dyn Task,
    opts: &SearchOptions,
    obs: &dyn Observer,
) -> Result<SearchResult> {
    check_common(model, task, opts.n_trials, opts.downsample)?;
    check_grid(opts)?;
    let probe = LifNetwork::from_rate(model, opts.lambdas[0], &opts.conversion)?;
    let warnings: Vec<String> = probe.warning().into_iter().collect();
    let (half, total) = planned(opts);
    obs.event(&Event::Begin {
        stage: Stage::Search,
        total,
    });
    for w in &warnings {
        obs.event(&Event::Warning(w.clone()));
    }
    let runner = Runner::new(model, task, &opts.conversion, obs)
        .at(opts.downsample, opts.window_start_override)
        .seeded(opts.seed, None);
    let mut search = Search {
        runner,
        opts,
        obs,
        done: HashMap::new(),
    };
    let coarse = search.coarse_grid()?;
    let ib = first_maximum(&coarse);
    let mut result = SearchResult {
        best_lambda: coarse[ib].lambda,
        best_accuracy: coarse[ib].accuracy,
        best_trials: opts.n_trials,
        coarse,
        refined: Vec::new(),
        rule: Rule::FirstMaximum,
        n_trials: opts.n_trials,
        warnings,
        refit: None,
    };
    if !opts.refine || result.best_accuracy < opts.refine_min_accuracy {
        if opts.refine {
            result.rule = Rule::BelowRefineThreshold(opts.refine_min_accuracy);
        }
        obs.event(&Event::End);
        return refit(result, model, task, opts, obs);
    }
    let centre = result.best_lambda;
    let mut window = search.refinement(centre, half)?;
    let (best, count) = search.finalists(&mut window, centre)?;
    result.refined = window.iter().map(|c| c.point(opts.n_trials)).collect();
    let b = result.refined[best];
    (result.best_lambda, result.best_accuracy, result.best_trials) =
        (b.lambda, b.accuracy, b.trials);
    result.rule = Rule::Finalists {
        count,
        trials: b.trials,
    };
    if opts.lambda_rule == LambdaRule::Margin {
        apply_margin(&mut result, &window, opts.refine_step);
    }
    obs.event(&Event::End);
    refit(result, model, task, opts, obs)
}

/// Refit the readout at the chosen λ if [`SearchOptions::refit`] asks.
fn refit(
    mut result: SearchResult,
    model: &RateModel,
    task: &dyn Task,
    opts: &SearchOptions,
    obs: &dyn Observer,
) -> Result<SearchResult> {
    if let Some(r) = &opts.refit {
        let at = (opts.seed, opts.downsample);
        let lambda = result.best_lambda;
        result.refit = Some(refit_readout(
            model,
            task,
            lambda,
            &opts.conversion,
            at,
            r,
            obs,
        )?);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiking::testutil::small_model;
    use crate::task::GoNoGo;
    use std::sync::atomic::AtomicBool;

    /// Grid 20, 25, 30; window 24–26 with 25 the only re-tested finalist.
    fn example() -> SearchResult {
        SearchResult::from_lists(
            (&[20.0, 25.0, 30.0], &[0.5, 0.9, 0.8]),
            (&[24.0, 25.0, 26.0], &[0.7, 0.95, 0.85], &[100, 300, 100]),
            (25.0, 0.95),
            100,
        )
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
        assert_eq!(a.lambdas(), vec![10.0, 30.0]);
        assert_eq!(a.refined_lambdas().len(), 3);
        assert!(a.refined_lambdas().contains(&a.best_lambda));
        let pooled: Vec<usize> = a
            .refined_trials()
            .iter()
            .cloned()
            .filter(|&t| t == 12)
            .collect();
        assert_eq!(pooled.len(), 2, "{:?}", a.refined_trials());
        // The coarse optimum is re-used, not re-simulated: same accuracy.
        let ib = a
            .lambdas()
            .iter()
            .position(|&l| l == a.refined_lambdas()[1])
            .unwrap();
        if a.refined_trials()[1] == 6 {
            assert_eq!(a.refined_accuracies()[1], a.accuracies()[ib]);
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
        assert!(r.refined_lambdas().is_empty());
        assert_eq!(r.accuracies()[1], r.accuracies()[2]);
        let max = r
            .accuracies()
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let first = r.accuracies().iter().position(|&a| a == max).unwrap();
        assert_eq!(r.best_lambda, r.lambdas()[first]);
        assert_eq!(r.best_accuracy, max);
        let rec = r.to_record();
        assert_eq!(rec.opt_scaling_factor, r.best_lambda);
        assert_eq!(rec.scaling_factors, vec![5.0, 30.0, 30.0]);
    }

    #[test]
    fn points_pool_finalists_and_keep_every_lambda_once() {
        let r = example();
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
        let r = SearchResult::from_lists(
            (&[20.0, 25.0, 30.0], &[0.5, 0.9, 0.7]),
            (&[24.0, 25.0, 26.0], &[0.8, 0.93, 0.85], &[100, 300, 100]),
            (25.0, 0.93),
            100,
        );
        let rec = r.to_record();
        assert_eq!(rec.scaling_factors, vec![20.0, 24.0, 25.0, 26.0, 30.0]);
        assert_eq!(rec.all_perfs, vec![0.5, 0.8, 0.93, 0.85, 0.7]);
        assert_eq!(rec.opt_scaling_factor, 25.0);
    }

    #[test]
    fn selection_names_the_rule_and_the_coarse_best() {
        let mut r = SearchResult::from_lists(
            (&[20.0, 25.0, 30.0], &[0.5, 0.9, 0.8]),
            (&[24.0, 25.0, 26.0], &[0.7, 0.95, 0.85], &[100, 300, 100]),
            (25.0, 0.95),
            100,
        );
        r.rule = Rule::Finalists {
            count: 3,
            trials: 300,
        };
        assert_eq!(
            r.selection(),
            "λ 25: best of the 3 finalists on 300 pooled trials each \
             (the coarse grid's best was λ 25 at 0.900 on 100 trials)"
        );
        r.rule = Rule::FirstMaximum;
        assert_eq!(
            r.selection(),
            "λ 25: first maximum of the coarse grid (MATLAB's rule, no refinement)"
        );
        r.rule = Rule::BelowRefineThreshold(0.6);
        assert!(r
            .selection()
            .contains("below the refinement threshold 0.600"));
    }

    #[test]
    fn shortfall_warns_only_more_than_a_tenth_below_target() {
        let mut r = SearchResult::from_lists((&[20.0], &[0.0]), (&[], &[], &[]), (20.0, 0.0), 100);
        // An untrained model: 0.000 at the "optimal" λ 20.
        let w = r.shortfall(0.95).expect("0.000 is far below 0.95");
        assert!(w.contains("0.000") && w.contains("λ 20"), "{w}");
        r.best_accuracy = 0.9;
        assert!(r.shortfall(0.95).is_none());
        assert!(r.shortfall(0.999).is_none(), "0.9 is 0.099 below");
        assert!(r.shortfall(1.01).is_some(), "0.9 is 0.11 below");
    }

    #[test]
    fn json_has_the_old_keys_and_the_new_ones() {
        let r = example();
        let j = serde_json::to_value(&r).unwrap();
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        let want = [
            "accuracies",
            "best_accuracy",
            "best_lambda",
            "best_trials",
            "lambdas",
            "points",
            "refined_accuracies",
            "refined_lambdas",
            "selection",
            "trials_per_lambda",
        ];
        assert_eq!(keys, want);
        assert_eq!(j["lambdas"], serde_json::json!([20.0, 25.0, 30.0]));
        assert_eq!(
            j["refined_accuracies"],
            serde_json::json!([0.7, 0.95, 0.85])
        );
        assert_eq!(j["best_trials"], 300);
        assert_eq!(j["trials_per_lambda"], 100);
        assert_eq!(j["points"].as_array().unwrap().len(), 5);
        assert_eq!(j["points"][2]["stage"], "finalist");
        assert_eq!(j["selection"], r.selection());
    }

    #[test]
    fn margin_rule_prefers_a_plateau_to_an_isolated_peak() {
        // λ 30 alone scores 100/100 but its neighbours 60/100; λ 33 scores
        // 95/100 with neighbours at 94/100 and 95/100. Pooled within ±1:
        // λ 30 → 220/300 (Wilson lower ≈ 0.68), λ 33 → 284/300 (≈ 0.915).
        let pts = [
            (29.0, 60, 100),
            (30.0, 100, 100),
            (31.0, 60, 100),
            (32.0, 94, 100),
            (33.0, 95, 100),
            (34.0, 95, 100),
        ];
        let cands: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let (l, lo, n) = margin_lambda(&pts, &cands, 1.0).unwrap();
        assert_eq!((l, n), (33.0, 300));
        assert!((lo - wilson_interval(284, 300, Z95).0).abs() < 1e-15);
        // Radius 0: plain lower bound per λ, the peak wins.
        assert_eq!(margin_lambda(&pts, &cands, 0.0).unwrap().0, 30.0);
        assert_eq!(margin_lambda(&[], &cands, 1.0), None);
    }

    #[test]
    fn margin_rule_and_refit_in_a_search() {
        let model = small_model();
        let opts = SearchOptions {
            lambda_rule: LambdaRule::Margin,
            refit: Some(RefitOptions {
                n_trials: 4,
                holdout: 0.25,
            }),
            ..small_opts()
        };
        let r = grid_search(&model, &GoNoGo::default(), &opts, &AtomicBool::new(false)).unwrap();
        assert!(r.selection().contains("margin rule"), "{}", r.selection());
        assert!(r.refined.iter().any(|p| p.lambda == r.best_lambda));
        let f = r.refit.as_ref().unwrap();
        assert_eq!(
            (f.lambda, f.trials, f.w_out_spk.len()),
            (r.best_lambda, 4, model.n())
        );
        assert_eq!(r.to_record().refit.as_ref(), Some(f));
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["refit_lambda"], r.best_lambda);
        // Off by default: no refit, no refit keys.
        let plain = grid_search(
            &model,
            &GoNoGo::default(),
            &small_opts(),
            &AtomicBool::new(false),
        );
        let j = serde_json::to_value(plain.unwrap()).unwrap();
        assert!(j.get("w_out_spk").is_none());
    }
}

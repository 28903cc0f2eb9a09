//! Cognitive tasks (docs/model.md#tasks). One definition serves rate training and
//! spiking evaluation: a task makes the stimulus `u` (n_in × T, in rate steps
//! of 5 ms), the target `z` (T−1 samples, paired with outputs o_1 … o_{T−1}),
//! and scores an output trace inside its response window.
//!
//! The response window is given in rate steps (`response_start`); the spiking
//! evaluation maps it to spiking steps by multiplying with the number of
//! spiking steps per rate step (100 at dt = 0.05 ms), so Go-NoGo scores from
//! spiking step 7 500, XOR from 20 000 and Mante from 30 000. (The original
//! MATLAB `lambda_grid_search.m` used 10 000 / 20 000 / 26 000; the spiking
//! search offers a window override to reproduce it.)
//!
//! Add a task outside the crate by implementing [`Task`], or without Rust
//! by a task file ([`file`](mod@file)).

use ndarray::Array2;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod dms;
pub mod file;
mod spec;

pub use dms::Dms;
pub use file::FileTask;
pub use spec::TaskSpec;

/// One random trial of a task.
#[derive(Debug, Clone)]
pub struct Trial {
    /// Trial type, an index into [`Task::trial_types`].
    pub kind: usize,
    /// Stimulus, n_in × T (rate steps).
    pub u: Array2<f64>,
    /// Target z_k for k = 0 … T−2 (paired with output o_{k+1}).
    pub target: Vec<f64>,
}

/// A cognitive task. Implementations must be deterministic given the RNG.
pub trait Task: Send + Sync {
    /// Short name, e.g. `"go-nogo"`.
    fn name(&self) -> &str;
    /// Number of input channels (rows of `u`).
    fn n_inputs(&self) -> usize;
    /// Trial length T in rate steps (5 ms each).
    fn n_steps(&self) -> usize;
    /// Names of the trial types, e.g. `["go", "nogo"]`.
    fn trial_types(&self) -> Vec<String>;
    /// Trial type `kind` for a figure title: its name plus, where the name
    /// is terse, what it means (default: the name).
    fn describe_type(&self, kind: usize) -> String {
        self.trial_types()[kind].clone()
    }
    /// Build a trial of type `kind`; `rng` supplies any stimulus noise.
    fn trial_of_kind(&self, kind: usize, rng: &mut dyn RngCore) -> Trial;
    /// First rate step of the response window; scoring looks at outputs
    /// o_k with k ≥ this (as an index into the T−1 outputs).
    fn response_start(&self) -> usize;
    /// Whether an output trace restricted to the response window is correct
    /// for a trial of type `kind`.
    fn is_correct(&self, kind: usize, window: &[f64]) -> bool;
    /// Output levels that decide a trial of type `kind` in the response
    /// window, for figures (Go-NoGo Go: 0.7; NoGo: ±0.3). Default: none.
    fn thresholds(&self, _kind: usize) -> Vec<f64> {
        Vec::new()
    }
    /// Minimum number of training trials before the stopping rule may fire.
    fn min_training_trials(&self) -> usize {
        0
    }
    /// How a model file and a run configuration record this task (and
    /// re-create it with [`TaskSpec::build`]). Default: the built-in of
    /// this name.
    fn spec(&self) -> TaskSpec {
        TaskSpec::Builtin {
            name: self.name().to_string(),
            delay_ms: None,
        }
    }
    /// A random trial; each type is equally likely.
    fn sample(&self, rng: &mut dyn RngCore) -> Trial {
        let n = self.trial_types().len();
        let kind = (rng.next_u64() % n as u64) as usize;
        self.trial_of_kind(kind, rng)
    }
    /// Score the full output trace `o` (any time resolution): `steps_per_rate_step`
    /// maps the rate-step window start to indices of `o` (1 for the rate network,
    /// 100 / down-sampling for the spiking network).
    fn score(&self, kind: usize, o: &[f64], steps_per_rate_step: usize) -> bool {
        let start = (self.response_start() * steps_per_rate_step).min(o.len());
        self.is_correct(kind, &o[start..])
    }
    /// Score a spiking output trace `o` (one value per spiking step of
    /// 0.05·d ms after down-sampling by d): from spiking step `window_start`
    /// (counted before down-sampling) when given, else from the task's
    /// response window.
    fn score_spiking(
        &self,
        kind: usize,
        o: &[f64],
        window_start: Option<usize>,
        downsample: usize,
    ) -> bool {
        let d = downsample.max(1);
        match window_start {
            Some(w) => self.is_correct(kind, &o[(w / d).min(o.len())..]),
            None => self.score(kind, o, crate::units::spiking_steps_per_rate_step(d)),
        }
    }
}

/// Go-NoGo: respond (output → 1) after a short pulse, stay silent without one.
#[derive(Debug, Clone)]
pub struct GoNoGo {
    /// Trial length in rate steps.
    pub t: usize,
    /// Stimulus onset (rate steps).
    pub stim_on: usize,
    /// Stimulus duration (rate steps).
    pub stim_dur: usize,
    /// Go is correct when max o > this.
    pub go_threshold: f64,
    /// NoGo is correct when max |o| < this (or max o, see `nogo_rule`).
    pub nogo_threshold: f64,
    /// How a NoGo trial is scored.
    pub nogo_rule: NoGoRule,
}

/// Scoring of a NoGo trial against `nogo_threshold` θ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum NoGoRule {
    /// max |o| < θ over the window (docs/model.md, "Tasks"; the TensorFlow training code).
    #[default]
    Abs,
    /// max o < θ (the original MATLAB `lambda_grid_search.m`): negative
    /// excursions are forgiven.
    Max,
}

impl NoGoRule {
    /// `"abs"` or `"max"`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NoGoRule::Abs => "abs",
            NoGoRule::Max => "max",
        }
    }
}

impl std::str::FromStr for NoGoRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        crate::config::parse_name("nogo-rule", s)
    }
}

impl Default for GoNoGo {
    fn default() -> Self {
        GoNoGo {
            t: 200,
            stim_on: 50,
            stim_dur: 25,
            go_threshold: 0.7,
            nogo_threshold: 0.3,
            nogo_rule: NoGoRule::Abs,
        }
    }
}

impl Task for GoNoGo {
    fn name(&self) -> &str {
        "go-nogo"
    }
    fn n_inputs(&self) -> usize {
        1
    }
    fn n_steps(&self) -> usize {
        self.t
    }
    fn trial_types(&self) -> Vec<String> {
        vec!["go".into(), "nogo".into()]
    }
    fn trial_of_kind(&self, kind: usize, _rng: &mut dyn RngCore) -> Trial {
        let mut u = Array2::zeros((1, self.t));
        let mut target = vec![0.0; self.t - 1];
        let resp = self.stim_on + self.stim_dur;
        if kind == 0 {
            for k in self.stim_on..resp.min(self.t) {
                u[[0, k]] = 1.0;
            }
            for z in target.iter_mut().skip(resp) {
                *z = 1.0;
            }
        }
        Trial { kind, u, target }
    }
    fn response_start(&self) -> usize {
        self.stim_on + self.stim_dur
    }
    fn is_correct(&self, kind: usize, w: &[f64]) -> bool {
        if kind == 0 {
            max(w) > self.go_threshold
        } else {
            match self.nogo_rule {
                NoGoRule::Abs => w.iter().all(|v| v.abs() < self.nogo_threshold),
                NoGoRule::Max => max(w) < self.nogo_threshold,
            }
        }
    }
    fn thresholds(&self, kind: usize) -> Vec<f64> {
        match (kind, self.nogo_rule) {
            (0, _) => vec![self.go_threshold],
            (_, NoGoRule::Abs) => vec![self.nogo_threshold, -self.nogo_threshold],
            (_, NoGoRule::Max) => vec![self.nogo_threshold],
        }
    }
    fn min_training_trials(&self) -> usize {
        1500
    }
}

/// XOR: two ±1 pulses; output +1 if their signs agree, −1 if they differ.
#[derive(Debug, Clone)]
pub struct Xor {
    /// Trial length in rate steps.
    pub t: usize,
    /// First pulse window (rate steps) on channel 0.
    pub stim1: (usize, usize),
    /// Second pulse window (rate steps) on channel 1.
    pub stim2: (usize, usize),
    /// Target window (rate steps).
    pub target_window: (usize, usize),
    /// Scoring starts here (rate steps).
    pub resp_start: usize,
    /// Correct when max o > thr (same) or min o < −thr (differ).
    pub threshold: f64,
}

impl Default for Xor {
    fn default() -> Self {
        Xor {
            t: 300,
            stim1: (50, 100),
            stim2: (110, 160),
            target_window: (170, 270),
            resp_start: 200,
            threshold: 0.7,
        }
    }
}

impl Xor {
    /// Signs of the two pulses for trial type `kind` (0: ++, 1: −−, 2: +−, 3: −+).
    pub fn signs(kind: usize) -> (f64, f64) {
        match kind {
            0 => (1.0, 1.0),
            1 => (-1.0, -1.0),
            2 => (1.0, -1.0),
            _ => (-1.0, 1.0),
        }
    }
}

impl Task for Xor {
    fn name(&self) -> &str {
        "xor"
    }
    fn n_inputs(&self) -> usize {
        2
    }
    fn n_steps(&self) -> usize {
        self.t
    }
    fn trial_types(&self) -> Vec<String> {
        vec!["++".into(), "--".into(), "+-".into(), "-+".into()]
    }
    fn describe_type(&self, kind: usize) -> String {
        let (s1, s2) = Self::signs(kind);
        let answer = if s1 == s2 {
            "same → +1"
        } else {
            "differ → −1"
        };
        format!("inputs {}: {answer}", self.trial_types()[kind])
    }
    fn trial_of_kind(&self, kind: usize, _rng: &mut dyn RngCore) -> Trial {
        let (s1, s2) = Self::signs(kind);
        let mut u = Array2::zeros((2, self.t));
        for k in self.stim1.0..self.stim1.1.min(self.t) {
            u[[0, k]] = s1;
        }
        for k in self.stim2.0..self.stim2.1.min(self.t) {
            u[[1, k]] = s2;
        }
        let label = if s1 == s2 { 1.0 } else { -1.0 };
        let mut target = vec![0.0; self.t - 1];
        for z in target
            .iter_mut()
            .take(self.target_window.1)
            .skip(self.target_window.0)
        {
            *z = label;
        }
        Trial { kind, u, target }
    }
    fn response_start(&self) -> usize {
        self.resp_start
    }
    fn is_correct(&self, kind: usize, w: &[f64]) -> bool {
        let (s1, s2) = Self::signs(kind);
        if s1 == s2 {
            max(w) > self.threshold
        } else {
            min(w) < -self.threshold
        }
    }
    fn thresholds(&self, kind: usize) -> Vec<f64> {
        let (s1, s2) = Self::signs(kind);
        vec![s1 * s2 * self.threshold]
    }
}

/// Context-dependent integration (Mante et al. 2013): two noisy streams with
/// ±offset means; a context cue says which one to report the sign of.
#[derive(Debug, Clone)]
pub struct Mante {
    /// Trial length in rate steps.
    pub t: usize,
    /// Sensory stimulus window (rate steps).
    pub stim: (usize, usize),
    /// Magnitude of the mean offset ("coherence").
    pub coherence: f64,
    /// Correct when max o > thr (+1) or min o < −thr (−1).
    pub threshold: f64,
}

impl Default for Mante {
    fn default() -> Self {
        Mante {
            t: 500,
            stim: (50, 250),
            coherence: 0.5,
            threshold: 0.7,
        }
    }
}

impl Mante {
    /// (context, sign of channel-0 offset, sign of channel-1 offset) of `kind`
    /// (0..8: context = kind / 4, the offsets from the low two bits).
    pub fn decode(kind: usize) -> (usize, f64, f64) {
        let ctx = kind / 4;
        let s0 = if kind & 1 == 0 { 1.0 } else { -1.0 };
        let s1 = if kind & 2 == 0 { 1.0 } else { -1.0 };
        (ctx, s0, s1)
    }
    /// The correct answer (±1) for `kind`.
    pub fn label(kind: usize) -> f64 {
        let (ctx, s0, s1) = Self::decode(kind);
        if ctx == 0 {
            s0
        } else {
            s1
        }
    }
}

impl Task for Mante {
    fn name(&self) -> &str {
        "mante"
    }
    fn n_inputs(&self) -> usize {
        4
    }
    fn n_steps(&self) -> usize {
        self.t
    }
    fn trial_types(&self) -> Vec<String> {
        (0..8)
            .map(|k| {
                let (ctx, s0, s1) = Self::decode(k);
                let sg = |s: f64| if s > 0.0 { '+' } else { '-' };
                format!("ctx{}:{}{}", ctx, sg(s0), sg(s1))
            })
            .collect()
    }
    fn describe_type(&self, kind: usize) -> String {
        let (ctx, _, _) = Self::decode(kind);
        let answer = if Self::label(kind) > 0.0 {
            "+1"
        } else {
            "−1"
        };
        format!(
            "{}: attend input {} → {answer}",
            self.trial_types()[kind],
            ctx + 1
        )
    }
    fn trial_of_kind(&self, kind: usize, rng: &mut dyn RngCore) -> Trial {
        let (ctx, s0, s1) = Self::decode(kind);
        let mut u = Array2::zeros((4, self.t));
        for k in self.stim.0..self.stim.1.min(self.t) {
            let n0: f64 = StandardNormal.sample(rng);
            let n1: f64 = StandardNormal.sample(rng);
            u[[0, k]] = n0 + s0 * self.coherence;
            u[[1, k]] = n1 + s1 * self.coherence;
        }
        for k in 0..self.t {
            u[[2 + ctx, k]] = 1.0;
        }
        let mut target = vec![0.0; self.t - 1];
        let label = Self::label(kind);
        for z in target.iter_mut().skip(self.stim.1) {
            *z = label;
        }
        Trial { kind, u, target }
    }
    fn response_start(&self) -> usize {
        self.t - 200
    }
    fn is_correct(&self, kind: usize, w: &[f64]) -> bool {
        if Self::label(kind) > 0.0 {
            max(w) > self.threshold
        } else {
            min(w) < -self.threshold
        }
    }
    fn thresholds(&self, kind: usize) -> Vec<f64> {
        vec![Self::label(kind) * self.threshold]
    }
    fn sample(&self, rng: &mut dyn RngCore) -> Trial {
        // Each of context, offset signs drawn with probability 0.5.
        let kind = (rng.random::<u32>() % 8) as usize;
        self.trial_of_kind(kind, rng)
    }
}

/// The built-in task called `name` (`go-nogo`, `xor`, `mante`, `dms`)
/// with its default parameters.
pub fn task_by_name(name: &str) -> Result<Box<dyn Task>> {
    builtin_task(name, None)
}

/// The built-in task called `name`; `delay_ms` sets the DMS delay (ms; an
/// error naming `delay-ms` for another task), `None` keeps the default.
pub fn builtin_task(name: &str, delay_ms: Option<f64>) -> Result<Box<dyn Task>> {
    let task: Box<dyn Task> = match name.to_ascii_lowercase().replace('_', "-").as_str() {
        "go-nogo" | "gonogo" => Box::new(GoNoGo::default()),
        "xor" => Box::new(Xor::default()),
        "mante" | "context" => Box::new(Mante::default()),
        "dms" => {
            return Ok(Box::new(Dms::new(
                delay_ms.unwrap_or(Dms::DEFAULT_DELAY_MS),
            )?))
        }
        other => {
            return Err(Error::param(
                "task",
                format!("unknown task '{other}' (expected go-nogo, xor, mante or dms)"),
            ))
        }
    };
    match delay_ms {
        None => Ok(task),
        Some(_) => Err(Error::param(
            "delay-ms",
            format!("applies to dms only, not {}", task.name()),
        )),
    }
}

/// The built-in task called `name`, with NoGo trials scored by `rule`
/// (only Go-NoGo has NoGo trials; another task with [`NoGoRule::Max`] is an
/// error naming `nogo-rule`).
pub fn task_with_nogo_rule(name: &str, rule: NoGoRule) -> Result<Box<dyn Task>> {
    with_nogo_rule(task_by_name(name)?, rule)
}

/// `task` with NoGo trials scored by `rule`: only the built-in Go-NoGo has
/// NoGo trials; [`NoGoRule::Max`] for another task is an error naming
/// `nogo-rule`.
pub fn with_nogo_rule(task: Box<dyn Task>, rule: NoGoRule) -> Result<Box<dyn Task>> {
    let go_nogo = task.spec().is_builtin() && task.name() == "go-nogo";
    match rule {
        NoGoRule::Abs => Ok(task),
        NoGoRule::Max if go_nogo => Ok(Box::new(GoNoGo {
            nogo_rule: rule,
            ..GoNoGo::default()
        })),
        NoGoRule::Max => Err(Error::param(
            "nogo-rule",
            format!("'max' applies to go-nogo only, not {}", task.name()),
        )),
    }
}

/// Names of the built-in tasks.
pub const TASK_NAMES: [&str; 4] = ["go-nogo", "xor", "mante", "dms"];

/// Repeat the last column of `u` `extra` times: the spiking network takes the
/// rate stimulus with one extra column (n_in × (T+1)).
pub fn extend_stimulus(u: &Array2<f64>, extra: usize) -> Array2<f64> {
    let (r, c) = u.dim();
    let mut out = Array2::zeros((r, c + extra));
    out.slice_mut(ndarray::s![.., ..c]).assign(u);
    if c > 0 {
        for j in c..c + extra {
            for i in 0..r {
                out[[i, j]] = u[[i, c - 1]];
            }
        }
    }
    out
}

fn max(w: &[f64]) -> f64 {
    w.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
}

fn min(w: &[f64]) -> f64 {
    w.iter().cloned().fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn type_descriptions_state_the_target_sign() {
        // The answer a figure title announces is the sign of the target.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let tasks: [Box<dyn Task>; 2] = [Box::new(Xor::default()), Box::new(Mante::default())];
        for t in tasks {
            for k in 0..t.trial_types().len() {
                let d = t.describe_type(k);
                let z = t.trial_of_kind(k, &mut rng).target;
                let sign = z.iter().find(|v| **v != 0.0).copied().unwrap();
                let said = if d.ends_with("+1") { 1.0 } else { -1.0 };
                assert!(d.ends_with("+1") || d.ends_with("−1"), "{d}");
                assert_eq!(said, sign, "{} kind {k}: {d}", t.name());
                assert!(d.contains(&t.trial_types()[k]), "{d}");
            }
        }
    }

    #[test]
    fn go_nogo_shapes_and_windows() {
        let t = GoNoGo::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let go = t.trial_of_kind(0, &mut rng);
        assert_eq!(go.u.dim(), (1, 200));
        assert_eq!(go.target.len(), 199);
        assert_eq!(go.u.row(0).sum(), 25.0);
        assert_eq!(go.u[[0, 49]], 0.0);
        assert_eq!(go.u[[0, 50]], 1.0);
        assert_eq!(go.u[[0, 74]], 1.0);
        assert_eq!(go.u[[0, 75]], 0.0);
        assert_eq!(go.target[74], 0.0);
        assert_eq!(go.target[75], 1.0);
        let nogo = t.trial_of_kind(1, &mut rng);
        assert_eq!(nogo.u.sum(), 0.0);
        assert!(nogo.target.iter().all(|&z| z == 0.0));
        // A perfect output is correct; a swapped one is not.
        assert!(t.score(0, &go.target, 1));
        assert!(t.score(1, &nogo.target, 1));
        assert!(!t.score(0, &nogo.target, 1));
        assert!(!t.score(1, &go.target, 1));
    }

    #[test]
    fn xor_labels() {
        let t = Xor::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        for k in 0..4 {
            let tr = t.trial_of_kind(k, &mut rng);
            let (s1, s2) = Xor::signs(k);
            assert_eq!(tr.u[[0, 60]], s1);
            assert_eq!(tr.u[[1, 120]], s2);
            assert_eq!(tr.target[200], s1 * s2);
            assert_eq!(tr.target[169], 0.0);
            assert_eq!(tr.target[270], 0.0);
            assert!(t.score(k, &tr.target, 1));
        }
    }

    #[test]
    fn mante_context_and_offsets() {
        let t = Mante::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for k in 0..8 {
            let tr = t.trial_of_kind(k, &mut rng);
            let (ctx, s0, s1) = Mante::decode(k);
            assert_eq!(tr.u[[2 + ctx, 0]], 1.0);
            assert_eq!(tr.u[[3 - ctx, 0]], 0.0);
            let m0: f64 = (50..250).map(|j| tr.u[[0, j]]).sum::<f64>() / 200.0;
            let m1: f64 = (50..250).map(|j| tr.u[[1, j]]).sum::<f64>() / 200.0;
            // Mean of 200 N(±0.5, 1) samples: within 4.5 sd (0.32) of ±0.5.
            assert!((m0 - 0.5 * s0).abs() < 0.32);
            assert!((m1 - 0.5 * s1).abs() < 0.32);
            assert_eq!(tr.target[300], if ctx == 0 { s0 } else { s1 });
            assert!(t.score(k, &tr.target, 1));
        }
    }

    #[test]
    fn spiking_windows_follow_rate_windows() {
        // ×100 spiking steps per rate step at dt = 0.05 ms.
        assert_eq!(GoNoGo::default().response_start() * 100, 7_500);
        assert_eq!(Xor::default().response_start() * 100, 20_000);
        assert_eq!(Mante::default().response_start() * 100, 30_000);
    }

    #[test]
    fn extend_repeats_last_column() {
        let t = Mante::default();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let tr = t.trial_of_kind(5, &mut rng);
        let e = extend_stimulus(&tr.u, 1);
        assert_eq!(e.dim(), (4, 501));
        assert_eq!(e.column(500), tr.u.column(499));
    }

    #[test]
    fn nogo_rules_differ_only_on_negative_excursions() {
        let abs = GoNoGo::default();
        let max = task_with_nogo_rule("go-nogo", NoGoRule::Max).unwrap();
        // Window outputs (index 0 = first window sample), NoGo trial (kind 1).
        let dip = [0.0, -0.5, 0.1];
        let bump = [0.0, 0.31, -0.1];
        let quiet = [0.29, -0.29, 0.0];
        assert!(!abs.is_correct(1, &dip));
        assert!(max.is_correct(1, &dip));
        assert!(!abs.is_correct(1, &bump) && !max.is_correct(1, &bump));
        assert!(abs.is_correct(1, &quiet) && max.is_correct(1, &quiet));
        // Go trials are scored alike.
        assert_eq!(abs.is_correct(0, &bump), max.is_correct(0, &bump));
        assert!(max.is_correct(0, &[0.0, 0.71]));
    }

    #[test]
    fn thresholds_are_where_the_score_flips() {
        // A window that sits just beyond a threshold on the side away from
        // zero, and one just inside it, score differently for that trial type.
        let tasks: Vec<Box<dyn Task>> = vec![
            Box::new(GoNoGo::default()),
            task_with_nogo_rule("go-nogo", NoGoRule::Max).unwrap(),
            Box::new(Xor::default()),
            Box::new(Mante::default()),
        ];
        for t in &tasks {
            for k in 0..t.trial_types().len() {
                let th = t.thresholds(k);
                assert!(!th.is_empty(), "{} {k}", t.name());
                for &v in &th {
                    let out = [v * 1.01];
                    let inside = [v * 0.99];
                    assert_ne!(
                        t.is_correct(k, &out),
                        t.is_correct(k, &inside),
                        "{} kind {k} threshold {v}",
                        t.name()
                    );
                }
            }
        }
    }

    #[test]
    fn nogo_rule_is_checked() {
        assert_eq!("MAX".parse::<NoGoRule>().unwrap(), NoGoRule::Max);
        let e = "both".parse::<NoGoRule>().err().unwrap().to_string();
        assert!(e.contains("nogo-rule") && e.contains("both"), "{e}");
        let e = task_with_nogo_rule("xor", NoGoRule::Max)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nogo-rule") && e.contains("xor"), "{e}");
        assert_eq!(
            task_with_nogo_rule("mante", NoGoRule::Abs).unwrap().name(),
            "mante"
        );
    }

    #[test]
    fn unknown_task_names_the_flag() {
        let e = task_by_name("flip-flop").err().unwrap().to_string();
        assert!(e.contains("task") && e.contains("flip-flop"), "{e}");
    }
}

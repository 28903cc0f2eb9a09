//! How spiking trials are scored: the presets of issue #11 and the resolved
//! [`Scoring`] of a run.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::task::{NoGoRule, Task};
use crate::units::SPIKING_DT_MS;

/// A scoring protocol of the spiking search and evaluation. Rate training
/// and its stopping rule are the same under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ScoringPreset {
    /// As MATLAB's lambda_grid_search.m scored the published numbers:
    /// Go-NoGo from spiking step 10 000 (500 ms) with NoGo correct when
    /// max(out) < 0.3 (NoGo rule max); XOR from step 20 000 (1000 ms);
    /// Mante from step 26 000 (1300 ms); each task's own thresholds. DMS
    /// and task files, which MATLAB never scored: their own response window.
    #[default]
    Paper,
    /// The task's own response window (rate steps × 100), NoGo correct when
    /// max |out| < 0.3 (NoGo rule abs, the training rule).
    Strict,
}

impl ScoringPreset {
    /// `"paper"` or `"strict"`.
    pub fn name(self) -> &'static str {
        match self {
            ScoringPreset::Paper => "paper",
            ScoringPreset::Strict => "strict",
        }
    }

    /// Every preset.
    pub const ALL: [ScoringPreset; 2] = [ScoringPreset::Paper, ScoringPreset::Strict];

    /// First scored spiking step (0.05 ms each) for the built-in `task`, or
    /// `None` for the task's own response window (strict; DMS under both).
    ///
    /// # Examples
    /// ```
    /// use spikernn::config::ScoringPreset;
    /// assert_eq!(ScoringPreset::Paper.window_start_step("go-nogo"), Some(10_000));
    /// assert_eq!(ScoringPreset::Paper.window_start_step("mante"), Some(26_000));
    /// assert_eq!(ScoringPreset::Strict.window_start_step("xor"), None);
    /// assert_eq!(ScoringPreset::Paper.window_start_step("dms"), None);
    /// ```
    pub fn window_start_step(self, task: &str) -> Option<usize> {
        match (self, task) {
            (ScoringPreset::Strict, _) => None,
            (ScoringPreset::Paper, "xor") => Some(20_000),
            (ScoringPreset::Paper, "mante") => Some(26_000),
            (ScoringPreset::Paper, "go-nogo") => Some(10_000),
            (ScoringPreset::Paper, _) => None,
        }
    }

    /// The NoGo rule of the preset.
    pub fn nogo_rule(self) -> NoGoRule {
        match self {
            ScoringPreset::Paper => NoGoRule::Max,
            ScoringPreset::Strict => NoGoRule::Abs,
        }
    }
}

/// Where the first scored step comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// The task's response window (the strict preset).
    Task,
    /// The preset's MATLAB step (the paper preset).
    Preset,
    /// `--window-start` / `window_start`.
    Override,
}

/// How spiking trials are scored ([`super::RunConfig::scoring`]).
/// Serialises as `{"preset", "window_start_step", "window_start_ms",
/// "window": "task" | "preset" | "override", "nogo_rule": "abs" | "max" |
/// null}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scoring {
    /// The preset the rest follows unless overridden.
    pub preset: ScoringPreset,
    /// First scored spiking step (steps of 0.05 ms, before down-sampling).
    pub window_start_step: usize,
    /// Where `window_start_step` comes from.
    pub window: WindowSource,
    /// The NoGo rule; `None` for tasks without NoGo trials.
    pub nogo_rule: Option<NoGoRule>,
}

impl Serialize for Scoring {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Scoring", 5)?;
        m.serialize_field("preset", &self.preset)?;
        m.serialize_field("window_start_step", &self.window_start_step)?;
        m.serialize_field("window_start_ms", &self.window_start_ms())?;
        m.serialize_field("window", &self.window)?;
        m.serialize_field("nogo_rule", &self.nogo_rule)?;
        m.end()
    }
}

impl Scoring {
    /// Start of the scored window in ms.
    pub fn window_start_ms(&self) -> f64 {
        self.window_start_step as f64 * SPIKING_DT_MS
    }

    /// The search's and evaluation's `window_start_override`: `None` scores
    /// the task's own window.
    pub fn window_start_override(&self) -> Option<usize> {
        (self.window != WindowSource::Task).then_some(self.window_start_step)
    }

    /// Whether a spiking output trace `out` (one sample per spiking step of
    /// 0.05 ms × `downsample`) of a trial of type `kind` is correct: scored
    /// from [`window_start_step`] under this window, or the task's own
    /// window. `task` must carry the NoGo rule
    /// ([`super::RunConfig::scoring_task`]).
    ///
    /// [`window_start_step`]: Scoring::window_start_step
    pub fn is_correct(&self, task: &dyn Task, kind: usize, out: &[f64], downsample: usize) -> bool {
        task.score_spiking(kind, out, self.window_start_override(), downsample)
    }

    /// In words, for reports and progress lines (no `|`: it goes into
    /// Markdown tables).
    ///
    /// # Examples
    /// ```
    /// use spikernn::config::RunConfig;
    /// let s = RunConfig::for_task("go-nogo").unwrap().scoring().unwrap();
    /// assert!(s.describe().starts_with("paper scoring: from 500 ms"));
    /// ```
    pub fn describe(&self) -> String {
        let how = match self.window {
            WindowSource::Task => "the task's response window",
            WindowSource::Preset => "MATLAB's lambda_grid_search.m",
            WindowSource::Override => "--window-start",
        };
        let mut t = format!(
            "{} scoring: from {} ms (spiking step {}, {how})",
            self.preset.name(),
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

#[cfg(test)]
mod tests {
    use crate::config::{RunConfig, ScoringPreset};

    /// A Go-NoGo output trace of 20 000 spiking steps (1000 ms), 0 except
    /// `v` over steps [from, to).
    fn trace(from: usize, to: usize, v: f64) -> Vec<f64> {
        let mut o = vec![0.0; 20_000];
        o[from..to].iter_mut().for_each(|x| *x = v);
        o
    }

    /// (strict, paper) verdicts of a trace of kind `kind` (0 go, 1 nogo).
    fn both(kind: usize, out: &[f64]) -> (bool, bool) {
        let verdict = |p: ScoringPreset| {
            let mut c = RunConfig::for_task("go-nogo").unwrap();
            c.search.scoring = p;
            let task = c.scoring_task().unwrap();
            c.scoring().unwrap().is_correct(task.as_ref(), kind, out, 1)
        };
        (
            verdict(ScoringPreset::Strict),
            verdict(ScoringPreset::Paper),
        )
    }

    #[test]
    fn presets_differ_exactly_where_windows_and_rules_differ() {
        // Strict scores from step 7500 (response window 75 rate steps × 100)
        // with |o| < 0.3; paper from step 10 000 with o < 0.3.
        assert_eq!(both(1, &trace(0, 0, 0.0)), (true, true));
        assert_eq!(both(1, &trace(8000, 9000, -0.5)), (false, true));
        assert_eq!(both(1, &trace(8000, 9000, 0.5)), (false, true));
        assert_eq!(both(1, &trace(12_000, 13_000, -0.5)), (false, true));
        assert_eq!(both(1, &trace(12_000, 13_000, 0.5)), (false, false));
        assert_eq!(both(1, &trace(7000, 7400, 0.5)), (true, true));
        // Go: max o > 0.7 inside the window.
        assert_eq!(both(0, &trace(8000, 9000, 0.8)), (true, false));
        assert_eq!(both(0, &trace(12_000, 13_000, 0.8)), (true, true));
        assert_eq!(both(0, &trace(5000, 7000, 0.8)), (false, false));
    }

    #[test]
    fn overrides_replace_single_parts_of_the_preset() {
        let mut c = RunConfig::for_task("go-nogo").unwrap();
        c.search.window_start = Some(8000);
        let s = c.scoring().unwrap();
        assert_eq!(s.window_start_step, 8000);
        assert_eq!(s.nogo_rule, Some(crate::task::NoGoRule::Max));
        c.search.nogo_rule = Some(crate::task::NoGoRule::Abs);
        assert_eq!(
            c.scoring().unwrap().nogo_rule,
            Some(crate::task::NoGoRule::Abs)
        );
        let j = serde_json::to_value(c.scoring().unwrap()).unwrap();
        assert_eq!(j["preset"], "paper");
        assert_eq!(j["window"], "override");
        assert_eq!(j["window_start_ms"], 400.0);
        assert_eq!(j["nogo_rule"], "abs");
        // XOR has no NoGo trials; its strict window is 200 rate steps.
        let mut x = RunConfig::for_task("xor").unwrap();
        x.search.scoring = ScoringPreset::Strict;
        let s = x.scoring().unwrap();
        assert_eq!((s.window_start_step, s.nogo_rule), (20_000, None));
        assert_eq!(s.window_start_override(), None);
    }
}

//! `metrics.json` of a run, typed. Serialised through a `serde_json::Value`
//! so the keys come out sorted, as they always have; keys of steps not yet
//! finished are absent.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Everything `metrics.json` holds; rewritten after every step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunMetrics {
    /// Task name.
    pub task: String,
    /// The run's seed (attempt k trains with seed + k).
    pub seed: u64,
    /// Number of units N.
    pub n: usize,
    /// Names of the finished steps, in order.
    pub steps_completed: Vec<String>,
    /// Every network trained so far.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptMetrics>,
    /// The kept network, once training and search are done.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub kept: Option<KeptMetrics>,
    /// The spiking evaluation, once done.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvalMetrics>,
    /// Figure stems written (in `figures/`), once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<Vec<String>>,
}

/// One trained network of a run (an entry of `attempts`).
#[derive(Debug, Clone, Serialize)]
pub struct AttemptMetrics {
    /// Seed it was trained with.
    pub seed: u64,
    /// Its model file, relative to the run directory.
    pub file: String,
    /// Training trials used.
    pub train_trials: usize,
    /// Whether the stopping rule was met.
    pub train_success: bool,
    /// Training time (s).
    pub train_seconds: f64,
    /// Rate accuracy on fresh trials (fraction).
    pub rate_accuracy: f64,
    /// Spiking accuracy the run asks for (fraction).
    pub target_accuracy: f64,
    /// Whether this network was accepted.
    pub accepted: bool,
    /// Its λ search, if it was searched.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub search: Option<AttemptSearchMetrics>,
}

/// The λ search of one attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptSearchMetrics {
    /// Chosen λ (dimensionless).
    pub best_lambda: f64,
    /// Spiking accuracy at the chosen λ (fraction).
    pub best_accuracy: f64,
    /// Trials behind `best_accuracy`.
    pub best_trials: usize,
    /// Lower end of its 95 % Wilson interval (fraction).
    pub best_lower_bound: f64,
    /// Search time (s).
    pub search_seconds: f64,
}

/// The kept network: training and λ search.
#[derive(Debug, Clone, Serialize)]
pub struct KeptMetrics {
    /// Seed of the kept network.
    pub seed_used: u64,
    /// Spiking accuracy the run asks for (fraction).
    pub target_accuracy: f64,
    /// Whether the kept network reached it.
    pub target_met: bool,
    /// Training trials used.
    pub train_trials: usize,
    /// Whether the stopping rule was met.
    pub train_success: bool,
    /// Training time (s).
    pub train_seconds: f64,
    /// Rate accuracy on fresh trials (fraction).
    pub rate_accuracy: f64,
    /// Rate loss on the same trials (dimensionless).
    pub rate_loss: f64,
    /// The search (`search --json` object).
    pub search: Value,
    /// How spiking trials are scored.
    pub scoring: Value,
    /// Chosen λ (dimensionless).
    pub best_lambda: f64,
    /// Search time (s).
    pub search_seconds: f64,
}

/// The spiking evaluation at the chosen λ.
#[derive(Debug, Clone, Serialize)]
pub struct EvalMetrics {
    /// Accuracy on fresh trials (fraction).
    pub spiking_accuracy: f64,
    /// The evaluation (`eval --json` object).
    pub eval: Value,
    /// Evaluation time (s).
    pub eval_seconds: f64,
}

impl RunMetrics {
    /// The metrics as JSON, keys sorted.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("metrics serialise")
    }

    /// Marks `step` finished.
    pub fn complete(&mut self, step: &str) {
        self.steps_completed.push(step.to_string());
    }
}

/// Compact JSON, keys sorted (what `run --json` prints).
impl fmt::Display for RunMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_steps_leave_their_keys_out() {
        let mut m = RunMetrics {
            task: "go-nogo".into(),
            seed: 1,
            n: 200,
            ..RunMetrics::default()
        };
        let keys = |m: &RunMetrics| -> Vec<String> {
            m.to_value().as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(&m), ["n", "seed", "steps_completed", "task"]);
        m.attempts.push(AttemptMetrics {
            seed: 1,
            file: "model.mat".into(),
            train_trials: 10,
            train_success: false,
            train_seconds: 1.0,
            rate_accuracy: 0.5,
            target_accuracy: 0.95,
            accepted: false,
            search: None,
        });
        m.evaluation = Some(EvalMetrics {
            spiking_accuracy: 0.9,
            eval: Value::Null,
            eval_seconds: 2.0,
        });
        m.complete("train");
        let v = m.to_value();
        assert!(v["attempts"][0].get("best_lambda").is_none());
        assert_eq!(v["spiking_accuracy"], 0.9);
        assert_eq!(v["steps_completed"], serde_json::json!(["train"]));
        assert!(v.get("seed_used").is_none() && v.get("figures").is_none());
    }
}

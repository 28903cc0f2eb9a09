//! How the library talks to its caller: events out, cancellation in.
//!
//! The library never prints. Every long piece of work (training, the λ
//! search, an evaluation, a whole run) takes an `&dyn Observer`, reports
//! [`Event`]s to it and asks [`Observer::cancelled`] between units of work
//! (a training trial, a spiking trial). The CLI draws progress bars on a
//! terminal and plain lines in a log; the Python bindings forward events to a
//! callback; tests and batch code pass [`Silent`].
//!
//! Every event has a one-line text form (`Display`), the line a log shows.
//!
//! # Examples
//!
//! ```
//! use std::sync::Mutex;
//! use spikernn::observe::{Event, Observer};
//!
//! /// Keeps every event's line.
//! #[derive(Default)]
//! struct Lines(Mutex<Vec<String>>);
//! impl Observer for Lines {
//!     fn event(&self, e: &Event) {
//!         self.0.lock().unwrap().push(e.to_string());
//!     }
//! }
//! let lines = Lines::default();
//! lines.event(&Event::Warning("no inhibitory units".into()));
//! assert_eq!(lines.0.lock().unwrap()[0], "warning: no inhibitory units");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stage of long work whose units a progress bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Rate-network training; units are training trials.
    Training,
    /// λ search; units are spiking trials (coarse grid, refinement and
    /// finalists together).
    Search,
    /// Spiking evaluation; units are spiking trials.
    Evaluation,
}

impl Stage {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Training => "training",
            Stage::Search => "lambda search",
            Stage::Evaluation => "evaluation",
        }
    }
}

/// What the library reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A stage begins; `total` units of work are planned (the total may
    /// still change: see [`Event::Total`]).
    Begin {
        /// Which stage.
        stage: Stage,
        /// Planned units of work (trials).
        total: u64,
    },
    /// The planned total of the current stage changed (e.g. the λ search
    /// adds its refinement).
    Total(u64),
    /// `n` more units of the current stage are done.
    Advance(u64),
    /// The current stage ended (completed or cancelled).
    End,
    /// A sub-phase of the current stage (e.g. "coarse grid", "refining").
    Phase(String),
    /// An evaluation during training.
    TrainEval {
        /// Training trials so far.
        trial: usize,
        /// Mean training loss since the last evaluation.
        loss: f64,
        /// Mean loss on the evaluation trials.
        eval_loss: f64,
        /// Accuracy on the evaluation trials (fraction).
        eval_accuracy: f64,
    },
    /// One λ value of a search was scored.
    Lambda {
        /// Scaling factor.
        lambda: f64,
        /// Accuracy (fraction) on `trials` trials.
        accuracy: f64,
        /// Trials scored at this λ so far.
        trials: usize,
    },
    /// Progress of a sweep's jobs.
    Jobs {
        /// Jobs finished so far (ok or failed), earlier runs included.
        done: usize,
        /// Of those, failed.
        failed: usize,
        /// Jobs running now.
        running: usize,
        /// All jobs of this run.
        total: usize,
        /// Estimated seconds until all are done, once one job finished.
        eta_seconds: Option<f64>,
    },
    /// A line of information (a pipeline step, a result).
    Info(String),
    /// Something the user should know (a clipped weight, a missed target).
    Warning(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Begin { stage, total } => write!(f, "{} ({total} trials)", stage.name()),
            Event::Total(t) => write!(f, "now {t} trials"),
            Event::Advance(n) => write!(f, "+{n}"),
            Event::End => write!(f, "done"),
            Event::Phase(p) => write!(f, "{p}"),
            Event::TrainEval {
                trial,
                loss,
                eval_loss,
                eval_accuracy,
            } => write!(
                f,
                "trial {trial}: loss {loss:.3} eval loss {eval_loss:.3} eval acc {eval_accuracy:.3}"
            ),
            Event::Lambda {
                lambda,
                accuracy,
                trials,
            } => write!(
                f,
                "lambda {lambda:>6.2}: accuracy {accuracy:.3} ({trials} trials)"
            ),
            Event::Jobs {
                done,
                failed,
                running,
                total,
                eta_seconds,
            } => {
                write!(
                    f,
                    "jobs: {done}/{total} done, {failed} failed, {running} running"
                )?;
                match eta_seconds {
                    Some(s) => write!(f, ", ETA {}", hms(*s)),
                    None => Ok(()),
                }
            }
            Event::Info(s) => write!(f, "{s}"),
            Event::Warning(s) => write!(f, "warning: {s}"),
        }
    }
}

/// Seconds as `1h02m03s`, `2m03s` or `3s`.
pub fn hms(s: f64) -> String {
    let t = s.max(0.0).round() as u64;
    let (h, m, sec) = (t / 3600, t / 60 % 60, t % 60);
    if h > 0 {
        format!("{h}h{m:02}m{sec:02}s")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// Receives [`Event`]s and says whether to stop. Shared across the worker
/// threads of a search, hence `Sync`.
pub trait Observer: Sync {
    /// Something happened. The default ignores it.
    fn event(&self, _event: &Event) {}

    /// Whether the caller asked to stop. Long work checks it between units
    /// and then returns [`crate::Error::Interrupted`], writing nothing.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing, never cancels.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}

/// Reports nothing; cancelled when the flag is set (e.g. by a signal
/// handler).
impl Observer for AtomicBool {
    fn cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

/// An observer that only forwards: a stage's events go to `inner`, warnings
/// and lines included. Useful to add cancellation to an existing observer.
impl<T: Observer + ?Sized> Observer for &T {
    fn event(&self, event: &Event) {
        (**self).event(event)
    }
    fn cancelled(&self) -> bool {
        (**self).cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_the_logs_did() {
        let e = Event::Lambda {
            lambda: 41.0,
            accuracy: 0.96667,
            trials: 300,
        };
        assert_eq!(e.to_string(), "lambda  41.00: accuracy 0.967 (300 trials)");
        let t = Event::TrainEval {
            trial: 1600,
            loss: 3.0,
            eval_loss: 2.5,
            eval_accuracy: 1.0,
        };
        assert_eq!(
            t.to_string(),
            "trial 1600: loss 3.000 eval loss 2.500 eval acc 1.000"
        );
    }

    #[test]
    fn a_flag_cancels() {
        let f = AtomicBool::new(false);
        assert!(!Observer::cancelled(&f));
        f.store(true, Ordering::Relaxed);
        assert!(Observer::cancelled(&f));
        assert!(!Silent.cancelled());
    }
}

//! Delayed match-to-sample (Kim & Sejnowski, Nature Neuroscience 2021):
//! a ±1 cue on channel 0, a delay, a ±1 probe on channel 1; the output
//! reports whether the two agree (+1, match) or not (−1, non-match).
//!
//! Timings (rate steps of 5 ms), with D = `delay_ms` / 5:
//!
//! | epoch | rate steps | ms (D = 150, the 750-ms delay) |
//! |---|---|---|
//! | fixation | [0, 30) | 0–150 |
//! | cue (channel 0) | [30, 80) | 150–400 |
//! | delay | [80, 80 + D) | 400–1150 |
//! | probe (channel 1) | [80 + D, 130 + D) | 1150–1400 |
//! | gap | [130 + D, 140 + D) | 1400–1450 |
//! | response: target ±1, scored | [140 + D, 240 + D) | 1450–1950 |
//!
//! T = 241 + D rate steps: the T − 1 outputs o_1 … o_{T−1} then hold the
//! whole 100-step response window (target samples 140 + D … 239 + D).
//! The short delay of the paper's first training stage (50 ms, D = 10)
//! moves the probe to 450–700 ms. Correct: max o > 0.7 in the window
//! (match) or min o < −0.7 (non-match).

use rand::RngCore;

use super::{Task, TaskSpec, Trial, Xor};
use crate::error::{Error, Result};
use crate::units::RATE_DT_MS;

/// Cue onset (rate steps).
const CUE_ON: usize = 30;
/// Cue and probe duration (rate steps): 250 ms.
const STIM: usize = 50;
/// Gap between probe offset and the response window (rate steps): 50 ms.
const GAP: usize = 10;
/// Length of the response window (rate steps): 500 ms.
const RESPONSE: usize = 100;

/// The DMS task; trial types `++`, `--` (match) and `+-`, `-+`
/// (non-match), signs of (cue, probe), each with probability 1/4.
#[derive(Debug, Clone)]
pub struct Dms {
    delay_ms: f64,
    timing: Xor,
}

impl Dms {
    /// The follow-up paper's delay between cue offset and probe onset: 750 ms.
    pub const DEFAULT_DELAY_MS: f64 = 750.0;

    /// The task with a delay of `delay_ms` ms between cue offset and probe
    /// onset: a multiple of the 5-ms rate step, ≥ 0 and at most 60 s.
    pub fn new(delay_ms: f64) -> Result<Self> {
        let steps = delay_ms / RATE_DT_MS;
        if !(delay_ms.is_finite() && (0.0..=60_000.0).contains(&delay_ms))
            || (steps - steps.round()).abs() > 1e-9
        {
            return Err(Error::param(
                "delay-ms",
                format!("must be a multiple of {RATE_DT_MS} ms in [0, 60000], got {delay_ms}"),
            ));
        }
        let d = steps.round() as usize;
        let probe = CUE_ON + STIM + d;
        let resp = probe + STIM + GAP;
        Ok(Dms {
            delay_ms,
            timing: Xor {
                t: resp + RESPONSE + 1,
                stim1: (CUE_ON, CUE_ON + STIM),
                stim2: (probe, probe + STIM),
                target_window: (resp, resp + RESPONSE),
                resp_start: resp,
                threshold: 0.7,
            },
        })
    }

    /// The delay between cue offset and probe onset, in ms.
    pub fn delay_ms(&self) -> f64 {
        self.delay_ms
    }

    /// The stimulus and target windows (an XOR layout with DMS timings).
    pub fn timing(&self) -> &Xor {
        &self.timing
    }
}

impl Default for Dms {
    fn default() -> Self {
        Dms::new(Self::DEFAULT_DELAY_MS).expect("the default delay is valid")
    }
}

impl Task for Dms {
    fn name(&self) -> &str {
        "dms"
    }
    fn n_inputs(&self) -> usize {
        2
    }
    fn n_steps(&self) -> usize {
        self.timing.t
    }
    fn trial_types(&self) -> Vec<String> {
        self.timing.trial_types()
    }
    fn describe_type(&self, kind: usize) -> String {
        let (s1, s2) = Xor::signs(kind);
        let answer = if s1 == s2 {
            "match → +1"
        } else {
            "non-match → −1"
        };
        format!("cue/probe {}: {answer}", self.trial_types()[kind])
    }
    fn trial_of_kind(&self, kind: usize, rng: &mut dyn RngCore) -> Trial {
        self.timing.trial_of_kind(kind, rng)
    }
    fn response_start(&self) -> usize {
        self.timing.resp_start
    }
    fn is_correct(&self, kind: usize, window: &[f64]) -> bool {
        self.timing.is_correct(kind, window)
    }
    fn thresholds(&self, kind: usize) -> Vec<f64> {
        self.timing.thresholds(kind)
    }
    fn spec(&self) -> TaskSpec {
        TaskSpec::Builtin {
            name: self.name().into(),
            delay_ms: Some(self.delay_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    #[test]
    fn long_delay_timings_in_ms() {
        let t = Dms::default();
        let ms = |steps: usize| steps as f64 * RATE_DT_MS;
        let x = t.timing();
        assert_eq!((ms(x.stim1.0), ms(x.stim1.1)), (150.0, 400.0));
        assert_eq!((ms(x.stim2.0), ms(x.stim2.1)), (1150.0, 1400.0));
        assert_eq!(ms(t.response_start()), 1450.0);
        assert_eq!(ms(x.target_window.1), 1950.0);
        assert_eq!(t.n_steps(), 391);
        let tr = t.trial_of_kind(2, &mut rng::from_seed(0));
        assert_eq!(tr.u.dim(), (2, 391));
        assert_eq!(tr.target.len(), 390);
        assert_eq!(tr.u.row(0).sum(), 50.0);
        assert_eq!(tr.u.row(1).sum(), -50.0);
        assert_eq!(
            (tr.u[[0, 29]], tr.u[[0, 30]], tr.u[[0, 79]], tr.u[[0, 80]]),
            (0.0, 1.0, 1.0, 0.0)
        );
        assert_eq!(
            (
                tr.u[[1, 229]],
                tr.u[[1, 230]],
                tr.u[[1, 279]],
                tr.u[[1, 280]]
            ),
            (0.0, -1.0, -1.0, 0.0)
        );
        // Non-match: −1 for exactly the 100 steps from 1450 ms.
        assert_eq!(tr.target.iter().filter(|&&z| z == -1.0).count(), 100);
        assert_eq!(
            (tr.target[289], tr.target[290], tr.target[389]),
            (0.0, -1.0, -1.0)
        );
        assert!(t.score(2, &tr.target, 1) && !t.score(0, &tr.target, 1));
    }

    #[test]
    fn short_delay_moves_the_probe() {
        let t = Dms::new(50.0).unwrap();
        let x = t.timing();
        assert_eq!((x.stim2.0 * 5, x.stim2.1 * 5), (450, 700));
        assert_eq!(t.response_start() * 5, 750);
        assert_eq!(t.n_steps(), 251);
        for k in 0..4 {
            let tr = t.trial_of_kind(k, &mut rng::from_seed(1));
            let (s1, s2) = Xor::signs(k);
            assert_eq!(tr.target[200], s1 * s2);
            assert!(t.score(k, &tr.target, 1));
        }
    }

    #[test]
    fn bad_delays_name_the_flag() {
        for d in [-5.0, 7.0, f64::NAN, 1e9] {
            let e = Dms::new(d).unwrap_err().to_string();
            assert!(e.contains("delay-ms"), "{d}: {e}");
        }
        assert_eq!(Dms::new(0.0).unwrap().n_steps(), 241);
    }
}

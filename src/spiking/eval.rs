//! Spiking evaluation on fresh trials (docs/model.md#spiking-conversion): accuracy overall with a
//! 95 % Wilson interval, per trial type, and mean E and I firing rates.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::observe::{Event, Observer, Stage};
use crate::rate::RateModel;
use crate::rng;
use crate::spiking::network::ConversionOptions;
use crate::spiking::readout::SpikingReadout;
use crate::spiking::trials::{accuracy, check_common, Outcome, Runner};
use crate::task::Task;

/// The normal quantile of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Options of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Number of fresh trials (default 200).
    pub n_trials: usize,
    /// Seed of the per-trial streams (tagged with [`rng::tag::EVAL`]).
    pub seed: u64,
    /// Down-sampling factor d of the simulation.
    pub downsample: usize,
    /// As [`crate::spiking::search::SearchOptions::window_start_override`].
    pub window_start_override: Option<usize>,
    /// Conversion options.
    pub conversion: ConversionOptions,
    /// A refitted readout to use instead of w_out/λ (see
    /// [`crate::spiking::readout::stored_readout`]); `None`: the conversion's.
    pub readout: Option<SpikingReadout>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            n_trials: 200,
            seed: 0,
            downsample: 1,
            window_start_override: None,
            conversion: ConversionOptions::default(),
            readout: None,
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

/// The result of [`evaluate`]. Serialises (serde) to the `eval --json`
/// object: `lambda`, `accuracy`, `per_type` (type → accuracy), `ci95`
/// `[lo, hi]`, `rate_exc_hz`, `rate_inh_hz` (null when undefined),
/// `trials`, `per_type_rates` (type → `{exc_hz, inh_hz, trials}`), and
/// `readout: "refit"` when the refitted readout was used.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "EvalReport")]
pub struct EvalResult {
    /// Scaling factor evaluated.
    pub lambda: f64,
    /// All trials together.
    pub overall: GroupStats,
    /// 95% Wilson score interval of the overall accuracy.
    pub ci95: (f64, f64),
    /// Per trial type (task's type names); types never drawn are absent.
    pub per_type: BTreeMap<String, GroupStats>,
    /// Read out with a refitted readout ([`EvalOptions::readout`]) instead
    /// of the conversion's.
    pub refit_readout: bool,
}

/// Rates of one trial type in the JSON form of [`EvalResult`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct TypeRates {
    exc_hz: f64,
    inh_hz: f64,
    trials: usize,
}

/// The JSON form of [`EvalResult`] (the `eval --json` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct EvalReport {
    lambda: f64,
    accuracy: f64,
    per_type: BTreeMap<String, f64>,
    ci95: (f64, f64),
    rate_exc_hz: Option<f64>,
    rate_inh_hz: Option<f64>,
    trials: usize,
    per_type_rates: BTreeMap<String, TypeRates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    readout: Option<&'static str>,
}

impl From<EvalResult> for EvalReport {
    fn from(r: EvalResult) -> Self {
        let finite = |x: f64| x.is_finite().then_some(x);
        let rates = |g: &GroupStats| TypeRates {
            exc_hz: g.exc_rate_hz,
            inh_hz: g.inh_rate_hz,
            trials: g.n_trials,
        };
        EvalReport {
            lambda: r.lambda,
            accuracy: r.overall.accuracy,
            per_type: r
                .per_type
                .iter()
                .map(|(k, g)| (k.clone(), g.accuracy))
                .collect(),
            ci95: r.ci95,
            rate_exc_hz: finite(r.overall.exc_rate_hz),
            rate_inh_hz: finite(r.overall.inh_rate_hz),
            trials: r.overall.n_trials,
            per_type_rates: r
                .per_type
                .iter()
                .map(|(k, g)| (k.clone(), rates(g)))
                .collect(),
            readout: r.refit_readout.then_some("refit"),
        }
    }
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
/// [`super::grid_search`] (a [`Stage::Evaluation`] stage). Trial `t` draws
/// from `rng::stream(seed, &[rng::tag::EVAL, λ.to_bits(), t])`.
///
/// # Examples
///
/// A freshly initialised (untrained) 12-unit Go-NoGo network, 4 trials
/// simulated at dt = 0.2 ms:
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use spikernn::rate::{NetConfig, RateModel};
/// use spikernn::spiking::{evaluate, EvalOptions};
/// use spikernn::task::GoNoGo;
///
/// let cfg = NetConfig { n: 12, ..NetConfig::default() };
/// let model = RateModel::init(&cfg, 1, &mut spikernn::rng::from_seed(1)).unwrap();
/// let opts = EvalOptions { n_trials: 4, downsample: 4, ..EvalOptions::default() };
/// let e = evaluate(&model, &GoNoGo::default(), 30.0, &opts, &AtomicBool::new(false)).unwrap();
/// assert_eq!(e.overall.n_trials, 4);
/// assert!(e.ci95.0 <= e.overall.accuracy && e.overall.accuracy <= e.ci95.1);
/// let json = serde_json::to_value(&e).unwrap();
/// assert_eq!(json["trials"], 4);
/// ```
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
    let runner = Runner::new(model, task, &opts.conversion, obs)
        .at(opts.downsample, opts.window_start_override)
        .seeded(opts.seed, Some(rng::tag::EVAL))
        .with_readout(opts.readout.as_ref());
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
        ci95: wilson_interval(k, o.len(), Z95),
        per_type,
        refit_readout: opts.readout.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiking::testutil::small_model;
    use crate::task::GoNoGo;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn json_has_the_eval_keys_and_nan_rates_are_null() {
        let g = |acc: f64, n: usize, inh: f64| GroupStats {
            n_trials: n,
            accuracy: acc,
            exc_rate_hz: 5.0,
            inh_rate_hz: inh,
        };
        let r = EvalResult {
            lambda: 30.0,
            overall: g(0.75, 4, f64::NAN),
            ci95: wilson_interval(3, 4, Z95),
            per_type: [("go".to_string(), g(0.5, 2, f64::NAN))].into(),
            refit_readout: false,
        };
        let j = serde_json::to_value(&r).unwrap();
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        let want = [
            "accuracy",
            "ci95",
            "lambda",
            "per_type",
            "per_type_rates",
            "rate_exc_hz",
            "rate_inh_hz",
            "trials",
        ];
        assert_eq!(keys, want);
        assert_eq!(j["rate_inh_hz"], serde_json::Value::Null);
        assert_eq!(j["rate_exc_hz"], 5.0);
        assert_eq!(j["per_type"]["go"], 0.5);
        assert_eq!(j["per_type_rates"]["go"]["trials"], 2);
        assert_eq!(j["per_type_rates"]["go"]["inh_hz"], serde_json::Value::Null);
        assert_eq!(j["ci95"][0], r.ci95.0);
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

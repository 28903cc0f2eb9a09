//! Running spiking trials in parallel: one reproducible stream per trial,
//! the outcome of each (correct or not, firing rates), shared by
//! [`super::grid_search`] and [`super::evaluate`].

use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::observe::{Event, Observer};
use crate::rate::RateModel;
use crate::rng;
use crate::spiking::batch::{BatchTrial, BATCH};
use crate::spiking::network::{ConversionOptions, LifNetwork};
use crate::spiking::readout::{FitTrial, SpikingReadout};
use crate::spiking::simulate::SimOptions;
use crate::task::{extend_stimulus, Task, Trial};
use crate::units::SPIKING_STEPS_PER_RATE_STEP;

/// The outcome of one simulated trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Outcome {
    /// Trial type (index into the task's `trial_types()`).
    pub kind: usize,
    /// Whether the spiking output was scored correct.
    pub correct: bool,
    /// Mean firing rate of the excitatory units (Hz).
    pub exc_hz: f64,
    /// Mean firing rate of the inhibitory units (Hz; NaN without any).
    pub inh_hz: f64,
}

/// Shared per-run settings of the trials (build with [`Runner::new`]).
pub(super) struct Runner<'a> {
    model: &'a RateModel,
    task: &'a dyn Task,
    conversion: &'a ConversionOptions,
    downsample: usize,
    window_start: Option<usize>,
    seed: u64,
    tag: Option<u64>,
    readout: Option<&'a SpikingReadout>,
    obs: &'a dyn Observer,
}

impl<'a> Runner<'a> {
    /// A runner at dt = 0.05 ms, scored on the task's window, seed 0, no tag.
    pub fn new(
        model: &'a RateModel,
        task: &'a dyn Task,
        conversion: &'a ConversionOptions,
        obs: &'a dyn Observer,
    ) -> Self {
        Runner {
            model,
            task,
            conversion,
            downsample: 1,
            window_start: None,
            seed: 0,
            tag: None,
            readout: None,
            obs,
        }
    }

    /// Simulate with down-sampling `d`, score from `window_start` if given.
    pub fn at(self, downsample: usize, window_start: Option<usize>) -> Self {
        Runner {
            downsample,
            window_start,
            ..self
        }
    }

    /// Trial `t` at λ draws from `rng::stream(seed, &[tag?, λ bits, t])`.
    pub fn seeded(self, seed: u64, tag: Option<u64>) -> Self {
        Runner { seed, tag, ..self }
    }

    /// Read the spiking network out with `readout` instead of w_out/λ.
    pub fn with_readout(self, readout: Option<&'a SpikingReadout>) -> Self {
        Runner { readout, ..self }
    }
}

impl Runner<'_> {
    /// The network at `lambda`, with the runner's readout if any.
    fn network(&self, lambda: f64) -> Result<LifNetwork> {
        let mut net = LifNetwork::from_rate(self.model, lambda, self.conversion)?;
        if let Some(r) = self.readout {
            net.set_readout(&r.w, r.b)?;
        }
        Ok(net)
    }

    /// Trial `t` at `lambda`: its stream (after the task's draws), the trial
    /// and its spiking stimulus. `Err(Interrupted)` when cancelled.
    fn trial(&self, lambda: f64, t: usize) -> Result<(rng::Rng, Trial, Array2<f64>)> {
        if self.obs.cancelled() {
            return Err(Error::Interrupted);
        }
        let mut s = match self.tag {
            Some(tag) => rng::stream(self.seed, &[tag, lambda.to_bits(), t as u64]),
            None => rng::stream(self.seed, &[lambda.to_bits(), t as u64]),
        };
        let trial = self.task.sample(&mut s);
        let u = extend_stimulus(&trial.u, 1);
        Ok((s, trial, u))
    }

    /// `f(network, options, trial stream, trial, stimulus)` for the trials
    /// `range` at `lambda`, in parallel, in trial order; one
    /// [`Event::Advance`] per trial.
    fn each<T: Send>(
        &self,
        lambda: f64,
        range: std::ops::Range<usize>,
        f: impl Fn(&LifNetwork, &SimOptions, rng::Rng, Trial, Array2<f64>) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let net = self.network(lambda)?;
        let sim = SimOptions {
            downsample: self.downsample,
            ..SimOptions::default()
        };
        range
            .into_par_iter()
            .map(|t| {
                let (s, trial, u) = self.trial(lambda, t)?;
                let out = f(&net, &sim, s, trial, u)?;
                self.obs.event(&Event::Advance(1));
                Ok(out)
            })
            .collect()
    }

    /// Trials `range` at `lambda`, in parallel, in trial order: batches of
    /// [`BATCH`] consecutive trials simulated together
    /// ([`LifNetwork::simulate_batch`], bit-identical per trial to
    /// [`LifNetwork::simulate`]), the batches spread over the threads; one
    /// [`Event::Advance`] per batch (its number of trials).
    pub fn run(&self, lambda: f64, range: std::ops::Range<usize>) -> Result<Vec<Outcome>> {
        let net = self.network(lambda)?;
        let sim = SimOptions {
            downsample: self.downsample,
            ..SimOptions::default()
        };
        let exc: Vec<bool> = net.inh().iter().map(|&b| !b).collect();
        let end = range.end;
        let starts: Vec<usize> = range.step_by(BATCH).collect();
        let batches: Vec<Vec<Outcome>> = starts
            .into_par_iter()
            .map(|s| {
                let mut drawn = Vec::with_capacity(BATCH);
                for t in s..(s + BATCH).min(end) {
                    drawn.push(self.trial(lambda, t)?);
                }
                let batch = drawn
                    .iter()
                    .map(|(rng, _, u)| BatchTrial {
                        u,
                        rng: rng.clone(),
                    })
                    .collect();
                let res = net.simulate_batch(batch, &sim)?;
                let out: Vec<Outcome> = drawn
                    .iter()
                    .zip(&res)
                    .map(|((_, trial, _), r)| Outcome {
                        kind: trial.kind,
                        correct: self.task.score_spiking(
                            trial.kind,
                            &r.out,
                            self.window_start,
                            self.downsample,
                        ),
                        exc_hz: r.mean_rate_hz(&exc),
                        inh_hz: r.mean_rate_hz(net.inh()),
                    })
                    .collect();
                self.obs.event(&Event::Advance(out.len() as u64));
                Ok(out)
            })
            .collect::<Result<_>>()?;
        Ok(batches.concat())
    }

    /// Fitting samples of trials `range` at `lambda` (in parallel, in trial
    /// order): r at the spiking step s_k = (k+1)·S − 1 that ends rate step
    /// k+1 (S = 100/d), paired with the target z_k
    /// ([`crate::spiking::readout`]).
    pub fn fit_trials(&self, lambda: f64, range: std::ops::Range<usize>) -> Result<Vec<FitTrial>> {
        let per_rate_step = SPIKING_STEPS_PER_RATE_STEP / self.downsample;
        self.each(lambda, range, |net, sim, mut s, trial, u| {
            let mut r: Vec<Vec<f64>> = Vec::with_capacity(trial.target.len());
            let mut keep = |k: usize, rk: &[f64]| {
                if (k + 1).is_multiple_of(per_rate_step) && r.len() < trial.target.len() {
                    r.push(rk.to_vec());
                }
            };
            net.simulate_observed(&u, sim, &mut s, Some(&mut keep))?;
            let z = trial.target[..r.len()].to_vec();
            Ok(FitTrial { r, z })
        })
    }
}

/// Fraction of correct trials (NaN for none).
pub(super) fn accuracy(o: &[Outcome]) -> f64 {
    if o.is_empty() {
        return f64::NAN;
    }
    o.iter().filter(|x| x.correct).count() as f64 / o.len() as f64
}

/// Checks shared by [`super::grid_search`] and [`super::evaluate`]: trials,
/// down-sampling factor, task inputs vs model inputs.
pub(super) fn check_common(
    model: &RateModel,
    task: &dyn Task,
    n_trials: usize,
    d: usize,
) -> Result<()> {
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

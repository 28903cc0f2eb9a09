//! Readout refit of a converted spiking network (docs/conversion.md,
//! option b; on by default for go-nogo, `--refit-readout[=false]`).
//!
//! The conversion reads the spiking network out with out = (w_out/λ)·r,
//! r the filtered spike trains (1/ms). After λ is chosen, the refit replaces
//! that readout by one fitted on the spiking network's own rates. K fitting
//! trials are simulated at λ on their own random streams
//! ([`crate::rng::tag::REFIT`]); r is sampled once per rate step of 5 ms, at
//! spiking step s_k = (k+1)·S − 1 (S = 100/d spiking steps per rate step, the
//! step that ends rate step k+1), and paired with the target z_k as the rate
//! output o_{k+1} is. The readout solves the ridge regression with an
//! unpenalised intercept
//!
//! ```text
//! (w, b) = argmin Σ_trials Σ_k (w·r_k + b − z_k)² + α‖w‖²
//! ```
//!
//! in closed form on the centred design Xc (rows r_k − r̄) and target
//! zc = z − z̄: (XcᵀXc + αI) w = Xcᵀzc, b = z̄ − w·r̄.
//! w is in units of 1/r (ms) and replaces w_out/λ; b is dimensionless.
//! Recurrent and input weights are untouched.
//!
//! The penalty is scale-free: α = a·tr(XcᵀXc)/N over a ∈ [`ALPHA_GRID`]. The
//! last `holdout` fraction of the fitting trials is held out; the a with the
//! lowest held-out mean squared error per sample is kept and (w, b) are
//! refitted on all trials with it.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::observe::{Event, Observer, Stage};
use crate::rate::{RateModel, RefitRecord};
use crate::rng;
use crate::spiking::network::{ConversionOptions, LifNetwork};
use crate::spiking::trials::{check_common, Runner};
use crate::task::Task;

/// Down-sampled rates and target of one fitting trial.
#[derive(Debug, Clone, PartialEq)]
pub struct FitTrial {
    /// Row k: the N rates r at spiking step s_k (1/ms), paired with `z[k]`.
    pub r: Vec<Vec<f64>>,
    /// Target z_k (dimensionless).
    pub z: Vec<f64>,
}

/// A spiking readout out = w·r + b (w in ms, i.e. already including 1/λ).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikingReadout {
    /// Weights on r (1 × N).
    pub w: Vec<f64>,
    /// Bias (dimensionless).
    pub b: f64,
}

/// A fitted readout and how its penalty was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedReadout {
    /// The readout (refitted on all trials).
    pub readout: SpikingReadout,
    /// Chosen ridge penalty α (absolute, on all trials).
    pub alpha: f64,
    /// Chosen relative penalty a = α / (tr(XcᵀXc)/N).
    pub alpha_rel: f64,
    /// Held-out mean squared error per sample at the chosen a.
    pub holdout_mse: f64,
}

/// Relative penalties a tried by [`fit_readout`] (α = a·tr(XcᵀXc)/N).
pub const ALPHA_GRID: [f64; 9] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0];

/// Sufficient statistics of the regression: XᵀX, Xᵀz, ΣX, Σz, count.
struct Gram {
    n: usize,
    xtx: Vec<f64>,
    xtz: Vec<f64>,
    sx: Vec<f64>,
    sz: f64,
    cnt: f64,
}

impl Gram {
    fn new(n: usize) -> Self {
        Gram {
            n,
            xtx: vec![0.0; n * n],
            xtz: vec![0.0; n],
            sx: vec![0.0; n],
            sz: 0.0,
            cnt: 0.0,
        }
    }

    fn add(&mut self, t: &FitTrial) {
        let n = self.n;
        for (x, &z) in t.r.iter().zip(&t.z) {
            for (i, &xi) in x.iter().enumerate().filter(|(_, &v)| v != 0.0) {
                self.sx[i] += xi;
                self.xtz[i] += xi * z;
                let row = &mut self.xtx[i * n..(i + 1) * n];
                for (a, &xj) in row.iter_mut().zip(x) {
                    *a += xi * xj;
                }
            }
            self.sz += z;
            self.cnt += 1.0;
        }
    }

    /// tr(XcᵀXc) = Σ_i (Σx_i² − (Σx_i)²/c).
    fn trace_centred(&self) -> f64 {
        (0..self.n)
            .map(|i| self.xtx[i * self.n + i] - self.sx[i] * self.sx[i] / self.cnt)
            .sum()
    }

    /// (XcᵀXc + αI) w = Xcᵀzc, b = z̄ − w·x̄.
    fn solve(&self, alpha: f64) -> Result<SpikingReadout> {
        let (n, c) = (self.n, self.cnt);
        let mx: Vec<f64> = self.sx.iter().map(|s| s / c).collect();
        let mz = self.sz / c;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = self.xtx[i * n + j] - c * mx[i] * mx[j];
            }
            a[i * n + i] += alpha;
        }
        let rhs: Vec<f64> = (0..n).map(|i| self.xtz[i] - c * mx[i] * mz).collect();
        let w = cholesky_solve(&mut a, n, &rhs)?;
        let b = mz - w.iter().zip(&mx).map(|(w, m)| w * m).sum::<f64>();
        Ok(SpikingReadout { w, b })
    }
}

/// Solve A x = b for symmetric positive definite A (row-major n × n,
/// overwritten by its Cholesky factor).
fn cholesky_solve(a: &mut [f64], n: usize, b: &[f64]) -> Result<Vec<f64>> {
    // Sums by sequential subtraction (the prototype's rounding order).
    let minus = |init: f64, terms: &mut dyn Iterator<Item = f64>| terms.fold(init, |d, t| d - t);
    for j in 0..n {
        let d = minus(
            a[j * n + j],
            &mut (0..j).map(|k| a[j * n + k] * a[j * n + k]),
        );
        if d.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::param(
                "readout",
                "ridge system not positive definite",
            ));
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let s = minus(
                a[i * n + j],
                &mut (0..j).map(|k| a[i * n + k] * a[j * n + k]),
            );
            a[i * n + j] = s / d;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        y[i] = minus(y[i], &mut (0..i).map(|k| a[i * n + k] * y[k])) / a[i * n + i];
    }
    for i in (0..n).rev() {
        y[i] = minus(y[i], &mut (i + 1..n).map(|k| a[k * n + i] * y[k])) / a[i * n + i];
    }
    Ok(y)
}

/// Mean squared error per sample of `ro` on `trials`.
pub fn mse(trials: &[FitTrial], ro: &SpikingReadout) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for t in trials {
        for (x, &z) in t.r.iter().zip(&t.z) {
            let o = x.iter().zip(&ro.w).map(|(a, b)| a * b).sum::<f64>() + ro.b;
            s += (o - z) * (o - z);
            c += 1.0;
        }
    }
    s / c
}

/// Fit (w, b) on `trials` (module docs). `holdout` ∈ (0, 1) is the fraction
/// of trials (the last ones) held out to choose the penalty.
pub fn fit_readout(trials: &[FitTrial], holdout: f64) -> Result<FittedReadout> {
    if trials.len() < 2 || !(holdout > 0.0 && holdout < 1.0) {
        return Err(Error::param(
            "refit-holdout",
            "needs at least 2 fitting trials and 0 < holdout < 1",
        ));
    }
    let n = trials[0].r.first().map_or(0, Vec::len);
    if n == 0 {
        return Err(Error::param(
            "refit-trials",
            "fitting trials have no samples",
        ));
    }
    let n_val = ((trials.len() as f64 * holdout).round() as usize).clamp(1, trials.len() - 1);
    let (fit, val) = trials.split_at(trials.len() - n_val);
    let mut g = Gram::new(n);
    fit.iter().for_each(|t| g.add(t));
    let scale = g.trace_centred() / n as f64;
    let mut best: Option<(f64, f64)> = None;
    for &a in &ALPHA_GRID {
        if let Ok(ro) = g.solve(a * scale) {
            let e = mse(val, &ro);
            if best.is_none_or(|(_, be)| e < be) {
                best = Some((a, e));
            }
        }
    }
    let (a, e) = best.ok_or_else(|| Error::param("readout", "no penalty gave a solution"))?;
    val.iter().for_each(|t| g.add(t));
    let alpha = a * g.trace_centred() / n as f64;
    Ok(FittedReadout {
        readout: g.solve(alpha)?,
        alpha,
        alpha_rel: a,
        holdout_mse: e,
    })
}

/// Options of [`refit_readout`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefitOptions {
    /// Fitting trials K (default 100).
    pub n_trials: usize,
    /// Held-out fraction of the fitting trials (default 0.25).
    pub holdout: f64,
}

impl Default for RefitOptions {
    fn default() -> Self {
        RefitOptions {
            n_trials: 100,
            holdout: 0.25,
        }
    }
}

/// Simulate `opts.n_trials` fitting trials at `lambda` (trial `t` draws
/// from `rng::stream(seed, &[rng::tag::REFIT, λ.to_bits(), t])`, distinct
/// from the search's and the evaluation's streams) and fit the readout
/// ([`fit_readout`]). Progress as a [`Stage::Evaluation`] stage.
pub fn refit_readout(
    model: &RateModel,
    task: &dyn Task,
    lambda: f64,
    conversion: &ConversionOptions,
    (seed, downsample): (u64, usize),
    opts: &RefitOptions,
    obs: &dyn Observer,
) -> Result<RefitRecord> {
    check_common(model, task, opts.n_trials, downsample)?;
    obs.event(&Event::Begin {
        stage: Stage::Evaluation,
        total: opts.n_trials as u64,
    });
    let runner = Runner::new(model, task, conversion, obs)
        .at(downsample, None)
        .seeded(seed, Some(rng::tag::REFIT));
    let trials = runner.fit_trials(lambda, 0..opts.n_trials)?;
    obs.event(&Event::End);
    let f = fit_readout(&trials, opts.holdout)?;
    Ok(RefitRecord {
        w_out_spk: f.readout.w,
        b_out_spk: f.readout.b,
        lambda,
        alpha: f.alpha,
        trials: opts.n_trials,
        holdout_mse: f.holdout_mse,
    })
}

/// The refitted readout stored with `model`, if its λ is `lambda` (a
/// readout fitted at another λ does not apply).
pub fn stored_readout(model: &RateModel, lambda: f64) -> Option<SpikingReadout> {
    let r = model.search.as_ref()?.refit.as_ref()?;
    (r.lambda == lambda && r.w_out_spk.len() == model.n()).then(|| SpikingReadout {
        w: r.w_out_spk.clone(),
        b: r.b_out_spk,
    })
}

/// The spiking network of `model` at `lambda`, read out as `eval` scores
/// it: with the refitted readout stored with `model` at this λ
/// ([`stored_readout`]), else with the conversion's.
pub fn network_as_scored(
    model: &RateModel,
    lambda: f64,
    conv: &ConversionOptions,
) -> Result<LifNetwork> {
    let mut net = LifNetwork::from_rate(model, lambda, conv)?;
    if let Some(r) = stored_readout(model, lambda) {
        net.set_readout(&r.w, r.b)?;
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniforms in [0, 1) (a 64-bit LCG).
    fn uniforms(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn linear_trials(w0: &[f64], b0: f64, noise: f64, n_trials: usize) -> Vec<FitTrial> {
        let mut next = uniforms(1);
        (0..n_trials)
            .map(|_| {
                let r: Vec<Vec<f64>> = (0..50)
                    .map(|_| w0.iter().map(|_| next()).collect())
                    .collect();
                let z = r
                    .iter()
                    .map(|x| {
                        let o: f64 = x.iter().zip(w0).map(|(a, b)| a * b).sum();
                        o + b0 + noise * (next() - 0.5)
                    })
                    .collect();
                FitTrial { r, z }
            })
            .collect()
    }

    #[test]
    fn recovers_known_weights_with_the_smallest_penalty() {
        // z = w0·r + b0 exactly: the held-out error grows with α, so the
        // smallest a wins, and with α = 1e-6·tr/N ≈ 1e-6·(500·1/12) the
        // shrinkage is ~1e-6 relative: w = w0, b = b0 to 1e-4.
        let w0 = [0.5, -1.0, 2.0, 0.0, 0.3];
        let f = fit_readout(&linear_trials(&w0, 0.25, 0.0, 10), 0.3).unwrap();
        for (a, b) in f.readout.w.iter().zip(&w0) {
            assert!((a - b).abs() < 1e-4, "{:?}", f.readout.w);
        }
        assert!((f.readout.b - 0.25).abs() < 1e-4);
        assert_eq!(f.alpha_rel, ALPHA_GRID[0]);
        assert!(f.holdout_mse < 1e-10);
    }

    #[test]
    fn closed_form_one_unit() {
        // One unit, samples x = 0, 1, 2, 3 with z = 1, 3, 5, 7 (z = 2x + 1):
        // centred Σxc² = 5, Σxc·zc = 10, so w = 10/(5 + α), b = z̄ − w·x̄.
        let t = FitTrial {
            r: vec![vec![0.0], vec![1.0], vec![2.0], vec![3.0]],
            z: vec![1.0, 3.0, 5.0, 7.0],
        };
        let mut g = Gram::new(1);
        g.add(&t);
        assert!((g.trace_centred() - 5.0).abs() < 1e-12);
        let ro = g.solve(5.0).unwrap();
        assert!((ro.w[0] - 1.0).abs() < 1e-12);
        assert!((ro.b - (4.0 - 1.5)).abs() < 1e-12);
    }

    #[test]
    fn held_out_choice_penalises_noise_fitting() {
        // 40 units, 20 fitting samples of pure noise: without a penalty the
        // fit interpolates the noise; the held-out split must pick a large a.
        let mut next = uniforms(7);
        let trials: Vec<FitTrial> = (0..8)
            .map(|_| FitTrial {
                r: (0..5).map(|_| (0..40).map(|_| next()).collect()).collect(),
                z: (0..5).map(|_| next()).collect(),
            })
            .collect();
        let f = fit_readout(&trials, 0.25).unwrap();
        assert!(f.alpha_rel >= 0.1, "chose a = {}", f.alpha_rel);
    }

    #[test]
    fn bad_holdout_names_the_flag() {
        let t = linear_trials(&[1.0], 0.0, 0.0, 4);
        let e = fit_readout(&t, 1.0).unwrap_err();
        assert!(e.to_string().contains("refit-holdout"));
    }

    /// `network_as_scored` reads out with the stored refit at its λ only.
    #[test]
    fn network_as_scored_uses_the_stored_readout_at_its_lambda() {
        let mut m = crate::spiking::testutil::small_model();
        let n = m.n();
        let w: Vec<f64> = (0..n).map(|i| 0.01 * i as f64).collect();
        m.search = Some(crate::rate::SearchRecord {
            opt_scaling_factor: 30.0,
            all_perfs: vec![1.0],
            scaling_factors: vec![30.0],
            refit: Some(RefitRecord {
                w_out_spk: w.clone(),
                b_out_spk: -0.25,
                lambda: 30.0,
                ..RefitRecord::default()
            }),
        });
        let conv = ConversionOptions::default();
        let r: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
        let want: f64 = w.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() - 0.25;
        let at30 = network_as_scored(&m, 30.0, &conv).unwrap();
        assert!((at30.readout(&r) - want).abs() < 1e-12);
        let at31 = network_as_scored(&m, 31.0, &conv).unwrap();
        let plain = LifNetwork::from_rate(&m, 31.0, &conv).unwrap();
        assert_eq!(at31.readout(&r), plain.readout(&r));
    }
}

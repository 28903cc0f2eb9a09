//! One simulated trial of a [`LifNetwork`] (docs/model.md#spiking-conversion).
//!
//! Time: one spiking step is 0.05 ms (×`downsample`); 100 spiking steps make
//! one rate step of 5 ms. Step indices are 0-based: step `k` here is step
//! `k + 1` of the MATLAB reference `LIF_network_fnc.m`.
//!
//! Update order within a step (identical to the MATLAB reference), the
//! stages of the loop in [`LifNetwork::simulate`]:
//! 1. **input current** `I = IPSC + bias + w_in·u[:, col]` with
//!    `col = round((k + 1) / 100)`, clamped to the last column
//!    ([`stimulus_column`]; the products `w_in·u` are precomputed per column);
//! 2. **integrate + noise** ([`neuron_step`]): every unit outside its
//!    refractory period integrates `v += dt·(−v + I)/tau_m` (QIF:
//!    `dt·(v² + I)/tau_m`); then every unit, refractory or not, gets the
//!    voltage noise `N(0, noise_sd²)`;
//! 3. **opto**: the optogenetic kick, if any ([`Opto`]);
//! 4. **spikes**: units with `v ≥ v_th` spike; the W_spk columns of the
//!    spikers are summed into `JD`, their refractory clock starts;
//! 5. **synapses** ([`synapse_step`]): `IPSC ← IPSC·e^(−dt/td) + h·dt`,
//!    `h ← h·e^(−dt/tr) + JD/(tr·td)` and the same for the rate filter `r`,
//!    `hr` with the spike indicator;
//! 6. **output / record**: `out[k] = (w_out/λ)·r` (+ b with an output bias
//!    or a refitted readout, [`LifNetwork::readout`]); voltage recorded as
//!    `v_peak` for spikers (which the neuron step has already reset to
//!    `v_reset`).
//!
//! As in the reference, every unit starts with its refractory clock running
//! (MATLAB's `tlast = 0`), so nobody integrates during the first 2 ms; only
//! noise moves the voltages then.
//!
//! Where this differs from docs/model.md or MATLAB: the refractory clock is stored as
//! f64 whole steps (so that the neuron update vectorises); the voltage noise
//! comes from a single-precision Box–Muller sampler ([`crate::rng::normal_pair`])
//! instead of MATLAB's `randn`, so runs match MATLAB statistically, not bit for bit;
//! spikes are events `(unit, step)` rather than an N × nt matrix, and
//! matrices are recorded only on request ([`Record`]).
//!
//! The λ search and the evaluation run their trials four at a time through
//! [`crate::spiking::batch`], which gives every trial exactly (bit for bit)
//! what [`LifNetwork::simulate`] gives it.

use std::borrow::Cow;

use ndarray::Array2;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::fill_normal_with;
use crate::spiking::network::LifNetwork;
use crate::spiking::neuron::{neuron_step, LifState};
use crate::spiking::synapse::{synapse_step, SynapseParams, SynapseState};
use crate::units::{SPIKING_DT_MS, SPIKING_STEPS_PER_RATE_STEP};

/// First 0-based step whose spikes count towards [`SimResult::rates_hz`]:
/// docs/model.md#spiking-conversion and MATLAB's `spk(:, 10:end)` count from (1-based) step 10. This
/// leaves out the burst of the first step, when every unit whose random
/// initial voltage (uniform in [v_reset, v_peak]) lies above threshold
/// fires at once.
pub const RATE_COUNT_FROM_STEP: usize = 9;

/// Size of an optogenetic kick (mV): `+` for [`OptoMode::Exc`], `−` for
/// [`OptoMode::Inh`] (docs/model.md#spiking-conversion).
pub const OPTO_KICK_MV: f64 = 0.5;

/// Probability per step inside the window that the listed units get the
/// kick (one draw for all of them; docs/model.md#spiking-conversion).
pub const OPTO_PROBABILITY: f64 = 0.5;

/// Stimulus column used at 0-based step `k`: MATLAB's `round(i/100)` with
/// `i = k + 1` (`ext_stim(:, round(i/100) + 1)` 1-based), clamped to the
/// last of `n_cols` columns.
#[inline(always)]
pub fn stimulus_column(k: usize, n_cols: usize) -> usize {
    ((k + 1 + SPIKING_STEPS_PER_RATE_STEP / 2) / SPIKING_STEPS_PER_RATE_STEP).min(n_cols - 1)
}

/// Optogenetic stimulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OptoMode {
    /// No stimulation.
    #[default]
    None,
    /// Depolarising: +[`OPTO_KICK_MV`].
    Exc,
    /// Hyperpolarising: −[`OPTO_KICK_MV`].
    Inh,
}

/// Optogenetic stimulation: inside the step window [on, off) (0-based
/// steps), with probability 0.5 per step (one draw for all listed units), the
/// listed units' voltages move by ±0.5 mV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opto {
    /// Mode.
    pub mode: OptoMode,
    /// First stimulated step.
    pub on: usize,
    /// First step after the window.
    pub off: usize,
    /// Stimulated units (0-based).
    pub units: Vec<usize>,
}

/// Which N × nt matrices to record (spikes and output are always recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    /// Membrane voltages (mV; `v_peak` at spikes).
    pub voltages: bool,
    /// Filtered spike trains r (the readout's input).
    pub rates: bool,
    /// Input currents IPSC + external (without bias) used at each step.
    pub currents: bool,
}

/// Options of [`LifNetwork::simulate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// Down-sampling factor d ≥ 1: keep every d-th stimulus column and use
    /// dt = d · 0.05 ms.
    pub downsample: usize,
    /// Optogenetic stimulation.
    pub opto: Opto,
    /// Matrices to record.
    pub record: Record,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            downsample: 1,
            opto: Opto::default(),
            record: Record::default(),
        }
    }
}

/// The result of one simulated trial.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResult {
    /// Spike events (unit, 0-based step), in time order.
    pub spikes: Vec<(u32, u32)>,
    /// Output `(w_out/λ)·r` at every step (+ b, see [`LifNetwork::readout`]).
    pub out: Vec<f64>,
    /// Step length (ms).
    pub dt_ms: f64,
    /// Trial duration T_sec (s).
    pub t_sec: f64,
    /// Number of steps nt.
    pub n_steps: usize,
    /// Firing rate per unit (Hz): spikes from 0-based step
    /// [`RATE_COUNT_FROM_STEP`] on (MATLAB's `spk(i, 10:end)`) divided by
    /// `t_sec`.
    pub rates_hz: Vec<f64>,
    /// Membrane voltages N × nt (mV), if recorded.
    pub voltages: Option<Array2<f64>>,
    /// Filtered spike trains N × nt, if recorded.
    pub rates: Option<Array2<f64>>,
    /// Input currents N × nt, if recorded.
    pub currents: Option<Array2<f64>>,
}

impl SimResult {
    /// Mean firing rate (Hz) of the units where `mask` is true (NaN if none).
    pub fn mean_rate_hz(&self, mask: &[bool]) -> f64 {
        let (s, c) = self
            .rates_hz
            .iter()
            .zip(mask)
            .filter(|(_, &m)| m)
            .fold((0.0, 0usize), |(s, c), (r, _)| (s + r, c + 1));
        if c == 0 {
            f64::NAN
        } else {
            s / c as f64
        }
    }
}
/// The time grid of one trial (docs/model.md#spiking-conversion "Simulation length").
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Timing {
    /// Down-sampling factor d.
    pub downsample: usize,
    /// Stimulus columns kept (every d-th).
    pub cols: Vec<usize>,
    /// Step (ms): d · 0.05.
    pub dt_ms: f64,
    /// T_sec = (kept columns − 1) · dt · 100 (s).
    pub t_sec: f64,
    /// Number of steps nt = round(T_sec / dt).
    pub nt: usize,
}

/// A per-step observer of [`LifNetwork::simulate_observed`]: called with
/// the 0-based step and the N filtered spike trains r (1/ms).
pub type Observe<'a> = &'a mut dyn FnMut(usize, &[f64]);

/// One trial ready to run: its time grid, the precomputed external
/// current of every kept column (N per column, mV) and the options.
struct Trial<'a> {
    timing: Timing,
    ext: Vec<f64>,
    opts: &'a SimOptions,
}

/// The optogenetic kick of one trial: ±[`OPTO_KICK_MV`] on `units` with
/// probability [`OPTO_PROBABILITY`] per step in [on, off).
struct Kick<'a> {
    units: &'a [usize],
    dv: f64,
    on: usize,
    off: usize,
}

impl<'a> Kick<'a> {
    fn new(opto: &'a Opto) -> Self {
        let dv = match opto.mode {
            OptoMode::None => 0.0,
            OptoMode::Exc => OPTO_KICK_MV,
            OptoMode::Inh => -OPTO_KICK_MV,
        };
        Kick {
            units: &opto.units,
            dv,
            on: opto.on,
            off: opto.off,
        }
    }

    /// The kick at step `k`, if any (draws one uniform inside the window).
    #[inline(always)]
    fn at<R: RngCore + ?Sized>(&self, k: usize, rng: &mut R) -> Option<(&'a [usize], f64)> {
        if self.dv != 0.0 && k >= self.on && k < self.off {
            (rng.random::<f64>() < OPTO_PROBABILITY).then_some((self.units, self.dv))
        } else {
            None
        }
    }
}

/// Spike events and the per-unit counts behind the firing rates.
struct SpikeLog {
    events: Vec<(u32, u32)>,
    counts: Vec<u32>,
}

impl SpikeLog {
    fn new(n: usize) -> Self {
        SpikeLog {
            events: Vec::with_capacity(8 * n),
            counts: vec![0; n],
        }
    }

    /// Log this step's spikers (counted from [`RATE_COUNT_FROM_STEP`] on).
    #[inline(always)]
    fn log(&mut self, k: usize, fired: &[u32]) {
        for &j in fired {
            if k >= RATE_COUNT_FROM_STEP {
                self.counts[j as usize] += 1;
            }
            self.events.push((j, k as u32));
        }
    }

    /// Firing rates (Hz): counts / T_sec.
    fn rates_hz(&self, t_sec: f64) -> Vec<f64> {
        self.counts.iter().map(|&c| c as f64 / t_sec).collect()
    }
}

/// The N × nt matrices asked for by [`Record`].
struct Recorder {
    voltages: Option<Array2<f64>>,
    rates: Option<Array2<f64>>,
    currents: Option<Array2<f64>>,
    v_peak: f64,
}

impl Recorder {
    fn new(rec: Record, n: usize, nt: usize, v_peak: f64) -> Self {
        Recorder {
            voltages: rec.voltages.then(|| Array2::zeros((n, nt))),
            rates: rec.rates.then(|| Array2::zeros((n, nt))),
            currents: rec.currents.then(|| Array2::zeros((n, nt))),
            v_peak,
        }
    }

    /// Stage 1: the input current IPSC + external of step `k` (no bias).
    #[inline(always)]
    fn input(&mut self, k: usize, ipsc: &[f64], ext: &[f64]) {
        if let Some(c) = self.currents.as_mut() {
            for (i, (&s, &e)) in ipsc.iter().zip(ext).enumerate() {
                c[[i, k]] = s + e;
            }
        }
    }

    /// Stage 6: voltages (`v_peak` for this step's spikers) and filtered
    /// spike trains after step `k`.
    #[inline(always)]
    fn after_step(&mut self, k: usize, v: &[f64], fired: &[u32], r: &[f64]) {
        if let Some(m) = self.voltages.as_mut() {
            for (i, &x) in v.iter().enumerate() {
                m[[i, k]] = x;
            }
            for &j in fired {
                m[[j as usize, k]] = self.v_peak;
            }
        }
        if let Some(m) = self.rates.as_mut() {
            for (i, &x) in r.iter().enumerate() {
                m[[i, k]] = x;
            }
        }
    }
}

impl LifNetwork {
    /// Simulate one trial. `u` is the spiking stimulus, n_in × (T+1) columns
    /// of 5 ms (see [`crate::task::extend_stimulus`]). The run lasts
    /// `nt = (columns − 1)·100/d` steps of `d·0.05` ms after down-sampling by
    /// `d` (Go-NoGo: 20 000 steps, 1 s). Example: [`LifNetwork::from_rate`].
    ///
    /// On x86-64 CPUs with AVX2 the same code is run compiled for AVX2
    /// (detected at run time; no FMA contraction, so results are identical).
    pub fn simulate<R: RngCore + ?Sized>(
        &self,
        u: &Array2<f64>,
        opts: &SimOptions,
        rng: &mut R,
    ) -> Result<SimResult> {
        self.simulate_observed(u, opts, rng, None)
    }

    /// As [`LifNetwork::simulate`], calling `observe(k, r)` after step `k`
    /// with the N filtered spike trains r (1/ms, stage 5's result): extra
    /// readouts or down-sampled rates without recording N × nt matrices
    /// (e.g. the readout refit, [`crate::spiking::readout`]).
    pub fn simulate_observed<R: RngCore + ?Sized>(
        &self,
        u: &Array2<f64>,
        opts: &SimOptions,
        rng: &mut R,
        observe: Option<Observe<'_>>,
    ) -> Result<SimResult> {
        let timing = self.check_inputs(u, opts)?;
        let ext = self.external_currents(u, &timing.cols);
        let trial = Trial { timing, ext, opts };
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.run_avx2(&trial, rng, observe) };
            }
        }
        self.run(&trial, rng, observe)
    }

    /// Validate the stimulus and options; the time grid of the trial.
    pub(super) fn check_inputs(&self, u: &Array2<f64>, opts: &SimOptions) -> Result<Timing> {
        let n_in = self.n_inputs();
        if u.nrows() != n_in {
            return Err(Error::param(
                "stimulus",
                format!(
                    "expected {n_in} rows (one per network input), got {}",
                    u.nrows()
                ),
            ));
        }
        if u.iter().any(|x| !x.is_finite()) {
            return Err(Error::param("stimulus", "holds NaN or infinite values"));
        }
        let d = opts.downsample;
        if d == 0 {
            return Err(Error::param("downsample", "must be at least 1"));
        }
        let cols: Vec<usize> = (0..u.ncols()).step_by(d).collect();
        if cols.len() < 2 {
            return Err(Error::param(
                "stimulus",
                format!(
                    "needs at least 2 columns after down-sampling by {d}, got {}",
                    u.ncols()
                ),
            ));
        }
        if let Some(&bad) = opts.opto.units.iter().find(|&&j| j >= self.n) {
            return Err(Error::param(
                "opto units",
                format!("unit {bad} does not exist (N = {})", self.n),
            ));
        }
        let dt_ms = SPIKING_DT_MS * d as f64;
        let t_sec = (cols.len() - 1) as f64 * dt_ms * 100.0 / 1000.0;
        let nt = (t_sec * 1000.0 / dt_ms).round() as usize;
        Ok(Timing {
            downsample: d,
            cols,
            dt_ms,
            t_sec,
            nt,
        })
    }

    /// External current `w_in·u[:, c]` of every kept column `c`, one
    /// contiguous block of N per column (mV).
    pub(super) fn external_currents(&self, u: &Array2<f64>, cols: &[usize]) -> Vec<f64> {
        let n = self.n;
        let mut ext = vec![0.0; cols.len() * n];
        for (c, &src) in cols.iter().enumerate() {
            for k in 0..self.n_inputs() {
                let x = u[[k, src]];
                if x != 0.0 {
                    for i in 0..n {
                        ext[c * n + i] += self.w_in[[i, k]] * x;
                    }
                }
            }
        }
        ext
    }

    /// The synaptic constants at the trial's step (recomputed only when
    /// down-sampling).
    pub(super) fn synapses_at(&self, t: &Timing) -> Result<Cow<'_, SynapseParams>> {
        if t.downsample == 1 {
            return Ok(Cow::Borrowed(&self.syn));
        }
        let td = self.syn.td_ms().to_vec();
        Ok(Cow::Owned(SynapseParams::new(
            td,
            self.syn.tr_ms(),
            t.dt_ms,
        )?))
    }

    /// `JD`, the summed W_spk columns of this step's spikers (stage 4), in
    /// `jd`; `None` when nobody spiked.
    #[inline(always)]
    fn summed_drive<'a>(&self, fired: &[u32], jd: &'a mut [f64]) -> Option<&'a [f64]> {
        if fired.is_empty() {
            return None;
        }
        jd.fill(0.0);
        for &j in fired {
            for (a, &w) in jd.iter_mut().zip(self.column(j as usize)) {
                *a += w;
            }
        }
        Some(jd)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2<R: RngCore + ?Sized>(
        &self,
        trial: &Trial,
        rng: &mut R,
        observe: Option<Observe<'_>>,
    ) -> Result<SimResult> {
        self.run(trial, rng, observe)
    }

    /// The step loop, stages 1–6 of the module docs. One function with
    /// every stage `#[inline(always)]`, so that the whole loop is compiled
    /// (and vectorised) inside [`Self::run_avx2`]: a call per stage and step
    /// (20 000 steps × 6 stages per trial) would cost speed.
    #[inline(always)]
    fn run<R: RngCore + ?Sized>(
        &self,
        trial: &Trial,
        rng: &mut R,
        mut observe: Option<Observe<'_>>,
    ) -> Result<SimResult> {
        let (t, ext, opts) = (&trial.timing, &trial.ext[..], trial.opts);
        let n = self.n;
        let syn = self.synapses_at(t)?;
        let nc = self.neuron.at_dt(t.dt_ms);
        let sd = self.neuron.noise_sd;
        let kick = Kick::new(&opts.opto);
        let mut state = LifState::random(n, &nc, rng);
        let mut syn_state = SynapseState::new(n);
        let (mut noise, mut bits) = (vec![0.0; n], vec![0u64; n.div_ceil(2)]);
        let mut jd = vec![0.0; n];
        let mut fired: Vec<u32> = Vec::with_capacity(n);
        let mut log = SpikeLog::new(n);
        let mut out = Vec::with_capacity(t.nt);
        let mut rec = Recorder::new(opts.record, n, t.nt, self.neuron.v_peak);
        for k in 0..t.nt {
            // 1. Input current (the neuron step adds the bias).
            let col = stimulus_column(k, t.cols.len());
            let e = &ext[col * n..(col + 1) * n];
            rec.input(k, &syn_state.ipsc, e);
            // 2.–4. Integrate + noise, opto, spikes (noise drawn before the kick).
            if sd > 0.0 {
                fill_normal_with(rng, &mut noise, sd, &mut bits);
            }
            let kick_now = kick.at(k, rng);
            fired.clear();
            let ipsc = &syn_state.ipsc;
            neuron_step(&nc, &mut state, ipsc, e, &noise, kick_now, &mut fired);
            log.log(k, &fired);
            // 5. Synapses.
            let jd_now = self.summed_drive(&fired, &mut jd);
            synapse_step(&syn, &mut syn_state, jd_now, &fired);
            // 6. Output and record.
            out.push(self.readout(&syn_state.r));
            if let Some(f) = observe.as_mut() {
                f(k, &syn_state.r);
            }
            rec.after_step(k, &state.v, &fired, &syn_state.r);
        }
        Ok(SimResult {
            rates_hz: log.rates_hz(t.t_sec),
            spikes: log.events,
            out,
            dt_ms: t.dt_ms,
            t_sec: t.t_sec,
            n_steps: t.nt,
            voltages: rec.voltages,
            rates: rec.rates,
            currents: rec.currents,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiking::network::ConversionOptions;
    use crate::spiking::neuron::LifParams;
    use crate::spiking::testutil::{constant_stimulus, toy_model};

    #[test]
    fn stimulus_column_rounds_half_up_and_clamps() {
        // round(i/100), i = k + 1: k = 48 → 0.49 → 0; k = 49 → 0.50 → 1.
        assert_eq!(stimulus_column(0, 4), 0);
        assert_eq!(stimulus_column(48, 4), 0);
        assert_eq!(stimulus_column(49, 4), 1);
        assert_eq!(stimulus_column(149, 4), 2);
        assert_eq!(stimulus_column(10_000, 4), 3);
    }

    #[test]
    fn simulated_rate_matches_isi_and_grows_with_drive() {
        let drives = vec![5.0, 20.0, 60.0, 200.0];
        let model = toy_model(Array2::zeros((4, 4)), drives.clone(), vec![false; 4]);
        let mut net = LifNetwork::from_rate(&model, 1.0, &ConversionOptions::default()).unwrap();
        net.neuron.noise_sd = 0.0;
        let u = constant_stimulus(201);
        let res = net
            .simulate(&u, &SimOptions::default(), &mut crate::rng::from_seed(1))
            .unwrap();
        assert_eq!(res.n_steps, 20_000);
        assert!((res.t_sec - 1.0).abs() < 1e-12);
        let p = LifParams::lif();
        for (i, &e) in drives.iter().enumerate() {
            let i_tot = p.bias + e;
            let isi_s =
                (p.t_ref_ms + p.tau_m_ms * ((i_tot - p.v_reset) / (i_tot - p.v_th)).ln()) / 1000.0;
            // Within one spike of T/ISI plus the Euler and crossing error.
            let want = 1.0 / isi_s;
            assert!(
                (res.rates_hz[i] - want).abs() < 2.0 + 0.02 * want,
                "unit {i}: {} Hz, closed form {want} Hz",
                res.rates_hz[i]
            );
        }
        assert!(res.rates_hz.windows(2).all(|w| w[1] > w[0]));
        // With noise, more drive still means more spikes.
        net.neuron.noise_sd = 0.1;
        let noisy = net
            .simulate(&u, &SimOptions::default(), &mut crate::rng::from_seed(2))
            .unwrap();
        assert!(noisy.rates_hz.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn large_negative_input_silences_inhibitory_units() {
        let n = 20;
        let inh: Vec<bool> = (0..n).map(|i| i % 4 == 0).collect();
        let w = Array2::from_shape_fn((n, n), |(i, j)| if i != j { 0.5 } else { 0.0 });
        let w_in = inh.iter().map(|&b| if b { -500.0 } else { 30.0 }).collect();
        let model = toy_model(w, w_in, inh.clone());
        let net = LifNetwork::from_rate(&model, 10.0, &ConversionOptions::default()).unwrap();
        let res = net
            .simulate(
                &constant_stimulus(201),
                &SimOptions::default(),
                &mut crate::rng::from_seed(5),
            )
            .unwrap();
        let exc: Vec<bool> = inh.iter().map(|&b| !b).collect();
        assert!(res.mean_rate_hz(&inh) <= 1.0, "{}", res.mean_rate_hz(&inh));
        assert!(res.mean_rate_hz(&exc) > 20.0, "{}", res.mean_rate_hz(&exc));
    }

    #[test]
    fn external_column_follows_matlab_rounding() {
        // Column index round(i/100) with 1-based step i = k + 1.
        let model = toy_model(Array2::zeros((1, 1)), vec![1.0], vec![false]);
        let net = LifNetwork::from_rate(&model, 1.0, &ConversionOptions::default()).unwrap();
        let u = Array2::from_shape_fn((1, 4), |(_, j)| j as f64 * 10.0);
        let opts = SimOptions {
            record: Record {
                currents: true,
                ..Record::default()
            },
            ..SimOptions::default()
        };
        let res = net
            .simulate(&u, &opts, &mut crate::rng::from_seed(0))
            .unwrap();
        let c = res.currents.unwrap();
        assert_eq!(c.dim(), (1, 300));
        assert!(res.voltages.is_none() && res.rates.is_none());
        assert_eq!(c[[0, 48]], 0.0);
        assert_eq!(c[[0, 49]], 10.0);
        assert_eq!(c[[0, 148]], 10.0);
        assert_eq!(c[[0, 149]], 20.0);
        assert_eq!(c[[0, 249]], 30.0);
        assert_eq!(c[[0, 299]], 30.0);
        // Down-sampling by 2 keeps columns 0 and 2: 100 steps of 0.1 ms.
        let res = net
            .simulate(
                &u,
                &SimOptions {
                    downsample: 2,
                    ..opts
                },
                &mut crate::rng::from_seed(0),
            )
            .unwrap();
        assert_eq!(res.n_steps, 100);
        assert!((res.dt_ms - 0.1).abs() < 1e-12);
        let c = res.currents.unwrap();
        assert_eq!(c[[0, 48]], 0.0);
        assert_eq!(c[[0, 49]], 20.0);
    }

    #[test]
    fn bad_arguments_name_the_parameter() {
        let model = toy_model(Array2::zeros((2, 2)), vec![1.0; 2], vec![false; 2]);
        for l in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let e = LifNetwork::from_rate(&model, l, &ConversionOptions::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("lambda"), "{e}");
        }
        let net = LifNetwork::from_rate(&model, 1.0, &ConversionOptions::default()).unwrap();
        let e = net
            .simulate(
                &Array2::zeros((2, 201)),
                &SimOptions::default(),
                &mut crate::rng::from_seed(0),
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("stimulus") && e.contains("expected 1 rows"),
            "{e}"
        );
        let e = net
            .simulate(
                &Array2::zeros((1, 201)),
                &SimOptions {
                    downsample: 0,
                    ..SimOptions::default()
                },
                &mut crate::rng::from_seed(0),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("downsample"), "{e}");
    }

    #[test]
    fn opto_kick_drives_a_silent_unit() {
        // I = −45 mV: silent without stimulation; +0.5 mV on half the steps
        // (mean +0.25 mV/step) outruns the leak and makes it fire.
        let model = toy_model(Array2::zeros((2, 2)), vec![-5.0, -5.0], vec![false; 2]);
        let mut net = LifNetwork::from_rate(&model, 1.0, &ConversionOptions::default()).unwrap();
        net.neuron.noise_sd = 0.0;
        let opts = SimOptions {
            opto: Opto {
                mode: OptoMode::Exc,
                on: 5_000,
                off: 15_000,
                units: vec![1],
            },
            record: Record {
                voltages: true,
                ..Record::default()
            },
            ..SimOptions::default()
        };
        let res = net
            .simulate(
                &constant_stimulus(201),
                &opts,
                &mut crate::rng::from_seed(9),
            )
            .unwrap();
        let late = |u: u32| {
            res.spikes
                .iter()
                .filter(|&&(j, k)| j == u && k >= 100)
                .count()
        };
        assert_eq!(late(0), 0);
        assert!(late(1) > 10);
        assert!(res
            .spikes
            .iter()
            .filter(|&&(j, k)| j == 1 && k >= 100)
            .all(|&(_, k)| (5_000..15_000).contains(&k)));
        let v = res.voltages.unwrap();
        let &(j, k) = res
            .spikes
            .iter()
            .find(|&&(j, k)| j == 1 && k >= 5_000)
            .unwrap();
        assert_eq!(v[[j as usize, k as usize]], 30.0);
        assert_eq!(v[[j as usize, k as usize + 1]], -65.0);
    }

    #[test]
    fn same_stream_same_trial() {
        let model = toy_model(
            Array2::from_elem((5, 5), 2.0),
            vec![20.0; 5],
            vec![false, false, true, false, true],
        );
        let net = LifNetwork::from_rate(&model, 20.0, &ConversionOptions::default()).unwrap();
        let u = constant_stimulus(51);
        let a = net
            .simulate(&u, &SimOptions::default(), &mut crate::rng::stream(1, &[2]))
            .unwrap();
        let b = net
            .simulate(&u, &SimOptions::default(), &mut crate::rng::stream(1, &[2]))
            .unwrap();
        let c = net
            .simulate(&u, &SimOptions::default(), &mut crate::rng::stream(1, &[3]))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a.spikes, c.spikes);
        assert!(!a.spikes.is_empty());
    }
}

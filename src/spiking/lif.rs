//! The spiking network built from a trained rate network (SPEC §3): one-to-one
//! conversion with a scaling factor lambda, leaky (or quadratic)
//! integrate-and-fire neurons, double-exponential synapses, and a fast
//! simulation.
//!
//! Layout in the style of Norse's functional modules: plain parameter
//! structs ([`LifParams`], [`SynapseParams`]), plain state structs
//! ([`LifState`], [`SynapseState`]) and step functions over all units
//! ([`neuron_step`], [`synapse_step`]) that can be tested alone;
//! [`LifNetwork::simulate`] wires them together.
//!
//! Time: one spiking step is 0.05 ms (×`downsample`); 100 spiking steps make
//! one rate step of 5 ms. Step indices are 0-based: step `k` here is step
//! `k + 1` of the MATLAB reference `LIF_network_fnc.m`.
//!
//! Update order within a step (identical to the MATLAB reference):
//! 1. input current `I = IPSC + bias + w_in·u[:, col]` with
//!    `col = round((k + 1) / 100)`, clamped to the last column;
//! 2. every unit outside its refractory period integrates
//!    `v += dt·(−v + I)/tau_m` (QIF: `dt·(v² + I)/tau_m`); then every unit,
//!    refractory or not, gets the voltage noise `N(0, noise_sd²)`;
//! 3. optogenetic kick (if any);
//! 4. units with `v ≥ v_th` spike: the W_spk columns of the spikers are summed
//!    into `JD`, their refractory clock starts;
//! 5. synapses: `IPSC ← IPSC·e^(−dt/td) + h·dt`, `h ← h·e^(−dt/tr) + JD/(tr·td)`
//!    and the same for the rate filter `r`, `hr` with the spike indicator;
//! 6. output `out[k] = (w_out/λ)·r`; voltage recorded as `v_peak` for spikers,
//!    then spikers are reset to `v_reset`.
//!
//! As in the reference, every unit starts with its refractory clock running
//! (MATLAB's `tlast = 0`), so nobody integrates during the first 2 ms; only
//! noise moves the voltages then.
//!
//! Where this differs from SPEC or MATLAB: the refractory clock is stored as
//! f64 whole steps (so that the neuron update vectorises); the voltage noise
//! comes from a 32-bit ziggurat sampler ([`Ziggurat`]) instead of MATLAB's
//! `randn`, so runs match MATLAB statistically, not bit for bit; spikes are
//! events `(unit, step)` rather than an N × nt matrix, and matrices are
//! recorded only on request ([`Record`]).
//!
//! Units: voltages in mV, times in ms in the public API; the synaptic
//! variables `IPSC`, `h`, `r`, `hr` are computed with time in seconds as in
//! the reference, so a single spike's filtered response integrates to 1 over
//! time in seconds (`r` is a rate in Hz-like units and `IPSC` is in weight
//! units per second).

use crate::units::{rate_steps_to_ms, SPIKING_DT_MS, SPIKING_STEPS_PER_RATE_STEP};
use ndarray::Array2;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rate::RateModel;

/// The neuron's membrane equation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum NeuronModel {
    /// Leaky integrate-and-fire: dv/dt = (−v + I)/tau_m.
    #[default]
    Lif,
    /// Quadratic integrate-and-fire: dv/dt = (v² + I)/tau_m.
    Qif,
}

/// Neuron parameters (paper's Table S1). Voltages in mV, times in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifParams {
    /// Membrane equation.
    pub model: NeuronModel,
    /// Membrane time constant tau_m (ms).
    pub tau_m_ms: f64,
    /// Absolute refractory period (ms).
    pub t_ref_ms: f64,
    /// Spike threshold (mV).
    pub v_th: f64,
    /// Reset voltage after a spike (mV); also the low end of the initial
    /// voltage range.
    pub v_reset: f64,
    /// Voltage written to the record at a spike (mV); also the high end of the
    /// initial voltage range.
    pub v_peak: f64,
    /// Constant bias current added to every unit (mV).
    pub bias: f64,
    /// Standard deviation of the voltage noise added to every unit every step
    /// (mV per step); 0 turns the noise off.
    pub noise_sd: f64,
}

impl Default for LifParams {
    fn default() -> Self {
        LifParams::lif()
    }
}

impl LifParams {
    /// The LIF neuron: tau_m 10 ms, t_ref 2 ms, threshold −40 mV, reset
    /// −65 mV, record peak 30 mV, bias −40, noise 0.1 mV per step.
    pub fn lif() -> Self {
        LifParams {
            model: NeuronModel::Lif,
            tau_m_ms: 10.0,
            t_ref_ms: 2.0,
            v_th: -40.0,
            v_reset: -65.0,
            v_peak: 30.0,
            bias: -40.0,
            noise_sd: 0.1,
        }
    }

    /// The QIF neuron: as [`LifParams::lif`] but dv = (v² + I)/tau_m,
    /// threshold 30 mV, bias 0.
    pub fn qif() -> Self {
        LifParams {
            model: NeuronModel::Qif,
            v_th: 30.0,
            bias: 0.0,
            ..LifParams::lif()
        }
    }

    /// Default parameters of `model`.
    pub fn for_model(model: NeuronModel) -> Self {
        match model {
            NeuronModel::Lif => LifParams::lif(),
            NeuronModel::Qif => LifParams::qif(),
        }
    }

    /// Check that every field is finite and sensible.
    pub fn validate(&self) -> Result<()> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, format!("must be positive, got {v}")))
            }
        };
        pos("tau_m", self.tau_m_ms)?;
        if !(self.t_ref_ms.is_finite() && self.t_ref_ms >= 0.0) {
            return Err(Error::param(
                "t_ref",
                format!("must be ≥ 0 ms, got {}", self.t_ref_ms),
            ));
        }
        if !(self.noise_sd.is_finite() && self.noise_sd >= 0.0) {
            return Err(Error::param(
                "noise_sd",
                format!("must be ≥ 0 mV, got {}", self.noise_sd),
            ));
        }
        for (name, v) in [
            ("v_th", self.v_th),
            ("v_reset", self.v_reset),
            ("v_peak", self.v_peak),
            ("bias", self.bias),
        ] {
            if !v.is_finite() {
                return Err(Error::param(name, format!("must be finite, got {v}")));
            }
        }
        if self.v_reset >= self.v_th {
            return Err(Error::param(
                "v_reset",
                format!("must lie below v_th ({}), got {}", self.v_th, self.v_reset),
            ));
        }
        Ok(())
    }

    /// Constants for steps of `dt_ms`, computed once per simulation.
    pub fn at_dt(&self, dt_ms: f64) -> NeuronConsts {
        // MATLAB integrates when dt·i > t_last + t_ref, i.e. a unit sits out
        // floor(t_ref/dt) steps after a spike (40 at dt = 0.05 ms).
        let n_ref = (self.t_ref_ms / dt_ms + 1e-9).floor() as u32;
        NeuronConsts {
            params: *self,
            dt_over_tau: dt_ms / self.tau_m_ms,
            n_ref,
        }
    }
}

/// Per-simulation neuron constants (from [`LifParams::at_dt`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronConsts {
    /// The parameters.
    pub params: LifParams,
    /// dt / tau_m.
    pub dt_over_tau: f64,
    /// Refractory period in steps: a unit that spikes at step k integrates
    /// again from step k + n_ref + 1.
    pub n_ref: u32,
}

/// Neuron state of all units.
#[derive(Debug, Clone, PartialEq)]
pub struct LifState {
    /// Membrane voltages (mV).
    pub v: Vec<f64>,
    /// Remaining refractory steps per unit (whole numbers; 0: integrating).
    /// Stored as f64 so that the update vectorises.
    pub refractory: Vec<f64>,
}

impl LifState {
    /// Voltages uniform in [v_reset, v_peak] (−65 to 30 mV for LIF), every
    /// refractory clock running (`n_ref` steps, as MATLAB's `tlast = 0`).
    pub fn random<R: RngCore + ?Sized>(n: usize, c: &NeuronConsts, rng: &mut R) -> Self {
        let p = &c.params;
        let v = (0..n)
            .map(|_| p.v_reset + rng.random::<f64>() * (p.v_peak - p.v_reset))
            .collect();
        LifState {
            v,
            refractory: vec![c.n_ref as f64; n],
        }
    }

    /// All units at `v` (mV) and out of their refractory period.
    pub fn uniform(n: usize, v: f64) -> Self {
        LifState {
            v: vec![v; n],
            refractory: vec![0.0; n],
        }
    }
}

/// One neuron step over all units (steps 2–4 of the module's update order).
///
/// The input current is `syn + ext` (recurrent IPSC plus external, without
/// the bias; both in mV), `noise` the voltage noise (mV) to add to each unit,
/// `kick` an optional (units, ΔV mV) optogenetic kick. The indices of units
/// that spiked are appended to `spikes`; spikers are reset to `v_reset` and
/// start their refractory clock (the caller records `v_peak` for them if it
/// keeps a voltage trace).
#[inline(always)]
pub fn neuron_step(
    c: &NeuronConsts,
    state: &mut LifState,
    syn: &[f64],
    ext: &[f64],
    noise: &[f64],
    kick: Option<(&[usize], f64)>,
    spikes: &mut Vec<u32>,
) {
    let p = &c.params;
    let a = c.dt_over_tau;
    let n = state.v.len();
    let (v, refr) = (&mut state.v[..n], &mut state.refractory[..n]);
    let (syn, ext, noise) = (&syn[..n], &ext[..n], &noise[..n]);
    // Whether any unit reached threshold: most steps have no spike, and the
    // threshold scan is skipped then.
    let mut above = 0u64;
    match p.model {
        NeuronModel::Lif => {
            // Branch-free so that it vectorises: a refractory unit adds 0·dv.
            for i in 0..n {
                let r = refr[i];
                let active = if r <= 0.0 { a } else { 0.0 };
                let rn = r - 1.0;
                refr[i] = if rn > 0.0 { rn } else { 0.0 };
                let vi = v[i];
                let vn = vi + active * (syn[i] + ext[i] + p.bias - vi) + noise[i];
                v[i] = vn;
                above |= (vn >= p.v_th) as u64;
            }
        }
        NeuronModel::Qif => {
            for i in 0..n {
                let mut vi = v[i];
                if refr[i] <= 0.0 {
                    vi += a * (vi * vi + syn[i] + ext[i] + p.bias);
                } else {
                    refr[i] = (refr[i] - 1.0).max(0.0);
                }
                v[i] = vi + noise[i];
                above |= (v[i] >= p.v_th) as u64;
            }
        }
    }
    if let Some((units, dv)) = kick {
        for &j in units {
            v[j] += dv;
        }
        above = 1;
    }
    if above == 0 {
        return;
    }
    for i in 0..n {
        if v[i] >= p.v_th {
            spikes.push(i as u32);
            v[i] = p.v_reset;
            refr[i] = c.n_ref as f64;
        }
    }
}

/// Synaptic filter parameters for all units, with the exact per-step decay
/// factors precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseParams {
    td_ms: Vec<f64>,
    tr_ms: f64,
    dt_ms: f64,
    decay_d: Vec<f64>,
    decay_r: f64,
    gain: Vec<f64>,
    dt_s: f64,
}

impl SynapseParams {
    /// Decay constants `td_ms` (ms, per postsynaptic unit), rise constant
    /// `tr_ms` (ms; 0 selects the single-exponential filter), step `dt_ms`.
    pub fn new(td_ms: Vec<f64>, tr_ms: f64, dt_ms: f64) -> Result<Self> {
        if let Some(t) = td_ms.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(Error::param(
                "td",
                format!("decay constants must be positive, got {t} ms"),
            ));
        }
        if !(tr_ms.is_finite() && tr_ms >= 0.0) {
            return Err(Error::param("tr", format!("must be ≥ 0 ms, got {tr_ms}")));
        }
        if !(dt_ms.is_finite() && dt_ms > 0.0) {
            return Err(Error::param("dt", format!("must be positive, got {dt_ms}")));
        }
        let dt_s = dt_ms / 1000.0;
        let tr_s = tr_ms / 1000.0;
        let decay_d = td_ms.iter().map(|&t| (-dt_ms / t).exp()).collect();
        let decay_r = if tr_ms > 0.0 {
            (-dt_ms / tr_ms).exp()
        } else {
            0.0
        };
        let gain = td_ms
            .iter()
            .map(|&t| {
                let td_s = t / 1000.0;
                if tr_ms > 0.0 {
                    1.0 / (tr_s * td_s)
                } else {
                    1.0 / td_s
                }
            })
            .collect();
        Ok(SynapseParams {
            td_ms,
            tr_ms,
            dt_ms,
            decay_d,
            decay_r,
            gain,
            dt_s,
        })
    }

    /// Decay constants (ms).
    pub fn td_ms(&self) -> &[f64] {
        &self.td_ms
    }

    /// Rise constant (ms); 0 means single exponential.
    pub fn tr_ms(&self) -> f64 {
        self.tr_ms
    }

    /// Step (ms).
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }

    /// Number of units.
    pub fn n(&self) -> usize {
        self.td_ms.len()
    }
}

/// Synaptic state of all units (time in seconds inside, see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseState {
    /// Filtered recurrent current per postsynaptic unit.
    pub ipsc: Vec<f64>,
    /// Rise variable of `ipsc`.
    pub h: Vec<f64>,
    /// Filtered spike train per unit (the rate read out by `w_out`).
    pub r: Vec<f64>,
    /// Rise variable of `r`.
    pub hr: Vec<f64>,
}

impl SynapseState {
    /// All zeros for `n` units.
    pub fn new(n: usize) -> Self {
        SynapseState {
            ipsc: vec![0.0; n],
            h: vec![0.0; n],
            r: vec![0.0; n],
            hr: vec![0.0; n],
        }
    }
}

/// One synaptic step (step 5 of the module's update order). `jd` is the
/// summed W_spk columns of this step's spikers (`None` when nobody spiked),
/// `spikes` their indices.
#[inline(always)]
pub fn synapse_step(p: &SynapseParams, s: &mut SynapseState, jd: Option<&[f64]>, spikes: &[u32]) {
    let n = p.n();
    let (dd, g, dt) = (&p.decay_d[..n], &p.gain[..n], p.dt_s);
    let (ipsc, h, r, hr) = (
        &mut s.ipsc[..n],
        &mut s.h[..n],
        &mut s.r[..n],
        &mut s.hr[..n],
    );
    if p.tr_ms > 0.0 {
        let dr = p.decay_r;
        match jd {
            Some(jd) => {
                let jd = &jd[..n];
                for i in 0..n {
                    ipsc[i] = ipsc[i] * dd[i] + h[i] * dt;
                    h[i] = h[i] * dr + jd[i] * g[i];
                    r[i] = r[i] * dd[i] + hr[i] * dt;
                    hr[i] *= dr;
                }
            }
            None => {
                for i in 0..n {
                    ipsc[i] = ipsc[i] * dd[i] + h[i] * dt;
                    h[i] *= dr;
                    r[i] = r[i] * dd[i] + hr[i] * dt;
                    hr[i] *= dr;
                }
            }
        }
        for &j in spikes {
            hr[j as usize] += g[j as usize];
        }
    } else {
        match jd {
            Some(jd) => {
                let jd = &jd[..n];
                for i in 0..n {
                    ipsc[i] = ipsc[i] * dd[i] + jd[i] * g[i];
                    r[i] *= dd[i];
                }
            }
            None => {
                for i in 0..n {
                    ipsc[i] *= dd[i];
                    r[i] *= dd[i];
                }
            }
        }
        for &j in spikes {
            r[j as usize] += g[j as usize];
        }
    }
}

/// Options of [`LifNetwork::from_rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConversionOptions {
    /// Convert the initial weights `w0` instead of the trained `w`.
    pub use_initial_weights: bool,
    /// Under Dale's principle, keep negative raw weights as they are instead
    /// of applying relu (reproduces files saved by the Python tutorial).
    pub keep_negative_weights: bool,
    /// Neuron parameters.
    pub neuron: LifParams,
    /// Synaptic rise constant tr (ms); 0 selects the single exponential.
    pub tr_ms: f64,
}

impl Default for ConversionOptions {
    fn default() -> Self {
        ConversionOptions {
            use_initial_weights: false,
            keep_negative_weights: false,
            neuron: LifParams::lif(),
            tr_ms: 2.0,
        }
    }
}

/// A spiking network converted from a rate network with scaling factor λ.
#[derive(Debug, Clone, PartialEq)]
pub struct LifNetwork {
    n: usize,
    lambda: f64,
    /// W_spk transposed: column j (presynaptic unit j) at `[j·n, (j+1)·n)`.
    w_cols: Vec<f64>,
    w_in: Array2<f64>,
    w_out: Vec<f64>,
    inh: Vec<bool>,
    syn: SynapseParams,
    negative_clipped: usize,
    /// Neuron parameters (public so that e.g. the noise can be switched off).
    pub neuron: LifParams,
}

impl LifNetwork {
    /// Convert `model` with scaling factor `lambda`: W_spk = ((w·m)⊙som_m)/λ,
    /// w_out/λ, td_i = tau_i · 5 ms, tr from `opts` (2 ms by default).
    ///
    /// Under Dale's principle negative raw weights are set to 0 (relu) unless
    /// `opts.keep_negative_weights`; their count is available from
    /// [`LifNetwork::negative_weights_clipped`] and [`LifNetwork::warning`].
    pub fn from_rate(model: &RateModel, lambda: f64, opts: &ConversionOptions) -> Result<Self> {
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(Error::param(
                "lambda",
                format!("the scaling factor must be positive and finite, got {lambda}"),
            ));
        }
        opts.neuron.validate()?;
        let n = model.n();
        let raw = if opts.use_initial_weights {
            &model.w0
        } else {
            &model.w
        };
        if raw.dim() != (n, n) || model.m.dim() != (n, n) || model.som_m.dim() != (n, n) {
            return Err(Error::param(
                "model",
                format!("w, m and som_m must all be {n}×{n}"),
            ));
        }
        if model.w_in.nrows() != n || model.w_out.len() != n || model.taus_gaus.len() != n {
            return Err(Error::param(
                "model",
                format!("w_in, w_out and taus_gaus must have {n} rows"),
            ));
        }
        let mut w = raw.clone();
        let mut negative_clipped = 0;
        if model.dale {
            let neg = w.iter().filter(|&&x| x < 0.0).count();
            if !opts.keep_negative_weights {
                negative_clipped = neg;
                w.mapv_inplace(|x| x.max(0.0));
            }
        }
        let wm = w.dot(&model.m) * &model.som_m;
        let mut w_cols = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..n {
                w_cols[j * n + i] = wm[[i, j]] / lambda;
            }
        }
        let td_ms: Vec<f64> = model
            .tau_steps()
            .iter()
            .map(|&t| rate_steps_to_ms(t))
            .collect();
        let syn = SynapseParams::new(td_ms, opts.tr_ms, SPIKING_DT_MS)?;
        Ok(LifNetwork {
            n,
            lambda,
            w_cols,
            w_in: model.w_in.clone(),
            w_out: model.w_out.iter().map(|&x| x / lambda).collect(),
            inh: model.inh.clone(),
            syn,
            negative_clipped,
            neuron: opts.neuron,
        })
    }

    /// Number of units N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of inputs (rows of the stimulus).
    pub fn n_inputs(&self) -> usize {
        self.w_in.ncols()
    }

    /// The scaling factor λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// W_spk[post, pre].
    pub fn weight(&self, post: usize, pre: usize) -> f64 {
        self.w_cols[pre * self.n + post]
    }

    /// W_spk as an N×N matrix (row = postsynaptic unit).
    pub fn w_spk(&self) -> Array2<f64> {
        Array2::from_shape_fn((self.n, self.n), |(i, j)| self.weight(i, j))
    }

    /// Readout weights w_out/λ.
    pub fn w_out(&self) -> &[f64] {
        &self.w_out
    }

    /// Inhibitory units.
    pub fn inh(&self) -> &[bool] {
        &self.inh
    }

    /// Synaptic decay constants td_i (ms).
    pub fn td_ms(&self) -> &[f64] {
        self.syn.td_ms()
    }

    /// Synaptic rise constant tr (ms).
    pub fn tr_ms(&self) -> f64 {
        self.syn.tr_ms()
    }

    /// Number of negative raw weights set to 0 by the conversion (Dale only).
    pub fn negative_weights_clipped(&self) -> usize {
        self.negative_clipped
    }

    /// A warning to show the user, if the conversion clipped negative weights.
    pub fn warning(&self) -> Option<String> {
        (self.negative_clipped > 0).then(|| {
            format!(
                "the model obeys Dale's principle but its raw w holds {} negative \
                 entries (a file saved by the Python tutorial?); relu was applied to them",
                self.negative_clipped
            )
        })
    }

    /// Simulate one trial. `u` is the spiking stimulus, n_in × (T+1) columns
    /// of 5 ms (see [`crate::task::extend_stimulus`]). The run lasts
    /// `nt = (columns − 1)·100/d` steps of `d·0.05` ms after down-sampling by
    /// `d` (Go-NoGo: 20 000 steps, 1 s).
    ///
    /// On x86-64 CPUs with AVX2 the same code is run compiled for AVX2
    /// (detected at run time; no FMA contraction, so results are identical).
    pub fn simulate<R: RngCore + ?Sized>(
        &self,
        u: &Array2<f64>,
        opts: &SimOptions,
        rng: &mut R,
    ) -> Result<SimResult> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.simulate_avx2(u, opts, rng) };
            }
        }
        self.simulate_impl(u, opts, rng)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn simulate_avx2<R: RngCore + ?Sized>(
        &self,
        u: &Array2<f64>,
        opts: &SimOptions,
        rng: &mut R,
    ) -> Result<SimResult> {
        self.simulate_impl(u, opts, rng)
    }

    #[inline(always)]
    fn simulate_impl<R: RngCore + ?Sized>(
        &self,
        u: &Array2<f64>,
        opts: &SimOptions,
        rng: &mut R,
    ) -> Result<SimResult> {
        let n = self.n;
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
        let ncols = cols.len();
        if ncols < 2 {
            return Err(Error::param(
                "stimulus",
                format!(
                    "needs at least 2 columns after down-sampling by {d}, got {}",
                    u.ncols()
                ),
            ));
        }
        let dt_ms = SPIKING_DT_MS * d as f64;
        let t_sec = (ncols - 1) as f64 * dt_ms * 100.0 / 1000.0;
        let nt = (t_sec * 1000.0 / dt_ms).round() as usize;

        let kick_units: &[usize] = &opts.opto.units;
        if let Some(&bad) = kick_units.iter().find(|&&j| j >= n) {
            return Err(Error::param(
                "opto units",
                format!("unit {bad} does not exist (N = {n})"),
            ));
        }
        let kick_dv = match opts.opto.mode {
            OptoMode::None => 0.0,
            OptoMode::Exc => 0.5,
            OptoMode::Inh => -0.5,
        };

        // External current per column, column-contiguous.
        let mut ext = vec![0.0; ncols * n];
        for (c, &src) in cols.iter().enumerate() {
            for k in 0..n_in {
                let x = u[[k, src]];
                if x != 0.0 {
                    for i in 0..n {
                        ext[c * n + i] += self.w_in[[i, k]] * x;
                    }
                }
            }
        }

        let syn_owned;
        let syn = if d == 1 {
            &self.syn
        } else {
            syn_owned = SynapseParams::new(self.syn.td_ms.clone(), self.syn.tr_ms, dt_ms)?;
            &syn_owned
        };
        let nc = self.neuron.at_dt(dt_ms);
        let sd = self.neuron.noise_sd;

        let mut state = LifState::random(n, &nc, rng);
        let mut syn_state = SynapseState::new(n);
        let mut noise = vec![0.0; n];
        let mut bits = vec![0u64; n.div_ceil(2)];
        let mut jd = vec![0.0; n];
        let mut fired: Vec<u32> = Vec::with_capacity(n);
        let mut spikes: Vec<(u32, u32)> = Vec::with_capacity(8 * n);
        let mut out = Vec::with_capacity(nt);
        let mut counts = vec![0u32; n];
        let rec = opts.record;
        let mut voltages = rec.voltages.then(|| Array2::zeros((n, nt)));
        let mut rates = rec.rates.then(|| Array2::zeros((n, nt)));
        let mut currents = rec.currents.then(|| Array2::zeros((n, nt)));

        for k in 0..nt {
            // MATLAB: ext_stim(:, round(i/100) + 1) with i = k + 1.
            let col = ((k + 1 + SPIKING_STEPS_PER_RATE_STEP / 2) / SPIKING_STEPS_PER_RATE_STEP)
                .min(ncols - 1);
            let e = &ext[col * n..(col + 1) * n];
            if let Some(c) = currents.as_mut() {
                for i in 0..n {
                    c[[i, k]] = syn_state.ipsc[i] + e[i];
                }
            }
            if sd > 0.0 {
                fill_normal_with(rng, &mut noise, sd, &mut bits);
            }
            let kick = if kick_dv != 0.0 && k >= opts.opto.on && k < opts.opto.off {
                (rng.random::<f64>() < 0.5).then_some((kick_units, kick_dv))
            } else {
                None
            };
            fired.clear();
            neuron_step(
                &nc,
                &mut state,
                &syn_state.ipsc,
                e,
                &noise,
                kick,
                &mut fired,
            );
            let jd_opt = if fired.is_empty() {
                None
            } else {
                jd.fill(0.0);
                for &j in &fired {
                    let j = j as usize;
                    let col = &self.w_cols[j * n..(j + 1) * n];
                    for (a, &w) in jd.iter_mut().zip(col) {
                        *a += w;
                    }
                    if k >= 9 {
                        counts[j] += 1;
                    }
                    spikes.push((j as u32, k as u32));
                }
                Some(&jd[..])
            };
            synapse_step(syn, &mut syn_state, jd_opt, &fired);
            out.push(dot(&self.w_out, &syn_state.r));
            if let Some(v) = voltages.as_mut() {
                for i in 0..n {
                    v[[i, k]] = state.v[i];
                }
                for &j in &fired {
                    v[[j as usize, k]] = self.neuron.v_peak;
                }
            }
            if let Some(r) = rates.as_mut() {
                for i in 0..n {
                    r[[i, k]] = syn_state.r[i];
                }
            }
        }
        let rates_hz = counts.iter().map(|&c| c as f64 / t_sec).collect();
        Ok(SimResult {
            spikes,
            out,
            dt_ms,
            t_sec,
            n_steps: nt,
            rates_hz,
            voltages,
            rates,
            currents,
        })
    }
}

/// Dot product with four accumulators (vectorises; order differs from a
/// plain left-to-right sum only by rounding).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Fill `buf` with independent N(0, sd²) draws (two per 64-bit word, see
/// [`Ziggurat`]).
pub fn fill_normal<R: RngCore + ?Sized>(rng: &mut R, buf: &mut [f64], sd: f64) {
    let mut bits = vec![0u64; buf.len().div_ceil(2)];
    fill_normal_with(rng, buf, sd, &mut bits);
}

/// [`fill_normal`] with a caller-provided scratch buffer of at least
/// `buf.len()/2` (rounded up) words: the random words are drawn first in a
/// tight loop, then turned into normals.
#[inline(always)]
fn fill_normal_with<R: RngCore + ?Sized>(rng: &mut R, buf: &mut [f64], sd: f64, bits: &mut [u64]) {
    let z = Ziggurat::get();
    let words = &mut bits[..buf.len().div_ceil(2)];
    // SAFETY: every bit pattern is a valid u8 and u64; the byte view covers
    // exactly the words' memory and lives only for this call.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 8) };
    rng.fill_bytes(bytes);
    for (pair, &w) in buf.chunks_mut(2).zip(words.iter()) {
        pair[0] = z.sample_bits(w as u32, rng) * sd;
        if pair.len() == 2 {
            pair[1] = z.sample_bits((w >> 32) as u32, rng) * sd;
        }
    }
}

/// Standard normal sampler: Marsaglia & Tsang's ziggurat with 256 layers
/// (the tables of `rand_distr`), fed with 32 random bits per draw (8 for the
/// layer, 24 for a signed uniform), so one 64-bit word gives two draws in the
/// common case (≈ 99% of draws). Exact in distribution up to the 2⁻²³
/// resolution of the uniform; rejections and the tail (|x| > 3.654) use fresh
/// 53-bit uniforms.
///
/// Written here rather than taken from `rand_distr::StandardNormal` because
/// the voltage noise (N normals per 0.05 ms step, 4 M per Go-NoGo trial) is
/// most of a trial's cost, and `StandardNormal` spends a full 64-bit word per
/// draw; half the random bits per draw measured faster in the trial loop.
#[derive(Debug)]
pub struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

impl Ziggurat {
    const R: f64 = 3.654_152_885_361_009;
    /// x_0 = V / f(R), with V the area of each layer.
    const X0: f64 = 3.910_757_959_537_09;

    /// The shared tables (built once).
    pub fn get() -> &'static Ziggurat {
        static Z: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
        Z.get_or_init(|| {
            let f = |x: f64| (-0.5 * x * x).exp();
            let v = Self::X0 * f(Self::R);
            let mut x = [0.0; 257];
            x[0] = Self::X0;
            x[1] = Self::R;
            for i in 1..255 {
                x[i + 1] = (-2.0 * (v / x[i] + f(x[i])).ln()).sqrt();
            }
            x[256] = 0.0;
            let mut ft = [0.0; 257];
            for i in 0..257 {
                ft[i] = f(x[i]);
            }
            Ziggurat { x, f: ft }
        })
    }

    /// A standard normal draw from 32 random bits (`rng` only for the rare
    /// slow path).
    #[inline(always)]
    pub fn sample_bits<R: RngCore + ?Sized>(&self, bits: u32, rng: &mut R) -> f64 {
        let i = (bits & 0xff) as usize;
        let u = ((bits as i32) >> 8) as f64 * (1.0 / 8_388_608.0);
        let x = u * self.x[i];
        if x.abs() < self.x[i + 1] {
            return x;
        }
        self.slow(i, u, x, rng)
    }

    #[cold]
    #[inline(never)]
    fn slow<R: RngCore + ?Sized>(&self, i: usize, u: f64, x: f64, rng: &mut R) -> f64 {
        if i == 0 {
            // Tail beyond R (Marsaglia 1964).
            loop {
                let a = -(1.0 - rng.random::<f64>()).ln() / Self::R;
                let b = -(1.0 - rng.random::<f64>()).ln();
                if 2.0 * b >= a * a {
                    return if u < 0.0 { -(Self::R + a) } else { Self::R + a };
                }
            }
        }
        let y = self.f[i + 1] + (self.f[i] - self.f[i + 1]) * rng.random::<f64>();
        if y < (-0.5 * x * x).exp() {
            return x;
        }
        self.sample_bits(rng.next_u32(), rng)
    }
}

/// Optogenetic stimulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OptoMode {
    /// No stimulation.
    #[default]
    None,
    /// Depolarising: +0.5 mV.
    Exc,
    /// Hyperpolarising: −0.5 mV.
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
    /// Output `(w_out/λ)·r` at every step (no bias).
    pub out: Vec<f64>,
    /// Step length (ms).
    pub dt_ms: f64,
    /// Trial duration T_sec (s).
    pub t_sec: f64,
    /// Number of steps nt.
    pub n_steps: usize,
    /// Firing rate per unit (Hz): spikes from step 10 on (0-based index 9,
    /// as MATLAB's `spk(i, 10:end)`) divided by `t_sec`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::{Activation, Taus};
    use ndarray::Array1;

    /// Steps between consecutive spikes of one noise-free unit with constant
    /// input (`ext`, mV above the bias), starting just after a spike.
    fn isi_steps(ext: f64, n_steps: usize) -> Vec<usize> {
        let mut p = LifParams::lif();
        p.noise_sd = 0.0;
        let c = p.at_dt(SPIKING_DT_MS);
        let mut s = LifState::uniform(1, p.v_reset);
        s.refractory[0] = c.n_ref as f64;
        let mut times = Vec::new();
        let mut fired = Vec::new();
        for k in 0..n_steps {
            fired.clear();
            neuron_step(&c, &mut s, &[0.0], &[ext], &[0.0], None, &mut fired);
            if !fired.is_empty() {
                times.push(k);
            }
        }
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn isi_matches_closed_form() {
        let p = LifParams::lif();
        for ext in [5.0, 20.0, 60.0, 200.0] {
            let i_tot = p.bias + ext;
            let isi = isi_steps(ext, 20_000);
            assert!(isi.len() > 5, "input {ext}: too few spikes");
            assert!(isi.iter().all(|&x| x == isi[0]), "noise-free ISIs differ");
            let got = isi[0] as f64 * SPIKING_DT_MS;
            let ln = ((i_tot - p.v_reset) / (i_tot - p.v_th)).ln();
            let want = p.t_ref_ms + p.tau_m_ms * ln;
            // One step for the threshold crossing plus forward Euler's
            // relative error dt/(2·tau_m) on the integration time.
            let tol = SPIKING_DT_MS + SPIKING_DT_MS / (2.0 * p.tau_m_ms) * p.tau_m_ms * ln * 1.1;
            assert!(
                (got - want).abs() <= tol,
                "input {ext}: ISI {got} ms, closed form {want} ms, tolerance {tol}"
            );
        }
    }

    /// Spike steps of one noise-free QIF unit with constant input `ext` at
    /// time step `dt` (ms), starting at reset just after a spike.
    fn qif_spikes(ext: f64, dt: f64, n_steps: usize) -> (Vec<usize>, f64) {
        let mut p = LifParams::qif();
        p.noise_sd = 0.0;
        let c = p.at_dt(dt);
        let mut s = LifState::uniform(1, p.v_reset);
        s.refractory[0] = c.n_ref as f64;
        let (mut times, mut fired) = (Vec::new(), Vec::new());
        for k in 0..n_steps {
            fired.clear();
            neuron_step(&c, &mut s, &[0.0], &[ext], &[0.0], None, &mut fired);
            if !fired.is_empty() {
                times.push(k);
            }
        }
        (times, s.v[0])
    }

    #[test]
    fn qif_isi_matches_closed_form() {
        // dv/dt = (v² + I)/tau_m with I > 0 goes from v_r to v_th in
        // (tau_m/√I)·[atan(v_th/√I) − atan(v_r/√I)]; plus the refractory
        // period. A fine step (1 µs) keeps forward Euler's error small.
        let p = LifParams::qif();
        let dt = 0.001;
        for i_tot in [25.0, 100.0, 400.0] {
            let (times, _) = qif_spikes(i_tot, dt, 40_000);
            assert!(times.len() > 3, "input {i_tot}: too few spikes");
            let got = (times[2] - times[1]) as f64 * dt;
            let sq: f64 = i_tot.sqrt();
            let want =
                p.t_ref_ms + p.tau_m_ms / sq * ((p.v_th / sq).atan() - (p.v_reset / sq).atan());
            assert!(
                (got - want).abs() <= 0.02 * want,
                "input {i_tot}: ISI {got} ms, closed form {want} ms"
            );
        }
    }

    #[test]
    fn qif_with_negative_input_rests_at_the_stable_fixed_point() {
        // I < 0: fixed points ±√(−I); from reset (−65) the unit climbs to the
        // stable one, −√(−I), and never fires.
        let (times, v) = qif_spikes(-100.0, 0.05, 20_000);
        assert!(times.is_empty(), "fired at {times:?}");
        assert!((v + 10.0).abs() < 1e-6, "rests at {v}, expected −10");
    }

    #[test]
    fn below_rheobase_never_fires() {
        // I = bias + ext = −41 mV < v_th.
        assert!(isi_steps(-1.0, 20_000).is_empty());
        let mut p = LifParams::lif();
        p.noise_sd = 0.0;
        let c = p.at_dt(SPIKING_DT_MS);
        let mut s = LifState::uniform(1, p.v_reset);
        let mut fired = Vec::new();
        for _ in 0..20_000 {
            neuron_step(&c, &mut s, &[0.0], &[-1.0], &[0.0], None, &mut fired);
        }
        assert!(fired.is_empty());
        assert!((s.v[0] + 41.0).abs() < 1e-6, "settles at I: {}", s.v[0]);
    }

    #[test]
    fn refractory_period_is_40_steps() {
        assert_eq!(LifParams::lif().at_dt(SPIKING_DT_MS).n_ref, 40);
        assert_eq!(LifParams::lif().at_dt(0.15).n_ref, 13);
        // Strong drive: ISI = 40 refractory steps + 1 integration step.
        let isi = isi_steps(1e6, 2_000);
        assert_eq!(isi[0], 41);
    }

    fn impulse(tr_ms: f64, td_ms: f64, steps: usize) -> (Vec<f64>, Vec<f64>) {
        let p = SynapseParams::new(vec![td_ms], tr_ms, SPIKING_DT_MS).unwrap();
        let mut s = SynapseState::new(1);
        let (mut ipsc, mut r) = (Vec::new(), Vec::new());
        for k in 0..steps {
            if k == 0 {
                synapse_step(&p, &mut s, Some(&[1.0]), &[0]);
            } else {
                synapse_step(&p, &mut s, None, &[]);
            }
            ipsc.push(s.ipsc[0]);
            r.push(s.r[0]);
        }
        (ipsc, r)
    }

    #[test]
    fn double_exponential_integrates_to_one_and_peaks_at_t_star() {
        let (tr, td) = (2.0, 20.0);
        let (ipsc, r) = impulse(tr, td, 60_000);
        let dt_s = SPIKING_DT_MS / 1000.0;
        let area: f64 = ipsc.iter().sum::<f64>() * dt_s;
        // Exact discrete area: (dt/tr)(dt/td) / ((1 − e^(−dt/tr))(1 − e^(−dt/td))),
        // 1 + O(dt/(2 tr)).
        let (a, b) = (SPIKING_DT_MS / tr, SPIKING_DT_MS / td);
        let exact = a * b / ((1.0 - (-a).exp()) * (1.0 - (-b).exp()));
        assert!((area - exact).abs() < 1e-6, "{area} vs {exact}");
        assert!((area - 1.0).abs() < a / 2.0 + b / 2.0 + 1e-3, "{area}");
        let r_area: f64 = r.iter().sum::<f64>() * dt_s;
        assert!((r_area - area).abs() < 1e-9);
        let k_peak = (0..ipsc.len())
            .max_by(|&i, &j| ipsc[i].total_cmp(&ipsc[j]))
            .unwrap();
        let t_star = (td / tr).ln() * td * tr / (td - tr);
        // IPSC starts rising one step after the spike.
        let t_peak = k_peak as f64 * SPIKING_DT_MS;
        assert!(
            (t_peak - t_star).abs() <= 2.0 * SPIKING_DT_MS,
            "{t_peak} vs {t_star}"
        );
    }

    #[test]
    fn single_exponential_integrates_to_one() {
        let td = 20.0;
        let (ipsc, r) = impulse(0.0, td, 60_000);
        let dt_s = SPIKING_DT_MS / 1000.0;
        let area: f64 = ipsc.iter().sum::<f64>() * dt_s;
        let b = SPIKING_DT_MS / td;
        assert!((area - b / (1.0 - (-b).exp())).abs() < 1e-9);
        assert!((area - 1.0).abs() < b, "{area}");
        assert_eq!(ipsc, r);
        // Jump at the spike, then pure decay.
        assert!((ipsc[0] - 1000.0 / td).abs() < 1e-9);
        assert!((ipsc[1] / ipsc[0] - (-b).exp()).abs() < 1e-12);
    }

    /// A Dale network of `n` units with no recurrent weights and one input
    /// with weight `w_in[i]`.
    fn toy_model(w: Array2<f64>, w_in: Vec<f64>, inh: Vec<bool>) -> RateModel {
        let n = inh.len();
        let mut m = Array2::zeros((n, n));
        for i in 0..n {
            m[[i, i]] = if inh[i] { -1.0 } else { 1.0 };
        }
        RateModel {
            w0: w.clone(),
            w,
            m,
            som_m: Array2::ones((n, n)),
            w_in: Array2::from_shape_vec((n, 1), w_in).unwrap(),
            w_out: Array1::ones(n),
            b_out: 0.0,
            som_n: 0,
            inh,
            taus: Taus::Fixed(4.0),
            taus_gaus: Array1::zeros(n),
            taus_gaus0: Array1::zeros(n),
            activation: Activation::Sigmoid,
            dale: true,
            training: None,
            search: None,
            task: None,
        }
    }

    fn constant_stimulus(cols: usize) -> Array2<f64> {
        Array2::ones((1, cols))
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
    fn conversion_scales_and_clips() {
        let mut w = Array2::from_shape_fn((3, 3), |(i, j)| (i * 3 + j) as f64 / 10.0);
        w[[0, 1]] = -0.3;
        let model = toy_model(w.clone(), vec![1.0; 3], vec![false, true, false]);
        let net = LifNetwork::from_rate(&model, 4.0, &ConversionOptions::default()).unwrap();
        assert_eq!(net.negative_weights_clipped(), 1);
        assert!(net.warning().unwrap().contains("1 negative"));
        let eff = model.effective_weights();
        for i in 0..3 {
            for j in 0..3 {
                assert!((net.weight(i, j) - eff[[i, j]] / 4.0).abs() < 1e-15);
            }
        }
        assert_eq!(net.weight(0, 1), 0.0);
        assert!(net.weight(2, 1) < 0.0);
        assert_eq!(net.w_out(), &[0.25, 0.25, 0.25]);
        assert_eq!(net.td_ms(), &[20.0, 20.0, 20.0]);
        assert_eq!(net.tr_ms(), 2.0);
        let keep = ConversionOptions {
            keep_negative_weights: true,
            ..ConversionOptions::default()
        };
        let raw = LifNetwork::from_rate(&model, 4.0, &keep).unwrap();
        assert_eq!(raw.negative_weights_clipped(), 0);
        assert!((raw.weight(0, 1) - 0.3 / 4.0).abs() < 1e-15);
        let init = ConversionOptions {
            use_initial_weights: true,
            ..ConversionOptions::default()
        };
        let mut m2 = model.clone();
        m2.w0 = Array2::zeros((3, 3));
        assert!(LifNetwork::from_rate(&m2, 4.0, &init)
            .unwrap()
            .w_spk()
            .iter()
            .all(|&x| x == 0.0));
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

    #[test]
    fn ziggurat_moments_and_tails() {
        let mut rng = crate::rng::from_seed(11);
        let n = 2_000_000;
        let mut buf = vec![0.0; n];
        fill_normal(&mut rng, &mut buf, 1.0);
        let mean = buf.iter().sum::<f64>() / n as f64;
        let var = buf.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt = buf.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        // Standard errors: mean 7e-4, variance 1e-3, kurtosis 3.5e-3.
        assert!(mean.abs() < 4e-3, "{mean}");
        assert!((var - 1.0).abs() < 6e-3, "{var}");
        assert!((kurt - 3.0).abs() < 3e-2, "{kurt}");
        // Tail fractions P(|z| > t) = erfc(t/√2).
        for (t, p) in [
            (1.0, 0.317_310_5),
            (2.0, 0.045_500_26),
            (3.0, 0.002_699_8),
            (3.8, 1.446_7e-4),
        ] {
            let f = buf.iter().filter(|x| x.abs() > t).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * se, "P(|z| > {t}) = {f}, expected {p}");
        }
        let z = Ziggurat::get();
        // rand_distr's ZIG_NORM_X entries.
        for (i, x) in [
            (2, 3.449_278_298_560_964),
            (254, 0.286_174_591_747_260_5),
            (255, 0.215_241_895_913_273_8),
        ] {
            assert!((z.x[i] - x).abs() < 1e-9, "x[{i}] = {}", z.x[i]);
        }
        assert_eq!(z.x[256], 0.0);
        assert!(z.x.windows(2).all(|w| w[0] > w[1]));
    }
}

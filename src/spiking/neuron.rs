//! The neuron (docs/model.md#spiking-conversion, paper's Table S1): parameters ([`LifParams`]), the
//! per-simulation constants derived from them ([`NeuronConsts`]), the state
//! of all units ([`LifState`]) and one step over all units
//! ([`neuron_step`]) — steps 2–4 of the update order in
//! [`crate::spiking::simulate`]: integrate + noise → opto kick → spikes.
//!
//! Units: voltages and currents in mV, times in ms.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    // Scan 8 units at a time with a branch-free test (it vectorises); only
    // blocks holding a spiker are walked unit by unit.
    const K: usize = 8;
    let full = n / K * K;
    for i0 in (0..full).step_by(K) {
        let any = v[i0..i0 + K].iter().fold(false, |a, &x| a | (x >= p.v_th));
        if any {
            reset_spikers(c, v, refr, i0..i0 + K, spikes);
        }
    }
    reset_spikers(c, v, refr, full..n, spikes);
}

/// Reset the units of `range` at or above threshold and note them.
#[inline(always)]
fn reset_spikers(
    c: &NeuronConsts,
    v: &mut [f64],
    refr: &mut [f64],
    range: std::ops::Range<usize>,
    spikes: &mut Vec<u32>,
) {
    for i in range {
        if v[i] >= c.params.v_th {
            spikes.push(i as u32);
            v[i] = c.params.v_reset;
            refr[i] = c.n_ref as f64;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::SPIKING_DT_MS;

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
}

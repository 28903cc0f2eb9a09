//! The synapse (docs/model.md#spiking-conversion): a double-exponential filter per postsynaptic unit
//! with exact exponential decay per step — step 5 of the update order in
//! [`crate::spiking::simulate`]:
//!
//! ```text
//! IPSC ← IPSC·e^(−dt/td) + h·dt     h  ← h·e^(−dt/tr)  + JD/(tr·td)
//! r    ← r·e^(−dt/td)    + hr·dt    hr ← hr·e^(−dt/tr) + spike/(tr·td)
//! ```
//!
//! (`tr = 0`: the single exponential `IPSC ← IPSC·e^(−dt/td) + JD/td`.)
//! Time inside is in seconds, as in the MATLAB reference, so one spike's
//! filtered response integrates to 1 over time in seconds: `r` is a rate in
//! Hz-like units and `IPSC` in weight units per second.

use crate::error::{Error, Result};

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

    /// Per-step decay factors e^(−dt/td_i).
    pub(crate) fn decay_d(&self) -> &[f64] {
        &self.decay_d
    }

    /// Per-step rise decay factor e^(−dt/tr) (0 for a single exponential).
    pub(crate) fn decay_r(&self) -> f64 {
        self.decay_r
    }

    /// Spike gains 1/(tr·td_i) (1/td_i for a single exponential), in 1/s².
    pub(crate) fn gain(&self) -> &[f64] {
        &self.gain
    }

    /// Step (s).
    pub(crate) fn dt_s(&self) -> f64 {
        self.dt_s
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::SPIKING_DT_MS;

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
}

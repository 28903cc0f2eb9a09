//! Several trials of one [`LifNetwork`] simulated together
//! ([`LifNetwork::simulate_batch`]), used by the λ search and the
//! evaluation.
//!
//! The trials of a batch run in lanes: every per-unit array holds unit `i`
//! of trial `b` at `i·B + b` (B = [`BATCH`]), so one vector operation
//! updates unit `i` of all B trials, and each load of a synaptic or neuron
//! constant serves all of them. The voltage noise of all B trials comes
//! from their B random streams run side by side in SIMD lanes
//! ([`crate::rng::Lanes`], [`crate::rng::fill_normal_lanes`]).
//!
//! Per trial the batch is **bit-identical** to [`LifNetwork::simulate`]:
//! each trial draws from its own stream exactly the numbers the single path
//! draws, in the same order, and every floating-point operation on a
//! trial's numbers is the single path's, in the same order (the stages of
//! [`crate::spiking::simulate`], with per-lane selects where the single
//! path branches on whether the trial had a spike). Results therefore do
//! not depend on how trials are batched or on the thread count (tested).
//!
//! Hand-written rather than a loop over [`LifNetwork::simulate`] because
//! the single path spends most of a trial in scalar random-number
//! generation and in loops too short to keep the vector units busy; the
//! lanes turn both into vector work.
//!
//! Limits: no optogenetic stimulation, no recorded matrices, no per-step
//! observer, and all trials of a batch on the same time grid; anything else
//! falls back to [`LifNetwork::simulate`] trial by trial.

use ndarray::Array2;

use crate::error::Result;
use crate::rng::{fill_normal_lanes, LaneScratch, Lanes, Rng};
use crate::spiking::network::LifNetwork;
use crate::spiking::neuron::{neuron_step, LifState, NeuronConsts};
use crate::spiking::simulate::{
    stimulus_column, OptoMode, SimOptions, SimResult, RATE_COUNT_FROM_STEP,
};
use crate::spiking::synapse::SynapseParams;

/// Trials per batch: four f64 lanes fill one AVX2 register.
pub const BATCH: usize = 4;

/// Lanes per batch (shorthand inside this module).
const B: usize = BATCH;

/// The synaptic state of the B trials, interleaved (`[i·B + b]`).
struct Synapses {
    ipsc: Vec<f64>,
    h: Vec<f64>,
    r: Vec<f64>,
    hr: Vec<f64>,
    /// Summed W_spk columns of each lane's spikers (stage 4).
    jd: Vec<f64>,
}

impl Synapses {
    fn new(n: usize) -> Self {
        Synapses {
            ipsc: vec![0.0; n * B],
            h: vec![0.0; n * B],
            r: vec![0.0; n * B],
            hr: vec![0.0; n * B],
            jd: vec![0.0; n * B],
        }
    }

    /// Stage 5 for all lanes: [`crate::spiking::synapse::synapse_step`]'s
    /// operations per lane, `spiked[b]` choosing its `Some(jd)` or `None`
    /// branch (a select, not `+ 0·g`, so that the values are identical).
    /// Portable version of [`x86::synapses`].
    #[inline(always)]
    fn step(&mut self, p: &SynapseParams, spiked: &[bool; B], fired: &[Vec<u32>; B]) {
        let n = p.n();
        let (dd, g, dt, dr) = (&p.decay_d()[..n], &p.gain()[..n], p.dt_s(), p.decay_r());
        let nb = n * B;
        let (ipsc, h, r, hr, jd) = (
            &mut self.ipsc[..nb],
            &mut self.h[..nb],
            &mut self.r[..nb],
            &mut self.hr[..nb],
            &self.jd[..nb],
        );
        let double = p.tr_ms() > 0.0;
        for i in 0..n {
            for (b, &spike) in spiked.iter().enumerate() {
                let f = i * B + b;
                if double {
                    ipsc[f] = ipsc[f] * dd[i] + h[f] * dt;
                    h[f] = if spike {
                        h[f] * dr + jd[f] * g[i]
                    } else {
                        h[f] * dr
                    };
                    r[f] = r[f] * dd[i] + hr[f] * dt;
                    hr[f] *= dr;
                } else {
                    ipsc[f] = if spike {
                        ipsc[f] * dd[i] + jd[f] * g[i]
                    } else {
                        ipsc[f] * dd[i]
                    };
                    r[f] *= dd[i];
                }
            }
        }
        let filt = if double { hr } else { r };
        for (b, fb) in fired.iter().enumerate() {
            for &j in fb {
                filt[j as usize * B + b] += g[j as usize];
            }
        }
    }
}

/// One trial of a batch: its stimulus and its stream (after the task's
/// draws).
pub struct BatchTrial<'a> {
    /// The spiking stimulus (as for [`LifNetwork::simulate`]).
    pub u: &'a Array2<f64>,
    /// The trial's stream.
    pub rng: Rng,
}

impl LifNetwork {
    /// Simulate `trials` of this network, [`BATCH`] at a time in lanes (see
    /// the module docs), on the calling thread: the caller spreads batches
    /// over threads. The result of each trial is bit-identical to
    /// [`LifNetwork::simulate`] with its stimulus and stream.
    ///
    /// Optogenetic stimulation, recorded matrices, or trials of differing
    /// lengths in one batch fall back to [`LifNetwork::simulate`] per trial.
    pub fn simulate_batch(
        &self,
        trials: Vec<BatchTrial<'_>>,
        opts: &SimOptions,
    ) -> Result<Vec<SimResult>> {
        self.simulate_batch_with(trials, opts, true)
    }

    /// [`LifNetwork::simulate_batch`]; `simd` false forces the portable
    /// kernels (for the tests).
    fn simulate_batch_with(
        &self,
        trials: Vec<BatchTrial<'_>>,
        opts: &SimOptions,
        simd: bool,
    ) -> Result<Vec<SimResult>> {
        let plain = opts.opto.mode == OptoMode::None && opts.record == Default::default();
        let mut out = Vec::with_capacity(trials.len());
        let mut rest = trials.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<BatchTrial> = rest.by_ref().take(B).collect();
            let same = chunk.iter().all(|t| t.u.dim() == chunk[0].u.dim());
            if plain && same {
                out.extend(self.batch_of(chunk, opts, simd)?);
            } else {
                for mut t in chunk {
                    out.push(self.simulate(t.u, opts, &mut t.rng)?);
                }
            }
        }
        Ok(out)
    }

    /// Up to B trials of one time grid in the B lanes; lanes without a
    /// trial repeat the first (their results are dropped).
    fn batch_of(
        &self,
        chunk: Vec<BatchTrial<'_>>,
        opts: &SimOptions,
        simd: bool,
    ) -> Result<Vec<SimResult>> {
        let m = chunk.len();
        let timing = self.check_inputs(chunk[0].u, opts)?;
        let mut ext = Vec::with_capacity(B);
        let mut gens = Vec::with_capacity(B);
        for t in &chunk {
            self.check_inputs(t.u, opts)?;
            ext.push(self.external_currents(t.u, &timing.cols));
            gens.push(t.rng.clone());
        }
        while gens.len() < B {
            ext.push(ext[0].clone());
            gens.push(chunk[0].rng.clone());
        }
        let gens: [Rng; B] = gens.try_into().expect("B generators");
        #[cfg(target_arch = "x86_64")]
        {
            if simd && crate::rng::has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                let mut res = unsafe { self.run_batch_avx2(&timing, &ext, gens)? };
                res.truncate(m);
                return Ok(res);
            }
        }
        let _ = simd;
        let mut res = self.run_batch(&timing, &ext, gens, false)?;
        res.truncate(m);
        Ok(res)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_batch_avx2(
        &self,
        t: &super::simulate::Timing,
        ext: &[Vec<f64>],
        gens: [Rng; B],
    ) -> Result<Vec<SimResult>> {
        self.run_batch(t, ext, gens, true)
    }

    /// The batched step loop: stages 1–6 of [`crate::spiking::simulate`]
    /// for B lanes, with the AVX2 kernels when `simd` (only inside
    /// [`Self::run_batch_avx2`]). A numeric kernel: one function with every
    /// stage inlined, as [`LifNetwork::simulate`]'s loop and for the same
    /// reason (the whole loop compiled for AVX2); longer than 80 lines
    /// because the stages share the lane buffers.
    #[inline(always)]
    fn run_batch(
        &self,
        t: &super::simulate::Timing,
        ext: &[Vec<f64>],
        mut gens: [Rng; B],
        simd: bool,
    ) -> Result<Vec<SimResult>> {
        // A numeric kernel (see the doc comment for why it is long).
        let n = self.n;
        let syn = self.synapses_at(t)?;
        let nc: NeuronConsts = self.neuron.at_dt(t.dt_ms);
        let sd = self.neuron.noise_sd;
        // Initial voltages: each trial's first draws, as the single path.
        let mut state = LifState {
            v: vec![0.0; n * B],
            refractory: vec![nc.n_ref as f64; n * B],
        };
        for (b, g) in gens.iter_mut().enumerate() {
            let s = LifState::random(n, &nc, g);
            for i in 0..n {
                state.v[i * B + b] = s.v[i];
            }
        }
        let mut lanes = Lanes::new(&gens);
        let mut sy = Synapses::new(n);
        let mut noise = vec![0.0; n * B];
        let mut words = LaneScratch::default();
        let mut ext_now = vec![0.0; n * B];
        let mut col_now = usize::MAX;
        let mut flat: Vec<u32> = Vec::with_capacity(n * B);
        let mut fired: [Vec<u32>; B] = std::array::from_fn(|_| Vec::with_capacity(n));
        let mut events: [Vec<(u32, u32)>; B] = std::array::from_fn(|_| Vec::with_capacity(8 * n));
        let mut counts = vec![[0u32; B]; n];
        let mut outs: [Vec<f64>; B] = std::array::from_fn(|_| Vec::with_capacity(t.nt));
        for k in 0..t.nt {
            // 1. Input current of the step's column, interleaved.
            let col = stimulus_column(k, t.cols.len());
            if col != col_now {
                for (b, e) in ext.iter().enumerate() {
                    for i in 0..n {
                        ext_now[i * B + b] = e[col * n + i];
                    }
                }
                col_now = col;
            }
            // 2.–4. Noise, integrate, spikes (no opto on this path).
            if sd > 0.0 {
                normals(simd, &mut lanes, &mut noise, n, sd, &mut words);
            }
            flat.clear();
            neuron_step(&nc, &mut state, &sy.ipsc, &ext_now, &noise, None, &mut flat);
            let mut spiked = [false; B];
            for fb in fired.iter_mut() {
                fb.clear();
            }
            for &f in &flat {
                let (i, b) = (f as usize / B, f as usize % B);
                fired[b].push(i as u32);
                spiked[b] = true;
                events[b].push((i as u32, k as u32));
                if k >= RATE_COUNT_FROM_STEP {
                    counts[i][b] += 1;
                }
            }
            // 5. Synapses: each spiking lane's JD, then the filters.
            for (b, fb) in fired.iter().enumerate() {
                if fb.is_empty() {
                    continue;
                }
                for i in 0..n {
                    sy.jd[i * B + b] = 0.0;
                }
                for &j in fb {
                    for (i, &w) in self.column(j as usize).iter().enumerate() {
                        sy.jd[i * B + b] += w;
                    }
                }
            }
            synapses(simd, &mut sy, &syn, &spiked, &fired);
            // 6. Output of every lane.
            let o = readout(simd, &self.w_out[..n], self.b_out, &sy.r);
            for (ob, x) in outs.iter_mut().zip(o) {
                ob.push(x);
            }
        }
        let mut res = Vec::with_capacity(B);
        for (b, (ev, out)) in events.into_iter().zip(outs).enumerate() {
            res.push(SimResult {
                spikes: ev,
                out,
                dt_ms: t.dt_ms,
                t_sec: t.t_sec,
                n_steps: t.nt,
                rates_hz: counts.iter().map(|c| c[b] as f64 / t.t_sec).collect(),
                voltages: None,
                rates: None,
                currents: None,
            });
        }
        Ok(res)
    }
}

/// The voltage noise of every lane (stage 2), AVX2 when `simd`.
#[inline(always)]
fn normals(
    simd: bool,
    lanes: &mut Lanes<B>,
    noise: &mut [f64],
    n: usize,
    sd: f64,
    words: &mut LaneScratch<B>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if simd {
            // SAFETY: `simd` is true only inside `run_batch_avx2`, whose
            // caller checked that the CPU supports AVX2 and FMA.
            unsafe { crate::rng::fill_normal_lanes4_avx2(lanes, noise, n, sd, words) };
            return;
        }
    }
    let _ = simd;
    fill_normal_lanes(lanes, noise, n, sd, words);
}

/// Stage 5 for every lane, AVX2 when `simd` (double exponential).
#[inline(always)]
fn synapses(
    simd: bool,
    sy: &mut Synapses,
    p: &SynapseParams,
    spiked: &[bool; B],
    fired: &[Vec<u32>; B],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if simd && p.tr_ms() > 0.0 {
            // SAFETY: as in `normals`.
            unsafe { x86::synapses(sy, p, spiked, fired) };
            return;
        }
    }
    let _ = simd;
    sy.step(p, spiked, fired);
}

/// [`LifNetwork::readout`] of every lane of the interleaved `r`: per lane
/// the same four accumulators and order as
/// [`crate::spiking::kernels::dot`], then `+ b` unless b = 0.
#[inline(always)]
fn readout(simd: bool, w: &[f64], b_out: f64, r: &[f64]) -> [f64; B] {
    #[cfg(target_arch = "x86_64")]
    let mut s = if simd {
        // SAFETY: as in `normals`.
        unsafe { x86::readout(w, r) }
    } else {
        readout_portable(w, r)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let mut s = {
        let _ = simd;
        readout_portable(w, r)
    };
    if b_out != 0.0 {
        for x in s.iter_mut() {
            *x += b_out;
        }
    }
    s
}

/// The portable `w·r` of [`readout`].
#[inline(always)]
fn readout_portable(w: &[f64], r: &[f64]) -> [f64; B] {
    let n = w.len();
    let r = &r[..n * B];
    let mut acc = [[0.0f64; B]; 4];
    let full = n / 4 * 4;
    for i0 in (0..full).step_by(4) {
        for (l, al) in acc.iter_mut().enumerate() {
            let wi = w[i0 + l];
            let ri = &r[(i0 + l) * B..(i0 + l + 1) * B];
            for b in 0..B {
                al[b] += wi * ri[b];
            }
        }
    }
    let mut s = [0.0f64; B];
    for b in 0..B {
        s[b] = (acc[0][b] + acc[1][b]) + (acc[2][b] + acc[3][b]);
    }
    for i in full..n {
        for b in 0..B {
            s[b] += w[i] * r[i * B + b];
        }
    }
    s
}

/// AVX2 versions of the lane kernels: one register = unit i of the four
/// trials; the operations of the portable kernels in the same order (no
/// fused multiply-add), so the same bits.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Synapses, B};
    use crate::spiking::synapse::SynapseParams;

    /// [`Synapses::step`] for the double exponential (tr > 0).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    pub(super) unsafe fn synapses(
        sy: &mut Synapses,
        p: &SynapseParams,
        spiked: &[bool; B],
        fired: &[Vec<u32>; B],
    ) {
        let n = p.n();
        let (dd, g) = (&p.decay_d()[..n], &p.gain()[..n]);
        let (dt, dr) = (_mm256_set1_pd(p.dt_s()), _mm256_set1_pd(p.decay_r()));
        let nb = n * B;
        let (ipsc, h, r, hr, jd) = (
            sy.ipsc[..nb].as_mut_ptr(),
            sy.h[..nb].as_mut_ptr(),
            sy.r[..nb].as_mut_ptr(),
            sy.hr[..nb].as_mut_ptr(),
            sy.jd[..nb].as_ptr(),
        );
        let lane = |b: usize| if spiked[b] { -1i64 } else { 0 };
        let any = spiked.iter().any(|&s| s);
        let mask = _mm256_castsi256_pd(_mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3)));
        for i in 0..n {
            let f = i * B;
            let d = _mm256_set1_pd(dd[i]);
            let hv = _mm256_loadu_pd(h.add(f));
            let hrv = _mm256_loadu_pd(hr.add(f));
            let iv = _mm256_add_pd(
                _mm256_mul_pd(_mm256_loadu_pd(ipsc.add(f)), d),
                _mm256_mul_pd(hv, dt),
            );
            _mm256_storeu_pd(ipsc.add(f), iv);
            let decayed = _mm256_mul_pd(hv, dr);
            let hn = if any {
                let kick = _mm256_mul_pd(_mm256_loadu_pd(jd.add(f)), _mm256_set1_pd(g[i]));
                _mm256_blendv_pd(decayed, _mm256_add_pd(decayed, kick), mask)
            } else {
                decayed
            };
            _mm256_storeu_pd(h.add(f), hn);
            let rv = _mm256_add_pd(
                _mm256_mul_pd(_mm256_loadu_pd(r.add(f)), d),
                _mm256_mul_pd(hrv, dt),
            );
            _mm256_storeu_pd(r.add(f), rv);
            _mm256_storeu_pd(hr.add(f), _mm256_mul_pd(hrv, dr));
        }
        for (b, fb) in fired.iter().enumerate() {
            for &j in fb {
                sy.hr[j as usize * B + b] += g[j as usize];
            }
        }
    }

    /// [`super::readout_portable`]: four accumulator registers (units
    /// i ≡ 0…3 mod 4), combined as (a0 + a1) + (a2 + a3), then the tail.
    ///
    /// # Safety
    /// The CPU must support AVX2; `r.len() ≥ w.len()·B`.
    #[inline(always)]
    pub(super) unsafe fn readout(w: &[f64], r: &[f64]) -> [f64; B] {
        let n = w.len();
        let r = &r[..n * B];
        let rp = r.as_ptr();
        let z = _mm256_setzero_pd();
        let mut acc = [z; 4];
        let full = n / 4 * 4;
        for i0 in (0..full).step_by(4) {
            for (l, al) in acc.iter_mut().enumerate() {
                let i = i0 + l;
                let prod = _mm256_mul_pd(_mm256_set1_pd(w[i]), _mm256_loadu_pd(rp.add(i * B)));
                *al = _mm256_add_pd(*al, prod);
            }
        }
        let mut s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
        for (i, &wi) in w.iter().enumerate().skip(full) {
            s = _mm256_add_pd(
                s,
                _mm256_mul_pd(_mm256_set1_pd(wi), _mm256_loadu_pd(rp.add(i * B))),
            );
        }
        let mut out = [0.0; B];
        _mm256_storeu_pd(out.as_mut_ptr(), s);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use crate::spiking::network::ConversionOptions;
    use crate::spiking::neuron::LifParams;
    use crate::spiking::testutil::small_model;
    use crate::task::{extend_stimulus, GoNoGo, Task};

    /// `count` Go-NoGo trials (stimulus, stream after the task's draws).
    fn trials(count: usize, seed: u64) -> Vec<(Array2<f64>, Rng)> {
        let task = GoNoGo::default();
        (0..count)
            .map(|t| {
                let mut s = rng::stream(seed, &[t as u64]);
                let trial = task.sample(&mut s);
                (extend_stimulus(&trial.u, 1), s)
            })
            .collect()
    }

    /// Every trial of a batch equals the single path bit for bit.
    fn check(net: &LifNetwork, opts: &SimOptions, count: usize) {
        let tr = trials(count, 5);
        let batch = tr
            .iter()
            .map(|(u, s)| BatchTrial { u, rng: s.clone() })
            .collect();
        let got = net.simulate_batch(batch, opts).unwrap();
        assert_eq!(got.len(), count);
        // The portable kernels give the same bits as the AVX2 ones.
        let batch = tr
            .iter()
            .map(|(u, s)| BatchTrial { u, rng: s.clone() })
            .collect();
        assert_eq!(net.simulate_batch_with(batch, opts, false).unwrap(), got);
        let mut spikes = 0;
        for ((u, s), g) in tr.iter().zip(&got) {
            let want = net.simulate(u, opts, &mut s.clone()).unwrap();
            let same_bits = |a: &[f64], b: &[f64]| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            };
            assert!(same_bits(&g.out, &want.out), "outputs differ");
            assert!(same_bits(&g.rates_hz, &want.rates_hz));
            assert_eq!(g, &want);
            spikes += g.spikes.len();
        }
        assert!(spikes > 0, "no spikes: the test would not test much");
    }

    #[test]
    fn batched_trials_equal_single_trials_bit_for_bit() {
        let model = small_model();
        let opts = SimOptions {
            downsample: 4,
            ..SimOptions::default()
        };
        let net = LifNetwork::from_rate(&model, 25.0, &ConversionOptions::default()).unwrap();
        // One full batch and a partial one; a lone trial.
        check(&net, &opts, BATCH + 2);
        check(&net, &opts, 1);
        // Full resolution, output bias.
        let biased = ConversionOptions {
            output_bias: true,
            ..ConversionOptions::default()
        };
        let mut m2 = model.clone();
        m2.b_out = 0.25;
        let net = LifNetwork::from_rate(&m2, 20.0, &biased).unwrap();
        check(&net, &SimOptions::default(), 3);
        // Single-exponential synapse, no noise.
        let single = ConversionOptions {
            tr_ms: 0.0,
            ..ConversionOptions::default()
        };
        let mut net = LifNetwork::from_rate(&model, 20.0, &single).unwrap();
        check(&net, &opts, 5);
        net.neuron.noise_sd = 0.0;
        check(&net, &opts, 2);
        // QIF neurons.
        let qif = ConversionOptions {
            neuron: LifParams::qif(),
            ..ConversionOptions::default()
        };
        let net = LifNetwork::from_rate(&model, 20.0, &qif).unwrap();
        check(&net, &opts, 4);
    }

    #[test]
    fn options_the_batch_does_not_cover_fall_back_to_single_trials() {
        let model = small_model();
        let net = LifNetwork::from_rate(&model, 25.0, &ConversionOptions::default()).unwrap();
        let opts = SimOptions {
            downsample: 4,
            record: crate::spiking::simulate::Record {
                voltages: true,
                ..Default::default()
            },
            ..SimOptions::default()
        };
        check(&net, &opts, 2);
        // Trials of different lengths in one batch.
        let tr = trials(2, 1);
        let short = tr[0].0.slice(ndarray::s![.., ..101]).to_owned();
        let batch = vec![
            BatchTrial {
                u: &tr[0].0,
                rng: tr[0].1.clone(),
            },
            BatchTrial {
                u: &short,
                rng: tr[1].1.clone(),
            },
        ];
        let got = net.simulate_batch(batch, &opts).unwrap();
        let want = net.simulate(&short, &opts, &mut tr[1].1.clone()).unwrap();
        assert_eq!(got[1], want);
    }
}

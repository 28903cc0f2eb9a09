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
//! Two step loops: on CPUs with AVX-512 (F and VL), the LIF neuron with a
//! double-exponential synapse and voltage noise (the defaults) runs in one
//! fused pass per step over pairs of units that draws the noise as it goes
//! (`batch/fused.rs`, 6.2–6.5 ms per trial against 7.7–8.2 for the staged
//! loop on the benchmark host); everything else runs the staged loop, one
//! pass per stage as in [`LifNetwork::simulate`] (AVX2 kernels where the
//! CPU has them), which is also the portable reference the tests hold the
//! fused loop to.
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

#[cfg(target_arch = "x86_64")]
mod fused;

/// The synaptic state of the B trials, interleaved (`[i·B + b]`).
struct Synapses {
    n: usize,
    ipsc: Vec<f64>,
    h: Vec<f64>,
    r: Vec<f64>,
    hr: Vec<f64>,
    /// Summed W_spk columns of each lane's spikers (stage 4).
    jd: Vec<f64>,
    /// One lane's JD while it is summed (n values).
    lane: Vec<f64>,
}

impl Synapses {
    fn new(n: usize) -> Self {
        Synapses {
            n,
            ipsc: vec![0.0; n * B],
            h: vec![0.0; n * B],
            r: vec![0.0; n * B],
            hr: vec![0.0; n * B],
            jd: vec![0.0; n * B],
            lane: vec![0.0; n],
        }
    }

    /// Stage 4: `jd` of each spiking lane, the sum of its spikers' W_spk
    /// columns in spike order (as [`LifNetwork::simulate`]); other lanes
    /// keep stale values, which the kick's select ignores.
    #[inline(always)]
    fn sum_columns(&mut self, net: &LifNetwork, spikes: &Spikes) {
        sum_columns(net, &spikes.fired, &mut self.lane, &mut self.jd, |i| i * B);
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

/// Stage 1: the external current of the `n` units in step `k`'s column
/// of each lane's `ext` (precomputed per column), interleaved into `dst`
/// (lane b of unit i at `to(i) + b`), unless `col_now` already is that
/// column.
#[inline(always)]
fn load_column(
    ext: &[Vec<f64>],
    k: usize,
    n_cols: usize,
    n: usize,
    col_now: &mut usize,
    dst: &mut [f64],
    to: impl Fn(usize) -> usize,
) {
    let col = stimulus_column(k, n_cols);
    if col != *col_now {
        for (b, e) in ext.iter().enumerate() {
            for i in 0..n {
                dst[to(i) + b] = e[col * n + i];
            }
        }
        *col_now = col;
    }
}

/// Stage 4: `JD` of each spiking lane (`fired[b]` its spikers, in spike
/// order), the sum of their W_spk columns as in [`LifNetwork::simulate`],
/// formed contiguously in `lane` (n values, so that the additions
/// vectorise) and spread into `jd` (lane b of unit i at `to(i) + b`);
/// other lanes keep stale values, which the kick's select ignores.
#[inline(always)]
fn sum_columns(
    net: &LifNetwork,
    fired: &[Vec<u32>; B],
    lane: &mut [f64],
    jd: &mut [f64],
    to: impl Fn(usize) -> usize,
) {
    for (b, fb) in fired.iter().enumerate() {
        if fb.is_empty() {
            continue;
        }
        lane.fill(0.0);
        for &j in fb {
            for (x, &w) in lane.iter_mut().zip(net.column(j as usize)) {
                *x += w;
            }
        }
        for (i, &x) in lane.iter().enumerate() {
            jd[to(i) + b] = x;
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
            if simd && fused::applies(self) {
                // SAFETY: `applies` checked the CPU features.
                let mut res = unsafe { fused::run(self, &timing, &ext, gens)? };
                res.truncate(m);
                return Ok(res);
            }
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
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_batch_avx2(
        &self,
        t: &super::simulate::Timing,
        ext: &[Vec<f64>],
        gens: [Rng; B],
    ) -> Result<Vec<SimResult>> {
        self.run_batch(t, ext, gens, true)
    }

    /// The staged step loop: stages 1–6 of [`crate::spiking::simulate`]
    /// for B lanes, each stage a pass over all units, as in
    /// [`LifNetwork::simulate`]; the portable reference of the fused AVX-512
    /// loop ([`fused::run`]) and the path of the QIF neuron (AVX2 noise and
    /// synapses when `simd`, only inside [`Self::run_batch_avx2`]).
    #[inline(always)]
    fn run_batch(
        &self,
        t: &super::simulate::Timing,
        ext: &[Vec<f64>],
        gens: [Rng; B],
        simd: bool,
    ) -> Result<Vec<SimResult>> {
        let n = self.n;
        let syn = self.synapses_at(t)?;
        let mut run = Run::new(self, t, gens);
        for k in 0..t.nt {
            // 1. Input current of the step's column, interleaved.
            run.load_column(k, ext, t.cols.len());
            // 2.–4. Noise, integrate, spikes (no opto on this path).
            run.noise(simd);
            run.flat.clear();
            neuron_step(
                &run.nc,
                &mut run.state,
                &run.sy.ipsc,
                &run.ext_now,
                &run.noise,
                None,
                &mut run.flat,
            );
            run.spikes.start_step();
            for &f in &run.flat {
                run.spikes.note(f as usize / B, f as usize % B, k);
            }
            // 5. Synapses: each spiking lane's JD, then the filters.
            run.sy.sum_columns(self, &run.spikes);
            synapses(
                simd,
                &mut run.sy,
                &syn,
                &run.spikes.spiked,
                &run.spikes.fired,
            );
            // 6. Output of every lane.
            let o = readout(simd, &self.w_out[..n], &run.sy.r);
            run.push_output(o, self.b_out);
        }
        Ok(run.finish(t))
    }
}

/// The buffers of one batch run (shared by the staged and the fused loop).
struct Run {
    nc: NeuronConsts,
    state: LifState,
    sy: Synapses,
    lanes: Lanes<B>,
    noise: Vec<f64>,
    words: LaneScratch<B>,
    ext_now: Vec<f64>,
    col_now: usize,
    flat: Vec<u32>,
    spikes: Spikes,
    outs: [Vec<f64>; B],
}

impl Run {
    /// Initial state: each trial's first draws give its voltages, as in
    /// the single path ([`LifState::random`]); every refractory clock runs.
    fn new(net: &LifNetwork, t: &super::simulate::Timing, mut gens: [Rng; B]) -> Self {
        let n = net.n;
        let nc: NeuronConsts = net.neuron.at_dt(t.dt_ms);
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
        Run {
            nc,
            state,
            sy: Synapses::new(n),
            lanes: Lanes::new(&gens),
            noise: vec![0.0; n * B],
            words: LaneScratch::default(),
            ext_now: vec![0.0; n * B],
            col_now: usize::MAX,
            flat: Vec::with_capacity(n * B),
            spikes: Spikes::new(n),
            outs: std::array::from_fn(|_| Vec::with_capacity(t.nt)),
        }
    }

    /// Stage 1: the external current of step `k`'s column, interleaved.
    #[inline(always)]
    fn load_column(&mut self, k: usize, ext: &[Vec<f64>], n_cols: usize) {
        let n = self.sy.n;
        load_column(
            ext,
            k,
            n_cols,
            n,
            &mut self.col_now,
            &mut self.ext_now,
            |i| i * B,
        );
    }

    /// Stage 2: the voltage noise of every lane (none when noise_sd is 0:
    /// the buffer stays 0), AVX2 when `simd`.
    #[inline(always)]
    fn noise(&mut self, simd: bool) {
        let sd = self.nc.params.noise_sd;
        if sd > 0.0 {
            let n = self.sy.n;
            normals(
                simd,
                &mut self.lanes,
                &mut self.noise,
                n,
                sd,
                &mut self.words,
            );
        }
    }

    /// Stage 6: append the step's outputs `o` (+ `b_out` unless 0).
    #[inline(always)]
    fn push_output(&mut self, mut o: [f64; B], b_out: f64) {
        if b_out != 0.0 {
            for x in o.iter_mut() {
                *x += b_out;
            }
        }
        for (ob, x) in self.outs.iter_mut().zip(o) {
            ob.push(x);
        }
    }

    /// The B results.
    fn finish(self, t: &super::simulate::Timing) -> Vec<SimResult> {
        let counts = self.spikes.counts;
        let lanes = self.spikes.events.into_iter().zip(self.outs);
        lanes
            .enumerate()
            .map(|(b, (ev, out))| SimResult {
                spikes: ev,
                out,
                dt_ms: t.dt_ms,
                t_sec: t.t_sec,
                n_steps: t.nt,
                rates_hz: counts.iter().map(|c| c[b] as f64 / t.t_sec).collect(),
                voltages: None,
                rates: None,
                currents: None,
            })
            .collect()
    }
}

/// The spikes of the B lanes: this step's spikers per lane, every lane's
/// events and counts.
struct Spikes {
    /// Whether lane b had a spike this step.
    spiked: [bool; B],
    /// This step's spikers of each lane, in unit order.
    fired: [Vec<u32>; B],
    events: [Vec<(u32, u32)>; B],
    counts: Vec<[u32; B]>,
}

impl Spikes {
    fn new(n: usize) -> Self {
        Spikes {
            spiked: [false; B],
            fired: std::array::from_fn(|_| Vec::with_capacity(n)),
            events: std::array::from_fn(|_| Vec::with_capacity(8 * n)),
            counts: vec![[0u32; B]; n],
        }
    }

    /// Forget the previous step's spikers.
    #[inline(always)]
    fn start_step(&mut self) {
        self.spiked = [false; B];
        for fb in self.fired.iter_mut() {
            fb.clear();
        }
    }

    /// Unit `i` of lane `b` spiked at step `k` (counted from
    /// [`RATE_COUNT_FROM_STEP`] on).
    #[inline(always)]
    fn note(&mut self, i: usize, b: usize, k: usize) {
        self.fired[b].push(i as u32);
        self.spiked[b] = true;
        self.events[b].push((i as u32, k as u32));
        if k >= RATE_COUNT_FROM_STEP {
            self.counts[i][b] += 1;
        }
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

/// [`LifNetwork::readout`] of every lane of the interleaved `r` without
/// the bias: per lane the same four accumulators and order as
/// [`crate::spiking::kernels::dot`].
#[inline(always)]
fn readout(simd: bool, w: &[f64], r: &[f64]) -> [f64; B] {
    #[cfg(target_arch = "x86_64")]
    {
        if simd {
            // SAFETY: as in `normals`.
            return unsafe { x86::readout(w, r) };
        }
    }
    let _ = simd;
    readout_portable(w, r)
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
    fn unit_counts_that_leave_partial_blocks_give_the_same_bits() {
        // The fused loop takes eight units per noise block and two per
        // register: 27 and 30 units leave a partial block, 30 a whole pair
        // and 27 a lone unit after the last multiple of four; 8 is one
        // block, 5 none.
        let opts = SimOptions {
            downsample: 4,
            ..SimOptions::default()
        };
        for n in [27, 30, 8, 5] {
            let cfg = crate::rate::NetConfig {
                n,
                ..crate::rate::NetConfig::default()
            };
            let model = crate::rate::RateModel::init(&cfg, 1, &mut rng::from_seed(4)).unwrap();
            let net = LifNetwork::from_rate(&model, 25.0, &ConversionOptions::default()).unwrap();
            check(&net, &opts, 5);
        }
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

//! The fused AVX-512 step loop of the batches (LIF neuron, double-
//! exponential synapse, voltage noise on): one pass over the units per
//! step, which draws the voltage noise as it goes, instead of one pass per
//! stage. The noise kernel's arithmetic overlaps the state updates' loads
//! and stores; each unit's state is loaded and stored once per step; and
//! the state lives in one pair-major allocation ([`Arena`]), so that stores
//! to one array do not falsely alias loads from another (equal addresses
//! modulo 4 KiB: separate arrays made the state updates ≈ 15 % slower).
//!
//! The pass of step k does, for units i and i + 1 (one 512-bit register
//! holds both units of the four lanes):
//! 1. the current half of synapse step k − 1 (`IPSC`, `h`), which needs
//!    `JD` of step k − 1, known once the previous pass has ended;
//! 2. neuron step k (integrate + noise, threshold, reset), the noise of
//!    eight units at a time from sixteen words of the four streams;
//! 3. the rate half of synapse step k (`r`, `hr`), which needs only the
//!    unit's own spike of step k;
//! 4. their terms of the readout of step k.
//!
//! Each value is computed by the same operations, in the same order, as in
//! the staged loop (the portable reference) and in
//! [`LifNetwork::simulate`]: moving the current half of a synapse step to
//! the next pass changes only when it is computed, not from what; the pass
//! of step 0 decays the all-zero synaptic state once more, which leaves it
//! +0; the refractory countdown becomes the step of the last spike, which
//! gives the same integration mask ([`last`]); selects are masked adds and
//! masked stores; no fused multiply-add outside the noise kernel (which
//! is [`crate::rng::fill_normal_lanes4_avx2`]'s). So every trial gets the
//! same bits as alone (tested, also for unit counts that leave partial
//! blocks).

use std::arch::x86_64::*;

use super::{load_column, sum_columns, Run, Spikes, B};
use crate::error::Result;
use crate::rng::{fill_normal_lanes4_avx2, lanes_step4, normal_block4, Rng};
use crate::spiking::network::LifNetwork;
use crate::spiking::neuron::NeuronModel;
use crate::spiking::simulate::{SimResult, Timing};

/// Whether the fused loop runs `net`'s batches on this CPU: LIF neurons, a
/// double-exponential synapse, voltage noise, AVX-512F and VL (with AVX2 +
/// FMA).
pub(super) fn applies(net: &LifNetwork) -> bool {
    net.neuron.model == NeuronModel::Lif
        && net.neuron.noise_sd > 0.0
        && net.syn.tr_ms() > 0.0
        && crate::rng::has_avx2_fma()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// The f64 lane arrays of the [`Arena`]'s pair blocks, in order.
#[derive(Clone, Copy)]
enum A {
    Ipsc,
    H,
    R,
    Hr,
    V,
    Ext,
    /// Per-unit constants spread over the lanes (unit i's in all four):
    /// decay factor, spike gain, readout weight. (Compact, they would
    /// need a shuffle per pair, which costs more than the traffic.)
    Dd,
    G,
    W,
}

/// Number of [`A`] arrays; a block's last 64 bytes hold the pair's
/// [`last`] spike steps.
const ARRAYS: usize = 9;

/// Offset of a block's last-spike steps (f64 units from the block start).
const LAST: usize = ARRAYS * 2 * B;

/// Values (f64) per pair of units in the [`Arena`]: every array's 2 × B,
/// then 64 bytes for the last-spike steps (2 × B i32, padded to a cache
/// line).
const BLOCK: usize = LAST + 8;

/// The lane state of the loop in one allocation, pair by pair: the block
/// of units 2q and 2q + 1 holds, for each [`A`] array in turn, unit 2q's
/// four lanes then unit 2q + 1's, then their last-spike steps; after the
/// blocks, `JD` interleaved (`[i·B + b]`, read only at steps after a
/// spike). One 512-bit load reads a pair's values of one array, one base
/// pointer with constant offsets reaches all arrays, and the pass reads
/// and writes a single stream of ten cache lines per pair (separate
/// arrays would put loads and stores at equal addresses modulo 4 KiB,
/// which the CPU mistakes for dependencies; one base pointer also leaves
/// the general-purpose registers free).
struct Arena {
    mem: Vec<f64>,
    base: usize,
    /// Offset of `JD` from the base.
    jd: usize,
}

impl Arena {
    /// Zeroed state for `n` units (64-byte aligned).
    fn new(n: usize) -> Self {
        let jd = n.div_ceil(2) * BLOCK;
        let mem = vec![0.0; jd + n * B + 8];
        let base = mem.as_ptr().align_offset(64);
        Arena { mem, base, jd }
    }

    /// Set array `a` from an interleaved `[i·B + b]` array of `n` units.
    fn set(&mut self, a: A, x: &[f64], n: usize) {
        for i in 0..n {
            for b in 0..B {
                self.mem[self.base + at(a, i) + b] = x[i * B + b];
            }
        }
    }

    fn ptr(&mut self) -> *mut f64 {
        self.mem[self.base..].as_mut_ptr()
    }
}

/// Offset of unit `i`'s lanes of array `a` from the arena's base.
#[inline(always)]
fn at(a: A, i: usize) -> usize {
    (i / 2) * BLOCK + a as usize * 2 * B + (i % 2) * B
}

/// Unit `i`'s lanes of the last-spike steps in the arena at `p`: the step
/// of the unit's last spike (−1 at the start), which stands in for
/// `neuron_step`'s refractory countdown (see [`pair`]).
#[inline(always)]
unsafe fn last(p: *mut f64, i: usize) -> *mut i32 {
    (p.add((i / 2) * BLOCK + LAST) as *mut i32).add((i % 2) * B)
}

/// The per-run constants, broadcast.
struct Consts {
    a: __m512d,
    bias: __m512d,
    v_th: __m512d,
    v_reset: __m512d,
    n_ref: __m256i,
    zero: __m512d,
    dt: __m512d,
    dr: __m512d,
    sd: __m512d,
}

/// The step loop of a batch (see the module docs).
///
/// # Safety
/// The CPU must support AVX2, FMA, AVX-512F and AVX-512VL ([`applies`]).
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
pub(super) unsafe fn run(
    net: &LifNetwork,
    t: &Timing,
    ext: &[Vec<f64>],
    gens: [Rng; B],
) -> Result<Vec<SimResult>> {
    let n = net.n;
    let syn = net.synapses_at(t)?;
    let mut run = Run::new(net, t, gens);
    let mut ar = Arena::new(n);
    ar.set(A::V, &run.state.v, n);
    // Every refractory clock starts at n_ref: as if all spiked at step −1.
    debug_assert!(run
        .state
        .refractory
        .iter()
        .all(|&r| r == run.nc.n_ref as f64));
    for i in 0..n {
        std::slice::from_raw_parts_mut(last(ar.ptr(), i), B).fill(-1);
    }
    let spread = |x: &[f64]| -> Vec<f64> { x[..n].iter().flat_map(|&y| [y; B]).collect() };
    ar.set(A::Dd, &spread(syn.decay_d()), n);
    ar.set(A::G, &spread(syn.gain()), n);
    ar.set(A::W, &spread(&net.w_out[..n]), n);
    let (nc, set1) = (&run.nc, _mm512_set1_pd);
    let c = Consts {
        a: set1(nc.dt_over_tau),
        bias: set1(nc.params.bias),
        v_th: set1(nc.params.v_th),
        v_reset: set1(nc.params.v_reset),
        n_ref: _mm256_set1_epi32(nc.n_ref as i32),
        zero: _mm512_setzero_pd(),
        dt: set1(syn.dt_s()),
        dr: set1(syn.decay_r()),
        sd: set1(nc.params.noise_sd),
    };
    let mut col_now = usize::MAX;
    let mut hits = vec![(0u32, 0u8); n];
    let (mut lane, jd_at) = (vec![0.0; n], ar.jd);
    for k in 0..t.nt {
        let base = ar.base;
        let to_ext = |i: usize| base + at(A::Ext, i);
        load_column(ext, k, t.cols.len(), n, &mut col_now, &mut ar.mem, to_ext);
        // The lanes that spiked at step k − 1 (their JD is in the arena).
        let prev = run.spikes.spiked;
        run.spikes.start_step();
        let p = ar.ptr();
        let (o, count) = if prev.iter().any(|&s| s) {
            pass::<true>(p, &mut run, &c, prev, k, &mut hits)
        } else {
            pass::<false>(p, &mut run, &c, prev, k, &mut hits)
        };
        for &(i, bits) in &hits[..count] {
            note(&mut run.spikes, bits, i as usize, k);
        }
        run.push_output(o, net.b_out);
        let to_jd = |i: usize| base + jd_at + i * B;
        sum_columns(net, &run.spikes.fired, &mut lane, &mut ar.mem, to_jd);
    }
    Ok(run.finish(t))
}

/// The pass of one step over all `n` units (see the module docs) from the
/// arena at `p`, returning the readout `w_out·r` of every lane and the
/// number of `hits` (pairs with spikes: first unit, lane bits as in
/// [`pair`]). The readout sums four accumulators over units i ≡ 0…3 mod 4
/// (the halves of `acc_a` and `acc_b`), combined as (a0 + a1) + (a2 + a3),
/// then the units past the last multiple of 4, as
/// [`crate::spiking::kernels::dot`]. `KICK`: some lane spiked at the step
/// before (the lanes in `prev`).
#[inline(always)]
unsafe fn pass<const KICK: bool>(
    p: *mut f64,
    run: &mut Run,
    c: &Consts,
    prev: [bool; B],
    k: usize,
    hits: &mut [(u32, u8)],
) -> ([f64; B], usize) {
    let n = run.sy.n;
    let mut h = Step {
        kick: prev.iter().rev().fold(0u8, |m, &s| (m << 1) | s as u8) * 0x11,
        now: _mm256_set1_epi32(k as i32),
        jd: p.add(n.div_ceil(2) * BLOCK),
        buf: hits.as_mut_ptr(),
        len: 0,
    };
    let (mut acc_a, mut acc_b) = (c.zero, c.zero);
    // Whole blocks of eight units: noise from sixteen words in registers,
    // drawn one block ahead, so that its long dependency chain (ln, √) can
    // overlap the state updates of the block before (a block's
    // instructions nearly fill the reorder buffer; measured: a few %).
    let blocks = n / 8;
    let mut st = run.lanes.regs();
    if blocks > 0 {
        let mut z = block_noise(&mut st, c.sd);
        for blk in 0..blocks {
            let next = if blk + 1 < blocks {
                block_noise(&mut st, c.sd)
            } else {
                z
            };
            let i = 8 * blk;
            acc_a = pair::<KICK, true>(p, c, &mut h, i, z[0], acc_a);
            acc_b = pair::<KICK, true>(p, c, &mut h, i + 2, z[1], acc_b);
            acc_a = pair::<KICK, true>(p, c, &mut h, i + 4, z[2], acc_a);
            acc_b = pair::<KICK, true>(p, c, &mut h, i + 6, z[3], acc_b);
            z = next;
        }
    }
    run.lanes.set_regs(st);
    // The rest (< 8 units): noise through the buffer, the streams' next
    // words in the same order.
    let (first, rest) = (8 * blocks, n - 8 * blocks);
    if rest > 0 {
        let sd = run.nc.params.noise_sd;
        fill_normal_lanes4_avx2(&mut run.lanes, &mut run.noise, rest, sd, &mut run.words);
    }
    let buf = run.noise.as_ptr().wrapping_sub(first * B);
    let full = n / 4 * 4;
    for i in (first..full).step_by(4) {
        let z = ld::<true>(buf.wrapping_add(i * B));
        acc_a = pair::<KICK, true>(p, c, &mut h, i, z, acc_a);
        let z = ld::<true>(buf.wrapping_add((i + 2) * B));
        acc_b = pair::<KICK, true>(p, c, &mut h, i + 2, z, acc_b);
    }
    let mut s = _mm256_add_pd(
        _mm256_add_pd(lo(acc_a), hi(acc_a)),
        _mm256_add_pd(lo(acc_b), hi(acc_b)),
    );
    for i in full..n {
        let z = ld::<false>(buf.wrapping_add(i * B));
        s = _mm256_add_pd(s, lo(pair::<KICK, false>(p, c, &mut h, i, z, acc_a)));
    }
    let mut out = [0.0; B];
    _mm256_storeu_pd(out.as_mut_ptr(), s);
    (out, h.len)
}

/// The noise of the next eight units (four words of each lane from the
/// streams in `st`, [`crate::rng::Lanes::regs`]), as four pairs.
#[inline(always)]
unsafe fn block_noise(st: &mut [__m256i; 4], sd: __m512d) -> [__m512d; 4] {
    let w: [__m256i; 4] = [
        lanes_step4(st),
        lanes_step4(st),
        lanes_step4(st),
        lanes_step4(st),
    ];
    let a = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(w[0]), w[1]);
    let b = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(w[2]), w[3]);
    normal_block4(a, b, sd)
}

/// What [`pair`] needs of the step, and where it notes the spikes it
/// finds (no call inside the pass: a call would force every vector
/// register to the stack around it).
struct Step {
    /// The lanes (bits b and b + 4) that spiked at the step before.
    kick: __mmask8,
    /// The step's index.
    now: __m256i,
    /// `JD` in the arena.
    jd: *const f64,
    buf: *mut (u32, u8),
    len: usize,
}

/// Lower 256 bits (unit i of a pair).
#[inline(always)]
unsafe fn lo(x: __m512d) -> __m256d {
    _mm512_castpd512_pd256(x)
}

/// Upper 256 bits (unit i + 1 of a pair).
#[inline(always)]
unsafe fn hi(x: __m512d) -> __m256d {
    _mm512_extractf64x4_pd::<1>(x)
}

/// Load the pair at `ptr` (`FULL`), or only its first unit (the rest 0).
#[inline(always)]
unsafe fn ld<const FULL: bool>(ptr: *const f64) -> __m512d {
    if FULL {
        _mm512_loadu_pd(ptr)
    } else {
        _mm512_maskz_loadu_pd(0x0f, ptr)
    }
}

/// Store the pair at `ptr` (`FULL`), or only its first unit.
#[inline(always)]
unsafe fn st<const FULL: bool>(ptr: *mut f64, x: __m512d) {
    if FULL {
        _mm512_storeu_pd(ptr, x)
    } else {
        _mm512_mask_storeu_pd(ptr, 0x0f, x)
    }
}

/// Units `i` and `i + 1` (`FULL`; else unit i alone) of the pass (stages
/// 1–4 of the module docs) with voltage noise `noise`, returning the
/// readout accumulator `acc + w·r` (`FULL`; else just `w·r`, unit i's in
/// the low half). Spikes go to `step` as (i, bits), bit b: unit i of lane
/// b, bit b + 4: unit i + 1. A numeric kernel: the stages share the
/// registers.
#[inline(always)]
unsafe fn pair<const KICK: bool, const FULL: bool>(
    p: *mut f64,
    c: &Consts,
    step: &mut Step,
    i: usize,
    noise: __m512d,
    acc: __m512d,
) -> __m512d {
    let (d, g) = (ld::<FULL>(x(p, i, A::Dd)), ld::<FULL>(x(p, i, A::G)));
    // 1. Synapse step k − 1, current half: `IPSC·dd + h·dt`, `h·dr (+ JD·g)`.
    let h = ld::<FULL>(x(p, i, A::H));
    let ipsc = _mm512_add_pd(
        _mm512_mul_pd(ld::<FULL>(x(p, i, A::Ipsc)), d),
        _mm512_mul_pd(h, c.dt),
    );
    let mut h = _mm512_mul_pd(h, c.dr);
    if KICK {
        let jd = ld::<FULL>(step.jd.add(i * B));
        h = _mm512_mask_add_pd(h, step.kick, h, _mm512_mul_pd(jd, g));
    }
    st::<FULL>(x(p, i, A::H), h);
    st::<FULL>(x(p, i, A::Ipsc), ipsc);
    // 2. Neuron step k: `neuron_step`'s LIF update, then threshold.
    //    A unit integrates when its countdown (n_ref at its spike, minus
    //    one per step since, not below 0) is 0, i.e. when now − last >
    //    n_ref.
    let lp = last(p, i);
    let last_ = if FULL {
        _mm256_loadu_si256(lp as *const __m256i)
    } else {
        _mm256_maskz_loadu_epi32(0x0f, lp as *const i32)
    };
    let since = _mm256_sub_epi32(step.now, last_);
    let integrates = _mm256_cmpgt_epi32_mask(since, c.n_ref);
    let active = _mm512_maskz_mov_pd(integrates, c.a);
    let v = ld::<FULL>(x(p, i, A::V));
    let input = _mm512_add_pd(_mm512_add_pd(ipsc, ld::<FULL>(x(p, i, A::Ext))), c.bias);
    let v = _mm512_add_pd(
        _mm512_add_pd(v, _mm512_mul_pd(active, _mm512_sub_pd(input, v))),
        noise,
    );
    let live: __mmask8 = if FULL { 0xff } else { 0x0f };
    let spike = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, c.v_th) & live;
    st::<FULL>(x(p, i, A::V), v);
    // 3. Synapse step k, rate half: `r·dd + hr·dt`, `hr·dr (+ g)` for a spiker.
    let hr = ld::<FULL>(x(p, i, A::Hr));
    let r = _mm512_add_pd(
        _mm512_mul_pd(ld::<FULL>(x(p, i, A::R)), d),
        _mm512_mul_pd(hr, c.dt),
    );
    let hr = _mm512_mul_pd(hr, c.dr);
    st::<FULL>(x(p, i, A::Hr), hr);
    st::<FULL>(x(p, i, A::R), r);
    // Spikers (rare: a branch, so that the common case does no selects):
    // reset, last spike, `hr + g`, noted for the caller.
    if spike != 0 {
        _mm512_mask_storeu_pd(x(p, i, A::V), spike, c.v_reset);
        _mm256_mask_storeu_epi32(lp, spike, step.now);
        _mm512_mask_storeu_pd(x(p, i, A::Hr), spike, _mm512_add_pd(hr, g));
        *step.buf.add(step.len) = (i as u32, spike);
        step.len += 1;
    }
    // 4. The readout term.
    let term = _mm512_mul_pd(ld::<FULL>(x(p, i, A::W)), r);
    if FULL {
        _mm512_add_pd(acc, term)
    } else {
        term
    }
}

/// Unit `i`'s lanes of array `a` in the arena at `p`.
#[inline(always)]
unsafe fn x(p: *mut f64, i: usize, a: A) -> *mut f64 {
    p.add(at(a, i))
}

/// Record the spikes in `bits` (bit b: unit `i` of lane b, bit b + 4:
/// unit i + 1) at step `k`, in unit then lane order, as the staged loop.
fn note(spikes: &mut Spikes, bits: u8, i: usize, k: usize) {
    for j in 0..2 * B {
        if bits & (1 << j) != 0 {
            spikes.note(i + j / B, j % B, k);
        }
    }
}

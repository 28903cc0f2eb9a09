//! Standard normal draws for the LIF voltage noise: Box–Muller in single
//! precision, two draws from each 64-bit random word, eight words per AVX2
//! register (sixteen per AVX-512 register in the batches, `x512`) and no
//! table, no rejection, no branch.
//!
//! For a word with low half `lo` and high half `hi` (32 bits each):
//!
//! ```text
//! u₁ = (⌊lo/2⌋ + 1) · 2⁻³¹              ∈ [2⁻³¹, 1]
//! R  = √(−2 ln u₁)                       ≤ 6.56
//! φ  = q·π/2 + t,  q = ⌊hi/2³⁰⌋ ∈ {0,1,2,3},  t ∈ [−π/4, π/4) from the other 30 bits
//! (z₀, z₁) = (R cos φ, R sin φ)          two independent N(0, 1) draws
//! ```
//!
//! `ln`, `sin` and `cos` are Cephes' single-precision kernels (`logf`,
//! `sinf`, `cosf` on [−π/4, π/4]; errors of a few units in the last place
//! of f32, ≈ 1e-7 relative), so the draws are exact in distribution up to
//! f32 rounding and the 2⁻³¹ resolution of u₁ (which cuts the tail at
//! |z| = 6.56, probability 5·10⁻¹¹ per draw). Tests: agreement with an f64
//! Box–Muller on the same uniforms, moments, tail probabilities,
//! Kolmogorov–Smirnov distance and the independence of the pair.
//!
//! Every operation is elementwise and the same, in the same order and with
//! the same fused multiply-adds, in the scalar [`normal_pair`] and the AVX2
//! kernel, so a stream's draws do not depend on which path made them or on
//! how streams share a register: [`fill_normal_with`] (one stream) and
//! [`fill_normal_lanes`]/[`fill_normal_lanes4_avx2`] (B streams in lanes)
//! give each stream the same numbers (tested).
//!
//! Written here rather than taken from a crate: `rand_distr`'s
//! `StandardNormal` (a 64-bit ziggurat) spends a word and a table lookup per
//! draw, and the voltage noise (N normals per 0.05 ms step, 4 M per Go-NoGo
//! trial) is most of a trial's cost; this generator's lanes need neither
//! lookups nor the rare rejection path, so it runs at full vector width.
//! It replaced a 32-bit ziggurat (#15: same distributions, see the
//! README's speed section; it changed every spiking result draw by draw).

use rand::RngCore;

use super::Lanes;

/// 2⁻³¹.
const TWO_M31: f32 = 1.0 / 2_147_483_648.0;
/// (π/4) / 2²⁹: t = (30-bit integer − 2²⁹) · ANGLE.
const ANGLE: f32 = std::f32::consts::FRAC_PI_4 / 536_870_912.0;
/// √½, where Cephes' `logf` moves the mantissa from [½, 1) to [√½, √2).
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// ln 2 = LN2_HI + LN2_LO (Cephes' split: e·LN2_HI is exact).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `logf`: ln(1 + x) = x − x²/2 + x³·P(x) on [√½ − 1, √2 − 1].
const LOG_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_5e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];
/// Cephes `sinf` on [−π/4, π/4]: sin t = t + t·z·(S0 + z(S1 + z·S2)), z = t².
const SIN: [f32; 3] = [-1.666_665_5e-1, 8.332_161e-3, -1.951_529_6e-4];
/// Cephes `cosf`: cos t = 1 − z/2 + z²·(C0 + z(C1 + z·C2)).
const COS: [f32; 3] = [4.166_664_6e-2, -1.388_731_6e-3, 2.443_315_7e-5];

/// The two standard normal draws of one 64-bit word (see the module docs),
/// scalar: the reference for the vector kernels, which compute the same
/// operations lane by lane.
#[inline]
pub fn normal_pair(word: u64) -> (f32, f32) {
    let (lo, hi) = (word as u32, (word >> 32) as u32);
    let u1 = (((lo >> 1) as i32) as f32 + 1.0) * TWO_M31;
    let r2 = -2.0 * ln(u1);
    let r = (if r2 > 0.0 { r2 } else { 0.0 }).sqrt();
    let t = (((hi & 0x3fff_ffff) as i32 - (1 << 29)) as f32) * ANGLE;
    let (s, c) = sin_cos(t);
    let (a, b) = if hi & 0x4000_0000 != 0 {
        (s, c)
    } else {
        (c, s)
    };
    let sign_a = (hi ^ (hi << 1)) & 0x8000_0000;
    let sign_b = hi & 0x8000_0000;
    (
        f32::from_bits((r * a).to_bits() ^ sign_a),
        f32::from_bits((r * b).to_bits() ^ sign_b),
    )
}

/// ln u for u in [2⁻³¹, 1] (Cephes `logf`).
#[inline(always)]
fn ln(u: f32) -> f32 {
    let bits = u.to_bits();
    let xm = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = xm < SQRT_HALF;
    let e = ((bits >> 23) as i32 - 126 - small as i32) as f32;
    let x = (xm - 1.0) + if small { xm } else { 0.0 };
    let z = x * x;
    let mut p = LOG_P[0];
    for &k in &LOG_P[1..] {
        p = p.mul_add(x, k);
    }
    let y = (p * x) * z;
    let y = e.mul_add(LN2_LO, y);
    let y = (-0.5f32).mul_add(z, y);
    e.mul_add(LN2_HI, x + y)
}

/// (sin t, cos t) for t in [−π/4, π/4] (Cephes `sinf`/`cosf`).
#[inline(always)]
fn sin_cos(t: f32) -> (f32, f32) {
    let z = t * t;
    let sp = SIN[2].mul_add(z, SIN[1]).mul_add(z, SIN[0]);
    let s = (sp * z).mul_add(t, t);
    let cp = COS[2].mul_add(z, COS[1]).mul_add(z, COS[0]);
    let c = (cp * z).mul_add(z, (-0.5f32).mul_add(z, 1.0));
    (s, c)
}

/// Fill `buf` with independent N(0, sd²) draws (two per 64-bit word).
pub fn fill_normal<R: RngCore + ?Sized>(rng: &mut R, buf: &mut [f64], sd: f64) {
    let mut bits = vec![0u64; buf.len().div_ceil(2)];
    fill_normal_with(rng, buf, sd, &mut bits);
}

/// [`fill_normal`] with a caller-provided scratch buffer of at least
/// `buf.len()/2` (rounded up) words: the `⌈n/2⌉` words are drawn first,
/// then word w gives draws 2w and 2w+1 ([`normal_pair`]; an odd last draw
/// uses its word's first half only).
#[inline]
pub fn fill_normal_with<R: RngCore + ?Sized>(
    rng: &mut R,
    buf: &mut [f64],
    sd: f64,
    bits: &mut [u64],
) {
    let words = &mut bits[..buf.len().div_ceil(2)];
    // SAFETY: every bit pattern is a valid u8 and u64; the byte view covers
    // exactly the words' memory and lives only for this call.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 8) };
    rng.fill_bytes(bytes);
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above);
            // `words` holds ⌈buf.len()/2⌉ words.
            unsafe { x86::pairs_interleaved(words, buf, sd) };
            return;
        }
    }
    for (w, &word) in words.iter().enumerate() {
        let (z0, z1) = normal_pair(word);
        buf[2 * w] = z0 as f64 * sd;
        if 2 * w + 1 < buf.len() {
            buf[2 * w + 1] = z1 as f64 * sd;
        }
    }
}

/// Whether the AVX2 + FMA kernels can run (detected once, cached by std).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Scratch buffer of [`fill_normal_lanes`] and [`fill_normal_lanes4_avx2`].
#[derive(Debug, Clone)]
pub struct LaneScratch<const B: usize> {
    words: Vec<[u64; B]>,
}

impl<const B: usize> Default for LaneScratch<B> {
    fn default() -> Self {
        LaneScratch { words: Vec::new() }
    }
}

/// [`fill_normal_with`] for the `B` streams of `lanes` at once: draw `i` of
/// lane `b` goes to `out[i·B + b]` (i < `n`, `out.len() ≥ n·B`), and each
/// lane receives exactly the draws [`fill_normal_with`] gives its stream
/// alone (the same `⌈n/2⌉` words, the same [`normal_pair`]s).
pub fn fill_normal_lanes<const B: usize>(
    lanes: &mut Lanes<B>,
    out: &mut [f64],
    n: usize,
    sd: f64,
    scratch: &mut LaneScratch<B>,
) {
    let words = &mut scratch.words;
    words.clear();
    words.extend((0..n.div_ceil(2)).map(|_| lanes.next_words()));
    let out = &mut out[..n * B];
    for (w, wb) in words.iter().enumerate() {
        for (b, &word) in wb.iter().enumerate() {
            let (z0, z1) = normal_pair(word);
            out[2 * w * B + b] = z0 as f64 * sd;
            if 2 * w + 1 < n {
                out[(2 * w + 1) * B + b] = z1 as f64 * sd;
            }
        }
    }
}

/// [`fill_normal_lanes`] for four lanes with AVX2 and FMA: the words from
/// [`Lanes::fill_avx2`], two words of each lane (eight words) per register.
///
/// # Safety
/// The CPU must support AVX2 and FMA ([`has_avx2_fma`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn fill_normal_lanes4_avx2(
    lanes: &mut Lanes<4>,
    out: &mut [f64],
    n: usize,
    sd: f64,
    scratch: &mut LaneScratch<4>,
) {
    let words = &mut scratch.words;
    words.resize(n.div_ceil(2), [0; 4]);
    lanes.fill_avx2(words);
    let out = &mut out[..n * 4];
    let done = if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F detected just above.
        x512::lanes4(words, out, n, sd)
    } else {
        0
    };
    x86::lanes4(&words[done..], &mut out[8 * done..], n - 2 * done, sd);
}

/// The AVX2 + FMA kernels: [`normal_pair`] on eight words per register.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{ANGLE, COS, LN2_HI, LN2_LO, LOG_P, SIN, SQRT_HALF, TWO_M31};

    /// [`super::normal_pair`] of eight words given as their low halves
    /// `lo` and high halves `hi`: (z₀, z₁) of each, lane k = word k.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pairs8(lo: __m256i, hi: __m256i) -> (__m256, __m256) {
        let ps = _mm256_set1_ps;
        // u₁ and R = √max(−2 ln u₁, 0).
        let k = _mm256_cvtepi32_ps(_mm256_srli_epi32::<1>(lo));
        let u1 = _mm256_mul_ps(_mm256_add_ps(k, ps(1.0)), ps(TWO_M31));
        let r2 = _mm256_mul_ps(ps(-2.0), ln8(u1));
        let r = _mm256_sqrt_ps(_mm256_max_ps(r2, _mm256_setzero_ps()));
        // t, then sin t and cos t.
        let ti = _mm256_sub_epi32(
            _mm256_and_si256(hi, _mm256_set1_epi32(0x3fff_ffff)),
            _mm256_set1_epi32(1 << 29),
        );
        let t = _mm256_mul_ps(_mm256_cvtepi32_ps(ti), ps(ANGLE));
        let z = _mm256_mul_ps(t, t);
        let sp = _mm256_fmadd_ps(_mm256_fmadd_ps(ps(SIN[2]), z, ps(SIN[1])), z, ps(SIN[0]));
        let s = _mm256_fmadd_ps(_mm256_mul_ps(sp, z), t, t);
        let cp = _mm256_fmadd_ps(_mm256_fmadd_ps(ps(COS[2]), z, ps(COS[1])), z, ps(COS[0]));
        let c = _mm256_fmadd_ps(
            _mm256_mul_ps(cp, z),
            z,
            _mm256_fmadd_ps(ps(-0.5), z, ps(1.0)),
        );
        // Quadrant: swap when bit 30 is set, signs from bits 30 and 31.
        let swap = _mm256_castsi256_ps(_mm256_slli_epi32::<1>(hi));
        let a = _mm256_blendv_ps(c, s, swap);
        let b = _mm256_blendv_ps(s, c, swap);
        let top = _mm256_set1_epi32(i32::MIN);
        let sign_a = _mm256_and_si256(_mm256_xor_si256(hi, _mm256_slli_epi32::<1>(hi)), top);
        let sign_b = _mm256_and_si256(hi, top);
        let z0 = _mm256_xor_ps(_mm256_mul_ps(r, a), _mm256_castsi256_ps(sign_a));
        let z1 = _mm256_xor_ps(_mm256_mul_ps(r, b), _mm256_castsi256_ps(sign_b));
        (z0, z1)
    }

    /// [`super::ln`] on eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn ln8(u: __m256) -> __m256 {
        let ps = _mm256_set1_ps;
        let bits = _mm256_castps_si256(u);
        let xm = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f00_0000),
        ));
        let small = _mm256_cmp_ps::<_CMP_LT_OQ>(xm, ps(SQRT_HALF));
        // e = exponent − 126 − small (the mask is −1 where small).
        let ei = _mm256_add_epi32(
            _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(126)),
            _mm256_castps_si256(small),
        );
        let e = _mm256_cvtepi32_ps(ei);
        let x = _mm256_add_ps(_mm256_sub_ps(xm, ps(1.0)), _mm256_and_ps(small, xm));
        let z = _mm256_mul_ps(x, x);
        let mut p = ps(LOG_P[0]);
        for &k in &LOG_P[1..] {
            p = _mm256_fmadd_ps(p, x, ps(k));
        }
        let y = _mm256_mul_ps(_mm256_mul_ps(p, x), z);
        let y = _mm256_fmadd_ps(e, ps(LN2_LO), y);
        let y = _mm256_fmadd_ps(ps(-0.5), z, y);
        _mm256_fmadd_ps(e, ps(LN2_HI), _mm256_add_ps(x, y))
    }

    /// Low and high 32-bit halves of the eight words at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn halves(p: *const u64) -> (__m256i, __m256i) {
        let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let a = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p as *const __m256i), split);
        let b = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.add(4) as *const __m256i), split);
        (
            _mm256_permute2x128_si256::<0x20>(a, b),
            _mm256_permute2x128_si256::<0x31>(a, b),
        )
    }

    /// Four lanes: words `w` and `w+1` of the four lanes in one register
    /// give draws 2w … 2w+3 of every lane, stored as `out[i·4 + b]`.
    /// A trailing odd word or draw goes through a stack buffer.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn lanes4(words: &[[u64; 4]], out: &mut [f64], n: usize, sd: f64) {
        let sdv = _mm256_set1_pd(sd);
        let mut w = 0;
        let mut tail = [[0u64; 4]; 2];
        while 2 * w < n {
            let full = 2 * w + 4 <= n;
            let src = if full {
                words[w..].as_ptr() as *const u64
            } else {
                tail[0] = words[w];
                if w + 1 < words.len() {
                    tail[1] = words[w + 1];
                }
                tail.as_ptr() as *const u64
            };
            let (z0, z1) = pairs8_at(src);
            let v = [
                _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(z0)), sdv),
                _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(z1)), sdv),
                _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(z0)), sdv),
                _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(z1)), sdv),
            ];
            if full {
                let dst = out.as_mut_ptr().add(2 * w * 4);
                for (j, vj) in v.iter().enumerate() {
                    _mm256_storeu_pd(dst.add(4 * j), *vj);
                }
            } else {
                let mut buf = [0.0f64; 16];
                for (j, vj) in v.iter().enumerate() {
                    _mm256_storeu_pd(buf.as_mut_ptr().add(4 * j), *vj);
                }
                let rest = 4 * (n - 2 * w);
                out[8 * w..8 * w + rest].copy_from_slice(&buf[..rest]);
            }
            w += 2;
        }
    }

    /// [`pairs8`] of the eight words at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pairs8_at(p: *const u64) -> (__m256, __m256) {
        let (lo, hi) = halves(p);
        pairs8(lo, hi)
    }

    /// One stream: draws 2w and 2w+1 from word w, eight words at a time
    /// (a last partial block through stack buffers), for all of `buf`
    /// (`words.len() = ⌈buf.len()/2⌉`).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pairs_interleaved(words: &[u64], buf: &mut [f64], sd: f64) {
        let sdv = _mm256_set1_pd(sd);
        let mut k = 0;
        while 16 * k < buf.len() {
            let rest = buf.len() - 16 * k;
            let mut wtail = [0u64; 8];
            let mut otail = [0.0f64; 16];
            let src = if rest >= 16 {
                words.as_ptr().add(8 * k)
            } else {
                let left = &words[8 * k..];
                wtail[..left.len()].copy_from_slice(left);
                wtail.as_ptr()
            };
            let dst = if rest >= 16 {
                buf.as_mut_ptr().add(16 * k)
            } else {
                otail.as_mut_ptr()
            };
            let (z0, z1) = pairs8_at(src);
            for half in 0..2 {
                let (a, b) = if half == 0 {
                    (_mm256_castps256_ps128(z0), _mm256_castps256_ps128(z1))
                } else {
                    (
                        _mm256_extractf128_ps::<1>(z0),
                        _mm256_extractf128_ps::<1>(z1),
                    )
                };
                let (a, b) = (_mm256_cvtps_pd(a), _mm256_cvtps_pd(b));
                // (a0 b0 a2 b2), (a1 b1 a3 b3) → (a0 b0 a1 b1), (a2 b2 a3 b3).
                let (l, h) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
                let first = _mm256_permute2f128_pd::<0x20>(l, h);
                let second = _mm256_permute2f128_pd::<0x31>(l, h);
                _mm256_storeu_pd(dst.add(8 * half), _mm256_mul_pd(first, sdv));
                _mm256_storeu_pd(dst.add(8 * half + 4), _mm256_mul_pd(second, sdv));
            }
            if rest < 16 {
                buf[16 * k..].copy_from_slice(&otail[..rest]);
            }
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x512;

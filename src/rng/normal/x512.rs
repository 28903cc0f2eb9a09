//! The AVX-512F kernel: [`super::normal_pair`] on sixteen words per
//! register, for the four-lane batches. The same operations as the AVX2
//! kernel (`pairs8`), lane by lane, so the same draws bit for bit (tested);
//! sixteen lanes halve the instruction count, which is what limits the
//! AVX2 kernel (≈ 136 vector operations per 16 draws, ALUs not saturated).
//! Masks replace the AVX2 blends: `x = (xm − 1) + xm` where the mask holds
//! and `xm − 1` elsewhere equals the AVX2 `(xm − 1) + (mask & xm)` because
//! xm − 1 ≠ 0 (xm ∈ [½, 1)).

use std::arch::x86_64::*;

use super::{ANGLE, COS, LN2_HI, LN2_LO, LOG_P, SIN, SQRT_HALF, TWO_M31};

/// [`super::ln`] on sixteen lanes.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ln16(u: __m512) -> __m512 {
    let ps = _mm512_set1_ps;
    let bits = _mm512_castps_si512(u);
    let xm = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)),
        _mm512_set1_epi32(0x3f00_0000),
    ));
    let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(xm, ps(SQRT_HALF));
    let ei = _mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(126));
    let ei = _mm512_mask_sub_epi32(ei, small, ei, _mm512_set1_epi32(1));
    let e = _mm512_cvtepi32_ps(ei);
    let xm1 = _mm512_sub_ps(xm, ps(1.0));
    let x = _mm512_mask_add_ps(xm1, small, xm1, xm);
    let z = _mm512_mul_ps(x, x);
    let mut p = ps(LOG_P[0]);
    for &k in &LOG_P[1..] {
        p = _mm512_fmadd_ps(p, x, ps(k));
    }
    let y = _mm512_mul_ps(_mm512_mul_ps(p, x), z);
    let y = _mm512_fmadd_ps(e, ps(LN2_LO), y);
    let y = _mm512_fmadd_ps(ps(-0.5), z, y);
    _mm512_fmadd_ps(e, ps(LN2_HI), _mm512_add_ps(x, y))
}

/// (z₀, z₁) of sixteen words given as their low halves `lo` and high
/// halves `hi` (lane k = word k).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn pairs16(lo: __m512i, hi: __m512i) -> (__m512, __m512) {
    let ps = _mm512_set1_ps;
    let k = _mm512_cvtepi32_ps(_mm512_srli_epi32::<1>(lo));
    let u1 = _mm512_mul_ps(_mm512_add_ps(k, ps(1.0)), ps(TWO_M31));
    let r2 = _mm512_mul_ps(ps(-2.0), ln16(u1));
    let r = _mm512_sqrt_ps(_mm512_max_ps(r2, _mm512_setzero_ps()));
    let ti = _mm512_sub_epi32(
        _mm512_and_si512(hi, _mm512_set1_epi32(0x3fff_ffff)),
        _mm512_set1_epi32(1 << 29),
    );
    let t = _mm512_mul_ps(_mm512_cvtepi32_ps(ti), ps(ANGLE));
    let z = _mm512_mul_ps(t, t);
    let sp = _mm512_fmadd_ps(_mm512_fmadd_ps(ps(SIN[2]), z, ps(SIN[1])), z, ps(SIN[0]));
    let s = _mm512_fmadd_ps(_mm512_mul_ps(sp, z), t, t);
    let cp = _mm512_fmadd_ps(_mm512_fmadd_ps(ps(COS[2]), z, ps(COS[1])), z, ps(COS[0]));
    let c = _mm512_fmadd_ps(
        _mm512_mul_ps(cp, z),
        z,
        _mm512_fmadd_ps(ps(-0.5), z, ps(1.0)),
    );
    let swap = _mm512_test_epi32_mask(hi, _mm512_set1_epi32(0x4000_0000));
    let a = _mm512_mask_blend_ps(swap, c, s);
    let b = _mm512_mask_blend_ps(swap, s, c);
    let top = _mm512_set1_epi32(i32::MIN);
    let sign_a = _mm512_and_si512(_mm512_xor_si512(hi, _mm512_slli_epi32::<1>(hi)), top);
    let sign_b = _mm512_and_si512(hi, top);
    let z0 = _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(_mm512_mul_ps(r, a)),
        sign_a,
    ));
    let z1 = _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(_mm512_mul_ps(r, b)),
        sign_b,
    ));
    (z0, z1)
}

/// The draws of sixteen words as noise (× `sd`) in the batches' order: `a`
/// holds the four lanes' words at positions w and w + 1, `b` those at
/// w + 2 and w + 3 (lane-minor, as `[[u64; 4]]` in memory); register j of
/// the result holds draws 2w + 2j and 2w + 2j + 1 of the four lanes, i.e.
/// `out[(2w + 2j)·4 + b]` … `out[(2w + 2j + 1)·4 + b]`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn block4(a: __m512i, b: __m512i, sd: __m512d) -> [__m512d; 4] {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let (lo, hi) = (
        _mm512_permutex2var_epi32(a, even, b),
        _mm512_permutex2var_epi32(a, odd, b),
    );
    let (z0, z1) = pairs16(lo, hi);
    // Lanes 4j … 4j+3 of z0 (z1) are draw 2(w+j) (2(w+j)+1) of the four
    // trials: widen, then interleave the 256-bit quarters z0 q_j, z1 q_j.
    let (d0, d1) = (
        widen(_mm512_castps512_ps256(z0), sd),
        widen(_mm512_castps512_ps256(z1), sd),
    );
    let (e0, e1) = (widen(high(z0), sd), widen(high(z1), sd));
    [
        _mm512_shuffle_f64x2::<0x44>(d0, d1),
        _mm512_shuffle_f64x2::<0xee>(d0, d1),
        _mm512_shuffle_f64x2::<0x44>(e0, e1),
        _mm512_shuffle_f64x2::<0xee>(e0, e1),
    ]
}

/// Eight f32 draws as f64, times `sd`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn widen(x: __m256, sd: __m512d) -> __m512d {
    _mm512_mul_pd(_mm512_cvtps_pd(x), sd)
}

/// The upper eight lanes of `x`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn high(x: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)))
}

/// Four lanes: word positions w … w+3 of the four lanes (sixteen words)
/// per register give draws 2w … 2w+7 of every lane ([`block4`]), stored
/// as `out[i·4 + b]`; returns the number of word positions done (whole
/// blocks of four whose eight draws fit in `n`); the caller does the rest.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn lanes4(words: &[[u64; 4]], out: &mut [f64], n: usize, sd: f64) -> usize {
    let sdv = _mm512_set1_pd(sd);
    let mut w = 0;
    while 2 * w + 8 <= n {
        let p = words[w..w + 4].as_ptr() as *const u64;
        let (a, b) = (
            _mm512_loadu_si512(p as *const _),
            _mm512_loadu_si512(p.add(8) as *const _),
        );
        let dst = out.as_mut_ptr().add(8 * w);
        for (j, x) in block4(a, b, sdv).into_iter().enumerate() {
            _mm512_storeu_pd(dst.add(8 * j), x);
        }
        w += 4;
    }
    w
}

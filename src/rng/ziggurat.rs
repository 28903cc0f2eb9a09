//! Standard normal draws for the LIF voltage noise: a 32-bit ziggurat
//! ([`Ziggurat`]) and [`fill_normal`], which turns one 64-bit random word
//! into two N(0, sd²) draws in the common case.

use rand::{Rng, RngCore};

use super::Lanes;

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
pub fn fill_normal_with<R: RngCore + ?Sized>(
    rng: &mut R,
    buf: &mut [f64],
    sd: f64,
    bits: &mut [u64],
) {
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

/// Scratch buffers of [`fill_normal_lanes`] and [`fill_normal_lanes4_avx2`].
#[derive(Debug, Clone)]
pub struct LaneScratch<const B: usize> {
    words: Vec<[u64; B]>,
    pending: Vec<u32>,
}

impl<const B: usize> Default for LaneScratch<B> {
    fn default() -> Self {
        LaneScratch {
            words: Vec::new(),
            pending: Vec::new(),
        }
    }
}

/// [`fill_normal_with`] for the `B` streams of `lanes` at once: draw `i` of
/// lane `b` goes to `out[i·B + b]` (i < `n`, `out.len() ≥ n·B`), and each lane
/// receives exactly the draws, in the same order and from the same random
/// words, that [`fill_normal_with`] gives its stream alone: first the
/// `⌈n/2⌉` words of every lane (one vector update of all lanes per word),
/// then the normals, the rare slow-path draws taken from the lane of their
/// trial in the same order as the single path.
#[inline(always)]
pub fn fill_normal_lanes<const B: usize>(
    lanes: &mut Lanes<B>,
    out: &mut [f64],
    n: usize,
    sd: f64,
    scratch: &mut LaneScratch<B>,
) {
    let z = Ziggurat::get();
    let nw = n.div_ceil(2);
    let words = &mut scratch.words;
    words.clear();
    words.extend((0..nw).map(|_| lanes.next_words()));
    let out = &mut out[..n * B];
    for (w, wb) in words.iter().enumerate() {
        for half in 0..2 {
            let i = 2 * w + half;
            if i == n {
                break;
            }
            let dst: &mut [f64; B] = (&mut out[i * B..(i + 1) * B]).try_into().expect("B lanes");
            let mut ok = true;
            let mut bits = [0u32; B];
            for b in 0..B {
                bits[b] = (wb[b] >> (32 * half)) as u32;
                let (x, fast) = z.fast(bits[b]);
                dst[b] = x * sd;
                ok &= fast;
            }
            if !ok {
                for b in 0..B {
                    let (x, fast) = z.fast(bits[b]);
                    if !fast {
                        let (i, u) = Ziggurat::layer(bits[b]);
                        dst[b] = z.slow(i, u, x, &mut lanes.lane(b)) * sd;
                    }
                }
            }
        }
    }
}

/// [`fill_normal_lanes`] for four lanes with AVX2: the words from
/// [`Lanes::fill_avx2`], then four draws per vector (the layer table read
/// with four 16-byte loads); the same operations on the same numbers as
/// [`Ziggurat::sample_bits`], so the same draws bit for bit. Draws that
/// need the slow path are noted and take it after all words are drawn, in
/// the order of the single path (within a lane, by draw), which is where
/// the single path takes them too.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn fill_normal_lanes4_avx2(
    lanes: &mut Lanes<4>,
    out: &mut [f64],
    n: usize,
    sd: f64,
    scratch: &mut LaneScratch<4>,
) {
    use std::arch::x86_64::*;
    let z = Ziggurat::get();
    let nw = n.div_ceil(2);
    let (words, pending) = (&mut scratch.words, &mut scratch.pending);
    words.resize(nw, [0; 4]);
    lanes.fill_avx2(words);
    pending.clear();
    let out = &mut out[..n * 4];
    let pp = z.pairs.as_ptr() as *const f64;
    let (scale, sdv) = (_mm256_set1_pd(1.0 / 8_388_608.0), _mm256_set1_pd(sd));
    let sign = _mm256_set1_pd(-0.0);
    // Low 32 bits of the four words in the low half, high 32 bits above.
    let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (w, wb) in words.iter().enumerate() {
        let halves =
            _mm256_permutevar8x32_epi32(_mm256_loadu_si256(wb.as_ptr() as *const __m256i), split);
        for half in 0..2 {
            let i = 2 * w + half;
            if i == n {
                break;
            }
            let bits = if half == 0 {
                _mm256_castsi256_si128(halves)
            } else {
                _mm256_extracti128_si256::<1>(halves)
            };
            let u = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_srai_epi32::<8>(bits)), scale);
            // The layers' (x_i, x_{i+1}) by four 16-byte loads (the layer is
            // the low byte of each 32-bit half): cheaper than gathers.
            let pair = |b: usize| {
                let layer = ((wb[b] >> (32 * half)) & 0xff) as usize;
                _mm_loadu_pd(pp.add(2 * layer))
            };
            let (p0, p1, p2, p3) = (pair(0), pair(1), pair(2), pair(3));
            let xs = _mm256_insertf128_pd::<1>(
                _mm256_castpd128_pd256(_mm_unpacklo_pd(p0, p1)),
                _mm_unpacklo_pd(p2, p3),
            );
            let edge = _mm256_insertf128_pd::<1>(
                _mm256_castpd128_pd256(_mm_unpackhi_pd(p0, p1)),
                _mm_unpackhi_pd(p2, p3),
            );
            let x = _mm256_mul_pd(u, xs);
            let ok = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_andnot_pd(sign, x), edge);
            _mm256_storeu_pd(out.as_mut_ptr().add(i * 4), _mm256_mul_pd(x, sdv));
            // Rejected lanes (about one vector in sixteen has one) are noted
            // for the slow path.
            let okm = _mm256_movemask_pd(ok);
            if okm != 0xf {
                for b in 0..4 {
                    if okm & (1 << b) == 0 {
                        pending.push((i * 4 + b) as u32);
                    }
                }
            }
        }
    }
    // The slow path, lane by lane in the single path's order (by draw).
    for &f in pending.iter() {
        let (i, b) = (f as usize / 4, f as usize % 4);
        let bb = (words[i / 2][b] >> (32 * (i % 2))) as u32;
        let (x, _) = z.fast(bb);
        let (li, u) = Ziggurat::layer(bb);
        out[f as usize] = z.slow(li, u, x, &mut lanes.lane(b)) * sd;
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
    /// (x_i, x_{i+1}) side by side: one 16-byte load per draw in
    /// [`fill_normal_lanes4_avx2`].
    pairs: [[f64; 2]; 256],
    /// Slope of layer i's wedge chord, (f_i − f_{i+1}) / (x_i − x_{i+1})
    /// (see [`Ziggurat::squeeze`]).
    chord_slope: [f64; 256],
}

/// Distance (in density units, f ≤ 1) from a squeeze bound within which
/// [`Ziggurat::squeeze`] leaves the decision to the exact `exp` test: the
/// bounds and `exp(−x²/2)` are each within ~1e-15 of their true values.
const SQUEEZE_MARGIN: f64 = 1e-12;

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
            let pairs = std::array::from_fn(|i| [x[i], x[i + 1]]);
            let chord_slope = std::array::from_fn(|i| (ft[i] - ft[i + 1]) / (x[i] - x[i + 1]));
            Ziggurat {
                x,
                f: ft,
                pairs,
                chord_slope,
            }
        })
    }

    /// A standard normal draw from 32 random bits (`rng` only for the rare
    /// slow path).
    #[inline(always)]
    pub fn sample_bits<R: RngCore + ?Sized>(&self, bits: u32, rng: &mut R) -> f64 {
        let (x, fast) = self.fast(bits);
        if fast {
            return x;
        }
        let (i, u) = Self::layer(bits);
        self.slow(i, u, x, rng)
    }

    /// The layer `i` (8 bits) and the signed uniform `u` (24 bits) of `bits`.
    #[inline(always)]
    fn layer(bits: u32) -> (usize, f64) {
        let i = (bits & 0xff) as usize;
        let u = ((bits as i32) >> 8) as f64 * (1.0 / 8_388_608.0);
        (i, u)
    }

    /// The candidate `x = u·x_i` and whether it is accepted without the
    /// slow path (|x| < x_{i+1}).
    #[inline(always)]
    fn fast(&self, bits: u32) -> (f64, bool) {
        let (i, u) = Self::layer(bits);
        let x = u * self.x[i];
        (x, x.abs() < self.x[i + 1])
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
        let (lo, hi) = self.squeeze(i, x.abs());
        let accept = if y < lo - SQUEEZE_MARGIN {
            true
        } else if y >= hi + SQUEEZE_MARGIN {
            false
        } else {
            y < (-0.5 * x * x).exp()
        };
        if accept {
            return x;
        }
        self.sample_bits(rng.next_u32(), rng)
    }

    /// Bounds `lo ≤ f(ax) ≤ hi` of the density f(x) = exp(−x²/2) on layer
    /// `i`'s wedge x_{i+1} ≤ ax ≤ x_i, without `exp`: the chord through the
    /// wedge's corners and the tangents there (f' = −x f). Where f is convex
    /// (x ≥ 1) the chord lies above f and the tangents below; where concave
    /// (x ≤ 1) the reverse; a wedge across x = 1 gets no bounds. Most wedge
    /// draws fall outside [lo, hi] and are decided without `exp`; the
    /// decision is the exact test's whenever y is more than
    /// [`SQUEEZE_MARGIN`] away from a bound (far above the rounding error of
    /// either side), so the draws are unchanged.
    #[inline(always)]
    fn squeeze(&self, i: usize, ax: f64) -> (f64, f64) {
        let (a, b) = (self.x[i + 1], self.x[i]);
        let (fa, fb) = (self.f[i + 1], self.f[i]);
        let chord = fa + self.chord_slope[i] * (ax - a);
        let ta = fa - a * fa * (ax - a);
        let tb = fb - b * fb * (ax - b);
        if a >= 1.0 {
            (ta.max(tb), chord)
        } else if b <= 1.0 {
            (chord, ta.min(tb))
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_draw_what_each_stream_draws_alone() {
        for n in [1usize, 7, 200] {
            let gens: [crate::rng::Rng; 3] =
                std::array::from_fn(|b| crate::rng::stream(b as u64, &[n as u64]));
            let mut singles = gens.clone();
            let mut lanes = Lanes::new(&gens);
            let (mut out, mut words) = (vec![0.0; n * 3], LaneScratch::default());
            let (mut buf, mut bits) = (vec![0.0; n], vec![0u64; n.div_ceil(2)]);
            for _ in 0..300 {
                fill_normal_lanes(&mut lanes, &mut out, n, 0.5, &mut words);
                for (b, s) in singles.iter_mut().enumerate() {
                    fill_normal_with(s, &mut buf, 0.5, &mut bits);
                    for i in 0..n {
                        assert_eq!(out[i * 3 + b].to_bits(), buf[i].to_bits());
                    }
                }
            }
            // Same stream positions after the slow paths' extra draws.
            for (b, s) in singles.iter().enumerate() {
                assert_eq!(&lanes.get(b), s);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_lanes_draw_what_portable_lanes_draw() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for n in [1usize, 8, 199, 200] {
            let gens: [crate::rng::Rng; 4] =
                std::array::from_fn(|b| crate::rng::stream(b as u64, &[n as u64, 1]));
            let (mut a, mut b) = (Lanes::new(&gens), Lanes::new(&gens));
            let (mut oa, mut ob) = (vec![0.0; n * 4], vec![0.0; n * 4]);
            let (mut wa, mut wb) = (LaneScratch::default(), LaneScratch::default());
            for _ in 0..300 {
                // SAFETY: AVX2 checked above.
                unsafe { fill_normal_lanes4_avx2(&mut a, &mut oa, n, 0.3, &mut wa) };
                fill_normal_lanes(&mut b, &mut ob, n, 0.3, &mut wb);
                assert!(oa.iter().zip(&ob).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn squeeze_decides_as_the_exact_test_and_mostly_without_exp() {
        use rand::Rng;
        let z = Ziggurat::get();
        let mut g = crate::rng::from_seed(3);
        let (mut decided, mut total) = (0usize, 0usize);
        for i in 1..256 {
            let (a, b, fa, fb) = (z.x[i + 1], z.x[i], z.f[i + 1], z.f[i]);
            for _ in 0..2000 {
                let ax = a + (b - a) * g.random::<f64>();
                let y = fa + (fb - fa) * g.random::<f64>();
                let exact = y < (-0.5 * ax * ax).exp();
                let (lo, hi) = z.squeeze(i, ax);
                let f = (-0.5 * ax * ax).exp();
                assert!(
                    lo <= f + 1e-14 && f <= hi + 1e-14,
                    "layer {i}: {lo} ≤ {f} ≤ {hi}"
                );
                total += 1;
                if y < lo - SQUEEZE_MARGIN {
                    assert!(
                        exact,
                        "layer {i}, x {ax}, y {y}: squeeze accepts, exact rejects"
                    );
                    decided += 1;
                } else if y >= hi + SQUEEZE_MARGIN {
                    assert!(
                        !exact,
                        "layer {i}, x {ax}, y {y}: squeeze rejects, exact accepts"
                    );
                    decided += 1;
                }
            }
        }
        // The chord–tangent gap is O(layer width) of the wedge height.
        assert!(decided as f64 > 0.8 * total as f64, "{decided} of {total}");
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

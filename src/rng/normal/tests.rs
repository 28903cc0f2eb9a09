use super::*;
use rand::RngCore;

/// Box–Muller in f64 (libm `ln`, `sin_cos`, `sqrt`) on the uniforms that
/// [`normal_pair`] forms in f32: the reference its polynomials must meet.
fn reference_pair(word: u64) -> (f64, f64) {
    let (lo, hi) = (word as u32, (word >> 32) as u32);
    let u1 = ((((lo >> 1) as i32) as f32 + 1.0) * TWO_M31) as f64;
    let t = ((((hi & 0x3fff_ffff) as i32 - (1 << 29)) as f32) * ANGLE) as f64;
    let phi = (hi >> 30) as f64 * std::f64::consts::FRAC_PI_2 + t;
    let r = (-2.0 * u1.ln()).max(0.0).sqrt();
    (r * phi.cos(), r * phi.sin())
}

/// Random words plus the edge cases of each half (0, 1, 2³⁰ ± 1, 2³¹, all ones).
fn test_words(count: usize) -> Vec<u64> {
    let edges = [
        0u32,
        1,
        2,
        3,
        (1 << 29) - 1,
        1 << 29,
        (1 << 30) - 1,
        1 << 30,
        1 << 31,
        u32::MAX - 1,
        u32::MAX,
    ];
    let mut words: Vec<u64> = edges
        .iter()
        .flat_map(|&lo| edges.iter().map(move |&hi| (hi as u64) << 32 | lo as u64))
        .collect();
    let mut g = crate::rng::from_seed(5);
    words.extend((0..count).map(|_| g.next_u64()));
    words
}

#[test]
fn pairs_agree_with_f64_box_muller_to_f32_precision() {
    let mut worst = 0.0f64;
    for w in test_words(2_000_000) {
        let (z0, z1) = normal_pair(w);
        let (r0, r1) = reference_pair(w);
        let r = r0.hypot(r1);
        // A few f32 units in the last place of R (ln, sin, cos ≈ 1e-7 each).
        let tol = 4e-7 * r.max(1e-3) + 1e-9;
        for (z, zr) in [(z0 as f64, r0), (z1 as f64, r1)] {
            assert!((z - zr).abs() <= tol, "word {w:#x}: {z} vs {zr} (R {r})");
            worst = worst.max((z - zr).abs() / r.max(1e-3));
        }
    }
    assert!(worst > 0.0, "the comparison compared nothing");
}

#[test]
fn extreme_words_give_the_extreme_draws() {
    // u₁ = 2⁻³¹ (lo = 0, 1): R = √(62 ln 2) = 6.5556; hi = 2²⁹: t = 0, φ = 0.
    let (z0, z1) = normal_pair(1u64 << 61);
    assert!(
        (z0 as f64 - (62.0 * std::f64::consts::LN_2).sqrt()).abs() < 1e-5,
        "{z0}"
    );
    assert_eq!(z1, 0.0);
    // u₁ = 1 (lo = all ones): R = 0, both draws zero.
    let (z0, z1) = normal_pair(u32::MAX as u64);
    assert_eq!((z0, z1), (0.0, 0.0));
}

#[test]
fn single_stream_fill_matches_scalar_pairs() {
    for n in [1usize, 2, 3, 15, 16, 17, 31, 33, 200, 201] {
        let mut g = crate::rng::stream(2, &[n as u64]);
        let mut h = g.clone();
        let mut buf = vec![f64::NAN; n];
        fill_normal(&mut g, &mut buf, 0.1);
        for i in (0..n).step_by(2) {
            let (z0, z1) = normal_pair(h.next_u64());
            assert_eq!(
                buf[i].to_bits(),
                (z0 as f64 * 0.1).to_bits(),
                "n {n}, draw {i}"
            );
            if i + 1 < n {
                assert_eq!(
                    buf[i + 1].to_bits(),
                    (z1 as f64 * 0.1).to_bits(),
                    "n {n}, draw {}",
                    i + 1
                );
            }
        }
        assert_eq!(g, h, "n {n}: words drawn");
    }
}

#[test]
fn lanes_draw_what_each_stream_draws_alone() {
    for n in [1usize, 7, 200] {
        let gens: [crate::rng::Rng; 3] =
            std::array::from_fn(|b| crate::rng::stream(b as u64, &[n as u64]));
        let mut singles = gens.clone();
        let mut lanes = Lanes::new(&gens);
        let (mut out, mut words) = (vec![0.0; n * 3], LaneScratch::default());
        let (mut buf, mut bits) = (vec![0.0; n], vec![0u64; n.div_ceil(2)]);
        for _ in 0..50 {
            fill_normal_lanes(&mut lanes, &mut out, n, 0.5, &mut words);
            for (b, s) in singles.iter_mut().enumerate() {
                fill_normal_with(s, &mut buf, 0.5, &mut bits);
                for i in 0..n {
                    assert_eq!(out[i * 3 + b].to_bits(), buf[i].to_bits());
                }
            }
        }
        for (b, s) in singles.iter().enumerate() {
            assert_eq!(&lanes.get(b), s);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_lanes_draw_what_portable_lanes_draw() {
    if !has_avx2_fma() {
        return;
    }
    for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 16, 17, 199, 200] {
        let gens: [crate::rng::Rng; 4] =
            std::array::from_fn(|b| crate::rng::stream(b as u64, &[n as u64, 1]));
        let (mut a, mut b) = (Lanes::new(&gens), Lanes::new(&gens));
        let (mut oa, mut ob) = (vec![f64::NAN; n * 4], vec![0.0; n * 4]);
        let (mut wa, mut wb) = (LaneScratch::default(), LaneScratch::default());
        for _ in 0..100 {
            // SAFETY: AVX2 and FMA checked above.
            unsafe { fill_normal_lanes4_avx2(&mut a, &mut oa, n, 0.3, &mut wa) };
            fill_normal_lanes(&mut b, &mut ob, n, 0.3, &mut wb);
            assert!(
                oa.iter().zip(&ob).all(|(x, y)| x.to_bits() == y.to_bits()),
                "n {n}"
            );
        }
        assert_eq!(a, b);
    }
}

/// Φ(x) on a grid from −9 to 9 by cumulative Simpson integration of the
/// density (step 1e-3; error < 1e-12), for the Kolmogorov–Smirnov test.
fn normal_cdf_table() -> (f64, f64, Vec<f64>) {
    let (lo, h) = (-9.0, 1e-3);
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let steps = 18_000;
    let mut cdf = vec![0.0; steps + 1];
    for k in 0..steps {
        let a = lo + k as f64 * h;
        cdf[k + 1] = cdf[k] + h / 6.0 * (pdf(a) + 4.0 * pdf(a + h / 2.0) + pdf(a + h));
    }
    (lo, h, cdf)
}

#[test]
fn draws_are_standard_normal() {
    let mut rng = crate::rng::from_seed(11);
    let n = 2_000_000;
    let mut buf = vec![0.0; n];
    fill_normal(&mut rng, &mut buf, 1.0);
    let mean = buf.iter().sum::<f64>() / n as f64;
    let var = buf.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    let skew = buf.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n as f64 / var.powf(1.5);
    let kurt = buf.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
    // Standard errors: mean 7e-4, variance 1e-3, skewness 1.7e-3, kurtosis 3.5e-3.
    assert!(mean.abs() < 4e-3, "{mean}");
    assert!((var - 1.0).abs() < 6e-3, "{var}");
    assert!(skew.abs() < 1e-2, "{skew}");
    assert!((kurt - 3.0).abs() < 2e-2, "{kurt}");
    // Tail fractions P(|z| > t) = erfc(t/√2).
    for (t, p) in [
        (1.0, 0.317_310_5),
        (2.0, 0.045_500_26),
        (3.0, 0.002_699_8),
        (3.8, 1.446_7e-4),
        (4.5, 6.795_3e-6),
    ] {
        let f = buf.iter().filter(|x| x.abs() > t).count() as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!((f - p).abs() < 5.0 * se, "P(|z| > {t}) = {f}, expected {p}");
    }
    // Kolmogorov–Smirnov distance to Φ below the 0.1 % critical value.
    let (lo, h, cdf) = normal_cdf_table();
    buf.sort_by(f64::total_cmp);
    let mut d = 0.0f64;
    for (i, &x) in buf.iter().enumerate() {
        let pos = ((x - lo) / h).clamp(0.0, (cdf.len() - 2) as f64);
        let k = pos as usize;
        let phi = cdf[k] + (pos - k as f64) * (cdf[k + 1] - cdf[k]);
        d = d
            .max((phi - i as f64 / n as f64).abs())
            .max(((i + 1) as f64 / n as f64 - phi).abs());
    }
    assert!(d < 1.95 / (n as f64).sqrt(), "KS distance {d}");
}

#[test]
fn the_two_draws_of_a_word_are_independent() {
    let mut g = crate::rng::from_seed(12);
    let n = 1_000_000;
    let (mut s01, mut s00, mut s11, mut q01) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..n {
        let (a, b) = normal_pair(g.next_u64());
        let (a, b) = (a as f64, b as f64);
        s01 += a * b;
        s00 += a * a;
        s11 += b * b;
        q01 += (a * a - 1.0) * (b * b - 1.0);
    }
    let n = n as f64;
    // corr(z₀, z₁) and cov(z₀², z₁²)/2 have standard error 1/√n = 1e-3.
    assert!((s01 / (s00 * s11).sqrt()).abs() < 5e-3);
    assert!((q01 / n / 2.0).abs() < 5e-3);
}

/// The AVX2 four-lane kernel alone (where AVX-512F is present,
/// [`fill_normal_lanes4_avx2`] uses it only for the last few draws).
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_kernel_alone_draws_what_portable_lanes_draw() {
    if !has_avx2_fma() {
        return;
    }
    for n in [1usize, 3, 8, 9, 200] {
        let gens: [crate::rng::Rng; 4] =
            std::array::from_fn(|b| crate::rng::stream(b as u64, &[n as u64, 2]));
        let mut b = Lanes::new(&gens);
        let mut a = b.clone();
        let (mut oa, mut ob) = (vec![f64::NAN; n * 4], vec![0.0; n * 4]);
        let mut wb = LaneScratch::default();
        for _ in 0..20 {
            let mut words = vec![[0u64; 4]; n.div_ceil(2)];
            for w in words.iter_mut() {
                *w = a.next_words();
            }
            // SAFETY: AVX2 and FMA checked above.
            unsafe { x86::lanes4(&words, &mut oa, n, 0.3) };
            fill_normal_lanes(&mut b, &mut ob, n, 0.3, &mut wb);
            assert!(
                oa.iter().zip(&ob).all(|(x, y)| x.to_bits() == y.to_bits()),
                "n {n}"
            );
        }
    }
}

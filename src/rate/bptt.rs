//! Forward pass of the rate network and its exact gradient by
//! backpropagation through time (docs/model.md#rate-network).
//!
//! Dynamics, for t = 1 … T−1 (tau in rate steps, α = 1 − 1/τ, β = 1/τ):
//!
//! ```text
//! x_0 = N(0,1)/100,   r_t = phi(x_t)
//! a_t = W r_{t−1} + w_in u_{t−1}
//! x_t = α ⊙ x_{t−1} + β ⊙ a_t + σ_rec · N(0,1)      (σ_rec = 0.1 per rate step)
//! o_t = w_out · r_t + b_out
//! ```
//!
//! The backward pass is written by hand (no autodiff crate): with
//! δ_t = ∂L/∂x_t and g_t = ∂L/∂o_t,
//!
//! ```text
//! δ_t   = phi'(x_t) ⊙ (w_out g_t + Wᵀ(β ⊙ δ_{t+1})) + α ⊙ δ_{t+1}
//! ∂L/∂W = Σ_t (β ⊙ δ_t) r_{t−1}ᵀ          (one matrix product at the end)
//! ∂L/∂τ = Σ_t δ_t ⊙ (x_{t−1} − a_t) / τ²
//! ```
//!
//! and the chain rule through W = (relu(w)·m) ⊙ som_m and τ = σ(g)(τmax − τmin) + τmin.
//! A hand-written pass over contiguous f64 rows is several times faster than
//! the autodiff crates for this small, sequential graph; the tests compare
//! every gradient with central finite differences.

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::rate::network::REC_NOISE_SD;
use crate::rate::Activation;
use crate::rate::RateModel;
use crate::task::Trial;

/// Training loss over the T−1 outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// sqrt(Σ_k (o_k − z_k)²) (the paper's).
    L2,
    /// Σ_k |o_k − z_k|.
    L1,
}

impl Loss {
    /// Parse `l1` / `l2`.
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name("loss", s)
    }
    /// The name (`l1`, `l2`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::L2 => "l2",
            Loss::L1 => "l1",
        }
    }
    /// Loss value and ∂L/∂o written into `g`.
    pub fn eval(self, o: &[f64], z: &[f64], g: &mut [f64]) -> f64 {
        match self {
            Loss::L2 => {
                let ss: f64 = o.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum();
                let l = ss.sqrt();
                for ((gk, a), b) in g.iter_mut().zip(o).zip(z) {
                    *gk = if l > 0.0 { (a - b) / l } else { 0.0 };
                }
                l
            }
            Loss::L1 => {
                let mut l = 0.0;
                for ((gk, a), b) in g.iter_mut().zip(o).zip(z) {
                    let d = a - b;
                    l += d.abs();
                    *gk = if d > 0.0 {
                        1.0
                    } else if d < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                }
                l
            }
        }
    }
}

/// Gradients of the trained parameters (same shapes as the model's).
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// ∂L/∂w (N×N, raw weights).
    pub w: Array2<f64>,
    /// ∂L/∂w_out (N).
    pub w_out: Array1<f64>,
    /// ∂L/∂b_out.
    pub b_out: f64,
    /// ∂L/∂taus_gaus (N); zero when the taus are fixed.
    pub taus_gaus: Array1<f64>,
}

impl Grads {
    /// Zero gradients for an N-unit network.
    pub fn zeros(n: usize) -> Self {
        Grads {
            w: Array2::zeros((n, n)),
            w_out: Array1::zeros(n),
            b_out: 0.0,
            taus_gaus: Array1::zeros(n),
        }
    }
    /// Set every entry to zero.
    pub fn clear(&mut self) {
        self.w.fill(0.0);
        self.w_out.fill(0.0);
        self.b_out = 0.0;
        self.taus_gaus.fill(0.0);
    }
    /// Multiply every entry by `k`.
    pub fn scale(&mut self, k: f64) {
        self.w *= k;
        self.w_out *= k;
        self.b_out *= k;
        self.taus_gaus *= k;
    }
}

/// Per-trial quantities derived from the model, computed once per update.
///
/// [`Prepared::new`] also keeps single-precision copies of W and Wᵀ: the
/// recurrent products W r and Wᵀ d then run in f32 (half the memory
/// traffic, so both matrices of an N = 200 network stay in a 512 KiB L2
/// cache) while every state, gradient and parameter stays f64; the matrix
/// product Dᵀ R_prev of ∂L/∂W ([`loss_and_grad`]) then runs in f32 too. The
/// relative error of one product is ~1e-7, far below the 0.1 noise the
/// dynamics inject each step. [`Prepared::exact`] keeps every product in
/// f64 (used by the finite-difference gradient checks).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Effective recurrent matrix W (N×N, row = postsynaptic).
    pub w_eff: Array2<f64>,
    /// Wᵀ, contiguous, for the backward pass of the exact (f64) path; empty
    /// (0×0) when the products run in f32.
    pub w_eff_t: Array2<f64>,
    /// f32 copies of W and Wᵀ (row-major), if products run in f32.
    single: Option<(Vec<f32>, Vec<f32>)>,
    /// τ_i (rate steps).
    pub tau: Array1<f64>,
    /// 1 − 1/τ_i.
    pub alpha: Array1<f64>,
    /// 1/τ_i.
    pub beta: Array1<f64>,
    /// SD σ_rec of the recurrent noise added to x each rate step in
    /// [`forward`] ([`REC_NOISE_SD`] = 0.1; training may change it).
    pub rec_noise_sd: f64,
}

impl Prepared {
    /// Derive W, Wᵀ and the decay factors from `model`; recurrent products
    /// in f32 (see the type's doc).
    pub fn new(model: &RateModel) -> Self {
        Self::build(model, true)
    }

    /// As [`Prepared::new`] but with every product in f64.
    pub fn exact(model: &RateModel) -> Self {
        Self::build(model, false)
    }

    fn build(model: &RateModel, single: bool) -> Self {
        let n = model.n();
        let mut p = Prepared {
            w_eff: Array2::zeros((n, n)),
            w_eff_t: Array2::zeros(if single { (0, 0) } else { (n, n) }),
            single: single.then(|| (vec![0.0; n * n], vec![0.0; n * n])),
            tau: Array1::zeros(n),
            alpha: Array1::zeros(n),
            beta: Array1::zeros(n),
            rec_noise_sd: REC_NOISE_SD,
        };
        p.refresh(model);
        p
    }

    /// Recompute everything from `model` (same N) in place, without
    /// allocating: called once per training update.
    pub fn refresh(&mut self, model: &RateModel) {
        model.effective_weights_into(&model.w, &mut self.w_eff);
        for (i, &g) in model.taus_gaus.iter().enumerate() {
            let t = model.taus.tau(g);
            self.tau[i] = t;
            self.alpha[i] = 1.0 - 1.0 / t;
            self.beta[i] = 1.0 / t;
        }
        match &mut self.single {
            Some((w32, wt32)) => {
                let we = self.w_eff.as_slice().expect("standard layout");
                for (d, &v) in w32.iter_mut().zip(we) {
                    *d = v as f32;
                }
                transpose_into(w32, self.w_eff.nrows(), wt32);
            }
            None => self.w_eff_t.assign(&self.w_eff.t()),
        }
    }
}

/// dst = srcᵀ for row-major n×n matrices, eight source rows at a time:
/// each destination row receives eight contiguous entries while the eight
/// source rows stay in cache.
fn transpose_into(src: &[f32], n: usize, dst: &mut [f32]) {
    assert!(src.len() == n * n && dst.len() == n * n);
    let mut i0 = 0;
    while i0 < n {
        let h = (n - i0).min(8);
        let rows = &src[i0 * n..(i0 + h) * n];
        for (j, d) in dst.chunks_exact_mut(n).enumerate() {
            for (r, dr) in d[i0..i0 + h].iter_mut().enumerate() {
                *dr = rows[r * n + j];
            }
        }
        i0 += h;
    }
}

impl Prepared {
    /// y = W v (`transpose` false) or y = Wᵀ v; `scratch` holds the f32
    /// copy of v when the products run in f32.
    fn product(&self, transpose: bool, v: &[f64], y: &mut [f64], scratch: &mut Vec<f32>) {
        match &self.single {
            Some((w, wt)) => {
                scratch.clear();
                scratch.extend(v.iter().map(|&x| x as f32));
                matvec32(if transpose { wt } else { w }, v.len(), scratch, y);
            }
            None => {
                let m = if transpose {
                    &self.w_eff_t
                } else {
                    &self.w_eff
                };
                matvec(m.view(), v, y);
            }
        }
    }
}

/// The states of one trial: x_t and r_t for t = 0 … T−1, drives a_t, outputs.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// x (T×N), row t = x_t.
    pub x: Array2<f64>,
    /// r = phi(x) (T×N).
    pub r: Array2<f64>,
    /// a_t = W r_{t−1} + w_in u_{t−1} (T×N, row 0 unused).
    pub a: Array2<f64>,
    /// Outputs o_1 … o_{T−1} (T−1 values).
    pub o: Vec<f64>,
    /// f32 copy of r_{t−1} for the single-precision product.
    scratch: Vec<f32>,
    /// Input drive w_in u_t for every step (T×N).
    drive_in: Array2<f64>,
}

/// Dot product with 16 independent accumulators so the compiler can keep
/// several SIMD registers busy.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = 0.0;
    for v in acc {
        s += v;
    }
    s + tail
}

/// y = M v in single precision on AVX2 + FMA hardware (eight lanes, four
/// accumulators per row), widened to f64.
///
/// Rows go in fours that share the loads of v ([`quad_sums_avx2`]) and are
/// finished together: their eight f32 lanes are transposed into eight f64
/// vectors (one lane per row) and summed with vector adds. Each row's sum
/// is formed in exactly the order of a row alone (four accumulators over
/// the columns k + 8l, k = 0, 32, …, then (a0 + a1) + (a2 + a3) in f32,
/// then the lanes l0 + l1 + … + l7 in f64, then the scalar tail), so the
/// result is bit-for-bit that of one row at a time with a scalar finish.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `m.len() == y.len() * n_cols` and
/// `v.len() == n_cols`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matvec32_avx2(m: &[f32], n_cols: usize, v: &[f32], y: &mut [f64]) {
    matvec32_body::<false>(m, n_cols, v, y)
}

/// [`matvec32_avx2`] with the 32 vector registers of AVX-512VL, which let
/// four rows keep all sixteen accumulators live and go through their
/// columns in one pass ([`quad_sums_one_pass`]; the same sums in the same
/// order, so the same bits) instead of two.
///
/// # Safety
/// As [`matvec32_avx2`], and the CPU must support AVX-512F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn matvec32_avx512(m: &[f32], n_cols: usize, v: &[f32], y: &mut [f64]) {
    matvec32_body::<true>(m, n_cols, v, y)
}

/// The body of [`matvec32_avx2`] (`ONE_PASS`: [`matvec32_avx512`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn matvec32_body<const ONE_PASS: bool>(m: &[f32], n_cols: usize, v: &[f32], y: &mut [f64]) {
    use std::arch::x86_64::*;
    assert_eq!(m.len(), y.len() * n_cols);
    assert_eq!(v.len(), n_cols);
    let vp = v.as_ptr();
    let n_rows = y.len();
    // The vector loops stop at the last multiple of 8; scalar tails after.
    let k = n_cols & !7;
    let z = _mm256_setzero_ps();
    let mut i = 0;
    while i < n_rows {
        let rows = (n_rows - i).min(4);
        let row = |r: usize| m.as_ptr().add((i + r) * n_cols);
        // SAFETY (all calls below): rows i … i + rows − 1 exist, each has
        // n_cols entries, and v has n_cols entries.
        let [s0, s1, s2, s3] = match rows {
            4 if ONE_PASS => quad_sums_one_pass([row(0), row(1), row(2), row(3)], vp, n_cols),
            4 => quad_sums_avx2([row(0), row(1), row(2), row(3)], vp, n_cols),
            3 => {
                let (a, b) = pair_sums_avx2(row(0), row(1), vp, n_cols);
                [a, b, row_sum_avx2(row(2), vp, n_cols), z]
            }
            2 => {
                let (a, b) = pair_sums_avx2(row(0), row(1), vp, n_cols);
                [a, b, z, z]
            }
            _ => [row_sum_avx2(row(0), vp, n_cols), z, z, z],
        };
        let totals = lane_sums4_avx2(s0, s1, s2, s3);
        if rows == 4 && k == n_cols {
            // SAFETY: y[i .. i + 4] exists.
            _mm256_storeu_pd(y.as_mut_ptr().add(i), totals);
        } else {
            let mut sums = [0.0f64; 4];
            _mm256_storeu_pd(sums.as_mut_ptr(), totals);
            for (r, (yi, &total)) in y[i..i + rows].iter_mut().zip(&sums).enumerate() {
                let rp = row(r);
                let mut total = total;
                for c in k..n_cols {
                    total += (*rp.add(c) * *vp.add(c)) as f64;
                }
                *yi = total;
            }
        }
        i += rows;
    }
}

/// The f32 lane vectors (a0 + a1) + (a2 + a3) of the four rows `r` over
/// their first `n_cols & !7` columns: the accumulators of [`pair_sums_avx2`]
/// (a_l sums the columns k + 8l, k = 0, 32, …, and a0 also the 8-wide
/// tail), each formed in the same order, but in two passes over the rows
/// (a0 and a1, then a2 and a3) so that four rows share each load of v and
/// the 8 + 2 (then 12 + 2) live vectors fit the 16 AVX2 registers.
///
/// # Safety
/// AVX2 + FMA; each of `r` and `vp` point to `n_cols` readable f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn quad_sums_avx2(
    r: [*const f32; 4],
    vp: *const f32,
    n_cols: usize,
) -> [std::arch::x86_64::__m256; 4] {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let k32 = n_cols & !31;
    let (mut a0, mut a1) = ([z; 4], [z; 4]);
    let mut k = 0;
    while k < k32 {
        let (v0, v1) = (_mm256_loadu_ps(vp.add(k)), _mm256_loadu_ps(vp.add(k + 8)));
        for q in 0..4 {
            a0[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k)), v0, a0[q]);
            a1[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k + 8)), v1, a1[q]);
        }
        k += 32;
    }
    while k + 8 <= n_cols {
        let v0 = _mm256_loadu_ps(vp.add(k));
        for q in 0..4 {
            a0[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k)), v0, a0[q]);
        }
        k += 8;
    }
    let mut s = [z; 4];
    for q in 0..4 {
        s[q] = _mm256_add_ps(a0[q], a1[q]);
    }
    let (mut a2, mut a3) = ([z; 4], [z; 4]);
    let mut k = 0;
    while k < k32 {
        let (v2, v3) = (
            _mm256_loadu_ps(vp.add(k + 16)),
            _mm256_loadu_ps(vp.add(k + 24)),
        );
        for q in 0..4 {
            a2[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k + 16)), v2, a2[q]);
            a3[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k + 24)), v3, a3[q]);
        }
        k += 32;
    }
    for q in 0..4 {
        s[q] = _mm256_add_ps(s[q], _mm256_add_ps(a2[q], a3[q]));
    }
    s
}

/// [`quad_sums_avx2`] in one pass over the columns: the same sixteen
/// accumulators, each fed in the same order, and the same (a0 + a1) +
/// (a2 + a3); needs 16 + 8 live vectors (AVX-512VL's 32 registers).
///
/// # Safety
/// As [`quad_sums_avx2`]; called only where AVX-512VL is enabled.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn quad_sums_one_pass(
    r: [*const f32; 4],
    vp: *const f32,
    n_cols: usize,
) -> [std::arch::x86_64::__m256; 4] {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let k32 = n_cols & !31;
    let mut a = [[z; 4]; 4];
    let mut k = 0;
    while k < k32 {
        for (l, al) in a.iter_mut().enumerate() {
            let vv = _mm256_loadu_ps(vp.add(k + 8 * l));
            for q in 0..4 {
                al[q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k + 8 * l)), vv, al[q]);
            }
        }
        k += 32;
    }
    while k + 8 <= n_cols {
        let v0 = _mm256_loadu_ps(vp.add(k));
        for q in 0..4 {
            a[0][q] = _mm256_fmadd_ps(_mm256_loadu_ps(r[q].add(k)), v0, a[0][q]);
        }
        k += 8;
    }
    let mut s = [z; 4];
    for q in 0..4 {
        s[q] = _mm256_add_ps(
            _mm256_add_ps(a[0][q], a[1][q]),
            _mm256_add_ps(a[2][q], a[3][q]),
        );
    }
    s
}

/// The f32 lane vectors (a0 + a1) + (a2 + a3) of rows `rp` and `rq` over
/// their first `n_cols & !7` columns (four accumulators each, sharing the
/// loads of v).
///
/// # Safety
/// AVX2 + FMA; `rp`, `rq` and `vp` point to `n_cols` readable f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn pair_sums_avx2(
    rp: *const f32,
    rq: *const f32,
    vp: *const f32,
    n_cols: usize,
) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let (mut a, mut b) = ([z; 4], [z; 4]);
    let mut k = 0;
    while k + 32 <= n_cols {
        for l in 0..4 {
            let vv = _mm256_loadu_ps(vp.add(k + 8 * l));
            a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(k + 8 * l)), vv, a[l]);
            b[l] = _mm256_fmadd_ps(_mm256_loadu_ps(rq.add(k + 8 * l)), vv, b[l]);
        }
        k += 32;
    }
    while k + 8 <= n_cols {
        let vv = _mm256_loadu_ps(vp.add(k));
        a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(k)), vv, a[0]);
        b[0] = _mm256_fmadd_ps(_mm256_loadu_ps(rq.add(k)), vv, b[0]);
        k += 8;
    }
    (
        _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
        _mm256_add_ps(_mm256_add_ps(b[0], b[1]), _mm256_add_ps(b[2], b[3])),
    )
}

/// [`pair_sums_avx2`] for one row (the same accumulators and order).
///
/// # Safety
/// AVX2 + FMA; `rp` and `vp` point to `n_cols` readable f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn row_sum_avx2(rp: *const f32, vp: *const f32, n_cols: usize) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let mut a = [_mm256_setzero_ps(); 4];
    let mut k = 0;
    while k + 32 <= n_cols {
        for (l, al) in a.iter_mut().enumerate() {
            let vv = _mm256_loadu_ps(vp.add(k + 8 * l));
            *al = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(k + 8 * l)), vv, *al);
        }
        k += 32;
    }
    while k + 8 <= n_cols {
        a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(k)), _mm256_loadu_ps(vp.add(k)), a[0]);
        k += 8;
    }
    _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]))
}

/// For four rows' f32 lane vectors a, b, c, d: the f64 vector
/// (Σ a_l, Σ b_l, Σ c_l, Σ d_l), each sum formed l = 0, 1, …, 7 in turn
/// (the order of `lanes.iter().map(f64::from).sum()`, whose −0.0 start
/// leaves the first lane unchanged). A 4×8 transpose by in-lane unpacks
/// and shuffles, then eight widenings and seven adds for all four rows.
///
/// # Safety
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn lane_sums4_avx2(
    a: std::arch::x86_64::__m256,
    b: std::arch::x86_64::__m256,
    c: std::arch::x86_64::__m256,
    d: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    // Within each 128-bit half: u0 = a0 b0 a1 b1, u1 = c0 d0 c1 d1,
    // u2 = a2 b2 a3 b3, u3 = c2 d2 c3 d3 (and lanes 4–7 in the upper half).
    let u0 = _mm256_unpacklo_ps(a, b);
    let u1 = _mm256_unpacklo_ps(c, d);
    let u2 = _mm256_unpackhi_ps(a, b);
    let u3 = _mm256_unpackhi_ps(c, d);
    // t_l = (a_l b_l c_l d_l | a_{l+4} b_{l+4} c_{l+4} d_{l+4}).
    let t0 = _mm256_shuffle_ps::<0x44>(u0, u1);
    let t1 = _mm256_shuffle_ps::<0xEE>(u0, u1);
    let t2 = _mm256_shuffle_ps::<0x44>(u2, u3);
    let t3 = _mm256_shuffle_ps::<0xEE>(u2, u3);
    // Widen lane l of the four rows: the low half of t_l (l < 4) or the
    // high half of t_{l−4}.
    macro_rules! lo {
        ($t:expr) => {
            _mm256_cvtps_pd(_mm256_castps256_ps128($t))
        };
    }
    macro_rules! hi {
        ($t:expr) => {
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>($t))
        };
    }
    let mut s = lo!(t0);
    s = _mm256_add_pd(s, lo!(t1));
    s = _mm256_add_pd(s, lo!(t2));
    s = _mm256_add_pd(s, lo!(t3));
    s = _mm256_add_pd(s, hi!(t0));
    s = _mm256_add_pd(s, hi!(t1));
    s = _mm256_add_pd(s, hi!(t2));
    _mm256_add_pd(s, hi!(t3))
}

/// y = M v in single precision (row-major M), widened to f64; AVX2/FMA build
/// where the CPU has it.
#[inline]
fn matvec32(m: &[f32], n_cols: usize, v: &[f32], y: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected just above; the shapes
            // follow from the square W and its N-vector.
            unsafe {
                if std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512f")
                {
                    matvec32_avx512(m, n_cols, v, y)
                } else {
                    matvec32_avx2(m, n_cols, v, y)
                }
            };
            return;
        }
    }
    for (yi, row) in y.iter_mut().zip(m.chunks_exact(n_cols)) {
        let mut acc = [0.0f32; 8];
        let ca = row.chunks_exact(8);
        let cb = v.chunks_exact(8);
        let mut tail = 0.0f32;
        for (x, z) in ca.remainder().iter().zip(cb.remainder()) {
            tail += x * z;
        }
        for (x, z) in ca.zip(cb) {
            for k in 0..8 {
                acc[k] += x[k] * z[k];
            }
        }
        *yi = acc.iter().map(|&a| a as f64).sum::<f64>() + tail as f64;
    }
}

/// y = M v for a row-major (standard layout) matrix, in f64: the exact path
/// ([`Prepared::exact`]); training uses the f32 products.
fn matvec(m: ArrayView2<f64>, v: &[f64], y: &mut [f64]) {
    let ms = m.to_slice().expect("standard layout");
    for (yi, row) in y.iter_mut().zip(ms.chunks_exact(m.ncols())) {
        *yi = dot(row, v);
    }
}

/// Run the network on stimulus `u` (n_in × T), drawing the initial state and
/// the per-step noise from `rng` (N + (T−1)·N standard normals, in that
/// order). Fills `trace`, reusing its buffers.
pub fn forward<R: RngCore + ?Sized>(
    model: &RateModel,
    prep: &Prepared,
    u: &Array2<f64>,
    rng: &mut R,
    trace: &mut Trace,
) {
    let n = model.n();
    let t_len = u.ncols();
    if trace.x.dim() != (t_len, n) {
        trace.x = Array2::zeros((t_len, n));
        trace.r = Array2::zeros((t_len, n));
        trace.a = Array2::zeros((t_len, n));
    }
    trace.o.clear();
    let act = model.activation;
    // Input drive for all steps at once: (T×n_in)·(n_in×N).
    if trace.drive_in.dim() != (t_len, n) {
        trace.drive_in = Array2::zeros((t_len, n));
    }
    ndarray::linalg::general_mat_mul(1.0, &u.t(), &model.w_in.t(), 0.0, &mut trace.drive_in);
    for i in 0..n {
        let z: f64 = StandardNormal.sample(rng);
        trace.x[[0, i]] = z / 100.0;
        trace.r[[0, i]] = act.f(z / 100.0);
    }
    let noise_sd = prep.rec_noise_sd;
    let alpha = prep.alpha.as_slice().expect("contiguous");
    let beta = prep.beta.as_slice().expect("contiguous");
    let w_out = model.w_out.as_slice().expect("contiguous");
    for t in 1..t_len {
        let (prev, mut cur) = trace.r.view_mut().split_at(Axis(0), t);
        let r_prev = prev.row(t - 1);
        let r_prev = r_prev.as_slice().expect("contiguous");
        let mut a_row = trace.a.row_mut(t);
        let a = a_row.as_slice_mut().expect("contiguous");
        prep.product(false, r_prev, a, &mut trace.scratch);
        let din = trace.drive_in.row(t - 1);
        for (ai, di) in a.iter_mut().zip(din.iter()) {
            *ai += di;
        }
        let (xp, mut xc) = trace.x.view_mut().split_at(Axis(0), t);
        let x_prev = xp.row(t - 1);
        let x_prev = &x_prev.as_slice().expect("contiguous")[..n];
        let mut x_cur = xc.row_mut(0);
        let x_cur = &mut x_cur.as_slice_mut().expect("contiguous")[..n];
        let mut r_cur = cur.row_mut(0);
        let r_cur = &mut r_cur.as_slice_mut().expect("contiguous")[..n];
        let (alpha, beta, a) = (&alpha[..n], &beta[..n], &a[..n]);
        for i in 0..n {
            let z: f64 = StandardNormal.sample(rng);
            x_cur[i] = alpha[i] * x_prev[i] + beta[i] * a[i] + noise_sd * z;
        }
        activate_row(act, x_cur, r_cur);
        let o = dot(r_cur, w_out) + model.b_out;
        trace.o.push(o);
    }
}

/// r = φ(x) for one row of states; the sigmoid with a vectorised exp on
/// AVX2 + FMA hardware ([`sigmoid_avx2`], within a few ulp of libm's).
fn activate_row(act: Activation, x: &[f64], r: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if act == Activation::Sigmoid
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: the features were detected just above.
        unsafe { sigmoid_avx2(x, r) };
        return;
    }
    for (ri, &xi) in r.iter_mut().zip(x) {
        *ri = act.f(xi);
    }
}

/// r = 1 / (1 + e^(−x)), four lanes at a time, the rest by libm: e^y as
/// 2^k · p(f) with y = k ln 2 + f, |f| ≤ ln 2 / 2 (ln 2 split in two for
/// an exact reduction) and p the degree-13 Taylor polynomial (truncation
/// error < 1e-17); y is clamped to ±708 so 2^k stays a normal number.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_avx2(x: &[f64], r: &mut [f64]) {
    use std::arch::x86_64::*;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let n = x.len().min(r.len());
    let one = _mm256_set1_pd(1.0);
    // Taylor coefficients 1/12!, 1/11!, …, 1/0! (after the leading 1/13!),
    // formed once per call rather than in every iteration.
    let mut fact = 6_227_020_800.0f64;
    let coef: [f64; 13] = std::array::from_fn(|j| {
        fact /= (13 - j) as f64;
        1.0 / fact
    });
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, within both slices.
        let xv = _mm256_loadu_pd(x.as_ptr().add(i));
        let y = _mm256_sub_pd(_mm256_setzero_pd(), xv);
        let y = _mm256_min_pd(
            _mm256_max_pd(y, _mm256_set1_pd(-708.0)),
            _mm256_set1_pd(708.0),
        );
        let k = _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_pd(y, _mm256_set1_pd(std::f64::consts::LOG2_E)),
        );
        let f = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2_HI), y);
        let f = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2_LO), f);
        // Horner on 1/13!, 1/12!, …, 1/1!, 1.
        let mut p = _mm256_set1_pd(1.0 / 6_227_020_800.0);
        for &c in &coef {
            p = _mm256_fmadd_pd(p, f, _mm256_set1_pd(c));
        }
        let ki = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k));
        let bits = _mm256_slli_epi64::<52>(_mm256_add_epi64(ki, _mm256_set1_epi64x(1023)));
        let e = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
        _mm256_storeu_pd(
            r.as_mut_ptr().add(i),
            _mm256_div_pd(one, _mm256_add_pd(one, e)),
        );
        i += 4;
    }
    for j in i..n {
        r[j] = Activation::Sigmoid.f(x[j]);
    }
}

/// Buffers reused across trials by [`loss_and_grad`].
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// The forward states.
    pub trace: Trace,
    /// β ⊙ δ_t for t = 1 … T−1 ((T−1)×N).
    d: Array2<f64>,
    /// ∂L/∂W_eff (N×N).
    dw_eff: Array2<f64>,
    g: Vec<f64>,
    scratch: Vec<f32>,
    /// f32 copies of D, R_prev and ∂L/∂W_eff for the single-precision
    /// weight-gradient product.
    single: (Array2<f32>, Array2<f32>, Array2<f32>),
}

/// Forward pass on `trial.u`, loss against `trial.target` (T−1 samples) and
/// gradients added to `grads`. Returns the loss.
pub fn loss_and_grad<R: RngCore + ?Sized>(
    model: &RateModel,
    prep: &Prepared,
    trial: &Trial,
    loss: Loss,
    rng: &mut R,
    ws: &mut Workspace,
    grads: &mut Grads,
) -> f64 {
    forward(model, prep, &trial.u, rng, &mut ws.trace);
    let t_len = trial.u.ncols();
    ws.g.resize(t_len - 1, 0.0);
    let l = loss.eval(&ws.trace.o, &trial.target, &mut ws.g);
    let dtau = backward_in_time(model, prep, ws, grads);
    recurrent_weight_grad(model, prep, ws, grads);
    if model.taus.trained() {
        for (i, gi) in grads.taus_gaus.iter_mut().enumerate() {
            *gi += dtau[i] * model.taus.dtau(model.taus_gaus[i]);
        }
    }
    l
}

/// Backpropagation through time from ∂L/∂o (`ws.g`): fills `ws.d` with
/// d_t = β ⊙ δ_t, adds ∂L/∂w_out and ∂L/∂b_out to `grads`, and returns
/// ∂L/∂tau per unit (zeros when taus are fixed), where
/// δ_t = φ'(x_t) ⊙ (Wᵀ d_{t+1} + w_out g_t) + α ⊙ δ_{t+1}.
///
/// A numeric kernel: one loop over time with the per-unit updates inlined
/// on slices, so the compiler vectorises them; split further it would
/// re-borrow the trace rows on every step.
fn backward_in_time(
    model: &RateModel,
    prep: &Prepared,
    ws: &mut Workspace,
    grads: &mut Grads,
) -> Vec<f64> {
    let n = model.n();
    let t_len = ws.trace.x.nrows();
    if ws.d.dim() != (t_len - 1, n) {
        ws.d = Array2::zeros((t_len - 1, n));
    }
    let tr = &ws.trace;
    let act = model.activation;
    let alpha = prep.alpha.as_slice().expect("contiguous");
    let beta = prep.beta.as_slice().expect("contiguous");
    let tau = prep.tau.as_slice().expect("contiguous");
    let w_out = model.w_out.as_slice().expect("contiguous");
    let train_tau = model.taus.trained();
    let mut delta_next = vec![0.0; n]; // δ_{t+1}
    let mut dr = vec![0.0; n];
    let mut dtau = vec![0.0; n];
    for t in (1..t_len).rev() {
        let gt = ws.g[t - 1];
        if t < t_len - 1 {
            // Wᵀ (β ⊙ δ_{t+1}) = Wᵀ d_{t+1}
            let d_next = ws.d.row(t);
            prep.product(
                true,
                d_next.as_slice().expect("contiguous"),
                &mut dr,
                &mut ws.scratch,
            );
        } else {
            dr.fill(0.0);
        }
        let x = tr.x.row(t);
        let x = x.as_slice().expect("contiguous");
        let x_prev = tr.x.row(t - 1);
        let x_prev = x_prev.as_slice().expect("contiguous");
        let a = tr.a.row(t);
        let a = a.as_slice().expect("contiguous");
        let r = tr.r.row(t);
        let r = r.as_slice().expect("contiguous");
        let mut d_row = ws.d.row_mut(t - 1);
        let d_row = d_row.as_slice_mut().expect("contiguous");
        let gw_out = grads.w_out.as_slice_mut().expect("contiguous");
        let (dr, dn) = (&dr[..n], &mut delta_next[..n]);
        let (alpha, beta, w_out) = (&alpha[..n], &beta[..n], &w_out[..n]);
        let (x, r, d_row, gw_out) = (&x[..n], &r[..n], &mut d_row[..n], &mut gw_out[..n]);
        // The per-unit update with φ'(x, r) = `$df`; the sigmoid gets its
        // own copy so that r(1 − r) is inlined and the loop vectorises.
        macro_rules! units {
            ($df:expr) => {
                for i in 0..n {
                    let drive = dr[i] + w_out[i] * gt;
                    let delta = $df(x[i], r[i]) * drive + alpha[i] * dn[i];
                    dn[i] = delta;
                    d_row[i] = beta[i] * delta;
                    gw_out[i] += gt * r[i];
                }
            };
        }
        match act {
            Activation::Sigmoid => units!(|_, r: f64| r * (1.0 - r)),
            _ => units!(|x, r| act.df_with(x, r)),
        }
        if train_tau {
            for i in 0..n {
                dtau[i] += dn[i] * (x_prev[i] - a[i]) / (tau[i] * tau[i]);
            }
        }
        grads.b_out += gt;
    }
    dtau
}

/// ∂L/∂w from `ws.d`: ∂L/∂W_eff = Σ_t d_t r_{t−1}ᵀ = Dᵀ R_prev, then the
/// chain rule through W = (relu(w)·m) ⊙ som_m: ∂L/∂w_ij = ∂L/∂W_ij m_j
/// som_m_ij where relu'(w_ij) = 1 (under Dale only where w_ij > 0; the
/// other entries are left untouched). Dᵀ R_prev is formed in f32 when
/// `prep` runs its products in f32 (twice the SIMD width of the f64 GEMM).
fn recurrent_weight_grad(
    model: &RateModel,
    prep: &Prepared,
    ws: &mut Workspace,
    grads: &mut Grads,
) {
    let n = model.n();
    let t_len = ws.trace.x.nrows();
    let r_prev = ws.trace.r.slice(s![..t_len - 1, ..]);
    if prep.single.is_some() {
        // Single precision like the recurrent products: Dᵀ R_prev in f32.
        let (d32, r32, dw32) = &mut ws.single;
        if d32.dim() != ws.d.dim() {
            *d32 = Array2::zeros(ws.d.dim());
            *r32 = Array2::zeros(ws.d.dim());
            *dw32 = Array2::zeros((n, n));
        }
        ndarray::Zip::from(&mut *d32)
            .and(&ws.d)
            .for_each(|a, &b| *a = b as f32);
        ndarray::Zip::from(&mut *r32)
            .and(&r_prev)
            .for_each(|a, &b| *a = b as f32);
        ndarray::linalg::general_mat_mul(1.0, &d32.t(), &*r32, 0.0, dw32);
        chain_rule(model, dw32.as_slice().expect("standard layout"), grads);
    } else {
        if ws.dw_eff.dim() != (n, n) {
            ws.dw_eff = Array2::zeros((n, n));
        }
        ndarray::linalg::general_mat_mul(1.0, &ws.d.t(), &r_prev, 0.0, &mut ws.dw_eff);
        chain_rule(model, ws.dw_eff.as_slice().expect("standard layout"), grads);
    }
}

/// `grads.w += ∂L/∂W_eff · m_j · som_m_ij` (under Dale only where
/// w_ij > 0), ∂L/∂W_eff given row-major in f32 or f64 (widened exactly,
/// inside the loop: no f64 copy of the f32 product).
fn chain_rule<T: Copy + Into<f64>>(model: &RateModel, dw_eff: &[T], grads: &mut Grads) {
    let n = model.n();
    let signs = model.signs();
    let s = signs.as_slice().expect("contiguous");
    let som = model.som_m.as_standard_layout();
    let w = model.w.as_standard_layout();
    let rows = grads
        .w
        .as_slice_mut()
        .expect("standard layout")
        .chunks_exact_mut(n)
        .zip(dw_eff.chunks_exact(n))
        .zip(som.as_slice().expect("standard layout").chunks_exact(n))
        .zip(w.as_slice().expect("standard layout").chunks_exact(n));
    for (((gw, dwe), som), w) in rows {
        let (gw, dwe, som, w, s) = (&mut gw[..n], &dwe[..n], &som[..n], &w[..n], &s[..n]);
        if model.dale {
            // Branch-free select (w_ij > 0 is a coin flip per entry): the
            // dead entries keep their value exactly.
            for j in 0..n {
                let updated = gw[j] + dwe[j].into() * s[j] * som[j];
                gw[j] = if w[j] > 0.0 { updated } else { gw[j] };
            }
        } else {
            for j in 0..n {
                gw[j] += dwe[j].into() * s[j] * som[j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::{Activation, NetConfig, Taus};
    use crate::rng;
    use crate::task::{Task, Xor};

    fn small_model(act: Activation, dale: bool, taus: Taus, som_n: usize) -> RateModel {
        let cfg = NetConfig {
            n: 12,
            p_inh: 0.3,
            p_rec: 0.5,
            som_n,
            dale,
            activation: act,
            taus,
            ..NetConfig::default()
        };
        let mut m = RateModel::init(&cfg, 2, &mut rng::from_seed(11)).unwrap();
        // Larger readout so the loss depends visibly on every parameter.
        m.w_out *= 30.0;
        m.b_out = 0.1;
        m
    }

    fn loss_only(model: &RateModel, u: &Array2<f64>, z: &[f64], loss: Loss, seed: u64) -> f64 {
        let prep = Prepared::exact(model);
        let mut tr = Trace::default();
        forward(model, &prep, u, &mut rng::from_seed(seed), &mut tr);
        let mut g = vec![0.0; z.len()];
        loss.eval(&tr.o, z, &mut g)
    }

    /// Central differences on every trained parameter, f64, h = 1e-6.
    fn check(model: &RateModel, loss: Loss) {
        let task = Xor {
            t: 40,
            stim1: (5, 12),
            stim2: (15, 22),
            target_window: (25, 38),
            resp_start: 25,
            threshold: 0.7,
        };
        let trial = task.trial_of_kind(2, &mut rng::from_seed(1));
        let seed = 99;
        let prep = Prepared::exact(model);
        let mut ws = Workspace::default();
        let mut g = Grads::zeros(model.n());
        loss_and_grad(
            model,
            &prep,
            &trial,
            loss,
            &mut rng::from_seed(seed),
            &mut ws,
            &mut g,
        );
        let h = 1e-6;
        let f = |m: &RateModel| loss_only(m, &trial.u, &trial.target, loss, seed);
        let close = |an: f64, fd: f64, what: &str| {
            let tol = 1e-5 + 1e-4 * fd.abs().max(an.abs());
            assert!(
                (an - fd).abs() < tol,
                "{what}: analytic {an} vs numeric {fd}"
            );
        };
        let n = model.n();
        let mut checked_w = 0;
        for i in 0..n {
            for j in 0..n {
                // Skip entries at the relu kink (exactly zero under Dale).
                if model.dale && model.w[[i, j]].abs() < 1e-3 {
                    assert_eq!(g.w[[i, j]], 0.0);
                    continue;
                }
                let mut p = model.clone();
                p.w[[i, j]] += h;
                let mut q = model.clone();
                q.w[[i, j]] -= h;
                close(
                    g.w[[i, j]],
                    (f(&p) - f(&q)) / (2.0 * h),
                    &format!("w[{i},{j}]"),
                );
                checked_w += 1;
            }
        }
        assert!(checked_w > 20);
        for i in 0..n {
            let mut p = model.clone();
            p.w_out[i] += h;
            let mut q = model.clone();
            q.w_out[i] -= h;
            close(
                g.w_out[i],
                (f(&p) - f(&q)) / (2.0 * h),
                &format!("w_out[{i}]"),
            );
            let mut p = model.clone();
            p.taus_gaus[i] += h;
            let mut q = model.clone();
            q.taus_gaus[i] -= h;
            close(
                g.taus_gaus[i],
                (f(&p) - f(&q)) / (2.0 * h),
                &format!("taus_gaus[{i}]"),
            );
        }
        let mut p = model.clone();
        p.b_out += h;
        let mut q = model.clone();
        q.b_out -= h;
        close(g.b_out, (f(&p) - f(&q)) / (2.0 * h), "b_out");
        if model.taus.trained() {
            assert!(g.taus_gaus.iter().any(|&v| v != 0.0));
        }
    }

    #[test]
    fn gradients_sigmoid_l2_dale_som_tau_range() {
        check(
            &small_model(Activation::Sigmoid, true, Taus::Range(2.0, 6.0), 2),
            Loss::L2,
        );
    }

    #[test]
    fn gradients_sigmoid_l1() {
        check(
            &small_model(Activation::Sigmoid, true, Taus::Range(2.0, 6.0), 0),
            Loss::L1,
        );
    }

    #[test]
    fn gradients_softplus_l2_no_dale() {
        check(
            &small_model(Activation::Softplus, false, Taus::Range(1.5, 5.0), 0),
            Loss::L2,
        );
    }

    #[test]
    fn gradients_softplus_l1_fixed_tau() {
        check(
            &small_model(Activation::Softplus, true, Taus::Fixed(3.0), 0),
            Loss::L1,
        );
    }

    #[test]
    fn gradients_clipped_relu_l2() {
        // Shift the state into the linear range so the clip's kinks are rare.
        let mut m = small_model(Activation::ClippedRelu, true, Taus::Range(2.0, 6.0), 0);
        m.w_in.mapv_inplace(|v| v.abs() + 0.5);
        check(&m, Loss::L2);
    }

    #[test]
    fn gradients_clipped_relu_l1_no_dale() {
        let mut m = small_model(Activation::ClippedRelu, false, Taus::Fixed(4.0), 0);
        m.w_in.mapv_inplace(|v| v.abs() + 0.5);
        check(&m, Loss::L1);
    }

    #[test]
    fn f32_matvec_matches_f64_for_odd_shapes() {
        // Odd row counts (the unpaired last row), columns that are not a
        // multiple of 32 or 8 (the 8-wide and scalar tails).
        for &(rows, cols) in &[(1, 1), (3, 7), (7, 37), (13, 64), (201, 200), (2, 45)] {
            let m: Vec<f32> = (0..rows * cols)
                .map(|k| ((k * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let v: Vec<f32> = (0..cols)
                .map(|k| ((k * 13 % 29) as f32 - 14.0) / 7.0)
                .collect();
            let mut y = vec![0.0; rows];
            matvec32(&m, cols, &v, &mut y);
            for i in 0..rows {
                let exact: f64 = (0..cols)
                    .map(|k| m[i * cols + k] as f64 * v[k] as f64)
                    .sum();
                assert!(
                    (y[i] - exact).abs() <= 1e-5 * (1.0 + exact.abs()),
                    "{rows}x{cols} row {i}: {} vs {exact}",
                    y[i]
                );
            }
        }
    }

    /// One row of the AVX2 kernel's arithmetic, scalar: accumulator l of
    /// lane c sums the columns k + 8l + c (k = 0, 32, …) by fused
    /// multiply-adds, the 8-wide tail goes to accumulator 0, then
    /// (a0 + a1) + (a2 + a3) in f32, the lanes summed in order in f64, the
    /// scalar tail of f32 products added last.
    fn matvec32_row_reference(row: &[f32], v: &[f32]) -> f64 {
        let n = row.len();
        let mut acc = [[0.0f32; 8]; 4];
        let mut k = 0;
        while k + 32 <= n {
            for (l, al) in acc.iter_mut().enumerate() {
                for (c, a) in al.iter_mut().enumerate() {
                    *a = row[k + 8 * l + c].mul_add(v[k + 8 * l + c], *a);
                }
            }
            k += 32;
        }
        while k + 8 <= n {
            for (c, a) in acc[0].iter_mut().enumerate() {
                *a = row[k + c].mul_add(v[k + c], *a);
            }
            k += 8;
        }
        let [a0, a1, a2, a3] = acc;
        let mut total = -0.0f64;
        for (((x0, x1), x2), x3) in a0.iter().zip(&a1).zip(&a2).zip(&a3) {
            total += ((x0 + x1) + (x2 + x3)) as f64;
        }
        for c in k..n {
            total += (row[c] * v[c]) as f64;
        }
        total
    }

    #[test]
    fn avx2_and_avx512_matvecs_are_bit_identical_to_their_scalar_order() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // Every row count mod 4 (the four-row groups and the 1–3 rows
            // left over) and columns around the 32-, 8- and scalar tails.
            for rows in 1..=9 {
                for &cols in &[1, 7, 8, 9, 31, 32, 33, 45, 64, 71, 200, 203] {
                    let m: Vec<f32> = (0..rows * cols)
                        .map(|k| ((k * 37 % 101) as f32 - 50.0) / 37.0)
                        .collect();
                    let v: Vec<f32> = (0..cols)
                        .map(|k| ((k * 13 % 29) as f32 - 14.0) / 7.0)
                        .collect();
                    let mut y = vec![0.0; rows];
                    // SAFETY: features detected above; shapes match.
                    unsafe { matvec32_avx2(&m, cols, &v, &mut y) };
                    for (i, &yi) in y.iter().enumerate() {
                        let want = matvec32_row_reference(&m[i * cols..(i + 1) * cols], &v);
                        assert_eq!(yi.to_bits(), want.to_bits(), "{rows}x{cols} row {i}");
                    }
                    // The one-pass AVX-512VL build gives the same bits.
                    if std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                    {
                        let mut y512 = vec![0.0; rows];
                        // SAFETY: features detected above; shapes match.
                        unsafe { matvec32_avx512(&m, cols, &v, &mut y512) };
                        let bits = |y: &[f64]| y.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&y512), bits(&y), "{rows}x{cols}, AVX-512VL");
                    }
                }
            }
        }
    }

    #[test]
    fn vectorised_sigmoid_matches_libm_for_odd_lengths() {
        for len in [0, 1, 3, 4, 5, 8, 13, 200, 203] {
            let x: Vec<f64> = (0..len)
                .map(|k| (k as f64 * 0.731).sin() * 40.0 - 0.3)
                .chain([-800.0, -40.0, -1e-9, 0.0, 1e-9, 40.0, 800.0])
                .collect();
            let mut r = vec![0.0; x.len()];
            activate_row(Activation::Sigmoid, &x, &mut r);
            for (&xi, &ri) in x.iter().zip(&r) {
                let want = Activation::Sigmoid.f(xi);
                assert!(
                    (ri - want).abs() <= 4.0 * f64::EPSILON * want + 1e-300,
                    "x = {xi}: {ri} vs {want}"
                );
            }
            let mut r2 = vec![0.0; x.len()];
            activate_row(Activation::Softplus, &x, &mut r2);
            for (&xi, &ri) in x.iter().zip(&r2) {
                assert_eq!(ri, Activation::Softplus.f(xi));
            }
        }
    }

    #[test]
    fn transpose_into_transposes() {
        for n in [1, 7, 8, 9, 17, 200] {
            let src: Vec<f32> = (0..n * n).map(|k| k as f32).collect();
            let mut dst = vec![0.0; n * n];
            transpose_into(&src, n, &mut dst);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(dst[j * n + i], src[i * n + j]);
                }
            }
        }
    }

    #[test]
    fn single_precision_products_agree_with_f64() {
        // N = 200 Go-NoGo network: the f32 products of Prepared::new change
        // outputs and gradients only at the level of f32 rounding.
        let cfg = NetConfig::default();
        let m = RateModel::init(&cfg, 1, &mut rng::from_seed(2)).unwrap();
        let task = crate::task::GoNoGo::default();
        let trial = task.trial_of_kind(0, &mut rng::from_seed(0));
        let run = |prep: &Prepared| {
            let mut ws = Workspace::default();
            let mut g = Grads::zeros(200);
            let l = loss_and_grad(
                &m,
                prep,
                &trial,
                Loss::L2,
                &mut rng::from_seed(9),
                &mut ws,
                &mut g,
            );
            (l, ws.trace.o.clone(), g)
        };
        let (l64, o64, g64) = run(&Prepared::exact(&m));
        let (l32, o32, g32) = run(&Prepared::new(&m));
        assert!((l64 - l32).abs() < 1e-5 * l64, "{l64} {l32}");
        for (a, b) in o64.iter().zip(&o32) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
        let rel = |a: &Array2<f64>, b: &Array2<f64>| {
            let d: f64 = (a - b).iter().map(|x| x * x).sum::<f64>().sqrt();
            d / a.iter().map(|x| x * x).sum::<f64>().sqrt()
        };
        assert!(rel(&g64.w, &g32.w) < 1e-4, "{}", rel(&g64.w, &g32.w));
        assert!((g64.b_out - g32.b_out).abs() < 1e-4 * g64.b_out.abs().max(1.0));
        assert!(g64.w != g32.w, "the f32 path was not taken");
    }

    #[test]
    fn forward_matches_the_equations_step_by_step() {
        let m = small_model(Activation::Sigmoid, true, Taus::Range(2.0, 6.0), 1);
        let task = Xor {
            t: 30,
            stim1: (3, 8),
            stim2: (10, 15),
            target_window: (18, 28),
            resp_start: 18,
            threshold: 0.7,
        };
        let trial = task.trial_of_kind(3, &mut rng::from_seed(0));
        let prep = Prepared::exact(&m);
        let mut tr = Trace::default();
        forward(&m, &prep, &trial.u, &mut rng::from_seed(5), &mut tr);
        // Replay with the same noise draws and plain ndarray algebra.
        let mut r = rng::from_seed(5);
        let n = m.n();
        let mut x: Array1<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut r);
                z / 100.0
            })
            .collect();
        let w = m.effective_weights();
        let tau = m.tau_steps();
        for t in 1..30 {
            let rr = x.mapv(|v| m.activation.f(v));
            let a = w.dot(&rr) + m.w_in.dot(&trial.u.column(t - 1));
            let noise: Array1<f64> = (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut r);
                    0.1 * z
                })
                .collect();
            x = (1.0 - 1.0 / &tau) * &x + (1.0 / &tau) * &a + noise;
            let o = m.w_out.dot(&x.mapv(|v| m.activation.f(v))) + m.b_out;
            assert!((o - tr.o[t - 1]).abs() < 1e-12, "step {t}");
        }
        assert_eq!(tr.o.len(), 29);
    }

    #[test]
    fn recurrent_noise_sd_scales_the_noise_draws() {
        // The same draws z: x_1 = α x_0 + β a_1 + σ z, so x_1(σ) − x_1(0) = σ z
        // and the default σ is docs/model.md's 0.1.
        let m = small_model(Activation::Sigmoid, true, Taus::Fixed(4.0), 1);
        let u = Array2::zeros((m.n_inputs(), 5));
        let mut prep = Prepared::exact(&m);
        assert_eq!(prep.rec_noise_sd, 0.1);
        let x1 = |prep: &Prepared| {
            let mut tr = Trace::default();
            forward(&m, prep, &u, &mut rng::from_seed(2), &mut tr);
            tr.x.row(1).to_vec()
        };
        let base = x1(&prep);
        prep.rec_noise_sd = 0.0;
        let clean = x1(&prep);
        prep.rec_noise_sd = 0.3;
        let loud = x1(&prep);
        for i in 0..m.n() {
            let z = (base[i] - clean[i]) / 0.1;
            assert!((loud[i] - clean[i] - 0.3 * z).abs() < 1e-12);
        }
    }
}

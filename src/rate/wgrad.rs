//! ∂L/∂W_eff = Σ_t d_t r_{t−1}ᵀ only where the gradient can reach the raw
//! weights: under Dale's principle W = (relu(w)·m) ⊙ som_m, so ∂L/∂w_ij is
//! zero wherever w_ij ≤ 0, and trained Go-NoGo networks have only 5–40 % of
//! their w_ij > 0 (≈ 10 % at initialisation: the 20 % connections, half of
//! them positive).
//!
//! [`LiveBlocks`] lists the 4-wide column blocks of each row that hold at
//! least one live entry; [`outer_sum_live`] computes exactly those blocks.
//! Each entry is the same chain of fused multiply-adds over t = 0, 1, … as
//! `matrixmultiply`'s AVX2+FMA kernel forms it (the dense
//! `general_mat_mul(1, Dᵀ, R, 0, C)` this replaces: one accumulator per
//! entry starting from 0, t in order within each depth block of 256 steps,
//! the blocks' sums then added in order), so the
//! gradient — and every trained network — is bit-identical to the dense
//! product's (tested). Written by hand because a GEMM computes all N²
//! entries and no crate offers a sampled (masked) product with a fixed
//! summation order; on CPUs without FMA the caller keeps the dense product.

/// Column-block width (one AVX2 register of f64).
const W: usize = 4;

/// The live 4-wide column blocks of an N×N matrix, by row.
#[derive(Debug, Clone, Default)]
pub struct LiveBlocks {
    n: usize,
    /// Flat index `i·N + j0` of each block's first entry, rows ascending.
    starts: Vec<u32>,
    /// `row_end[i]`: end of row i's blocks in `starts`.
    row_end: Vec<u32>,
}

impl LiveBlocks {
    /// The blocks of the N×N row-major `w` holding any `w_ij > 0` (the last
    /// block of a row is narrower when N is not a multiple of 4).
    pub fn of_positive(w: &[f64], n: usize) -> Self {
        let mut b = LiveBlocks {
            n,
            starts: Vec::new(),
            row_end: Vec::with_capacity(n),
        };
        b.refresh(w);
        b
    }

    /// Recompute from `w` in place (no allocation once sized).
    pub fn refresh(&mut self, w: &[f64]) {
        let n = self.n;
        debug_assert_eq!(w.len(), n * n);
        self.starts.clear();
        self.row_end.clear();
        for i in 0..n {
            let row = &w[i * n..(i + 1) * n];
            for (c, chunk) in row.chunks(W).enumerate() {
                if chunk.iter().any(|&x| x > 0.0) {
                    self.starts.push((i * n + c * W) as u32);
                }
            }
            self.row_end.push(self.starts.len() as u32);
        }
    }

    /// Share of the N² entries the blocks cover.
    pub fn coverage(&self) -> f64 {
        (self.starts.len() * W) as f64 / (self.n * self.n).max(1) as f64
    }
}

/// `c[i·N + j] = Σ_t d[t·N + i] · r[t·N + j]` (t = 0 … `t_len`−1, fused
/// multiply-adds in t order from 0) for every entry of every live block;
/// other entries of `c` are left as they were. `d` and `r` are `t_len`×N
/// row-major, `c` N×N.
///
/// Returns false (and writes nothing) when the CPU lacks AVX2+FMA; the
/// caller then uses the dense product.
pub fn outer_sum_live(
    blocks: &LiveBlocks,
    d: &[f64],
    r: &[f64],
    t_len: usize,
    c: &mut [f64],
) -> bool {
    let n = blocks.n;
    assert!(d.len() >= t_len * n && r.len() >= t_len * n && c.len() == n * n);
    #[cfg(target_arch = "x86_64")]
    {
        if n.is_multiple_of(W)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA checked just above; the slices hold
            // t_len·N (d, r) and N² (c) entries and every block start + 4
            // ≤ (row + 1)·N because N is a multiple of 4.
            unsafe { x86::outer_sum_live(blocks, d, r, t_len, c) };
            return true;
        }
    }
    let _ = (d, r, t_len, c);
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::LiveBlocks;

    /// Blocks in flight per pass over t: eight independent FMA chains hide
    /// the FMA latency (4 cycles × 2 pipes).
    const K: usize = 8;

    /// `matrixmultiply`'s depth block for f64 (`D_KC`): sums over t are
    /// formed per block of 256 steps and the blocks' sums added in order.
    const KC: usize = 256;

    /// See [`super::outer_sum_live`].
    ///
    /// # Safety
    /// AVX2 and FMA; N a multiple of 4; `d`, `r` hold `t_len`·N entries and
    /// `c` N².
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn outer_sum_live(
        b: &LiveBlocks,
        d: &[f64],
        r: &[f64],
        t_len: usize,
        c: &mut [f64],
    ) {
        let n = b.n;
        let mut lo = 0usize;
        for i in 0..n {
            let hi = b.row_end[i] as usize;
            for group in b.starts[lo..hi].chunks(K) {
                let mut cols = [0usize; K];
                for (k, &s) in group.iter().enumerate() {
                    cols[k] = s as usize - i * n;
                }
                let m = group.len();
                let mut total = [_mm256_setzero_pd(); K];
                for t0 in (0..t_len).step_by(KC) {
                    let mut acc = [_mm256_setzero_pd(); K];
                    for t in t0..(t0 + KC).min(t_len) {
                        let dv = _mm256_set1_pd(*d.get_unchecked(t * n + i));
                        let row = r.as_ptr().add(t * n);
                        for k in 0..K {
                            if k < m {
                                let rv = _mm256_loadu_pd(row.add(cols[k]));
                                acc[k] = _mm256_fmadd_pd(dv, rv, acc[k]);
                            }
                        }
                    }
                    // matrixmultiply: C = ab for the first depth block,
                    // then C = fma(1, ab, C), i.e. ab + C rounded once.
                    for k in 0..m {
                        total[k] = if t0 == 0 {
                            acc[k]
                        } else {
                            _mm256_add_pd(acc[k], total[k])
                        };
                    }
                }
                for (k, &s) in group.iter().enumerate() {
                    _mm256_storeu_pd(c.as_mut_ptr().add(s as usize), total[k]);
                }
            }
            lo = hi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::Rng;

    /// Every live entry equals the dense `general_mat_mul` bit for bit (on
    /// AVX2+FMA CPUs; elsewhere the function declines and the dense
    /// product is used).
    #[test]
    fn live_blocks_equal_the_dense_product_bit_for_bit() {
        let mut g = crate::rng::from_seed(5);
        for &(n, t_len, p_live) in &[
            (200usize, 199usize, 0.1f64),
            (48, 37, 0.4),
            (8, 3, 1.0),
            (24, 600, 0.3),
            (12, 256, 0.5),
            (12, 257, 0.5),
        ] {
            let w: Vec<f64> = (0..n * n)
                .map(|_| {
                    if g.random::<f64>() < p_live {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            let d = Array2::from_shape_fn((t_len, n), |_| g.random::<f64>() - 0.5);
            let r = Array2::from_shape_fn((t_len, n), |_| g.random::<f64>());
            let mut dense = Array2::zeros((n, n));
            ndarray::linalg::general_mat_mul(1.0, &d.t(), &r, 0.0, &mut dense);
            let blocks = LiveBlocks::of_positive(&w, n);
            let mut c = vec![f64::NAN; n * n];
            if !outer_sum_live(
                &blocks,
                d.as_slice().unwrap(),
                r.as_slice().unwrap(),
                t_len,
                &mut c,
            ) {
                return;
            }
            for (k, &wk) in w.iter().enumerate() {
                if wk > 0.0 {
                    assert_eq!(
                        c[k].to_bits(),
                        dense.as_slice().unwrap()[k].to_bits(),
                        "entry {k}, n {n}"
                    );
                }
            }
            let dead_blocks = (0..n * n / 4)
                .filter(|&b| w[4 * b..4 * b + 4].iter().all(|&x| x <= 0.0))
                .count();
            let untouched = c.iter().filter(|x| x.is_nan()).count();
            assert_eq!(untouched, 4 * dead_blocks, "only live blocks are written");
        }
    }
}

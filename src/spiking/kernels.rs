//! Small numeric kernels of the spiking simulation.

/// Dot product `Σ a_i·b_i` over the common length, with four accumulators
/// (lane `l` sums the products `i ≡ l (mod 4)`, combined as
/// `(acc0 + acc1) + (acc2 + acc3)`, then the tail left to right). The order
/// vectorises and differs from a plain left-to-right sum only by rounding;
/// it is fixed, so results are reproducible bit for bit.
///
/// # Examples
///
/// ```
/// use spikernn::spiking::kernels::dot;
/// assert_eq!(dot(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0; 5]), 15.0);
/// ```
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_sums_products_in_lane_order() {
        // Σ i·1 for i = 1..=9 = 45, exactly representable at every step.
        let a: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(dot(&a, &[1.0; 9]), 45.0);
        // The order is (a0 + a1) + (a2 + a3): with 2^53 (where f64's spacing
        // is 2), (2^53 + 0) + (1 + 1) = 2^53 + 2 exactly, whereas a left-to-
        // right sum loses each 1 (2^53 + 1 rounds to 2^53, ties to even).
        let big = 2f64.powi(53);
        assert_eq!(dot(&[big, 0.0, 1.0, 1.0], &[1.0; 4]), big + 2.0);
        assert_eq!(dot(&[], &[]), 0.0);
    }
}

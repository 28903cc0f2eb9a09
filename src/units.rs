//! Time units and step ratios, in one place.
//!
//! The rate network advances in steps of [`RATE_DT_MS`] = 5 ms; the spiking
//! network in steps of [`SPIKING_DT_MS`] = 0.05 ms, so
//! [`SPIKING_STEPS_PER_RATE_STEP`] = 100 spiking steps make one rate step
//! (one stimulus column). Synaptic decay constants `tau` of the rate network
//! are in rate steps; the spiking network's are in ms (`tau · RATE_DT_MS`).
//! Down-sampling by `d` multiplies the spiking step by `d`
//! ([`spiking_steps_per_rate_step`]).

/// One rate-network step, in ms.
pub const RATE_DT_MS: f64 = 5.0;

/// One spiking step (before down-sampling), in ms.
pub const SPIKING_DT_MS: f64 = 0.05;

/// Spiking steps (of [`SPIKING_DT_MS`]) per rate step: 100.
pub const SPIKING_STEPS_PER_RATE_STEP: usize = 100;

/// Spiking steps per rate step after down-sampling by `d` (which must
/// divide 100): `100 / d`.
pub fn spiking_steps_per_rate_step(downsample: usize) -> usize {
    SPIKING_STEPS_PER_RATE_STEP / downsample
}

/// A synaptic decay constant in rate steps, in ms.
pub fn rate_steps_to_ms(steps: f64) -> f64 {
    steps * RATE_DT_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_follows_from_the_two_steps() {
        assert_eq!(
            (RATE_DT_MS / SPIKING_DT_MS).round() as usize,
            SPIKING_STEPS_PER_RATE_STEP
        );
        assert_eq!(spiking_steps_per_rate_step(4), 25);
        assert_eq!(rate_steps_to_ms(4.0), 20.0);
    }
}

//! Seeded random streams. Every random draw in the crate comes from a
//! [`Xoshiro256PlusPlus`](Rng) generator made here, so a seed reproduces a run bit
//! for bit, and parallel work (one stream per trial) gives the same result for
//! any thread count.
//!
//! - [`tag`] — the first stream part of every use, one constant each, so
//!   that no two uses ever share a stream;
//! - [`normal_pair`], [`fill_normal`] — the fast normal sampler of the LIF
//!   voltage noise (Box–Muller in f32 lanes);
//! - [`Rng`] — xoshiro256++ (the outputs of `rand_xoshiro`'s), with its
//!   state accessible, and [`Lanes`], B streams in SIMD lanes for the
//!   batched LIF trials.

use rand::SeedableRng;
pub use xoshiro::{Lane, Lanes, Xoshiro256PlusPlus as Rng};

mod normal;
mod xoshiro;
pub use normal::{fill_normal, fill_normal_lanes, fill_normal_with, normal_pair, LaneScratch};
#[cfg(target_arch = "x86_64")]
pub use normal::{fill_normal_lanes4_avx2, has_avx2_fma};
/// The vector pieces the fused LIF batch loop builds its noise from.
#[cfg(target_arch = "x86_64")]
pub(crate) use {normal::x512::block4 as normal_block4, xoshiro::x86::step4 as lanes_step4};

/// Stream tags: the first part of [`stream`]'s `parts` for each use (values
/// fixed: changing one changes every result drawn from it).
pub mod tag {
    /// Initial weights of a rate network: `stream(seed, &[INIT])`.
    pub const INIT: u64 = 1;
    /// Training trials: `stream(seed, &[TRAIN])`.
    pub const TRAIN: u64 = 2;
    /// Rate-network evaluations during training: `stream(seed, &[TRAIN_EVAL, …])`.
    pub const TRAIN_EVAL: u64 = 3;
    /// Rate-network evaluation of a finished run (ASCII "REV"): the `tag`
    /// of `rate::evaluate_rate`, whose streams are (seed, TRAIN_EVAL, tag, i).
    pub const RATE_EVAL: u64 = 0x0052_4556;
    /// Trials drawn for the figures (ASCII "FIG").
    pub const FIGURES: u64 = 0x0046_4947;
    /// Spiking evaluation on fresh trials (ASCII "EVAL"): never coincides
    /// with a λ-search trial, whose streams carry no tag.
    pub const EVAL: u64 = 0x4556_414c;
    /// The CLI's `simulate` trials (ASCII "SIM").
    pub const SIMULATE: u64 = 0x0053_494d;
    /// Fitting trials of the readout refit (ASCII "FIT1"): distinct from
    /// the search's (untagged) and the evaluation's streams.
    pub const REFIT: u64 = 0x4649_5431;
}

/// SplitMix64 finaliser: a bijective 64-bit mixer.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for `seed`.
pub fn from_seed(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An independent stream for (seed, parts…), e.g. (seed, lambda bits, trial).
pub fn stream(seed: u64, parts: &[u64]) -> Rng {
    let mut h = mix(seed);
    for &p in parts {
        h = mix(h ^ mix(p));
    }
    Rng::seed_from_u64(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_differ_and_repeat() {
        let a = stream(1, &[2, 3]).next_u64();
        assert_eq!(a, stream(1, &[2, 3]).next_u64());
        assert_ne!(a, stream(1, &[3, 2]).next_u64());
        assert_ne!(a, stream(2, &[2, 3]).next_u64());
    }
}

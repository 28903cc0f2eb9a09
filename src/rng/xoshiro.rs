//! The crate's generator, xoshiro256++ (Blackman & Vigna), and the same
//! generator run for several streams at once in SIMD lanes ([`Lanes`]).
//!
//! Written here rather than taken from `rand_xoshiro` because the batched
//! LIF trials ([`crate::spiking::simulate`]) run the streams of B trials
//! side by side and need the generator's state: they move each trial's
//! stream into a lane and draw the voltage noise of all B trials with one
//! vector update per word ([`Lanes::lane`] gives a lane's own draws). The output sequence, seeding
//! (`seed_from_u64` through SplitMix64) and `fill_bytes` are those of
//! `rand_xoshiro::Xoshiro256PlusPlus`, bit for bit (tested), so every
//! stream of the crate is unchanged.

use rand::rand_core::impls::fill_bytes_via_next;
use rand::{RngCore, SeedableRng};

/// The xoshiro256++ generator (outputs identical to
/// `rand_xoshiro::Xoshiro256PlusPlus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

/// One xoshiro256++ step on a state: the output, then the state update.
#[inline(always)]
fn step(s: &mut [u64; 4]) -> u64 {
    let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    out
}

impl Xoshiro256PlusPlus {
    /// The 256-bit state.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// The generator with state `s` (must not be all zero).
    pub fn from_state(s: [u64; 4]) -> Self {
        debug_assert!(s.iter().any(|&x| x != 0));
        Xoshiro256PlusPlus { s }
    }
}

impl RngCore for Xoshiro256PlusPlus {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        step(&mut self.s)
    }

    #[inline]
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_bytes_via_next(self, dest);
    }
}

impl SeedableRng for Xoshiro256PlusPlus {
    type Seed = [u8; 32];

    /// As `rand_xoshiro`: an all-zero seed is replaced by `seed_from_u64(0)`.
    fn from_seed(seed: [u8; 32]) -> Self {
        if seed.iter().all(|&x| x == 0) {
            return Self::seed_from_u64(0);
        }
        let mut s = [0u64; 4];
        for (w, c) in s.iter_mut().zip(seed.chunks_exact(8)) {
            *w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        Xoshiro256PlusPlus { s }
    }

    /// As `rand_xoshiro`: the seed bytes from SplitMix64 seeded with `seed`.
    fn seed_from_u64(seed: u64) -> Self {
        let mut sm = rand_xoshiro::SplitMix64::seed_from_u64(seed);
        Self::from_rng(&mut sm)
    }
}

/// `B` xoshiro256++ streams side by side (lane `b` = stream `b`), state
/// word-major so that one update of all lanes is a few vector operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lanes<const B: usize> {
    s: [[u64; B]; 4],
}

impl<const B: usize> Lanes<B> {
    /// Lanes holding the states of `gens` (lane b = `gens[b]`).
    pub fn new(gens: &[Xoshiro256PlusPlus; B]) -> Self {
        let mut s = [[0u64; B]; 4];
        for (b, g) in gens.iter().enumerate() {
            for (w, sw) in s.iter_mut().enumerate() {
                sw[b] = g.s[w];
            }
        }
        Lanes { s }
    }

    /// The generator of lane `b`, as it stands.
    pub fn get(&self, b: usize) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus {
            s: [self.s[0][b], self.s[1][b], self.s[2][b], self.s[3][b]],
        }
    }

    /// The next output of every lane (`out[b]` = lane b's `next_u64`).
    #[inline(always)]
    pub fn next_words(&mut self) -> [u64; B] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u64; B];
        for b in 0..B {
            out[b] = s0[b]
                .wrapping_add(s3[b])
                .rotate_left(23)
                .wrapping_add(s0[b]);
            let t = s1[b] << 17;
            s2[b] ^= s0[b];
            s3[b] ^= s1[b];
            s1[b] ^= s2[b];
            s0[b] ^= s3[b];
            s2[b] ^= t;
            s3[b] = s3[b].rotate_left(45);
        }
        out
    }

    /// Lane `b` as a generator: its draws advance that lane only.
    pub fn lane(&mut self, b: usize) -> Lane<'_, B> {
        Lane { lanes: self, b }
    }
}

impl Lanes<4> {
    /// [`Lanes::next_words`] for every entry of `words`, the four lanes in one
    /// AVX2 register per state word (xoshiro256++ has no multiplication, so
    /// the update is eleven vector operations).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub unsafe fn fill_avx2(&mut self, words: &mut [[u64; 4]]) {
        use std::arch::x86_64::*;
        let mut s = self.regs();
        for w in words.iter_mut() {
            _mm256_storeu_si256(w.as_mut_ptr() as *mut __m256i, x86::step4(&mut s));
        }
        self.set_regs(s);
    }

    /// The state as four registers (state word w of the four lanes in
    /// register w), for [`x86::step4`].
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) unsafe fn regs(&self) -> [std::arch::x86_64::__m256i; 4] {
        use std::arch::x86_64::*;
        let p = self.s.as_ptr() as *const __m256i;
        [
            _mm256_loadu_si256(p),
            _mm256_loadu_si256(p.add(1)),
            _mm256_loadu_si256(p.add(2)),
            _mm256_loadu_si256(p.add(3)),
        ]
    }

    /// Store registers from [`Lanes::regs`] back.
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) unsafe fn set_regs(&mut self, s: [std::arch::x86_64::__m256i; 4]) {
        use std::arch::x86_64::*;
        let p = self.s.as_mut_ptr() as *mut __m256i;
        for (w, sw) in s.into_iter().enumerate() {
            _mm256_storeu_si256(p.add(w), sw);
        }
    }
}

/// The vector step of [`Lanes`].
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// One [`super::Lanes::next_words`] of four lanes held in registers
    /// ([`super::Lanes::regs`]): returns the four output words.
    ///
    /// # Safety
    /// The CPU must support AVX2 (the caller's target features).
    #[inline(always)]
    pub(crate) unsafe fn step4(s: &mut [__m256i; 4]) -> __m256i {
        let [s0, s1, s2, s3] = s;
        let sum = _mm256_add_epi64(*s0, *s3);
        let rot = _mm256_or_si256(_mm256_slli_epi64::<23>(sum), _mm256_srli_epi64::<41>(sum));
        let out = _mm256_add_epi64(rot, *s0);
        let t = _mm256_slli_epi64::<17>(*s1);
        *s2 = _mm256_xor_si256(*s2, *s0);
        *s3 = _mm256_xor_si256(*s3, *s1);
        *s1 = _mm256_xor_si256(*s1, *s2);
        *s0 = _mm256_xor_si256(*s0, *s3);
        *s2 = _mm256_xor_si256(*s2, t);
        *s3 = _mm256_or_si256(_mm256_slli_epi64::<45>(*s3), _mm256_srli_epi64::<19>(*s3));
        out
    }
}

/// One lane of [`Lanes`] borrowed as an [`RngCore`].
pub struct Lane<'a, const B: usize> {
    lanes: &'a mut Lanes<B>,
    b: usize,
}

impl<const B: usize> RngCore for Lane<'_, B> {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let b = self.b;
        let s = &mut self.lanes.s;
        let mut st = [s[0][b], s[1][b], s[2][b], s[3][b]];
        let out = step(&mut st);
        for (w, x) in st.into_iter().enumerate() {
            s[w][b] = x;
        }
        out
    }

    #[inline]
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_bytes_via_next(self, dest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn same_outputs_as_rand_xoshiro() {
        for seed in [0u64, 1, 7, 0xdead_beef, u64::MAX] {
            let mut a = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut b = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
            for _ in 0..100 {
                assert_eq!(a.next_u64(), b.next_u64());
                assert_eq!(a.next_u32(), b.next_u32());
                assert_eq!(a.random::<f64>(), b.random::<f64>());
            }
            let (mut x, mut y) = ([0u8; 29], [0u8; 29]);
            a.fill_bytes(&mut x);
            b.fill_bytes(&mut y);
            assert_eq!(x, y);
            let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
            a.fill_bytes(&mut x);
            b.fill_bytes(&mut y);
            assert_eq!(x, y);
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let zero = Xoshiro256PlusPlus::from_seed([0; 32]);
        assert_eq!(zero, Xoshiro256PlusPlus::seed_from_u64(0));
        let mut seed = [0u8; 32];
        seed[3] = 9;
        let mut a = Xoshiro256PlusPlus::from_seed(seed);
        let mut b = rand_xoshiro::Xoshiro256PlusPlus::from_seed(seed);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn lanes_follow_their_streams() {
        let gens: [Xoshiro256PlusPlus; 3] =
            std::array::from_fn(|b| Xoshiro256PlusPlus::seed_from_u64(b as u64 + 10));
        let mut singles = gens.clone();
        let mut lanes = Lanes::new(&gens);
        for k in 0..50 {
            let w = lanes.next_words();
            for b in 0..3 {
                assert_eq!(w[b], singles[b].next_u64());
            }
            if k % 7 == 0 {
                let b = k % 3;
                assert_eq!(lanes.lane(b).next_u32(), singles[b].next_u32());
            }
        }
        for (b, s) in singles.iter().enumerate() {
            assert_eq!(&lanes.get(b), s);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_lanes_equal_portable_lanes() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let gens: [Xoshiro256PlusPlus; 4] =
            std::array::from_fn(|b| Xoshiro256PlusPlus::seed_from_u64(b as u64 * 3 + 1));
        let (mut a, mut b) = (Lanes::new(&gens), Lanes::new(&gens));
        let mut words = vec![[0u64; 4]; 37];
        for _ in 0..3 {
            // SAFETY: AVX2 checked above.
            unsafe { a.fill_avx2(&mut words) };
            for w in &words {
                assert_eq!(*w, b.next_words());
            }
        }
        assert_eq!(a, b);
    }
}

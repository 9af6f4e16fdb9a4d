//! Deterministic pseudo-random numbers for the simulator and for tests.
//!
//! The generator is xoshiro256** (Blackman and Vigna, "Scrambled Linear Pseudorandom Number
//! Generators"), with its 256-bit state expanded from a 64-bit seed by SplitMix64, the
//! seeding procedure its authors recommend. It is fast, has a period of 2^256 - 1 and passes
//! the usual statistical batteries, which is all a network simulator needs.
//!
//! It is NOT a cryptographic generator: nothing security-relevant (ISN secrets, SYN-cookie
//! keys) may be drawn from it. Those come from the embedding application (see `isn.rs`).

/// SplitMix64 golden-ratio increment (2^64 / phi, made odd).
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// One SplitMix64 step: advance `state` and return a well-mixed output.
///
/// Used only to expand seeds: consecutive outputs come from distinct counter values through a
/// bijective mixer, so four of them can never all be zero (xoshiro's only forbidden state).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(SPLITMIX_GAMMA);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded, reproducible pseudo-random number generator (xoshiro256**).
///
/// Two generators built from the same seed produce the same sequence forever, on every
/// platform: simulations that take an `Rng` are replayable from their seed.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole state is derived from `seed` through SplitMix64.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// Build directly from a raw state, for checking against published sequences.
    #[cfg(test)]
    fn from_state(s: [u64; 4]) -> Self {
        Rng { s }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        // The "**" scrambler: multiply, rotate, multiply, applied to s[1].
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        // The xoshiro linear engine: xor/shift/rotate on the four words.
        let t = s1 << 17;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = s3.rotate_left(45);
        self.s = [s0, s1, s2, s3];
        result
    }

    /// The next 32 bits. Takes the upper half, which for xoshiro-family generators is the
    /// better-mixed one.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `[0, 1)` with 53 bits of precision (every value is a multiple of 2^-53, so
    /// 1.0 itself is unreachable).
    pub fn next_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }

    /// Uniform in `[0, n)`; `n == 0` yields 0.
    ///
    /// Lemire's multiply-and-reject method: the high word of `x * n` is the candidate, and
    /// the low word tells whether `x` fell into the short, over-represented tail that must be
    /// rejected to keep the result exactly unbiased.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            // 2^64 mod n: the number of low-word values that would bias the result.
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `[lo, hi]`. If the bounds are given in the wrong order they are swapped,
    /// rather than panicking on caller input.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = hi - lo;
        if span == u64::MAX {
            // The whole u64 range: `span + 1` would overflow, and every value is valid.
            self.next_u64()
        } else {
            lo + self.below(span + 1)
        }
    }

    /// True with probability `p`. `p <= 0` (and NaN) is never, `p >= 1` is always; neither
    /// extreme consumes randomness, so toggling a 0%/100% knob does not shift the sequence.
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// Fill `buf` with random bytes (little-endian words, so the result is platform-independent).
    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let word = self.next_u64().to_le_bytes();
            for (dst, src) in rest.iter_mut().zip(word.iter()) {
                *dst = *src;
            }
        }
    }

    /// A new generator for a sub-component (a link, a host) whose sequence is statistically
    /// independent of this one's. It advances `self` by one draw, so successive forks differ
    /// and the whole tree of generators stays reproducible from the root seed.
    pub fn fork(&mut self) -> Rng {
        // Re-expanding one output through SplitMix64 lands the child at an unrelated point of
        // the 2^256 state space; the extra constant keeps `fork()` distinct from a caller who
        // happens to do `Rng::new(parent.next_u64())` by hand.
        Rng::new(self.next_u64() ^ 0x6a09_e667_f3bc_c908)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_output() {
        // Reference: SplitMix64 seeded with 0 starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn xoshiro_step_matches_hand_computation() {
        // State [1, 2, 3, 4]: the first output is rotl(2 * 5, 7) * 9 = 1280 * 9 = 11520, and
        // after one step s[1] becomes 2 ^ (3 ^ 1) = 0, so the second output is 0.
        let mut r = Rng::from_state([1, 2, 3, 4]);
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        // Later outputs as published for this state in common xoshiro256** test suites.
        assert_eq!(r.next_u64(), 1_509_978_240);
        assert_eq!(r.next_u64(), 1_215_971_899_390_074_240);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut ba = [0u8; 37];
        let mut bb = [0u8; 37];
        a.fill_bytes(&mut ba);
        b.fill_bytes(&mut bb);
        assert_eq!(ba, bb);
    }

    #[test]
    fn different_seeds_differ() {
        let seq = |seed| {
            let mut r = Rng::new(seed);
            (0..8).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_ne!(seq(0), seq(1));
        assert_ne!(seq(1), seq(2));
        assert_ne!(seq(0), seq(u64::MAX));
    }

    #[test]
    fn clone_continues_identically() {
        let mut a = Rng::new(7);
        a.next_u64();
        let mut b = a.clone();
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn below_bounds_and_rough_uniformity() {
        let mut r = Rng::new(1);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        for n in [2u64, 3, 7, 1000, u64::MAX] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        // 60_000 draws over 6 buckets: expect 10_000 each, sd ~ 91; allow a wide 5% margin.
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            let i = r.below(6) as usize;
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "bucket count {c}");
        }
        // n = 3 * 2^62: without the rejection step, the multiply-high map x -> x * 3/4
        // gives every k divisible by 3 two preimages and the others one, so k % 3 == 0
        // would come up half the time instead of a third.
        let n = 3u64 << 62;
        let zero_mod3 = (0..12_000).filter(|_| r.below(n) % 3 == 0).count();
        assert!(
            (3_700..=4_300).contains(&zero_mod3),
            "k%3==0 count {zero_mod3}"
        );
        // A bound just above 2^63 is where a naive `x % n` is most biased (values below
        // 2^64 - n would appear twice as often): the upper half must still get about half.
        let n = (1u64 << 63) + 1;
        let upper = (0..10_000).filter(|_| r.below(n) >= n / 2).count();
        assert!((4_700..=5_300).contains(&upper), "upper half {upper}");
    }

    #[test]
    fn range_inclusive_hits_both_ends_and_stays_inside() {
        let mut r = Rng::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.range_inclusive(10, 14);
            assert!((10..=14).contains(&v));
            if let Some(s) = seen.get_mut((v - 10) as usize) {
                *s = true;
            }
        }
        assert_eq!(seen, [true; 5]);
        assert_eq!(r.range_inclusive(9, 9), 9);
        let v = r.range_inclusive(14, 10);
        assert!((10..=14).contains(&v));
        // Full range must not overflow.
        let _ = r.range_inclusive(0, u64::MAX);
    }

    #[test]
    fn chance_extremes_and_rate() {
        let mut r = Rng::new(9);
        let before = r.clone().next_u64();
        for _ in 0..1000 {
            assert!(!r.chance(0.0));
            assert!(!r.chance(-1.0));
            assert!(!r.chance(f64::NAN));
            assert!(r.chance(1.0));
            assert!(r.chance(2.0));
        }
        // Extremes consume no randomness.
        assert_eq!(r.next_u64(), before);
        let hits = (0..20_000).filter(|_| r.chance(0.25)).count();
        assert!((4_700..=5_300).contains(&hits), "hits {hits}");
    }

    #[test]
    fn f64_in_unit_interval_and_spread() {
        let mut r = Rng::new(5);
        let mut lo = 0;
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            if x < 0.5 {
                lo += 1;
            }
        }
        assert!((4_700..=5_300).contains(&lo), "lower half {lo}");
    }

    #[test]
    fn next_u32_is_upper_half() {
        let mut a = Rng::new(11);
        let mut b = Rng::new(11);
        assert_eq!(u64::from(a.next_u32()), b.next_u64() >> 32);
    }

    #[test]
    fn fill_bytes_uses_little_endian_words_and_covers_tail() {
        let mut a = Rng::new(13);
        let mut b = Rng::new(13);
        let mut buf = [0u8; 11];
        a.fill_bytes(&mut buf);
        let w0 = b.next_u64().to_le_bytes();
        let w1 = b.next_u64().to_le_bytes();
        assert_eq!(&buf[..8], &w0);
        assert_eq!(&buf[8..], &w1[..3]);
        let mut empty: [u8; 0] = [];
        a.fill_bytes(&mut empty);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn fork_is_deterministic_and_independent() {
        let mut p1 = Rng::new(21);
        let mut p2 = Rng::new(21);
        let mut c1 = p1.fork();
        let mut c2 = p2.fork();
        // Reproducible.
        let s1: Vec<u64> = (0..16).map(|_| c1.next_u64()).collect();
        let s2: Vec<u64> = (0..16).map(|_| c2.next_u64()).collect();
        assert_eq!(s1, s2);
        // Different from the parent's continuation and from a second fork.
        let parent: Vec<u64> = (0..16).map(|_| p1.next_u64()).collect();
        assert_ne!(s1, parent);
        let mut c3 = p2.fork();
        let s3: Vec<u64> = (0..16).map(|_| c3.next_u64()).collect();
        assert_ne!(s1, s3);
        // And the parent advanced by exactly one draw.
        let mut fresh = Rng::new(21);
        fresh.next_u64();
        assert_eq!(fresh.next_u64(), parent[0]);
    }
}

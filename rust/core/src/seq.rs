//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 3.4, RFC 1982).
//!
//! Every comparison of sequence-space values in the crate goes through [`SeqNum`]; raw
//! `u32` arithmetic on sequence numbers is a bug waiting for the wrap at 2^32.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgement) number.
///
/// Ordering is circular: `a < b` iff `b - a`, computed mod 2^32, lies in `1..=2^31` (so two
/// numbers 2^31 apart are each less than the other).
/// Deliberately no `Ord`/`PartialOrd`: the order is not transitive over the whole space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    pub const fn new(raw: u32) -> Self {
        SeqNum(raw)
    }

    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Signed distance `self - other`, in `-2^31 ..= 2^31-1`.
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Bytes from `earlier` up to `self`, assuming `earlier <= self` (mod 2^32).
    pub const fn distance_from(self, earlier: SeqNum) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    pub const fn lt(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }

    pub const fn le(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }

    pub const fn gt(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }

    pub const fn ge(self, other: SeqNum) -> bool {
        self.diff(other) >= 0
    }

    pub const fn max(self, other: SeqNum) -> SeqNum {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    pub const fn min(self, other: SeqNum) -> SeqNum {
        if self.le(other) {
            self
        } else {
            other
        }
    }

    /// `start <= self < start + len` (mod 2^32). An empty window contains nothing.
    pub const fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.distance_from(start) < len
    }

    /// `lo <= self <= hi` (mod 2^32), for a range no longer than 2^31.
    pub const fn between_inclusive(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.ge(lo) && self.le(hi)
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_across_the_wrap() {
        let near_top = SeqNum(u32::MAX - 10);
        let wrapped = near_top + 20;
        assert_eq!(wrapped.raw(), 9);
        assert!(near_top.lt(wrapped));
        assert!(wrapped.gt(near_top));
        assert_eq!(wrapped.distance_from(near_top), 20);
        assert_eq!(wrapped.diff(near_top), 20);
        assert_eq!(near_top.diff(wrapped), -20);
        assert_eq!(near_top.max(wrapped), wrapped);
        assert_eq!(near_top.min(wrapped), near_top);
    }

    #[test]
    fn window_membership_across_the_wrap() {
        let start = SeqNum(u32::MAX - 1);
        assert!(start.in_window(start, 1));
        assert!(!start.in_window(start, 0));
        assert!(SeqNum(0).in_window(start, 3));
        assert!(!SeqNum(1).in_window(start, 3));
        assert!(!(start - 1).in_window(start, 3));
        assert!(SeqNum(2).between_inclusive(start, SeqNum(2)));
        assert!(!SeqNum(3).between_inclusive(start, SeqNum(2)));
    }

    proptest! {
        #[test]
        fn lt_is_antisymmetric_and_add_is_monotone(a: u32, d in 1u32..(1 << 31)) {
            let a = SeqNum(a);
            let b = a + d;
            prop_assert!(a.lt(b));
            prop_assert!(!b.lt(a));
            prop_assert!(b.gt(a) && b.ge(a) && a.le(b));
            prop_assert_eq!(b.distance_from(a), d);
            prop_assert_eq!(b - d, a);
        }

        #[test]
        fn in_window_matches_offset(start: u32, len: u32, off: u32) {
            let s = SeqNum(start);
            prop_assert_eq!((s + off).in_window(s, len), off < len);
        }
    }
}

//! The Internet checksum (RFC 1071) and the TCP pseudo-headers (RFC 9293 3.1, RFC 8200 8.1).
//!
//! The checksum is the ones'-complement of the ones'-complement sum of the data taken as
//! big-endian 16-bit words. RFC 1071 section 2 notes the sum is commutative and associative
//! and can be computed in wider words as long as the carries are folded back in at the end
//! ("end-around carry"), because 2^16 ≡ 1 (mod 2^16 - 1). We use that to add 64 bits at a
//! time with end-around carry, which is several times faster than a 16-bit loop.
//!
//! A sum is only meaningful modulo 2^16 - 1, so partial sums returned by [`sum`] can be
//! chained (`sum(b, sum(a, 0))`) as long as every chunk except the last has an even length:
//! an odd chunk would shift the byte alignment of everything after it.

use std::net::IpAddr;

/// Add 64-bit words with end-around carry: exact modulo 2^64 - 1, and hence modulo
/// 2^16 - 1, which is all the Internet checksum cares about.
#[inline(always)]
fn add_carry(acc: u64, word: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(word);
    s + u64::from(carry)
}

/// Fold a 64-bit end-around-carry sum down to 16 bits (still uncomplemented).
///
/// Folding preserves the value modulo 2^16 - 1 and never turns a non-zero sum into zero,
/// so an all-ones result (ones'-complement "negative zero") is reported as 0xffff.
#[inline(always)]
fn fold64(mut acc: u64) -> u32 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // Fits: the loop leaves at most 16 significant bits.
    acc as u32
}

/// Ones'-complement sum of `data` (as big-endian 16-bit words) added to `initial`.
///
/// An odd trailing byte is padded with a zero low byte (RFC 1071 section 4.1, "add left-over
/// byte, if any"). The result is folded to 16 bits, so sums can be added together freely
/// before calling [`fold`] without overflowing a `u32`.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);

    // Main loop: 32 bytes per iteration as four independent 64-bit adds. Each chunk has an
    // even length, so the 16-bit word alignment of the remainder is preserved.
    let mut big = data.chunks_exact(32);
    for chunk in &mut big {
        let (a, rest) = chunk.split_at(8);
        let (b, rest) = rest.split_at(8);
        let (c, d) = rest.split_at(8);
        acc = add_carry(acc, be64(a));
        acc = add_carry(acc, be64(b));
        acc = add_carry(acc, be64(c));
        acc = add_carry(acc, be64(d));
    }

    let mut words = big.remainder().chunks_exact(8);
    for chunk in &mut words {
        acc = add_carry(acc, be64(chunk));
    }

    let mut pairs = words.remainder().chunks_exact(2);
    for pair in &mut pairs {
        if let &[hi, lo] = pair {
            acc = add_carry(acc, u64::from(u16::from_be_bytes([hi, lo])));
        }
    }
    if let &[last] = pairs.remainder() {
        acc = add_carry(acc, u64::from(u16::from_be_bytes([last, 0])));
    }

    fold64(acc)
}

/// Read eight bytes as a big-endian `u64`. Callers pass exactly 8 bytes (chunks_exact);
/// anything else contributes zero rather than panicking.
#[inline(always)]
fn be64(bytes: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(bytes) {
        Ok(b) => u64::from_be_bytes(b),
        Err(_) => 0,
    }
}

/// Fold carries into 16 bits and complement: the value to put in a checksum field.
///
/// When verifying, run [`sum`] over data that includes the received checksum field: the
/// data is intact iff `fold` of that sum is 0.
pub fn fold(sum: u32) -> u16 {
    !(fold64(u64::from(sum)) as u16)
}

/// The Internet checksum of `data`: `fold(sum(data, 0))`.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum(data, 0))
}

/// Sum of the TCP/UDP pseudo-header.
///
/// * IPv4 (RFC 9293 3.1): source, destination, a zero byte, the protocol, and the 16-bit
///   TCP length (header plus data).
/// * IPv6 (RFC 8200 8.1): source, destination, the 32-bit upper-layer packet length, three
///   zero bytes, and the next header value.
///
/// Zero bytes contribute nothing, and a 32-bit length sums to the same value as its two
/// 16-bit halves, so both layouts reduce to "addresses + protocol + length". Callers
/// guarantee both addresses are of the same family; if they are not, this simply sums the
/// addresses it is given (no v4-mapping).
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u32 {
    let mut acc = 0u32;
    for addr in [src, dst] {
        acc = match addr {
            IpAddr::V4(a) => sum(&a.octets(), acc),
            IpAddr::V6(a) => sum(&a.octets(), acc),
        };
    }
    // acc <= 0xffff after `sum`, so these additions cannot overflow a u32.
    let total = acc + u32::from(protocol) + (length >> 16) + (length & 0xffff);
    fold64(u64::from(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The obvious 16-bit-at-a-time definition, to check the fast path against.
    fn reference_sum(data: &[u8]) -> u32 {
        let mut acc: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair.first().copied().unwrap_or(0));
            let lo = u64::from(pair.get(1).copied().unwrap_or(0));
            acc += (hi << 8) | lo;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u32
    }

    #[test]
    fn rfc1071_worked_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (after folding the
        // carry 2 from 2ddf0), so the checksum is ~ddf2 = 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data, 0), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
        // RFC 1071 section 2(B): byte order independence; the byte-swapped sum is f2dd.
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(sum(&swapped, 0), 0xf2dd);
    }

    #[test]
    fn known_ipv4_header() {
        // A widely used textbook IPv4 header (192.168.0.1 -> 192.168.0.199, UDP, DF) whose
        // checksum is b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10] = 0xb8;
        hdr[11] = 0x61;
        assert_eq!(
            checksum(&hdr),
            0,
            "a header including its checksum verifies to 0"
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn carries_are_folded() {
        // 0xffff + 0x0001 = 0x10000 -> end-around carry -> 0x0001.
        assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01], 0), 0x0001);
        // Non-zero data whose sum is 0 mod 0xffff is "negative zero", never 0.
        assert_eq!(sum(&[0xff, 0xff], 0), 0xffff);
        assert_eq!(sum(&[0xff; 64], 0), 0xffff);
        assert_eq!(fold(0xffff), 0);
        assert_eq!(fold(0x0001_fffe), 0);
        assert_eq!(fold(0), 0xffff);
    }

    #[test]
    fn initial_value_is_added() {
        assert_eq!(sum(&[0x00, 0x01], 0x1234), 0x1235);
        assert_eq!(sum(&[], 0xffff_ffff), 0xffff);
    }

    #[test]
    fn pseudo_header_v4_matches_explicit_layout() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 1, 200);
        let mut explicit = Vec::new();
        explicit.extend_from_slice(&src.octets());
        explicit.extend_from_slice(&dst.octets());
        explicit.extend_from_slice(&[0, 6]);
        explicit.extend_from_slice(&1234u16.to_be_bytes());
        assert_eq!(
            pseudo_header_sum(src.into(), dst.into(), 6, 1234),
            sum(&explicit, 0)
        );
    }

    #[test]
    fn pseudo_header_v6_matches_explicit_layout() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "fe80::abcd:ef01:2345:6789".parse().unwrap();
        let mut explicit = Vec::new();
        explicit.extend_from_slice(&src.octets());
        explicit.extend_from_slice(&dst.octets());
        explicit.extend_from_slice(&70_000u32.to_be_bytes());
        explicit.extend_from_slice(&[0, 0, 0, 6]);
        assert_eq!(
            pseudo_header_sum(src.into(), dst.into(), 6, 70_000),
            sum(&explicit, 0)
        );
    }

    proptest! {
        #[test]
        fn fast_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&data, 0), reference_sum(&data));
        }

        #[test]
        fn sums_chain_over_even_splits(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            split in 0usize..150,
        ) {
            let split = (split * 2).min(data.len() & !1);
            let (a, b) = data.split_at(split);
            prop_assert_eq!(fold(sum(b, sum(a, 0))), checksum(&data));
        }

        #[test]
        fn data_with_its_checksum_verifies(mut data in proptest::collection::vec(any::<u8>(), 2..300)) {
            // Treat the first two bytes as the checksum field, as in real headers.
            data[0] = 0;
            data[1] = 0;
            let c = checksum(&data);
            data[..2].copy_from_slice(&c.to_be_bytes());
            prop_assert_eq!(checksum(&data), 0);
        }
    }
}

//! Initial sequence number selection (RFC 9293 3.4.1, RFC 6528 section 3).
//!
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`, where M is a clock
//! ticking every 4 microseconds and F a keyed pseudorandom function of the connection
//! identifier. The clock part keeps successive incarnations of the same 4-tuple moving
//! forward through sequence space (so old duplicates are unlikely to fall into a new
//! connection's window); the keyed part makes ISNs of unrelated connections unpredictable
//! to an off-path attacker (RFC 6528 section 3: F "MUST NOT be computable from the outside").
//!
//! F is SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF"), a keyed
//! PRF designed for exactly this kind of short input, truncated to 32 bits.

use crate::seq::SeqNum;
use core::fmt;
use std::net::{IpAddr, SocketAddr};

/// One SipRound of the four-word ARX permutation.
fn sip_round(v: &mut [u64; 4]) {
    let [mut v0, mut v1, mut v2, mut v3] = *v;
    v0 = v0.wrapping_add(v1);
    v1 = v1.rotate_left(13);
    v1 ^= v0;
    v0 = v0.rotate_left(32);
    v2 = v2.wrapping_add(v3);
    v3 = v3.rotate_left(16);
    v3 ^= v2;
    v0 = v0.wrapping_add(v3);
    v3 = v3.rotate_left(21);
    v3 ^= v0;
    v2 = v2.wrapping_add(v1);
    v1 = v1.rotate_left(17);
    v1 ^= v2;
    v2 = v2.rotate_left(32);
    *v = [v0, v1, v2, v3];
}

/// Absorb one message word: two compression SipRounds ("2" of SipHash-2-4).
fn absorb(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/// Little-endian u64 from up to 8 bytes (missing high bytes are zero).
fn le_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    for (dst, src) in word.iter_mut().zip(bytes) {
        *dst = *src;
    }
    u64::from_le_bytes(word)
}

/// SipHash-2-4 of `data` under the 128-bit `key` (two compression rounds per 8-byte block,
/// four finalization rounds).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let (k0_bytes, k1_bytes) = key.split_at(8);
    let k0 = le_u64(k0_bytes);
    let k1 = le_u64(k1_bytes);
    // Initialisation constants: "somepseudorandomlygeneratedbytes" in ASCII.
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        absorb(&mut v, le_u64(block));
    }
    // The last block carries the remaining 0..=7 bytes and, in its top byte, the message
    // length mod 256, so messages differing only by trailing zero bytes hash differently.
    let last = le_u64(blocks.remainder()) | ((data.len() as u64 & 0xff) << 56);
    absorb(&mut v, last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Longest connection-id encoding: two (tag, IPv6 address, port) triples.
pub(crate) const MAX_TUPLE_LEN: usize = 2 * (1 + 16 + 2);

/// Serialise the connection identifier unambiguously: each endpoint is a family tag (4 or
/// 6) followed by its address (whose length the tag fixes) and its port, local first. No two
/// distinct (local, remote) pairs share an encoding, so F sees distinct inputs for distinct
/// connections. An IPv4-mapped IPv6 address is deliberately a *different* endpoint from the
/// plain IPv4 one; callers that treat them as the same should canonicalise first. The IPv6
/// flow label and scope id are not part of the TCP connection identifier and are excluded.
pub(crate) fn encode_tuple(local: SocketAddr, remote: SocketAddr) -> ([u8; MAX_TUPLE_LEN], usize) {
    let mut buf = [0u8; MAX_TUPLE_LEN];
    let mut len = 0;
    for addr in [local, remote] {
        let (tag, octets, n): (u8, [u8; 16], usize) = match addr.ip() {
            IpAddr::V4(ip) => {
                let mut o = [0u8; 16];
                for (dst, src) in o.iter_mut().zip(ip.octets()) {
                    *dst = src;
                }
                (4, o, 4)
            }
            IpAddr::V6(ip) => (6, ip.octets(), 16),
        };
        let port = addr.port().to_be_bytes();
        let fields = core::iter::once(tag)
            .chain(octets.into_iter().take(n))
            .chain(port);
        for byte in fields {
            if let Some(slot) = buf.get_mut(len) {
                *slot = byte;
                len += 1;
            }
        }
    }
    (buf, len)
}

/// A 128-bit key for another use of the same secret (SYN cookies, say), so that a caller
/// draws one key and no output of one use is an output of the other. Each half is SipHash
/// of `label` and the half's number under `key`: a PRF's outputs on distinct inputs are
/// independent-looking, and a label never reads as a tuple encoding (those begin with the
/// family tag 4 or 6 and are 14, 26 or 38 bytes long), so these inputs are distinct from
/// every ISN's. Labels must begin with a byte other than 4 and 6.
pub fn derive_key(key: &[u8; 16], label: &[u8]) -> [u8; 16] {
    let mut msg = Vec::with_capacity(label.len() + 1);
    msg.extend_from_slice(label);
    msg.push(0);
    let lo = siphash24(key, &msg);
    if let Some(last) = msg.last_mut() {
        *last = 1;
    }
    let hi = siphash24(key, &msg);
    let mut out = [0u8; 16];
    for (dst, src) in out
        .iter_mut()
        .zip(lo.to_le_bytes().into_iter().chain(hi.to_le_bytes()))
    {
        *dst = src;
    }
    out
}

/// RFC 6528 ISN generator. Holds the secret key; cheap to clone.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl IsnGenerator {
    /// `key` must come from a cryptographically secure source and stay secret: anyone who
    /// knows it can predict every ISN (RFC 6528 section 3 recommends 128 bits, as here).
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator { key }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now_us`.
    pub fn isn(&self, now_us: u64, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        // M: the 4 µs clock of RFC 9293 3.4.1. Only its low 32 bits matter since sequence
        // space is mod 2^32, so truncation is the intended wrap.
        let m = (now_us / 4) as u32;
        let (buf, len) = encode_tuple(local, remote);
        let tuple = buf.get(..len).unwrap_or(&buf);
        // F truncated to the 32 bits of sequence space.
        let f = siphash24(&self.key, tuple) as u32;
        SeqNum(m.wrapping_add(f))
    }
}

impl fmt::Debug for IsnGenerator {
    // The key is the whole secret (RFC 6528 section 3); never let it leak into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsnGenerator")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Per-connection offsets of the TCP timestamp clock (RFC 7323 5.4, last bullet: "A random
/// offset may be added to the timestamp clock on a per-connection basis. See [RFC6528],
/// Section 3 ... The same function with a different secret key can be used"; 7.1
/// RECOMMENDS it, so that TSvals do not reveal the host's clock). F of RFC 6528 under a key
/// derived for this use, without the clock term: the timestamp clock is added by the
/// connection. A function of the 4-tuple only, so a SYN cookie's connection, rebuilt with no
/// state kept, gets the offset its SYN-ACK used, and successive incarnations of a 4-tuple
/// keep one clock (its TSvals keep growing, as PAWS across incarnations would want).
#[derive(Clone)]
pub struct TsOffsetGenerator {
    key: [u8; 16],
}

/// The key label for `derive_key` (distinct from every other use of the ISN key).
const TS_OFFSET_LABEL: &[u8] = b"ferrotcp timestamp offset key";

impl TsOffsetGenerator {
    /// Offsets under a key derived from `isn_key` (see `derive_key`).
    pub fn new(isn_key: &[u8; 16]) -> Self {
        TsOffsetGenerator {
            key: derive_key(isn_key, TS_OFFSET_LABEL),
        }
    }

    /// The offset of connection `local` to `remote`.
    pub fn offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let (buf, len) = encode_tuple(local, remote);
        // Truncated to the 32 bits of the timestamp clock.
        siphash24(&self.key, buf.get(..len).unwrap_or(&buf)) as u32
    }
}

impl fmt::Debug for TsOffsetGenerator {
    // Whoever holds the key can tell offsets apart, i.e. read our clock off TSvals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsOffsetGenerator")
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    fn seq_key() -> [u8; 16] {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        k
    }

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::from(a), port))
    }

    #[test]
    fn siphash_reference_vectors() {
        let key = seq_key();
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(&key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn siphash_is_sensitive_to_length_and_key() {
        let key = seq_key();
        // Trailing zero bytes change the hash (the length byte is mixed in).
        assert_ne!(siphash24(&key, &[0]), siphash24(&key, &[0, 0]));
        assert_ne!(siphash24(&key, &[]), siphash24(&key, &[0]));
        // Exactly one block, then a block plus one byte.
        let eight = [1u8; 8];
        let nine = [1u8; 9];
        assert_ne!(siphash24(&key, &eight), siphash24(&key, &nine));
        let mut other = key;
        other[15] ^= 1;
        assert_ne!(siphash24(&key, &eight), siphash24(&other, &eight));
    }

    #[test]
    fn same_tuple_same_time_same_isn() {
        let g = IsnGenerator::new([7; 16]);
        let l = v4([10, 0, 0, 1], 40000);
        let r = v4([10, 0, 0, 2], 80);
        assert_eq!(g.isn(123_456, l, r), g.isn(123_456, l, r));
        // A clone (e.g. handed to another listener) agrees.
        assert_eq!(g.clone().isn(123_456, l, r), g.isn(123_456, l, r));
    }

    #[test]
    fn isn_ticks_once_per_four_microseconds() {
        let g = IsnGenerator::new([42; 16]);
        let l = v4([192, 0, 2, 1], 1234);
        let r = v4([198, 51, 100, 7], 443);
        let base = g.isn(1_000_000, l, r);
        // Constant within one 4 µs tick.
        for dt in 1..4 {
            assert_eq!(g.isn(1_000_000 + dt, l, r), base);
        }
        for k in [1u64, 2, 3, 250, 1_000_000] {
            let later = g.isn(1_000_000 + 4 * k, l, r);
            assert_eq!(later.distance_from(base), k as u32);
        }
        // M wraps mod 2^32: 2^32 ticks later the ISN is back where it started.
        assert_eq!(g.isn(1_000_000 + 4 * (1u64 << 32), l, r), base);
        // And far in the future the arithmetic still does not overflow.
        let _ = g.isn(u64::MAX, l, r);
    }

    #[test]
    fn different_tuples_give_different_isns() {
        let g = IsnGenerator::new([9; 16]);
        let now = 77_777;
        let l = v4([10, 0, 0, 1], 40000);
        let r = v4([10, 0, 0, 2], 80);
        let mapped = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(), 40000));
        let variants = [
            (l, r),
            (r, l),                                            // swapped roles
            (v4([10, 0, 0, 1], 40001), r),                     // local port
            (l, v4([10, 0, 0, 2], 81)),                        // remote port
            (v4([10, 0, 0, 3], 40000), r),                     // local address
            (l, v4([10, 0, 0, 4], 80)),                        // remote address
            (v4([10, 0, 0, 1], 80), v4([10, 0, 0, 2], 40000)), // ports exchanged
            (mapped, r), // IPv4-mapped IPv6 is a distinct family
        ];
        let isns: Vec<SeqNum> = variants.iter().map(|(a, b)| g.isn(now, *a, *b)).collect();
        for (i, a) in isns.iter().enumerate() {
            for (j, b) in isns.iter().enumerate() {
                if i != j {
                    assert_ne!(a, b, "variants {i} and {j} collide");
                }
            }
        }
    }

    #[test]
    fn different_keys_give_different_isns() {
        let l = v4([10, 0, 0, 1], 40000);
        let r = v4([10, 0, 0, 2], 80);
        let a = IsnGenerator::new([1; 16]).isn(0, l, r);
        let b = IsnGenerator::new([2; 16]).isn(0, l, r);
        let mut k = [1; 16];
        k[0] = 0;
        let c = IsnGenerator::new(k).isn(0, l, r);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn isn_is_m_plus_truncated_siphash_of_encoding() {
        let key = seq_key();
        let g = IsnGenerator::new(key);
        let l = v4([1, 2, 3, 4], 0x0506);
        let r = v4([7, 8, 9, 10], 0x0b0c);
        let expected_input = [4, 1, 2, 3, 4, 5, 6, 4, 7, 8, 9, 10, 11, 12];
        let f = siphash24(&key, &expected_input) as u32;
        assert_eq!(g.isn(40, l, r), SeqNum(f.wrapping_add(10)));
    }

    #[test]
    fn tuple_encoding_is_unambiguous() {
        let (b4, n4) = encode_tuple(v4([0, 0, 0, 0], 0), v4([0, 0, 0, 0], 0));
        assert_eq!(n4, 14);
        assert_eq!(&b4[..n4], &[4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
        let six = |port| SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0));
        let (b6, n6) = encode_tuple(six(1), six(2));
        assert_eq!(n6, MAX_TUPLE_LEN);
        assert_eq!(b6[0], 6);
        assert_eq!(b6[19], 6);
        assert_eq!(&b6[17..19], &[0, 1]);
        assert_eq!(&b6[36..38], &[0, 2]);
        // Mixed families: lengths differ, tags differ.
        let (bm, nm) = encode_tuple(v4([127, 0, 0, 1], 1), six(2));
        assert_eq!(nm, 7 + 19);
        assert_eq!(bm[7], 6);
        // Scope id / flow info do not change the encoding (not part of the 4-tuple).
        let scoped = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 5, 3));
        assert_eq!(encode_tuple(scoped, six(2)), encode_tuple(six(1), six(2)));
    }

    #[test]
    fn derived_keys_differ_by_label_and_from_the_key() {
        let key = seq_key();
        let a = derive_key(&key, b"ferrotcp test a");
        let b = derive_key(&key, b"ferrotcp test b");
        assert_ne!(a, b);
        assert_ne!(a, key);
        assert_eq!(a, derive_key(&key, b"ferrotcp test a"));
        assert_ne!(a, derive_key(&[1; 16], b"ferrotcp test a"));
        // The two halves come from distinct inputs.
        assert_ne!(a[..8], a[8..]);
    }

    #[test]
    fn debug_does_not_print_key() {
        let g = IsnGenerator::new([0xab; 16]);
        let s = format!("{g:?}");
        assert!(s.contains("IsnGenerator"));
        assert!(!s.contains("171"), "decimal key byte leaked: {s}");
        assert!(
            !s.to_lowercase().contains("ab, "),
            "hex key bytes leaked: {s}"
        );
        assert!(!s.contains('['), "an array was printed: {s}");
    }

    #[test]
    fn ts_offsets_depend_on_the_tuple_and_key_only() {
        let g = TsOffsetGenerator::new(&[7; 16]);
        let l = v4([10, 0, 0, 1], 40000);
        let r = v4([10, 0, 0, 2], 80);
        assert_eq!(g.offset(l, r), g.clone().offset(l, r));
        assert_ne!(g.offset(l, r), g.offset(l, v4([10, 0, 0, 2], 81)));
        assert_ne!(g.offset(l, r), g.offset(r, l));
        assert_ne!(
            g.offset(l, r),
            TsOffsetGenerator::new(&[8; 16]).offset(l, r)
        );
        // Not the ISN's F under the same key: an offset says nothing about ISNs.
        assert_ne!(g.offset(l, r), IsnGenerator::new([7; 16]).isn(0, l, r).0);
        let s = format!("{g:?}");
        assert!(s.contains("redacted") && !s.contains('['), "{s}");
    }
}

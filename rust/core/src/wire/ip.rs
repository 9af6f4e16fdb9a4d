//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers, just enough to carry TCP.
//!
//! Parsing validates the fields that decide where the payload is and whether it can be
//! trusted; it does not reassemble IPv4 fragments or walk IPv6 extension headers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::tcp::TcpRepr;
use super::{checksum, WireError};

/// IP protocol number of TCP (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_TCP: u8 = 6;

/// Length of an IPv4 header without options (IHL = 5, RFC 791 3.1).
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the fixed IPv6 header (RFC 8200 3).
pub const IPV6_HEADER_LEN: usize = 40;

/// Largest value of the 16-bit IPv4 total length / IPv6 payload length fields.
const MAX_IP_LEN: usize = 0xffff;

/// TTL / hop limit for packets we originate (RFC 1122 3.2.1.7 asks for a configurable
/// default; 64 is the common choice).
const DEFAULT_TTL: u8 = 64;

/// IPv4 flags/fragment-offset word with only Don't Fragment set (RFC 791 3.1): TCP does
/// its own segmentation and path MTU discovery (RFC 9293 3.7.2) relies on DF.
const IPV4_DF: u16 = 0x4000;
const IPV4_MF: u16 = 0x2000;
const IPV4_FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The fields of an IPv4 header this stack uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// Bytes after the header (total length minus header length).
    pub payload_len: usize,
}

/// The fields of an IPv6 header this stack uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    /// Bytes after the fixed 40-byte header.
    pub payload_len: usize,
}

/// An IPv4 or IPv6 header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IpRepr {
    V4(Ipv4Repr),
    V6(Ipv6Repr),
}

impl IpRepr {
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src),
            IpRepr::V6(r) => IpAddr::V6(r.src),
        }
    }

    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst),
            IpRepr::V6(r) => IpAddr::V6(r.dst),
        }
    }

    /// The upper-layer protocol: IPv4 protocol or IPv6 next header.
    pub fn protocol(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// Header length as emitted: 20 for IPv4 (no options are ever sent), 40 for IPv6.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(_) => IPV4_HEADER_LEN,
            IpRepr::V6(_) => IPV6_HEADER_LEN,
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// Parse an IP header and return it with its payload (exactly `payload_len` bytes).
    ///
    /// * The version nibble must be 4 or 6 (`BadVersion`).
    /// * IPv4 (RFC 791 3.1): IHL at least 5 and within the buffer (`BadHeaderLength`);
    ///   options are skipped; total length covers the header and fits the buffer
    ///   (`BadTotalLength`), bytes past it (link-layer padding) are ignored; the header
    ///   checksum must verify (`BadIpChecksum`). Fragments are not reassembled: they are
    ///   returned as-is, and the TCP checksum, which covers the whole segment, rejects
    ///   them later. [`is_ipv4_fragment`] lets a caller count or drop them earlier.
    /// * IPv6 (RFC 8200 3): the payload length must fit the buffer (`BadTotalLength`).
    ///   Extension headers are not walked: `next_header` is returned as found. A payload
    ///   length of 0 (jumbogram, RFC 2675) is not supported and yields an empty payload.
    pub fn parse(bytes: &[u8]) -> Result<(IpRepr, &[u8]), WireError> {
        let first = *bytes.first().ok_or(WireError::Truncated)?;
        match first >> 4 {
            4 => parse_v4(bytes),
            6 => parse_v6(bytes),
            _ => Err(WireError::BadVersion),
        }
    }

    /// Write the header (only) to the start of `buf`; returns its length.
    ///
    /// IPv4: no options, TOS 0, identification 0 and DF set (RFC 6864 4.1 allows a zero ID
    /// for atomic datagrams), correct header checksum. IPv6: traffic class and flow label
    /// 0. `PayloadTooLarge` if the length does not fit the 16-bit length field.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        match self {
            IpRepr::V4(r) => emit_v4(r, buf),
            IpRepr::V6(r) => emit_v6(r, buf),
        }
    }
}

/// Whether an IPv4 header (as passed to [`IpRepr::parse`]) is a fragment: MF set or a
/// non-zero fragment offset (RFC 791 3.2). `false` for anything that is not IPv4.
pub fn is_ipv4_fragment(bytes: &[u8]) -> bool {
    match (bytes.first(), bytes.get(6), bytes.get(7)) {
        (Some(&b0), Some(&hi), Some(&lo)) if b0 >> 4 == 4 => {
            let word = u16::from_be_bytes([hi, lo]);
            word & IPV4_MF != 0 || word & IPV4_FRAG_OFFSET_MASK != 0
        }
        _ => false,
    }
}

fn parse_v4(bytes: &[u8]) -> Result<(IpRepr, &[u8]), WireError> {
    let hdr: &[u8; IPV4_HEADER_LEN] = bytes
        .get(..IPV4_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::Truncated)?;
    let header_len = usize::from(hdr[0] & 0x0f) * 4;
    if header_len < IPV4_HEADER_LEN || header_len > bytes.len() {
        return Err(WireError::BadHeaderLength);
    }
    let total_len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if total_len < header_len || total_len > bytes.len() {
        return Err(WireError::BadTotalLength);
    }
    // The checksum covers the whole header including options (RFC 791 3.1).
    let full_header = bytes.get(..header_len).ok_or(WireError::BadHeaderLength)?;
    if checksum::checksum(full_header) != 0 {
        return Err(WireError::BadIpChecksum);
    }
    let payload = bytes
        .get(header_len..total_len)
        .ok_or(WireError::BadTotalLength)?;
    let repr = Ipv4Repr {
        src: Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]),
        dst: Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]),
        protocol: hdr[9],
        ttl: hdr[8],
        payload_len: payload.len(),
    };
    Ok((IpRepr::V4(repr), payload))
}

fn parse_v6(bytes: &[u8]) -> Result<(IpRepr, &[u8]), WireError> {
    let hdr: &[u8; IPV6_HEADER_LEN] = bytes
        .get(..IPV6_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::Truncated)?;
    let payload_len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let payload = bytes
        .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len)
        .ok_or(WireError::BadTotalLength)?;
    let addr = |at: usize| -> Result<Ipv6Addr, WireError> {
        hdr.get(at..at + 16)
            .and_then(|a| <[u8; 16]>::try_from(a).ok())
            .map(Ipv6Addr::from)
            .ok_or(WireError::Truncated)
    };
    let repr = Ipv6Repr {
        src: addr(8)?,
        dst: addr(24)?,
        next_header: hdr[6],
        hop_limit: hdr[7],
        payload_len,
    };
    Ok((IpRepr::V6(repr), payload))
}

fn emit_v4(r: &Ipv4Repr, buf: &mut [u8]) -> Result<usize, WireError> {
    let total = r
        .payload_len
        .checked_add(IPV4_HEADER_LEN)
        .filter(|&t| t <= MAX_IP_LEN)
        .ok_or(WireError::PayloadTooLarge)?;
    let hdr: &mut [u8; IPV4_HEADER_LEN] = buf
        .get_mut(..IPV4_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::BufferTooSmall)?;
    hdr[0] = 0x45; // version 4, IHL 5
    hdr[1] = 0; // DSCP/ECN
    hdr[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    hdr[4..6].copy_from_slice(&[0, 0]); // identification
    hdr[6..8].copy_from_slice(&IPV4_DF.to_be_bytes());
    hdr[8] = r.ttl;
    hdr[9] = r.protocol;
    hdr[10..12].copy_from_slice(&[0, 0]); // checksum, zero while summing
    hdr[12..16].copy_from_slice(&r.src.octets());
    hdr[16..20].copy_from_slice(&r.dst.octets());
    let csum = checksum::checksum(hdr);
    hdr[10..12].copy_from_slice(&csum.to_be_bytes());
    Ok(IPV4_HEADER_LEN)
}

fn emit_v6(r: &Ipv6Repr, buf: &mut [u8]) -> Result<usize, WireError> {
    let payload_len = u16::try_from(r.payload_len).map_err(|_| WireError::PayloadTooLarge)?;
    let hdr: &mut [u8; IPV6_HEADER_LEN] = buf
        .get_mut(..IPV6_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::BufferTooSmall)?;
    hdr[0..4].copy_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    hdr[4..6].copy_from_slice(&payload_len.to_be_bytes());
    hdr[6] = r.next_header;
    hdr[7] = r.hop_limit;
    hdr[8..24].copy_from_slice(&r.src.octets());
    hdr[24..40].copy_from_slice(&r.dst.octets());
    Ok(IPV6_HEADER_LEN)
}

/// Build a complete IPv4 or IPv6 packet carrying `tcp` from `src` to `dst` (TTL / hop
/// limit 64), replacing the contents of `out`.
///
/// `AddressFamilyMismatch` if the families differ; `PayloadTooLarge` if the packet would
/// not fit the 16-bit IP length field. On error `out` is left empty.
pub fn build_tcp_packet(
    src: IpAddr,
    dst: IpAddr,
    tcp: &TcpRepr<'_>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    out.clear();
    let tcp_len = tcp.buffer_len();
    let ip = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => IpRepr::V4(Ipv4Repr {
            src,
            dst,
            protocol: PROTO_TCP,
            ttl: DEFAULT_TTL,
            payload_len: tcp_len,
        }),
        (IpAddr::V6(src), IpAddr::V6(dst)) => IpRepr::V6(Ipv6Repr {
            src,
            dst,
            next_header: PROTO_TCP,
            hop_limit: DEFAULT_TTL,
            payload_len: tcp_len,
        }),
        _ => return Err(WireError::AddressFamilyMismatch),
    };
    let header_len = ip.header_len();
    let total = header_len + tcp_len;
    // Check the size before allocating, so an oversized request costs nothing.
    let fits = match ip {
        IpRepr::V4(_) => total <= MAX_IP_LEN,
        IpRepr::V6(_) => tcp_len <= MAX_IP_LEN,
    };
    if !fits {
        return Err(WireError::PayloadTooLarge);
    }
    // One allocation at most; the zero fill is the price of staying in safe Rust.
    out.resize(total, 0);
    let result = ip.emit(out).and_then(|n| {
        let seg = out.get_mut(n..).ok_or(WireError::BufferTooSmall)?;
        tcp.emit(seg, src, dst)
    });
    if let Err(e) = result {
        out.clear();
        return Err(e);
    }
    Ok(())
}

/// Parse an IP packet that must carry TCP and return `(src, dst, segment)` with the TCP
/// checksum verified against the pseudo-header.
///
/// `WrongProtocol` if the protocol / next header is not TCP (IPv6 extension headers are
/// not walked, so a TCP segment behind one is reported as `WrongProtocol` too); `Fragment`
/// for an IPv4 fragment, whose payload is only part of a segment.
pub fn parse_tcp_packet(bytes: &[u8]) -> Result<(IpAddr, IpAddr, TcpRepr<'_>), WireError> {
    let (ip, payload) = IpRepr::parse(bytes)?;
    if is_ipv4_fragment(bytes) {
        return Err(WireError::Fragment);
    }
    if ip.protocol() != PROTO_TCP {
        return Err(WireError::WrongProtocol);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let tcp = TcpRepr::parse(payload, src, dst)?;
    Ok((src, dst, tcp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqNum;
    use crate::wire::tcp::{SackBlocks, TcpFlags, TcpOptions};
    use proptest::prelude::*;

    const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));
    const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1, 0x2, 0x3, 0x4));

    fn segment(payload: &[u8]) -> TcpRepr<'_> {
        let mut sack = SackBlocks::new();
        sack.push(SeqNum(5000), SeqNum(6000));
        TcpRepr {
            src_port: 443,
            dst_port: 51000,
            seq: SeqNum(u32::MAX - 3),
            ack: SeqNum(77),
            flags: TcpFlags::ACK,
            window: 1024,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((9, 8)),
                sack,
                ..TcpOptions::default()
            },
            payload,
        }
    }

    fn build(src: IpAddr, dst: IpAddr, tcp: &TcpRepr<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        build_tcp_packet(src, dst, tcp, &mut out).unwrap();
        out
    }

    /// Recompute the IPv4 header checksum after editing a header by hand.
    fn fix_ipv4_checksum(pkt: &mut [u8]) {
        let hl = usize::from(pkt[0] & 0xf) * 4;
        pkt[10] = 0;
        pkt[11] = 0;
        let c = checksum::checksum(&pkt[..hl]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn ipv4_header_bytes() {
        let tcp = segment(b"hello");
        let pkt = build(V4_SRC, V4_DST, &tcp);
        assert_eq!(pkt.len(), 20 + tcp.buffer_len());
        assert_eq!(pkt[0], 0x45);
        assert_eq!(usize::from(u16::from_be_bytes([pkt[2], pkt[3]])), pkt.len());
        assert_eq!(&pkt[4..10], &[0, 0, 0x40, 0x00, 64, 6]);
        assert_eq!(&pkt[12..16], &[192, 0, 2, 1]);
        assert_eq!(&pkt[16..20], &[198, 51, 100, 7]);
        assert_eq!(checksum::checksum(&pkt[..20]), 0);
    }

    #[test]
    fn ipv6_header_bytes() {
        let tcp = segment(b"hello");
        let pkt = build(V6_SRC, V6_DST, &tcp);
        assert_eq!(pkt.len(), 40 + tcp.buffer_len());
        assert_eq!(&pkt[0..4], &[0x60, 0, 0, 0]);
        assert_eq!(
            usize::from(u16::from_be_bytes([pkt[4], pkt[5]])),
            tcp.buffer_len()
        );
        assert_eq!(&pkt[6..8], &[6, 64]);
        assert_eq!(pkt[8], 0x20);
        assert_eq!(pkt[39], 0x04);
    }

    #[test]
    fn roundtrip_v4_and_v6() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            for len in [0, 1, 999, 1000] {
                let tcp = segment(&data[..len]);
                let pkt = build(src, dst, &tcp);
                let (s, d, parsed) = parse_tcp_packet(&pkt).unwrap();
                assert_eq!((s, d), (src, dst));
                assert_eq!(parsed, tcp);

                let (ip, payload) = IpRepr::parse(&pkt).unwrap();
                assert_eq!(ip.src_addr(), src);
                assert_eq!(ip.dst_addr(), dst);
                assert_eq!(ip.protocol(), PROTO_TCP);
                assert_eq!(ip.payload_len(), tcp.buffer_len());
                assert_eq!(payload.len(), ip.payload_len());
                assert_eq!(ip.header_len() + payload.len(), pkt.len());
            }
        }
    }

    #[test]
    fn ip_repr_emit_parse_roundtrip() {
        let v4 = IpRepr::V4(Ipv4Repr {
            src: Ipv4Addr::new(1, 2, 3, 4),
            dst: Ipv4Addr::new(5, 6, 7, 8),
            protocol: 17,
            ttl: 3,
            payload_len: 4,
        });
        let v6 = IpRepr::V6(Ipv6Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::UNSPECIFIED,
            next_header: 58,
            hop_limit: 255,
            payload_len: 4,
        });
        for ip in [v4, v6] {
            let mut buf = vec![0u8; ip.header_len() + 4];
            assert_eq!(ip.emit(&mut buf), Ok(ip.header_len()));
            buf[ip.header_len()..].copy_from_slice(b"abcd");
            let (parsed, payload) = IpRepr::parse(&buf).unwrap();
            assert_eq!(parsed, ip);
            assert_eq!(payload, b"abcd");
            assert_eq!(
                ip.emit(&mut buf[..ip.header_len() - 1]),
                Err(WireError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn ip_emit_rejects_oversized_payload() {
        let v4 = IpRepr::V4(Ipv4Repr {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
            protocol: 6,
            ttl: 1,
            payload_len: 65535 - 20 + 1,
        });
        let v6 = IpRepr::V6(Ipv6Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: 6,
            hop_limit: 1,
            payload_len: 65536,
        });
        let mut buf = [0u8; 40];
        assert_eq!(v4.emit(&mut buf), Err(WireError::PayloadTooLarge));
        assert_eq!(v6.emit(&mut buf), Err(WireError::PayloadTooLarge));
    }

    #[test]
    fn truncation_at_every_length_is_rejected() {
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            let tcp = segment(b"some payload");
            let pkt = build(src, dst, &tcp);
            for len in 0..pkt.len() {
                let err = parse_tcp_packet(&pkt[..len]).unwrap_err();
                let hl = if src.is_ipv4() { 20 } else { 40 };
                let expected = if len < hl {
                    WireError::Truncated
                } else {
                    WireError::BadTotalLength
                };
                assert_eq!(err, expected, "len {len}");
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            let tcp = segment(b"abc");
            let pkt = build(src, dst, &tcp);
            for bit in 0..pkt.len() * 8 {
                let mut bad = pkt.clone();
                bad[bit / 8] ^= 0x80 >> (bit % 8); // RFC bit numbering: MSB first
                let result = parse_tcp_packet(&bad);
                // Flipping a bit in the IPv6 traffic class / flow label (bits 4..32) is
                // undetectable: no checksum covers them (RFC 8200 8.1 pseudo-header).
                // The same goes for the hop limit (bits 56..64). In IPv4 the header checksum
                // covers TOS and TTL, so there every flip must fail.
                let v6_unprotected = src.is_ipv6() && (4..32).contains(&bit);
                let v6_hop_limit = src.is_ipv6() && (56..64).contains(&bit);
                if v6_unprotected || v6_hop_limit {
                    assert!(result.is_ok(), "bit {bit}");
                } else {
                    assert!(result.is_err(), "flip of bit {bit} accepted");
                }
            }
        }
    }

    #[test]
    fn ipv4_header_checksum_is_verified() {
        let tcp = segment(b"x");
        let mut pkt = build(V4_SRC, V4_DST, &tcp);
        // Change the TTL without fixing the checksum: only the IP checksum can notice.
        pkt[8] = 63;
        assert_eq!(IpRepr::parse(&pkt), Err(WireError::BadIpChecksum));
        assert_eq!(parse_tcp_packet(&pkt), Err(WireError::BadIpChecksum));
        fix_ipv4_checksum(&mut pkt);
        assert!(parse_tcp_packet(&pkt).is_ok());
    }

    #[test]
    fn bad_version() {
        let tcp = segment(b"");
        let mut pkt = build(V4_SRC, V4_DST, &tcp);
        for v in [0u8, 5, 7, 15] {
            pkt[0] = (v << 4) | 5;
            assert_eq!(IpRepr::parse(&pkt), Err(WireError::BadVersion), "v {v}");
        }
        assert_eq!(IpRepr::parse(&[]), Err(WireError::Truncated));
    }

    #[test]
    fn ipv4_bad_header_length() {
        let tcp = segment(b"");
        let pkt = build(V4_SRC, V4_DST, &tcp);
        for ihl in [0u8, 1, 4] {
            let mut bad = pkt.clone();
            bad[0] = 0x40 | ihl;
            fix_ipv4_checksum(&mut bad[..20]);
            assert_eq!(IpRepr::parse(&bad), Err(WireError::BadHeaderLength));
        }
        // IHL 15 (60 bytes) on a 20-byte buffer.
        let mut short = pkt[..20].to_vec();
        short[0] = 0x4f;
        assert_eq!(IpRepr::parse(&short), Err(WireError::BadHeaderLength));
    }

    #[test]
    fn ipv4_bad_total_length() {
        let tcp = segment(b"");
        let pkt = build(V4_SRC, V4_DST, &tcp);
        for total in [0u16, 19, pkt.len() as u16 + 1, u16::MAX] {
            let mut bad = pkt.clone();
            bad[2..4].copy_from_slice(&total.to_be_bytes());
            fix_ipv4_checksum(&mut bad);
            assert_eq!(
                IpRepr::parse(&bad),
                Err(WireError::BadTotalLength),
                "{total}"
            );
        }
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let tcp = segment(b"opt");
        let pkt = build(V4_SRC, V4_DST, &tcp);
        // Insert 4 bytes of IPv4 options (NOP, NOP, NOP, EOL) and fix up IHL/length/checksum.
        let mut with_opts = pkt[..20].to_vec();
        with_opts.extend_from_slice(&[1, 1, 1, 0]);
        with_opts.extend_from_slice(&pkt[20..]);
        with_opts[0] = 0x46;
        let total = with_opts.len() as u16;
        with_opts[2..4].copy_from_slice(&total.to_be_bytes());
        fix_ipv4_checksum(&mut with_opts);
        let (src, dst, parsed) = parse_tcp_packet(&with_opts).unwrap();
        assert_eq!((src, dst), (V4_SRC, V4_DST));
        assert_eq!(parsed, tcp);
        let (ip, _) = IpRepr::parse(&with_opts).unwrap();
        assert_eq!(ip.payload_len(), tcp.buffer_len());
    }

    #[test]
    fn trailing_link_layer_padding_is_ignored() {
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            let tcp = segment(b"");
            let mut pkt = build(src, dst, &tcp);
            pkt.extend_from_slice(&[0xaa; 6]);
            let (_, _, parsed) = parse_tcp_packet(&pkt).unwrap();
            assert_eq!(parsed, tcp);
        }
    }

    #[test]
    fn ipv6_bad_payload_length() {
        let tcp = segment(b"");
        let mut pkt = build(V6_SRC, V6_DST, &tcp);
        let too_long = (tcp.buffer_len() + 1) as u16;
        pkt[4..6].copy_from_slice(&too_long.to_be_bytes());
        assert_eq!(IpRepr::parse(&pkt), Err(WireError::BadTotalLength));
    }

    #[test]
    fn wrong_protocol() {
        let tcp = segment(b"");
        let mut v4 = build(V4_SRC, V4_DST, &tcp);
        v4[9] = 17; // UDP
        fix_ipv4_checksum(&mut v4);
        assert_eq!(parse_tcp_packet(&v4), Err(WireError::WrongProtocol));
        let mut v6 = build(V6_SRC, V6_DST, &tcp);
        v6[6] = 0; // hop-by-hop options header: not walked
        assert_eq!(parse_tcp_packet(&v6), Err(WireError::WrongProtocol));
    }

    #[test]
    fn fragments_are_passed_through_and_detectable() {
        let tcp = segment(b"frag");
        let mut pkt = build(V4_SRC, V4_DST, &tcp);
        assert!(!is_ipv4_fragment(&pkt));
        pkt[6] = 0x20; // MF
        fix_ipv4_checksum(&mut pkt);
        assert!(is_ipv4_fragment(&pkt));
        assert!(IpRepr::parse(&pkt).is_ok());
        // A first fragment carries a whole-looking header: refused as a fragment, not as
        // the bad checksum its partial payload may give.
        assert_eq!(parse_tcp_packet(&pkt).err(), Some(WireError::Fragment));
        pkt[6] = 0x00;
        pkt[7] = 0x01; // offset 8
        fix_ipv4_checksum(&mut pkt);
        assert!(is_ipv4_fragment(&pkt));
        assert_eq!(parse_tcp_packet(&pkt).err(), Some(WireError::Fragment));
        assert!(!is_ipv4_fragment(&build(V6_SRC, V6_DST, &tcp)));
        assert!(parse_tcp_packet(&build(V4_SRC, V4_DST, &tcp)).is_ok());
    }

    #[test]
    fn address_family_mismatch() {
        let tcp = segment(b"");
        let mut out = vec![1, 2, 3];
        assert_eq!(
            build_tcp_packet(V4_SRC, V6_DST, &tcp, &mut out),
            Err(WireError::AddressFamilyMismatch)
        );
        assert!(out.is_empty());
        assert_eq!(
            build_tcp_packet(V6_SRC, V4_DST, &tcp, &mut out),
            Err(WireError::AddressFamilyMismatch)
        );
    }

    #[test]
    fn build_rejects_oversized_packets() {
        let big = vec![0u8; 65535];
        let mut out = Vec::new();
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            assert_eq!(
                build_tcp_packet(src, dst, &segment(&big), &mut out),
                Err(WireError::PayloadTooLarge)
            );
            assert!(out.is_empty());
        }
        // Largest IPv4 packet: 65535 total bytes.
        let mut tcp = segment(&[]);
        tcp.options = TcpOptions::default();
        let fits = vec![0u8; 65535 - 20 - 20];
        tcp.payload = &fits;
        build_tcp_packet(V4_SRC, V4_DST, &tcp, &mut out).unwrap();
        assert_eq!(out.len(), 65535);
        assert_eq!(parse_tcp_packet(&out).unwrap().2, tcp);
        // IPv6 allows 65535 bytes of payload after its header.
        let fits6 = vec![0u8; 65535 - 20];
        tcp.payload = &fits6;
        build_tcp_packet(V6_SRC, V6_DST, &tcp, &mut out).unwrap();
        assert_eq!(out.len(), 40 + 65535);
        assert_eq!(parse_tcp_packet(&out).unwrap().2, tcp);
    }

    #[test]
    fn build_reuses_and_clears_output() {
        let mut out = vec![0xffu8; 4096];
        let tcp = segment(b"a");
        build_tcp_packet(V4_SRC, V4_DST, &tcp, &mut out).unwrap();
        assert_eq!(out.len(), 20 + tcp.buffer_len());
        assert!(parse_tcp_packet(&out).is_ok());
    }

    proptest! {
        #[test]
        fn parse_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = IpRepr::parse(&bytes);
            let _ = parse_tcp_packet(&bytes);
            let _ = is_ipv4_fragment(&bytes);
        }

        #[test]
        fn parse_plausible_headers_never_panics(
            v6 in any::<bool>(),
            ihl in 0u8..16,
            len_field: u16,
            rest in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut bytes = rest;
            bytes.resize(bytes.len().max(40), 0);
            if v6 {
                bytes[0] = 0x60;
                bytes[4..6].copy_from_slice(&len_field.to_be_bytes());
                bytes[6] = PROTO_TCP;
            } else {
                bytes[0] = 0x40 | ihl;
                bytes[2..4].copy_from_slice(&len_field.to_be_bytes());
                bytes[9] = PROTO_TCP;
                let hl = (usize::from(ihl) * 4).clamp(20, bytes.len());
                bytes[10] = 0;
                bytes[11] = 0;
                let c = checksum::checksum(&bytes[..hl]);
                bytes[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let _ = parse_tcp_packet(&bytes);
        }

        #[test]
        fn build_parse_roundtrip(
            src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, window: u16,
            mss in proptest::option::of(any::<u16>()),
            ts in proptest::option::of(any::<(u32, u32)>()),
            payload in proptest::collection::vec(any::<u8>(), 0..=200),
            v6 in any::<bool>(),
        ) {
            let (src, dst) = if v6 { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
            let tcp = TcpRepr {
                src_port, dst_port, seq: SeqNum(seq), ack: SeqNum(ack),
                flags: TcpFlags(flags), window, urgent: 0,
                options: TcpOptions { mss, timestamps: ts, ..TcpOptions::default() },
                payload: &payload,
            };
            let mut out = Vec::new();
            build_tcp_packet(src, dst, &tcp, &mut out).unwrap();
            let (s, d, parsed) = parse_tcp_packet(&out).unwrap();
            prop_assert_eq!((s, d), (src, dst));
            prop_assert_eq!(parsed, tcp);
        }
    }
}

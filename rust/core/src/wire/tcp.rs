//! The TCP header (RFC 9293 3.1) and its options (RFC 9293 3.2, RFC 7323, RFC 2018).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::net::IpAddr;

pub use super::options::{
    SackBlocks, TcpOptions, MAX_OPTIONS_LEN, MAX_SACK_BLOCKS, MAX_WINDOW_SCALE,
};
use super::{checksum, ip::PROTO_TCP, WireError};
use crate::seq::SeqNum;

/// Length of the fixed TCP header, without options (RFC 9293 3.1).
pub const TCP_HEADER_LEN: usize = 20;

/// The eight control bits of the TCP header (RFC 9293 3.1; ECE and CWR from RFC 3168).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Print order: connection-lifecycle flags first, so "SYN|ACK" reads naturally.
    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// All bits of `other` are set in `self` (true for an empty `other`).
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// At least one bit of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    /// `self` without the bits of `other`.
    pub const fn difference(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        *self = self.union(rhs);
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A parsed TCP segment, borrowing its payload from the packet buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

/// Sum of the pseudo-header for a TCP segment of `len` bytes between `src` and `dst`.
///
/// The IPv4 pseudo-header carries a 16-bit length and the IPv6 one a 32-bit length
/// (RFC 9293 3.1, RFC 8200 8.1); a segment that does not fit cannot be checksummed.
fn tcp_pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> Result<u32, WireError> {
    let len = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => u16::try_from(len).map(u32::from).ok(),
        (IpAddr::V6(_), IpAddr::V6(_)) => u32::try_from(len).ok(),
        _ => return Err(WireError::AddressFamilyMismatch),
    }
    .ok_or(WireError::PayloadTooLarge)?;
    Ok(checksum::pseudo_header_sum(src, dst, PROTO_TCP, len))
}

impl<'a> TcpRepr<'a> {
    /// Parse a TCP segment and verify its checksum against the pseudo-header built from
    /// `src` and `dst` (RFC 9293 3.1: the receiver MUST check it, MUST-3).
    ///
    /// The checksum is checked before the options are looked at, so a corrupted segment is
    /// reported as `BadChecksum` rather than as whatever the corruption happens to look
    /// like. Addresses of different families give `AddressFamilyMismatch`.
    pub fn parse(bytes: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<Self, WireError> {
        if bytes.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let pseudo = match tcp_pseudo_sum(src, dst, bytes.len()) {
            Ok(sum) => sum,
            // Too long for the pseudo-header length field: cannot have a valid checksum.
            Err(WireError::PayloadTooLarge) => return Err(WireError::BadChecksum),
            Err(e) => return Err(e),
        };
        // Summing the whole segment including its checksum field gives all-ones when the
        // segment is intact, i.e. the folded, complemented value is 0.
        if checksum::fold(checksum::sum(bytes, pseudo)) != 0 {
            return Err(WireError::BadChecksum);
        }
        Self::parse_unchecked(bytes)
    }

    /// Parse a TCP segment without verifying the checksum (for callers that already did,
    /// e.g. with checksum offload, or for tests and tracing).
    pub fn parse_unchecked(bytes: &'a [u8]) -> Result<Self, WireError> {
        let hdr: &[u8; TCP_HEADER_LEN] = bytes
            .get(..TCP_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(WireError::Truncated)?;
        // Data offset: header length in 32-bit words, at least the 5 of the fixed header
        // (RFC 9293 3.1). The 4 reserved bits after it are ignored on receipt.
        let header_len = usize::from(hdr[12] >> 4) * 4;
        if header_len < TCP_HEADER_LEN || header_len > bytes.len() {
            return Err(WireError::BadDataOffset);
        }
        let option_area = bytes
            .get(TCP_HEADER_LEN..header_len)
            .ok_or(WireError::BadDataOffset)?;
        let payload = bytes.get(header_len..).ok_or(WireError::BadDataOffset)?;
        Ok(TcpRepr {
            src_port: u16::from_be_bytes([hdr[0], hdr[1]]),
            dst_port: u16::from_be_bytes([hdr[2], hdr[3]]),
            seq: SeqNum(u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]])),
            ack: SeqNum(u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]])),
            flags: TcpFlags(hdr[13]),
            window: u16::from_be_bytes([hdr[14], hdr[15]]),
            urgent: u16::from_be_bytes([hdr[18], hdr[19]]),
            options: TcpOptions::parse(option_area)?,
            payload,
        })
    }

    /// Header length including options: `20 + options.encoded_len()`.
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.encoded_len()
    }

    /// Bytes [`emit`](Self::emit) writes: header, options and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// SEG.LEN (RFC 9293 3.3.1): the sequence space the segment occupies, counting SYN and
    /// FIN as one octet each.
    pub fn seg_len(&self) -> u32 {
        // A payload over 4 GiB cannot be a real segment; saturate rather than wrap.
        let data = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        data.saturating_add(u32::from(self.flags.contains(TcpFlags::SYN)))
            .saturating_add(u32::from(self.flags.contains(TcpFlags::FIN)))
    }

    /// Write the segment (header, options, payload) to the start of `buf` with a correct
    /// checksum for the `src`/`dst` pseudo-header; returns the bytes written.
    ///
    /// Fields are written verbatim; the reserved bits are zero. Errors: `BufferTooSmall`,
    /// `AddressFamilyMismatch`, or `PayloadTooLarge` if the segment does not fit the
    /// pseudo-header length field (65535 bytes over IPv4).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize, WireError> {
        let header_len = self.header_len();
        let total = header_len + self.payload.len();
        let pseudo = tcp_pseudo_sum(src, dst, total)?;
        let seg = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
        let (header, payload) = seg.split_at_mut(header_len);
        let (fixed, option_area) = header.split_at_mut(TCP_HEADER_LEN);
        let fixed: &mut [u8; TCP_HEADER_LEN] =
            fixed.try_into().map_err(|_| WireError::BufferTooSmall)?;

        fixed[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        fixed[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        fixed[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        fixed[8..12].copy_from_slice(&self.ack.0.to_be_bytes());
        // header_len <= 60, so the word count fits in the 4-bit data offset.
        fixed[12] = ((header_len / 4) as u8) << 4;
        fixed[13] = self.flags.0;
        fixed[14..16].copy_from_slice(&self.window.to_be_bytes());
        fixed[16..18].copy_from_slice(&[0, 0]);
        fixed[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        self.options.emit(option_area)?;
        payload.copy_from_slice(self.payload);

        // The checksum field is zero while summing (RFC 9293 3.1).
        let csum = checksum::fold(checksum::sum(seg, pseudo));
        store_checksum(seg, csum);
        Ok(total)
    }
}

/// Store the checksum at bytes 16..18 of a segment.
fn store_checksum(seg: &mut [u8], csum: u16) {
    if let Some(field) = seg.get_mut(16..18) {
        field.copy_from_slice(&csum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

    fn base(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq: SeqNum(0xdead_beef),
            ack: SeqNum(0x0102_0304),
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        }
    }

    fn all_options() -> TcpOptions {
        let mut sack = SackBlocks::new();
        sack.push(SeqNum(100), SeqNum(200));
        sack.push(SeqNum(300), SeqNum(400));
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((123_456, 654_321)),
            sack,
        }
    }

    fn emit_vec(repr: &TcpRepr<'_>, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(&mut buf, src, dst).unwrap();
        assert_eq!(n, buf.len());
        buf
    }

    #[test]
    fn flags_display_and_ops() {
        assert_eq!((TcpFlags::ACK | TcpFlags::SYN).to_string(), "SYN|ACK");
        assert_eq!(format!("{:?}", TcpFlags::empty()), "none");
        assert_eq!(
            TcpFlags(0xff).to_string(),
            "SYN|FIN|RST|PSH|ACK|URG|ECE|CWR"
        );
        assert_eq!(
            (TcpFlags::FIN | TcpFlags::ACK | TcpFlags::CWR).to_string(),
            "FIN|ACK|CWR"
        );
        let mut f = TcpFlags::SYN;
        f |= TcpFlags::ACK;
        assert!(f.contains(TcpFlags::SYN.union(TcpFlags::ACK)));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(f.difference(TcpFlags::SYN), TcpFlags::ACK);
        assert!(TcpFlags::empty().is_empty());
        assert!(!f.is_empty());
        let bits: Vec<u8> = [
            TcpFlags::FIN,
            TcpFlags::SYN,
            TcpFlags::RST,
            TcpFlags::PSH,
            TcpFlags::ACK,
            TcpFlags::URG,
            TcpFlags::ECE,
            TcpFlags::CWR,
        ]
        .iter()
        .map(|f| f.bits())
        .collect();
        assert_eq!(bits, [1, 2, 4, 8, 16, 32, 64, 128]);
    }

    #[test]
    fn seg_len_counts_syn_and_fin() {
        let mut r = base(b"hello");
        assert_eq!(r.seg_len(), 5);
        r.flags = TcpFlags::SYN;
        assert_eq!(r.seg_len(), 6);
        r.flags = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::ACK;
        assert_eq!(r.seg_len(), 7);
        r.payload = b"";
        r.flags = TcpFlags::FIN;
        assert_eq!(r.seg_len(), 1);
        r.flags = TcpFlags::ACK;
        assert_eq!(r.seg_len(), 0);
    }

    #[test]
    fn emitted_header_bytes() {
        let r = TcpRepr {
            urgent: 0x1234,
            ..base(b"hi")
        };
        let bytes = emit_vec(&r, V4_SRC, V4_DST);
        assert_eq!(
            &bytes[..16],
            &[
                0xc0, 0x00, 0x00, 0x50, // ports 49152 -> 80
                0xde, 0xad, 0xbe, 0xef, // seq
                0x01, 0x02, 0x03, 0x04, // ack
                0x50, 0x18, // data offset 5, PSH|ACK
                0xff, 0xff, // window
            ]
        );
        assert_eq!(&bytes[18..], &[0x12, 0x34, b'h', b'i']);
        // Independent check of the checksum: sum pseudo-header and segment by hand.
        let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 22];
        pseudo.extend_from_slice(&bytes);
        assert_eq!(checksum::checksum(&pseudo), 0);
    }

    #[test]
    fn known_segment_checksum() {
        // A SYN from 192.168.1.10:40000 to 192.168.1.1:80, seq 1, window 0x2000, no
        // options. Expected checksum worked out by hand with the RFC 9293 3.1 pseudo-header:
        //   c0a8 + 010a + c0a8 + 0101 + 0006 + 0014              = 0x18375 (pseudo-header)
        //   9c40 + 0050 + 0000 + 0001 + 0000 + 0000 + 5002 + 2000 = 0x10c93 (header)
        //   0x18375 + 0x10c93 = 0x29008 -> fold -> 0x900a -> complement -> 0x6ff5
        let src = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 0x2000,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let bytes = emit_vec(&r, src, dst);
        assert_eq!(u16::from_be_bytes([bytes[16], bytes[17]]), 0x6ff5);
    }

    #[test]
    fn roundtrip_option_combinations_v4_and_v6() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(301).collect();
        let ts_only = TcpOptions {
            timestamps: Some((1, 0)),
            ..TcpOptions::default()
        };
        let mut sack_ts = ts_only;
        sack_ts.sack.push(SeqNum(u32::MAX - 10), SeqNum(5));
        let syn = TcpOptions {
            mss: Some(1460),
            window_scale: Some(0),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        let combos = [TcpOptions::default(), ts_only, sack_ts, syn, all_options()];
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            for options in combos {
                for len in [0usize, 1, 2, 301] {
                    let r = TcpRepr {
                        options,
                        flags: TcpFlags::SYN | TcpFlags::ACK,
                        ..base(&payload[..len])
                    };
                    let bytes = emit_vec(&r, src, dst);
                    assert_eq!(bytes.len(), r.buffer_len());
                    assert_eq!(bytes[12] >> 4, (r.header_len() / 4) as u8);
                    let parsed = TcpRepr::parse(&bytes, src, dst).unwrap();
                    assert_eq!(parsed, r);
                    assert_eq!(TcpRepr::parse_unchecked(&bytes).unwrap(), r);
                }
            }
        }
    }

    #[test]
    fn checksum_depends_on_pseudo_header() {
        let r = base(b"data");
        let bytes = emit_vec(&r, V4_SRC, V4_DST);
        assert!(TcpRepr::parse(&bytes, V4_SRC, V4_DST).is_ok());
        assert_eq!(
            TcpRepr::parse(&bytes, V4_DST, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            TcpRepr::parse(&bytes, V6_SRC, V6_DST),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            TcpRepr::parse(&bytes, V4_SRC, V6_DST),
            Err(WireError::AddressFamilyMismatch)
        );
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            let r = TcpRepr {
                options: all_options(),
                ..base(b"xyz")
            };
            let bytes = emit_vec(&r, src, dst);
            for bit in 0..bytes.len() * 8 {
                let mut bad = bytes.clone();
                bad[bit / 8] ^= 0x80 >> (bit % 8); // RFC bit numbering: MSB first
                assert!(
                    TcpRepr::parse(&bad, src, dst).is_err(),
                    "flip of bit {bit} accepted"
                );
            }
        }
    }

    #[test]
    fn truncation_at_every_length_is_rejected() {
        let r = TcpRepr {
            options: all_options(),
            ..base(b"payload")
        };
        let bytes = emit_vec(&r, V4_SRC, V4_DST);
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            let err = TcpRepr::parse(cut, V4_SRC, V4_DST).unwrap_err();
            if len < TCP_HEADER_LEN {
                assert_eq!(err, WireError::Truncated, "len {len}");
                assert_eq!(TcpRepr::parse_unchecked(cut), Err(WireError::Truncated));
            }
            // Without the checksum check, a cut inside the header is a bad data offset.
            if (TCP_HEADER_LEN..r.header_len()).contains(&len) {
                assert_eq!(TcpRepr::parse_unchecked(cut), Err(WireError::BadDataOffset));
            }
        }
    }

    #[test]
    fn bad_data_offset() {
        let r = base(b"");
        let good = emit_vec(&r, V4_SRC, V4_DST);
        for doff in [0u8, 1, 4, 6, 15] {
            let mut bad = good.clone();
            bad[12] = doff << 4;
            assert_eq!(
                TcpRepr::parse_unchecked(&bad),
                Err(WireError::BadDataOffset),
                "doff {doff}"
            );
        }
        // With a valid checksum the data offset error is still reported.
        let mut bad = good.clone();
        bad[12] = 4 << 4;
        bad[16] = 0;
        bad[17] = 0;
        let c = checksum::fold(checksum::sum(
            &bad,
            checksum::pseudo_header_sum(V4_SRC, V4_DST, PROTO_TCP, bad.len() as u32),
        ));
        bad[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            TcpRepr::parse(&bad, V4_SRC, V4_DST),
            Err(WireError::BadDataOffset)
        );
    }

    /// Build a segment with a raw option area (length a multiple of 4) and valid checksum.
    fn with_raw_options(area: &[u8]) -> Vec<u8> {
        let mut seg = emit_vec(&base(b"p"), V4_SRC, V4_DST);
        seg.splice(20..20, area.iter().copied());
        seg[12] = (((20 + area.len()) / 4) as u8) << 4;
        seg[16] = 0;
        seg[17] = 0;
        let pseudo = checksum::pseudo_header_sum(V4_SRC, V4_DST, PROTO_TCP, seg.len() as u32);
        let c = checksum::fold(checksum::sum(&seg, pseudo));
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        seg
    }

    #[test]
    fn malformed_options_in_a_segment() {
        let cases: &[&[u8]] = &[
            &[30, 0, 0, 0],             // length 0
            &[30, 1, 0, 0],             // length 1
            &[1, 1, 30, 8, 0, 0, 0, 0], // overruns the option area
            &[2, 3, 0, 1],              // MSS length 3
            &[5, 3, 0, 0],              // SACK length 3
        ];
        for area in cases {
            let seg = with_raw_options(area);
            assert_eq!(
                TcpRepr::parse(&seg, V4_SRC, V4_DST),
                Err(WireError::BadOptions),
                "{area:?}"
            );
        }
    }

    #[test]
    fn unknown_option_skipped_and_ws_clamped_in_a_segment() {
        let seg = with_raw_options(&[254, 4, 0xab, 0xcd, 1, 3, 3, 20]);
        let r = TcpRepr::parse(&seg, V4_SRC, V4_DST).unwrap();
        assert_eq!(r.options.window_scale, Some(14));
        assert_eq!(r.payload, b"p");

        // Emitting an out-of-range shift sends it verbatim; the receiver clamps it.
        let big = TcpRepr {
            options: TcpOptions {
                window_scale: Some(20),
                ..TcpOptions::default()
            },
            ..base(b"")
        };
        let bytes = emit_vec(&big, V4_SRC, V4_DST);
        assert_eq!(bytes[23], 20);
        let parsed = TcpRepr::parse(&bytes, V4_SRC, V4_DST).unwrap();
        assert_eq!(parsed.options.window_scale, Some(14));
    }

    #[test]
    fn padding_after_eol_is_accepted() {
        let seg = with_raw_options(&[2, 4, 0x05, 0xb4, 0, 0, 0, 0]);
        let r = TcpRepr::parse(&seg, V4_SRC, V4_DST).unwrap();
        assert_eq!(r.options.mss, Some(1460));
    }

    #[test]
    fn emit_errors() {
        let r = base(b"abc");
        let mut buf = vec![0u8; r.buffer_len() - 1];
        assert_eq!(
            r.emit(&mut buf, V4_SRC, V4_DST),
            Err(WireError::BufferTooSmall)
        );
        let mut buf = vec![0u8; r.buffer_len()];
        assert_eq!(
            r.emit(&mut buf, V4_SRC, V6_DST),
            Err(WireError::AddressFamilyMismatch)
        );
        // A longer buffer is fine; only the segment's bytes are written.
        let mut buf = vec![0xeeu8; r.buffer_len() + 5];
        assert_eq!(r.emit(&mut buf, V4_SRC, V4_DST), Ok(r.buffer_len()));
        assert_eq!(&buf[r.buffer_len()..], &[0xee; 5]);

        let big = vec![0u8; 65536];
        let r = base(&big);
        let mut buf = vec![0u8; r.buffer_len()];
        assert_eq!(
            r.emit(&mut buf, V4_SRC, V4_DST),
            Err(WireError::PayloadTooLarge)
        );
        assert!(r.emit(&mut buf, V6_SRC, V6_DST).is_ok());
    }

    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..=14),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
        )
            .prop_map(|(mss, window_scale, sack_permitted, timestamps, blocks)| {
                let mut sack = SackBlocks::new();
                for (l, r) in blocks {
                    sack.push(SeqNum(l), SeqNum(r));
                }
                TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps,
                    sack,
                }
            })
    }

    proptest! {
        #[test]
        fn parse_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..100),
            v6 in any::<bool>(),
        ) {
            let (src, dst) = if v6 { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
            let _ = TcpRepr::parse(&bytes, src, dst);
            let _ = TcpRepr::parse_unchecked(&bytes);
        }

        #[test]
        fn parse_unchecked_of_well_framed_garbage_never_panics(
            doff in 0u8..16,
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut bytes = vec![0u8; 20];
            bytes[12] = doff << 4;
            bytes.extend_from_slice(&rest);
            let _ = TcpRepr::parse_unchecked(&bytes);
        }

        #[test]
        fn emit_parse_roundtrip(
            src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8,
            window: u16, urgent: u16,
            options in arb_options(),
            payload in proptest::collection::vec(any::<u8>(), 0..=200),
            v6 in any::<bool>(),
        ) {
            let (src, dst) = if v6 { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
            let repr = TcpRepr {
                src_port, dst_port, seq: SeqNum(seq), ack: SeqNum(ack),
                flags: TcpFlags(flags), window, urgent, options, payload: &payload,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            let n = repr.emit(&mut buf, src, dst).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert!(repr.header_len() <= 60 && repr.header_len() & 3 == 0);
            let parsed = TcpRepr::parse(&buf, src, dst).unwrap();
            // SACK blocks beyond what fits in 40 option bytes are dropped by design.
            let mut expected = repr;
            expected.options.sack.truncate(options.sack_blocks_that_fit());
            prop_assert_eq!(parsed, expected);
        }
    }
}

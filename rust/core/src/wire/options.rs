//! TCP options: parsing and emitting the option area of a TCP header.
//!
//! Re-exported from [`crate::wire::tcp`]; see RFC 9293 3.1 (option format) and 3.2 (MSS),
//! RFC 7323 (window scale, timestamps) and RFC 2018 (SACK).

use core::fmt;

use super::WireError;
use crate::seq::SeqNum;

/// Largest option area: the data offset is 4 bits of 32-bit words, so a header is at most
/// 60 bytes, 20 of them fixed (RFC 9293 3.1).
pub const MAX_OPTIONS_LEN: usize = 40;

/// Most SACK blocks a single option can carry: 2 + 8n <= 40 gives n <= 4 (RFC 2018 3).
pub const MAX_SACK_BLOCKS: usize = 4;

// Option kinds (IANA "TCP Option Kind Numbers").
const KIND_EOL: u8 = 0;
const KIND_NOP: u8 = 1;
const KIND_MSS: u8 = 2;
const KIND_WS: u8 = 3;
const KIND_SACK_PERMITTED: u8 = 4;
const KIND_SACK: u8 = 5;
const KIND_TIMESTAMPS: u8 = 8;

/// RFC 7323 2.3: a received shift count above 14 MUST be treated as 14, which keeps the
/// largest window below 2^30 so sequence-space comparisons stay unambiguous.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Up to four SACK blocks (RFC 2018 3), stored inline so parsing never allocates.
///
/// Each block is `(left edge, right edge)`: the first sequence number of a received block
/// and the sequence number just past it. Unused slots are kept zeroed so the derived
/// equality only ever sees the blocks that are present.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// No blocks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a block; returns `false` (and changes nothing) if four are already present.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks present, in the order they were pushed (or appeared on the wire).
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        self.blocks.get(..usize::from(self.len)).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Remove all blocks.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Keep only the first `n` blocks (zeroing the rest, to keep equality meaningful).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            for slot in self.blocks.iter_mut().skip(n) {
                *slot = (SeqNum(0), SeqNum(0));
            }
            // n < len <= 4, so it fits in a u8.
            self.len = n as u8;
        }
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|(l, r)| l.0..r.0))
            .finish()
    }
}

/// The TCP options this stack understands. Unknown options are skipped when parsing
/// (RFC 9293 3.1, MUST-6) and never emitted.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct TcpOptions {
    /// Maximum Segment Size (RFC 9293 3.2, 3.7.1); only meaningful on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 2.2); clamped to 14 when parsed.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 2); only meaningful on SYN segments.
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 3.2).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks (RFC 2018 3).
    pub sack: SackBlocks,
}

/// A cursor over the option area that never writes out of bounds. The lengths are planned
/// up front (see [`TcpOptions::sack_blocks_that_fit`]), so truncation cannot actually
/// happen; this just keeps the code panic-free by construction.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    fn put_u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
}

impl TcpOptions {
    /// How many SACK blocks the emitted option area has room for, after the options that
    /// precede them. With everything else present (MSS, WS, SACK-permitted, timestamps:
    /// 20 bytes) that is 2; with timestamps alone, 3 (RFC 2018 3 notes the same limits).
    pub fn sack_blocks_that_fit(&self) -> usize {
        let room = MAX_OPTIONS_LEN - self.fixed_len();
        // NOP, NOP, kind, len, then 8 bytes per block.
        let max = room.saturating_sub(4) / 8;
        self.sack.len().min(max)
    }

    /// Bytes used by everything except the SACK blocks: all 4-byte aligned.
    fn fixed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4; // NOP + 3-byte WS
        }
        n += match (self.sack_permitted, self.timestamps.is_some()) {
            (true, true) => 12,  // SACK-permitted (2) + timestamps (10)
            (true, false) => 4,  // NOP, NOP, SACK-permitted
            (false, true) => 12, // NOP, NOP, timestamps
            (false, false) => 0,
        };
        n
    }

    /// Length of the option area [`emit`](Self::emit) produces: a multiple of 4, at most 40.
    pub fn encoded_len(&self) -> usize {
        let blocks = self.sack_blocks_that_fit();
        let sack = if blocks == 0 { 0 } else { 4 + 8 * blocks };
        self.fixed_len() + sack
    }

    /// Write the option area into the start of `buf`; returns the bytes written
    /// ([`encoded_len`](Self::encoded_len)).
    ///
    /// The layout is fixed and keeps every multi-byte field 4-byte aligned, using NOPs the
    /// way RFC 7323 appendix A and RFC 2018 3 suggest: MSS; NOP+WS; then either
    /// SACK-permitted+timestamps, NOP+NOP+SACK-permitted, or NOP+NOP+timestamps; then
    /// NOP+NOP+SACK with as many blocks as fit in 40 bytes. Values are written verbatim
    /// (a window scale above 14 is sent as given).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.encoded_len();
        let area = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer { buf: area, pos: 0 };

        if let Some(mss) = self.mss {
            w.put(&[KIND_MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        if let Some(ws) = self.window_scale {
            w.put(&[KIND_NOP, KIND_WS, 3, ws]);
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some((tsval, tsecr))) => {
                w.put(&[KIND_SACK_PERMITTED, 2, KIND_TIMESTAMPS, 10]);
                w.put_u32(tsval);
                w.put_u32(tsecr);
            }
            (true, None) => w.put(&[KIND_NOP, KIND_NOP, KIND_SACK_PERMITTED, 2]),
            (false, Some((tsval, tsecr))) => {
                w.put(&[KIND_NOP, KIND_NOP, KIND_TIMESTAMPS, 10]);
                w.put_u32(tsval);
                w.put_u32(tsecr);
            }
            (false, None) => {}
        }
        let blocks = self.sack_blocks_that_fit();
        if blocks > 0 {
            // 2 + 8 * blocks <= 34, fits in the length byte.
            w.put(&[KIND_NOP, KIND_NOP, KIND_SACK, (2 + 8 * blocks) as u8]);
            for (left, right) in self.sack.as_slice().iter().take(blocks) {
                w.put_u32(left.0);
                w.put_u32(right.0);
            }
        }
        debug_assert_eq!(w.pos, len);
        // Every piece above is a multiple of 4 bytes, so no EOL padding is ever needed.
        Ok(len)
    }

    /// Parse an option area (the bytes between the fixed header and the data).
    ///
    /// RFC 9293 3.1: kind 0 ends the list (anything after it is padding and ignored),
    /// kind 1 is a one-byte NOP, every other kind has a length byte counting the kind and
    /// length bytes themselves. Unknown kinds are skipped (MUST-6). An illegal length
    /// (below 2, running past the area, or wrong for a known kind) is `BadOptions` (MUST-7
    /// asks that it be handled; the caller decides what to do with the segment). If an
    /// option appears more than once, the last occurrence wins.
    pub fn parse(area: &[u8]) -> Result<TcpOptions, WireError> {
        let mut opts = TcpOptions::default();
        let mut i = 0usize;
        while let Some(&kind) = area.get(i) {
            match kind {
                KIND_EOL => break,
                KIND_NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*area.get(i + 1).ok_or(WireError::BadOptions)?);
            if len < 2 {
                return Err(WireError::BadOptions);
            }
            let body = area.get(i + 2..i + len).ok_or(WireError::BadOptions)?;
            match kind {
                KIND_MSS => match *body {
                    [a, b] => opts.mss = Some(u16::from_be_bytes([a, b])),
                    _ => return Err(WireError::BadOptions),
                },
                KIND_WS => match *body {
                    [shift] => opts.window_scale = Some(shift.min(MAX_WINDOW_SCALE)),
                    _ => return Err(WireError::BadOptions),
                },
                KIND_SACK_PERMITTED => match *body {
                    [] => opts.sack_permitted = true,
                    _ => return Err(WireError::BadOptions),
                },
                KIND_SACK => {
                    // RFC 2018 3: length 2 + 8n; at least one block, at most four fit.
                    let n = body.len() / 8;
                    if n * 8 != body.len() || n == 0 || n > MAX_SACK_BLOCKS {
                        return Err(WireError::BadOptions);
                    }
                    let mut sack = SackBlocks::new();
                    for block in body.chunks_exact(8) {
                        if let &[l0, l1, l2, l3, r0, r1, r2, r3] = block {
                            let left = u32::from_be_bytes([l0, l1, l2, l3]);
                            let right = u32::from_be_bytes([r0, r1, r2, r3]);
                            sack.push(SeqNum(left), SeqNum(right));
                        }
                    }
                    opts.sack = sack;
                }
                KIND_TIMESTAMPS => match *body {
                    [v0, v1, v2, v3, e0, e1, e2, e3] => {
                        opts.timestamps = Some((
                            u32::from_be_bytes([v0, v1, v2, v3]),
                            u32::from_be_bytes([e0, e1, e2, e3]),
                        ))
                    }
                    _ => return Err(WireError::BadOptions),
                },
                // Unknown but well-formed: skip (RFC 9293 3.1, MUST-6).
                _ => {}
            }
            i += len;
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        TcpOptions::parse(bytes)
    }

    fn roundtrip(opts: &TcpOptions) -> TcpOptions {
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(n, opts.encoded_len());
        assert_eq!(n & 3, 0);
        assert!(n <= MAX_OPTIONS_LEN);
        parse(&buf[..n]).unwrap()
    }

    fn blocks(n: u32) -> SackBlocks {
        let mut s = SackBlocks::new();
        for i in 0..n {
            assert!(s.push(SeqNum(i * 1000), SeqNum(i * 1000 + 500)));
        }
        s
    }

    #[test]
    fn sack_blocks_capacity() {
        let mut s = blocks(4);
        assert_eq!(s.len(), 4);
        assert!(!s.push(SeqNum(1), SeqNum(2)));
        assert_eq!(s.as_slice()[3], (SeqNum(3000), SeqNum(3500)));
        s.truncate(1);
        assert_eq!(s, blocks(1));
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s, SackBlocks::new());
        assert_eq!(format!("{:?}", blocks(1)), "[0..500]");
    }

    #[test]
    fn empty_area() {
        assert_eq!(parse(&[]).unwrap(), TcpOptions::default());
        assert_eq!(TcpOptions::default().encoded_len(), 0);
    }

    #[test]
    fn emitted_layout_is_exact() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0x01020304, 0x05060708)),
            sack: SackBlocks::new(),
        };
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[
                2, 4, 0x05, 0xb4, // MSS 1460
                1, 3, 3, 7, // NOP, WS 7
                4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, // SACK-permitted, timestamps
            ]
        );

        let sack_only = TcpOptions {
            sack: blocks(1),
            ..TcpOptions::default()
        };
        let n = sack_only.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0x01, 0xf4]);

        let sp_only = TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        };
        let n = sp_only.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[1, 1, 4, 2]);

        let ts_only = TcpOptions {
            timestamps: Some((1, 2)),
            ..TcpOptions::default()
        };
        let n = ts_only.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    }

    #[test]
    fn roundtrip_combinations() {
        for mask in 0u8..32 {
            let opts = TcpOptions {
                mss: (mask & 1 != 0).then_some(536),
                window_scale: (mask & 2 != 0).then_some(14),
                sack_permitted: mask & 4 != 0,
                timestamps: (mask & 8 != 0).then_some((u32::MAX, 0)),
                sack: if mask & 16 != 0 { blocks(4) } else { blocks(0) },
            };
            let mut expected = opts;
            expected.sack.truncate(opts.sack_blocks_that_fit());
            assert_eq!(roundtrip(&opts), expected, "mask {mask:#b}");
        }
    }

    #[test]
    fn sack_blocks_are_cut_to_fit_40_bytes() {
        let mut opts = TcpOptions {
            sack: blocks(4),
            ..TcpOptions::default()
        };
        assert_eq!(opts.sack_blocks_that_fit(), 4);
        assert_eq!(opts.encoded_len(), 36);
        opts.timestamps = Some((1, 2));
        assert_eq!(opts.sack_blocks_that_fit(), 3);
        assert_eq!(opts.encoded_len(), 40);
        opts.mss = Some(1);
        opts.window_scale = Some(1);
        opts.sack_permitted = true;
        assert_eq!(opts.sack_blocks_that_fit(), 2);
        assert_eq!(opts.encoded_len(), 40);
    }

    #[test]
    fn emit_into_short_buffer_fails() {
        let opts = TcpOptions {
            mss: Some(1),
            ..TcpOptions::default()
        };
        assert_eq!(opts.emit(&mut [0u8; 3]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn eol_ends_the_list() {
        // MSS, then EOL, then garbage that would be invalid if parsed.
        let opts = parse(&[2, 4, 0, 100, 0, 2, 0, 0xff]).unwrap();
        assert_eq!(opts.mss, Some(100));
    }

    #[test]
    fn nops_are_skipped() {
        let opts = parse(&[1, 1, 1, 3, 3, 5, 1, 1]).unwrap();
        assert_eq!(opts.window_scale, Some(5));
    }

    #[test]
    fn malformed_lengths_are_rejected() {
        let cases: &[(&str, &[u8])] = &[
            ("len 0", &[30, 0, 0, 0]),
            ("len 1", &[30, 1, 0, 0]),
            ("kind without length", &[1, 1, 1, 30]),
            ("overrun", &[30, 6, 0, 0]),
            ("MSS len 3", &[2, 3, 0, 1]),
            ("MSS len 5", &[2, 5, 0, 1, 0, 0, 0, 0]),
            ("MSS truncated", &[1, 1, 2, 4, 0]),
            ("WS len 2", &[3, 2, 1, 1]),
            ("WS len 4", &[3, 4, 7, 0]),
            ("SACK-permitted len 3", &[4, 3, 0, 0]),
            ("SACK len 3", &[5, 3, 0, 0]),
            ("SACK len 2 (no blocks)", &[5, 2, 0, 0]),
            ("SACK len 9", &[5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("TS len 9", &[8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (name, bytes) in cases {
            assert_eq!(parse(bytes), Err(WireError::BadOptions), "{name}");
        }
        // Five SACK blocks cannot fit in a real header, but reject them even in a
        // hypothetical longer area rather than silently dropping one.
        let mut five = vec![5u8, 42];
        five.extend_from_slice(&[0; 40]);
        assert_eq!(parse(&five), Err(WireError::BadOptions));
    }

    #[test]
    fn unknown_options_are_skipped() {
        // Kind 30 (MPTCP) with 6 bytes, kind 254 (experimental) with len 2, then MSS.
        let opts = parse(&[30, 6, 1, 2, 3, 4, 254, 2, 2, 4, 0x05, 0xb4]).unwrap();
        assert_eq!(
            opts,
            TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            }
        );
    }

    #[test]
    fn window_scale_above_14_is_clamped() {
        for shift in [15u8, 16, 200, 255] {
            assert_eq!(parse(&[3, 3, shift, 0]).unwrap().window_scale, Some(14));
        }
        assert_eq!(parse(&[3, 3, 14, 0]).unwrap().window_scale, Some(14));
        assert_eq!(parse(&[3, 3, 0, 0]).unwrap().window_scale, Some(0));
    }

    #[test]
    fn last_occurrence_wins() {
        let opts = parse(&[2, 4, 0, 1, 2, 4, 0, 2]).unwrap();
        assert_eq!(opts.mss, Some(2));
    }

    #[test]
    fn sack_parses_all_blocks_in_order() {
        let mut area = vec![1, 1, 5, 26];
        for (l, r) in [(10u32, 20u32), (30, 40), (u32::MAX - 5, 3)] {
            area.extend_from_slice(&l.to_be_bytes());
            area.extend_from_slice(&r.to_be_bytes());
        }
        let opts = parse(&area).unwrap();
        assert_eq!(
            opts.sack.as_slice(),
            &[
                (SeqNum(10), SeqNum(20)),
                (SeqNum(30), SeqNum(40)),
                (SeqNum(u32::MAX - 5), SeqNum(3))
            ]
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(area in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = parse(&area);
        }
    }
}

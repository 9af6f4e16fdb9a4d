//! Packet scripts: a connection driven by hand-written segments, with every segment it sends
//! checked field by field, in the spirit of packetdrill. One line per event:
//!
//! ```text
//! 0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK>
//! +0.01  < S. 5000:5000(0) ack 1001 win 512 <mss 1460,wscale 7>
//! +0     > . 1001:1001(0) ack 5001 win 65535
//! 0.1    send 3000
//! 0.1    > P. 1001:2461(1460) ack 5001 win 65535
//! ```
//!
//! - The time comes first, in seconds: absolute (`0.1`) or after the previous line (`+0.1`).
//!   Timers due before it fire first, and what they send is expected at their deadline.
//! - `<` hands the connection a segment from the peer; `>` expects the next segment it
//!   sends, exactly (at that time, to the peer). Flags as packetdrill writes them (`S`, `F`,
//!   `R`, `P`, `.` for ACK), `start:end(len)` in absolute sequence numbers, `ack` only with
//!   the ACK flag, `win` the 16-bit field as on the wire (unscaled), then the options the
//!   segment carries (`mss N`, `wscale N`, `sackOK`, `TS val N ecr M`, `nop` is skipped)
//!   or none.
//! - Payload bytes are a function of their stream offset (see [`stream_byte`]), on both
//!   sides, so data the connection sends and reads is checked byte for byte.
//! - `send N` queues N bytes; `read N` reads N bytes (`read` all there are) and checks them;
//!   `close`, `abort`: the user calls.
//!
//! Every segment the connection sends must be expected: one that is still unmatched when a
//! segment arrives or a user call is made, or at [`Script::finish`], fails the test.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::*;

/// Byte `k` of either side's stream in a script.
pub(super) fn stream_byte(k: u64) -> u8 {
    (k as u8) ^ ((k >> 8) as u8).wrapping_mul(31)
}

/// One segment in a script's notation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    flags: TcpFlags,
    seq: u32,
    len: u32,
    ack: u32,
    window: u16,
    options: TcpOptions,
}

impl Line {
    fn parse(text: &str) -> Line {
        let (head, opts) = match text.split_once('<') {
            Some((h, o)) => (h, Some(o.trim().trim_end_matches('>'))),
            None => (text, None),
        };
        let mut words = head.split_whitespace();
        let mut flags = TcpFlags::empty();
        for ch in words.next().expect("flags").chars() {
            flags |= match ch {
                'S' => TcpFlags::SYN,
                'F' => TcpFlags::FIN,
                'R' => TcpFlags::RST,
                'P' => TcpFlags::PSH,
                '.' => TcpFlags::ACK,
                _ => panic!("unknown flag {ch:?} in {text:?}"),
            };
        }
        let range = words.next().expect("start:end(len)");
        let (start, rest) = range.split_once(':').expect("start:end(len)");
        let (end, len) = rest.split_once('(').expect("start:end(len)");
        let seq: u32 = start.parse().expect("start");
        let end: u32 = end.parse().expect("end");
        let len: u32 = len.trim_end_matches(')').parse().expect("len");
        assert_eq!(end, seq.wrapping_add(len), "end = start + len in {text:?}");
        let mut line = Line {
            flags,
            seq,
            len,
            ack: 0,
            window: 0,
            options: TcpOptions::default(),
        };
        while let Some(key) = words.next() {
            let value = words.next().expect("a value after the key");
            match key {
                "ack" => line.ack = value.parse().expect("ack"),
                "win" => line.window = value.parse().expect("win"),
                _ => panic!("unknown field {key:?} in {text:?}"),
            }
        }
        for opt in opts.into_iter().flat_map(|o| o.split(',')) {
            let mut w = opt.split_whitespace();
            match (w.next(), w.next()) {
                (Some("mss"), Some(v)) => line.options.mss = Some(v.parse().expect("mss")),
                (Some("wscale"), Some(v)) => {
                    line.options.window_scale = Some(v.parse().expect("wscale"))
                }
                (Some("sackOK"), None) => line.options.sack_permitted = true,
                (Some("TS"), Some("val")) => {
                    let tsval = w.next().and_then(|v| v.parse().ok()).expect("TS val N");
                    assert_eq!(w.next(), Some("ecr"), "TS val N ecr M in {text:?}");
                    let tsecr = w.next().and_then(|v| v.parse().ok()).expect("TS ecr M");
                    line.options.timestamps = Some((tsval, tsecr));
                }
                (Some("nop"), None) | (None, None) => {}
                _ => panic!("unknown option {opt:?} in {text:?}"),
            }
        }
        line
    }

    fn of(seg: &TcpRepr<'_>) -> Line {
        Line {
            flags: seg.flags,
            seq: seg.seq.0,
            len: seg.payload.len() as u32,
            ack: if seg.flags.contains(TcpFlags::ACK) {
                seg.ack.0
            } else {
                0
            },
            window: seg.window,
            options: seg.options,
        }
    }

    /// The line in the script's notation, for messages.
    fn show(&self) -> String {
        let mut s = String::new();
        for (flag, ch) in [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
        ] {
            if self.flags.contains(flag) {
                s.push(ch);
            }
        }
        let end = self.seq.wrapping_add(self.len);
        let _ = write!(s, " {}:{end}({})", self.seq, self.len);
        if self.flags.contains(TcpFlags::ACK) {
            let _ = write!(s, " ack {}", self.ack);
        }
        let _ = write!(s, " win {}", self.window);
        let o = &self.options;
        let mut opts = Vec::new();
        if let Some(m) = o.mss {
            opts.push(format!("mss {m}"));
        }
        if let Some(w) = o.window_scale {
            opts.push(format!("wscale {w}"));
        }
        if o.sack_permitted {
            opts.push("sackOK".to_string());
        }
        if let Some((val, ecr)) = o.timestamps {
            opts.push(format!("TS val {val} ecr {ecr}"));
        }
        if !opts.is_empty() {
            let _ = write!(s, " <{}>", opts.join(","));
        }
        s
    }
}

/// A segment the connection sent, waiting to be matched by a `>` line.
struct Out {
    time: u64,
    dst: SocketAddr,
    line: Line,
    payload: Vec<u8>,
}

/// A connection at LOCAL with its peer at REMOTE, driven by script lines.
pub(super) struct Script {
    pub conn: Connection,
    pub now: u64,
    queued: VecDeque<Out>,
    /// The peer's ISN, from the first SYN the script hands over (its stream starts after).
    peer_isn: Option<u32>,
    /// Bytes `send` has queued so far (the next one's stream offset).
    sent: u64,
    /// Bytes `read` has taken so far.
    read: u64,
}

impl Script {
    /// An active open at time 0 with ISS `iss`: the SYN is the first segment to expect.
    pub fn connect(config: Config, iss: u32) -> Script {
        let conn = Connection::connect(config, LOCAL, REMOTE, SeqNum(iss), 0).unwrap();
        Script::new(conn)
    }

    /// A passive open with ISS `iss`, waiting for the script's SYN.
    pub fn listen(config: Config, iss: u32) -> Script {
        Script::new(Connection::listen(config, LOCAL, SeqNum(iss)).unwrap())
    }

    pub fn new(conn: Connection) -> Script {
        let mut s = Script {
            conn,
            now: 0,
            queued: VecDeque::new(),
            peer_isn: None,
            sent: 0,
            read: 0,
        };
        s.collect();
        s
    }

    /// Run the lines of `script` (blank lines and `#` comments are skipped).
    pub fn run(&mut self, script: &str) -> &mut Self {
        for raw in script.lines() {
            let text = raw.split('#').next().unwrap_or("").trim();
            if !text.is_empty() {
                self.step(text);
            }
        }
        self
    }

    /// Nothing the connection sent is left unexpected.
    pub fn finish(&mut self) {
        self.collect();
        self.assert_all_matched("the end of the script");
    }

    fn step(&mut self, text: &str) {
        let (time, rest) = text
            .split_once(char::is_whitespace)
            .expect("time, then event");
        let t = parse_time(time, self.now);
        assert!(t >= self.now, "time goes backwards at {text:?}");
        self.advance(t);
        let rest = rest.trim();
        if let Some(seg) = rest.strip_prefix('<') {
            self.assert_all_matched(text);
            self.inbound(Line::parse(seg.trim()));
        } else if let Some(seg) = rest.strip_prefix('>') {
            self.outbound(Line::parse(seg.trim()), text);
        } else {
            self.assert_all_matched(text);
            self.call(rest);
        }
        assert_rules_once(&self.conn);
    }

    /// Fire every timer due up to `t`, collecting what each sends at its deadline.
    fn advance(&mut self, t: u64) {
        for _ in 0..10_000 {
            match self.conn.poll_timeout() {
                Some(due) if due <= t => {
                    self.now = self.now.max(due);
                    self.conn.handle_timeout(self.now);
                    self.collect();
                }
                _ => {
                    self.now = t;
                    return;
                }
            }
        }
        panic!("timers keep firing before {t}");
    }

    /// Take everything the connection wants to send now.
    fn collect(&mut self) {
        let local = self.conn.local().ip();
        while let Some((dst, bytes)) = self.conn.poll_transmit_bytes(self.now) {
            let seg = TcpRepr::parse(&bytes, local, dst.ip()).expect("we emit valid segments");
            assert_eq!(seg.src_port, LOCAL.port());
            assert_eq!(seg.dst_port, dst.port());
            self.queued.push_back(Out {
                time: self.now,
                dst,
                line: Line::of(&seg),
                payload: seg.payload.to_vec(),
            });
            assert!(self.queued.len() < 10_000, "connection keeps sending");
        }
    }

    fn assert_all_matched(&self, at: &str) {
        if let Some(o) = self.queued.front() {
            panic!(
                "unexpected segment sent at {}: {} (before {at:?})",
                o.time,
                o.line.show()
            );
        }
    }

    fn inbound(&mut self, line: Line) {
        if line.flags.contains(TcpFlags::SYN) && self.peer_isn.is_none() {
            self.peer_isn = Some(line.seq);
        }
        // The peer's stream starts after its SYN: byte k has sequence number ISN + 1 + k.
        let first = line
            .seq
            .wrapping_add(u32::from(line.flags.contains(TcpFlags::SYN)));
        let base = self.peer_isn.map_or(first, |isn| isn.wrapping_add(1));
        let off = u64::from(first.wrapping_sub(base));
        let payload: Vec<u8> = (0..u64::from(line.len))
            .map(|i| stream_byte(off + i))
            .collect();
        let repr = TcpRepr {
            src_port: REMOTE.port(),
            dst_port: LOCAL.port(),
            seq: SeqNum(line.seq),
            ack: SeqNum(line.ack),
            flags: line.flags,
            window: line.window,
            urgent: 0,
            options: line.options,
            payload: &payload,
        };
        // Through the wire format, so the options go through the parser too.
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(&mut buf, REMOTE.ip(), LOCAL.ip()).unwrap();
        self.conn
            .handle_bytes(self.now, REMOTE.ip(), &buf[..n])
            .unwrap();
        self.collect();
    }

    fn outbound(&mut self, want: Line, text: &str) {
        self.collect();
        let Some(got) = self.queued.pop_front() else {
            panic!("{text:?}: nothing was sent");
        };
        assert_eq!(
            got.line.show(),
            want.show(),
            "{text:?}: got the segment on the left"
        );
        assert_eq!(got.line, want, "{text:?}");
        assert_eq!(got.time, self.now, "{text:?}: sent at {} instead", got.time);
        assert_eq!(got.dst, REMOTE, "{text:?}");
        if !got.payload.is_empty() {
            // Our stream starts after our SYN.
            let off = u64::from(got.line.seq.wrapping_sub(self.conn.tcb().iss.0 + 1));
            for (i, b) in got.payload.iter().enumerate() {
                assert_eq!(*b, stream_byte(off + i as u64), "{text:?}: byte {i}");
            }
        }
    }

    fn call(&mut self, call: &str) {
        let mut words = call.split_whitespace();
        match (words.next(), words.next()) {
            (Some("send"), Some(n)) => {
                let n: u64 = n.parse().expect("send N");
                let data: Vec<u8> = (self.sent..self.sent + n).map(stream_byte).collect();
                let took = self.conn.send(&data).unwrap();
                assert_eq!(took as u64, n, "the send buffer took only {took} of {n}");
                self.sent += n;
            }
            (Some("read"), n) => {
                let max = n.map_or(usize::MAX, |n| n.parse().expect("read N"));
                let mut got = Vec::new();
                self.conn.recv_to_vec(max, &mut got);
                if max != usize::MAX {
                    assert_eq!(got.len(), max, "read {max}: only {} in order", got.len());
                }
                for (i, b) in got.iter().enumerate() {
                    assert_eq!(*b, stream_byte(self.read + i as u64), "read: byte {i}");
                }
                self.read += got.len() as u64;
            }
            (Some("close"), None) => self.conn.close(self.now).unwrap(),
            (Some("abort"), None) => self.conn.abort(self.now),
            _ => panic!("unknown call {call:?}"),
        }
        self.collect();
    }
}

/// Seconds (`0.25`) or seconds after `prev` (`+0.25`), in microseconds.
fn parse_time(text: &str, prev: u64) -> u64 {
    let (rel, num) = match text.strip_prefix('+') {
        Some(n) => (true, n),
        None => (false, text),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    assert!(frac.len() <= 6, "time {text:?}: at most microseconds");
    let us = whole.parse::<u64>().expect("time") * SEC
        + format!("{frac:0<6}").parse::<u64>().expect("time");
    if rel {
        prev + us
    } else {
        us
    }
}

#[test]
fn the_notation_reads_back_as_written() {
    for text in [
        "S 1000:1000(0) win 65535 <mss 1460,wscale 7,sackOK>",
        "S. 5000:5000(0) ack 1001 win 512 <mss 536>",
        "S 1:1(0) win 9 <mss 1460,sackOK,TS val 7 ecr 0>",
        ". 2:2(0) ack 9 win 9 <TS val 4294967295 ecr 12>",
        "P. 1001:2461(1460) ack 5001 win 65535",
        "F. 7:7(0) ack 9 win 0",
        "R 4294967295:4294967295(0) win 0",
    ] {
        assert_eq!(Line::parse(text).show(), text);
    }
    assert_eq!(
        Line::parse("S 1:1(0) win 9 <mss 1460,nop,wscale 7,nop,nop,sackOK>").show(),
        "S 1:1(0) win 9 <mss 1460,wscale 7,sackOK>"
    );
    assert_eq!(parse_time("1.5", 0), 1_500_000);
    assert_eq!(parse_time("+0.000250", 1_000_000), 1_000_250);
}

#[test]
#[should_panic(expected = "got the segment on the left")]
fn a_segment_that_differs_fails_the_script() {
    Script::connect(Config::default(), 1000)
        .run("0  > S 1000:1000(0) win 65534 <mss 1460,wscale 0,sackOK>");
}

#[test]
#[should_panic(expected = "unexpected segment sent")]
fn a_segment_not_expected_fails_the_script() {
    Script::connect(Config::default(), 1000).finish();
}

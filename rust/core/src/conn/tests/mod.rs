//! Unit tests of the connection state machine, written from our side of the connection:
//! segments from the peer are built with [`Peer`], and what we send is drained and parsed
//! back with [`drain`], so every assertion is about bytes on the wire.
//!
//! Per concept, one file: the handshake, data transfer, loss recovery, resets, closing,
//! the options negotiated on the SYNs. `script` drives a connection by packet scripts.

mod applied;
mod chaos;
mod close;
mod congestion;
mod data;
mod handshake;
mod keepalive;
mod loss;
mod options;
mod pacing;
mod reset;
mod sack;
mod script;
mod timestamps;
mod tlp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::events::{Event, LogKind, SendReason};
use super::{Config, Connection, State};
use crate::seq::SeqNum;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

/// Our address.
pub(super) const LOCAL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
/// The peer's address.
pub(super) const REMOTE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2000);

/// Our ISS and the peer's in the fixtures built by [`established`].
pub(super) const ISS: u32 = 1000;
pub(super) const IRS: u32 = 5000;

/// One second, the default initial and minimum RTO.
pub(super) const SEC: u64 = 1_000_000;

/// A segment we sent, parsed back from the checksummed bytes, with the reason the log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sent {
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks `(left, right)`, in the order sent.
    pub sack: Vec<(u32, u32)>,
    pub payload: Vec<u8>,
    pub reason: SendReason,
}

impl Sent {
    pub fn has(&self, flags: TcpFlags) -> bool {
        self.flags.contains(flags)
    }

    /// SEG.LEN: payload plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.has(TcpFlags::SYN))
            + u32::from(self.has(TcpFlags::FIN))
    }
}

/// Everything `c` wants to send at `now`, parsed (with checksum verification) from the bytes
/// `poll_transmit_bytes` returns.
pub(super) fn drain(c: &mut Connection, now: u64) -> Vec<Sent> {
    let mut out = Vec::new();
    while let Some((dst, bytes)) = c.poll_transmit_bytes(now) {
        let seg = TcpRepr::parse(&bytes, c.local().ip(), dst.ip()).expect("we emit valid segments");
        assert_eq!(seg.src_port, c.local().port());
        assert_eq!(seg.dst_port, dst.port());
        let reason = c
            .log()
            .entries()
            .filter_map(|e| match e.kind {
                LogKind::Sent { reason, .. } => Some(reason),
                _ => None,
            })
            .last()
            .expect("every segment sent is logged");
        out.push(Sent {
            dst,
            seq: seg.seq.0,
            ack: seg.ack.0,
            flags: seg.flags,
            window: seg.window,
            mss: seg.options.mss,
            window_scale: seg.options.window_scale,
            sack_permitted: seg.options.sack_permitted,
            timestamps: seg.options.timestamps,
            sack: seg
                .options
                .sack
                .as_slice()
                .iter()
                .map(|(l, r)| (l.0, r.0))
                .collect(),
            payload: seg.payload.to_vec(),
            reason,
        });
        assert!(out.len() < 10_000, "connection keeps sending");
    }
    out
}

/// Drain and expect exactly one segment.
pub(super) fn drain_one(c: &mut Connection, now: u64) -> Sent {
    let mut v = drain(c, now);
    assert_eq!(v.len(), 1, "expected one segment, got {v:#?}");
    v.remove(0)
}

pub(super) fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Builds the peer's segments: ports are the peer's, numbers are given raw.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer {
    pub window: u16,
}

impl Default for Peer {
    fn default() -> Self {
        Peer { window: 65535 }
    }
}

impl Peer {
    pub fn seg<'a>(&self, flags: TcpFlags, seq: u32, ack: u32, payload: &'a [u8]) -> TcpRepr<'a> {
        TcpRepr {
            src_port: REMOTE.port(),
            dst_port: LOCAL.port(),
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window: self.window,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        }
    }

    pub fn syn(&self, seq: u32, mss: Option<u16>) -> TcpRepr<'static> {
        let mut s = self.seg(TcpFlags::SYN, seq, 0, &[]);
        s.options.mss = mss;
        s
    }

    pub fn syn_ack(&self, seq: u32, ack: u32, mss: Option<u16>) -> TcpRepr<'static> {
        let mut s = self.seg(TcpFlags::SYN | TcpFlags::ACK, seq, ack, &[]);
        s.options.mss = mss;
        s
    }

    pub fn ack(&self, seq: u32, ack: u32) -> TcpRepr<'static> {
        self.seg(TcpFlags::ACK, seq, ack, &[])
    }

    pub fn data<'a>(&self, seq: u32, ack: u32, payload: &'a [u8]) -> TcpRepr<'a> {
        self.seg(TcpFlags::ACK | TcpFlags::PSH, seq, ack, payload)
    }

    pub fn fin(&self, seq: u32, ack: u32) -> TcpRepr<'static> {
        self.seg(TcpFlags::FIN | TcpFlags::ACK, seq, ack, &[])
    }

    pub fn rst(&self, seq: u32) -> TcpRepr<'static> {
        self.seg(TcpFlags::RST, seq, 0, &[])
    }
}

/// Hand `seg` to `c` as if it came from the peer.
pub(super) fn recv(c: &mut Connection, now: u64, seg: &TcpRepr<'_>) {
    c.handle_segment(now, REMOTE.ip(), seg);
    assert_rules_once(c);
}

/// Each rule an input applies is listed once (the conformance tests compare the list with
/// the spec's, where a phase applies one rule and a rule belongs to one phase).
pub(super) fn assert_rules_once(c: &Connection) {
    let rules = c.applied_rules();
    for (i, r) in rules.iter().enumerate() {
        assert!(!rules[..i].contains(r), "{r} listed twice in {rules:?}");
    }
}

/// An active-open connection taken to ESTABLISHED at time `now` by a SYN-ACK with the
/// peer's window `peer.window` and an MSS option of 1460; everything sent is drained.
pub(super) fn established_with(config: Config, peer: Peer, now: u64) -> Connection {
    let mut c = Connection::connect(config, LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    let syn = drain_one(&mut c, 0);
    assert!(syn.has(TcpFlags::SYN));
    recv(&mut c, now, &peer.syn_ack(IRS, ISS + 1, Some(1460)));
    assert_eq!(c.state(), State::Established);
    drain(&mut c, now);
    events(&mut c);
    c
}

pub(super) fn established() -> Connection {
    established_with(immediate(), Peer::default(), 0)
}

/// The default settings but every segment acknowledged at once, Nagle off and no tail-loss
/// probes: the tests written before delayed ACKs, Nagle and TLP (`delack.rs`, `output.rs`,
/// `tlp.rs`) expect one answer per segment, each write sent at once, and the timer that
/// expires after data to be the retransmission timer. Sender SWS avoidance still applies.
pub(super) fn immediate() -> Config {
    Config {
        delayed_ack_us: 0,
        nodelay: true,
        tail_loss_probe: false,
        ..Config::default()
    }
}

/// Two real connections, `a` (active, at LOCAL) and `b` (passive, at REMOTE), exchanging
/// checksummed bytes; `trace` records every segment in the order it was sent.
pub(super) struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: u64,
    pub trace: Vec<(char, Sent)>,
}

impl Pair {
    pub fn new(a_config: Config, a_iss: u32, b_config: Config, b_iss: u32) -> Self {
        Pair {
            a: Connection::connect(a_config, LOCAL, REMOTE, SeqNum(a_iss), 0).unwrap(),
            b: Connection::listen(b_config, REMOTE, SeqNum(b_iss)).unwrap(),
            now: 0,
            trace: Vec::new(),
        }
    }

    /// Move segments both ways until neither side has anything to send. Returns how many
    /// segments moved.
    pub fn exchange(&mut self) -> usize {
        let mut moved = 0;
        loop {
            let from_a = drain(&mut self.a, self.now);
            let from_b = drain(&mut self.b, self.now);
            if from_a.is_empty() && from_b.is_empty() {
                return moved;
            }
            moved += from_a.len() + from_b.len();
            for s in from_a {
                deliver(&mut self.b, self.now, LOCAL, &s);
                self.trace.push(('a', s));
            }
            for s in from_b {
                deliver(&mut self.a, self.now, REMOTE, &s);
                self.trace.push(('b', s));
            }
            assert!(moved < 100_000, "endless exchange");
        }
    }

    /// Advance the clock to the earliest timer and fire it on both sides; `false` if no timer
    /// is armed.
    pub fn fire_next_timer(&mut self) -> bool {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else {
            return false;
        };
        self.now = self.now.max(t);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        true
    }
}

/// Re-emit a parsed segment as bytes from `from` and hand them to `to` (checksum and all).
pub(super) fn deliver(to: &mut Connection, now: u64, from: SocketAddr, s: &Sent) {
    let mut sack = crate::wire::SackBlocks::new();
    for &(l, r) in &s.sack {
        sack.push(SeqNum(l), SeqNum(r));
    }
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: s.dst.port(),
        seq: SeqNum(s.seq),
        ack: SeqNum(s.ack),
        flags: s.flags,
        window: s.window,
        urgent: 0,
        options: TcpOptions {
            mss: s.mss,
            window_scale: s.window_scale,
            sack_permitted: s.sack_permitted,
            timestamps: s.timestamps,
            sack,
        },
        payload: &s.payload,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut buf, from.ip(), s.dst.ip()).unwrap();
    to.handle_bytes(now, from.ip(), &buf[..n]).unwrap();
    assert_rules_once(to);
}

/// Deterministic test bytes.
pub(super) fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(salt ^ (i >> 8) as u8)
        })
        .collect()
}

//! What a connection reports: user-facing events, a bounded log of what happened and why,
//! and counters.

use std::collections::VecDeque;

use super::rules::RuleId;
use super::state::State;
use crate::seq::SeqNum;
use crate::wire::TcpFlags;

/// Why a connection ended abnormally; maps onto the `OSError` subclasses Python users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnError {
    /// RST in answer to our SYN (`ConnectionRefusedError`).
    Refused,
    /// RST on a synchronized connection (`ConnectionResetError`).
    Reset,
    /// Retransmissions exhausted (`TimeoutError`).
    TimedOut,
}

impl ConnError {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnError::Refused => "connection refused",
            ConnError::Reset => "connection reset by peer",
            ConnError::TimedOut => "connection timed out",
        }
    }
}

/// Events for the user of the connection, taken with `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// In-order data is ready to read.
    Readable,
    /// The peer sent FIN: no more data will arrive after what is buffered.
    PeerClosed,
    /// The connection reached CLOSED in an orderly way.
    Closed,
    /// The connection failed.
    Error(ConnError),
}

/// Why a segment was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendReason {
    Syn,
    SynAck,
    Data,
    Ack,
    /// An immediate ACK for an out-of-order segment: it names the first missing byte.
    DupAck,
    /// An ACK answering an unacceptable segment or a suspicious RST/SYN (RFC 5961).
    ChallengeAck,
    Fin,
    RetransmitTimeout,
    FastRetransmit,
    /// NewReno partial-ACK retransmission during fast recovery (RFC 6582 3.2 step 5).
    RecoveryRetransmit,
    /// Zero-window probe (RFC 9293 3.8.6.1).
    Probe,
    Rst,
    /// Keep-alive probe (RFC 9293 3.8.4): an ACK numbered SND.NXT - 1.
    KeepAlive,
    /// Tail-loss probe (RFC 8985 7.3): the last segment sent, again, when no ACK came for
    /// two round trips and there was no new data to probe with.
    TailLossProbe,
}

impl SendReason {
    pub const ALL: [SendReason; 14] = [
        SendReason::Syn,
        SendReason::SynAck,
        SendReason::Data,
        SendReason::Ack,
        SendReason::DupAck,
        SendReason::ChallengeAck,
        SendReason::Fin,
        SendReason::RetransmitTimeout,
        SendReason::FastRetransmit,
        SendReason::RecoveryRetransmit,
        SendReason::Probe,
        SendReason::Rst,
        SendReason::KeepAlive,
        SendReason::TailLossProbe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SendReason::Syn => "syn",
            SendReason::SynAck => "syn-ack",
            SendReason::Data => "data",
            SendReason::Ack => "ack",
            SendReason::DupAck => "dup-ack",
            SendReason::ChallengeAck => "challenge-ack",
            SendReason::Fin => "fin",
            SendReason::RetransmitTimeout => "retransmit-timeout",
            SendReason::FastRetransmit => "fast-retransmit",
            SendReason::RecoveryRetransmit => "recovery-retransmit",
            SendReason::Probe => "probe",
            SendReason::Rst => "rst",
            SendReason::KeepAlive => "keepalive",
            SendReason::TailLossProbe => "tail-loss-probe",
        }
    }

    pub fn is_retransmission(self) -> bool {
        matches!(
            self,
            SendReason::RetransmitTimeout
                | SendReason::FastRetransmit
                | SendReason::RecoveryRetransmit
                | SendReason::TailLossProbe
        )
    }
}

/// What became of a received segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Control segment (SYN, SYN-ACK, FIN, ACK) processed.
    Accepted,
    /// Data delivered in order.
    InOrder,
    /// Data held in the reassembly buffer until the gap before it fills.
    OutOfOrderHeld,
    /// Every byte was already received.
    Duplicate,
    /// A duplicate ACK (RFC 5681 2).
    DupAck,
    /// Failed the acceptance test or a validity check, answered or dropped.
    Dropped,
    /// A RST that ended the connection.
    Reset,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Accepted => "accepted",
            Disposition::InOrder => "in-order",
            Disposition::OutOfOrderHeld => "out-of-order-held",
            Disposition::Duplicate => "duplicate",
            Disposition::DupAck => "dup-ack",
            Disposition::Dropped => "dropped",
            Disposition::Reset => "reset",
        }
    }
}

/// The header fields worth logging about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub len: u32,
    pub window: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    State {
        from: State,
        to: State,
        rule: RuleId,
    },
    Sent {
        seg: SegmentSummary,
        reason: SendReason,
    },
    Received {
        seg: SegmentSummary,
        disposition: Disposition,
        rule: RuleId,
    },
    Timer {
        rule: RuleId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry {
    pub time: u64,
    pub kind: LogKind,
}

/// A bounded log: past `limit` entries new ones are counted as dropped, never stored.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
    limit: usize,
    dropped: u64,
}

impl EventLog {
    pub fn new(limit: usize) -> Self {
        EventLog {
            entries: VecDeque::new(),
            limit,
            dropped: 0,
        }
    }

    pub fn push(&mut self, time: u64, kind: LogKind) {
        if self.entries.len() < self.limit {
            self.entries.push_back(LogEntry { time, kind });
        } else {
            self.dropped += 1;
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = LogEntry> + '_ {
        self.entries.drain(..)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The id of the last rule recorded, for conformance checks.
    pub fn last_rule(&self) -> Option<RuleId> {
        self.entries.iter().rev().find_map(|e| match e.kind {
            LogKind::State { rule, .. }
            | LogKind::Received { rule, .. }
            | LogKind::Timer { rule } => Some(rule),
            LogKind::Sent { .. } => None,
        })
    }
}

/// Per-connection counters. Monotonic except where noted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub segments_sent: u64,
    pub segments_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_delivered: u64,
    pub bytes_retransmitted: u64,
    pub retransmits_timeout: u64,
    pub retransmits_fast: u64,
    pub retransmits_recovery: u64,
    pub rto_expirations: u64,
    pub out_of_order_segments: u64,
    pub out_of_order_bytes: u64,
    pub duplicate_segments: u64,
    pub duplicate_bytes: u64,
    pub dup_acks_sent: u64,
    pub dup_acks_received: u64,
    pub acks_sent: u64,
    pub unacceptable_segments: u64,
    pub challenge_acks_sent: u64,
    /// Challenge ACKs not sent because of the rate limit (`Config::challenge_ack_limit`).
    pub challenge_acks_suppressed: u64,
    pub resets_sent: u64,
    pub resets_received: u64,
    pub window_probes: u64,
    /// Keep-alive probes sent (RFC 9293 3.8.4).
    pub keepalive_probes: u64,
    /// ACKs sent because the delayed-ACK timer expired (RFC 9293 3.8.6.3).
    pub delayed_acks: u64,
    pub reassembly_dropped_bytes: u64,
    /// Segments dropped for lacking the Timestamps option after it was negotiated (RFC 7323
    /// 3.2).
    pub ts_missing_dropped: u64,
    /// Segments dropped by PAWS: their TSval older than TS.Recent (RFC 7323 5.3 R1).
    pub paws_rejected: u64,
    /// SACK blocks we sent (RFC 2018), D-SACK blocks (RFC 2883) included, and the segments
    /// that carried them.
    pub sack_blocks_sent: u64,
    pub segments_with_sack_sent: u64,
    /// SACK blocks the peer sent us, those reporting duplicates (D-SACK, RFC 2883) and
    /// those we ignored as impossible.
    pub sack_blocks_received: u64,
    pub dsacks_received: u64,
    pub sack_blocks_invalid: u64,
    /// Window reductions undone because the retransmissions proved needless (D-SACK, RFC
    /// 3708; Eifel, RFC 3522).
    pub spurious_undone: u64,
    /// The receiver dropped data it had SACKed (RFC 2018 8): the scoreboard was cleared.
    pub sack_reneging: u64,
    /// Bytes RACK (RFC 8985) marked lost: sent before a segment since delivered, a round
    /// trip and the reordering window ago.
    pub rack_lost_bytes: u64,
    /// Tail-loss probes sent (RFC 8985 7), new data or the last segment again.
    pub tail_loss_probes: u64,
    /// Answers to arrivals merged into later ones because too many waited at once.
    pub acks_coalesced: u64,
    pub log_dropped: u64,
    /// Not counters but the congestion control's state when read: cwnd and ssthresh in
    /// bytes, whether RFC 6582 fast recovery is under way, and the algorithm's name.
    pub cwnd: u32,
    pub ssthresh: u32,
    pub in_recovery: bool,
    pub congestion_control: &'static str,
}

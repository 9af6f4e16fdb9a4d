//! One TCP connection (the TCB of RFC 9293 3.3.1) and its user calls.
//!
//! The work is split by concept: `input` processes arriving segments (RFC 9293 3.10.7) with
//! its checks in `accept` (sequence number), `ack` (ACK field, loss recovery) and `text`
//! (data, FIN); `output` decides what to send (3.8, RFC 5681), `timers` handles expiries
//! (RFC 6298, 3.10.8); `window` and `timestamps` the options the SYNs negotiate (RFC 7323).
//! This file holds the state they share and the user calls (3.10.1-3.10.6).

mod accept;
mod ack;
mod ack_owed;
mod config;
mod delack;
pub mod events;
mod input;
mod keepalive;
mod output;
mod recovery;
pub mod rules;
mod sack;
mod sack_recovery;
mod spec_vars;
pub mod state;
mod text;
mod timer_table;
mod timers;
mod timestamps;
pub(crate) mod tlp;
mod undo;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::cc::{CongestionAlgorithm, Controller};
use crate::reassembly::Reassembly;
use crate::rtt::{RttEstimator, RttSampler};
use crate::seq::SeqNum;
use crate::wire::{TcpFlags, TcpRepr, WireError};

pub use config::Config;
pub use events::{
    ConnError, Counters, Disposition, Event, EventLog, LogEntry, LogKind, SegmentSummary,
    SendReason,
};
pub use input::rst_reply;
pub use keepalive::{
    Keepalive, DEFAULT_KEEPALIVE_COUNT, DEFAULT_KEEPALIVE_IDLE_US, DEFAULT_KEEPALIVE_INTERVAL_US,
};
use recovery::Recovery;
pub use rules::RuleId;
pub use state::State;
use timer_table::{Timer, TimerTable};
pub use timestamps::{ts_clock, TS_OPTION_LEN, TS_RECENT_MAX_AGE_US, TS_TICK_US};

/// The least MSS we use or accept, ours or the peer's (RFC 9293 3.7.1 leaves the floor to
/// us; Linux's is 48).
pub const MIN_MSS: u32 = 64;

/// RFC 9293 3.8.6.3 (MUST-40): an ACK is delayed less than 0.5 seconds.
pub const MAX_DELAYED_ACK_US: u64 = 500_000;

/// Local misuse or a failed connection, reported to the caller of a user call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The call makes no sense in this state (e.g. `connect` twice).
    InvalidState(&'static str),
    /// A bad argument.
    InvalidInput(&'static str),
    /// No connection yet (send on a listening connection).
    NotConnected,
    /// Sending after our own close/shutdown, or after the connection failed.
    BrokenPipe,
    /// The connection failed; the reason.
    Connection(ConnError),
    /// A segment could not be parsed.
    Wire(WireError),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::InvalidState(s) | Error::InvalidInput(s) => f.write_str(s),
            Error::NotConnected => f.write_str("connection is not established"),
            Error::BrokenPipe => f.write_str("cannot send after the connection was closed"),
            Error::Connection(e) => f.write_str(e.as_str()),
            Error::Wire(e) => write!(f, "malformed segment: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// The TCB's sequence variables, named as in RFC 9293 3.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tcb {
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// Highest sequence number sent so far (`snd_nxt` goes back to `snd_una` after a timeout).
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// Largest window the peer ever offered (RFC 5961 5.2's MAX.SND.WND).
    pub max_snd_wnd: u32,
    pub rcv_nxt: SeqNum,
    /// The window we advertised last, in bytes (its field scaled by `rcv_wscale`).
    pub rcv_wnd: u32,
    /// Effective send MSS (ours capped by the peer's option).
    pub snd_mss: u32,
    /// Both SYNs carried a Window Scale option (RFC 7323 2.2): windows are scaled.
    pub wscale_ok: bool,
    /// RFC 7323 2.3's Snd.Wind.Shift: the peer's shift, applied to the windows it sends.
    pub snd_wscale: u8,
    /// RFC 7323 2.3's Rcv.Wind.Shift: our shift, applied to the windows we send.
    pub rcv_wscale: u8,
    /// Both SYNs carried SACK-permitted (RFC 2018 2).
    pub sack_ok: bool,
    /// Both SYNs carried the Timestamps option (RFC 7323 3.2's Snd.TS.OK): every segment
    /// but a RST carries it from now on, both ways.
    pub ts_ok: bool,
    /// RFC 7323 4.3's TS.Recent: the peer's TSval we echo, and PAWS's reference (5.3).
    pub ts_recent: u32,
    /// RFC 7323 4.3's Last.ACK.sent: the ACK field of the last segment we sent with one.
    pub last_ack_sent: SeqNum,
}

/// A control segment queued for sending that carries no data (RST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ControlSegment {
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
    /// Where to send it when it is not the connection's peer (a RST from LISTEN).
    dst: Option<SocketAddr>,
}

pub struct Connection {
    config: Config,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    state: State,
    /// Opened by a passive OPEN (from LISTEN): a reset in SYN-RECEIVED returns to LISTEN.
    passive: bool,
    tcb: Tcb,
    /// Bytes from `snd_una` (once the SYN is acknowledged) onward: unacknowledged, then unsent.
    send_buf: VecDeque<u8>,
    /// In-order received bytes the user has not read.
    recv_buf: VecDeque<u8>,
    reasm: Reassembly,
    /// Stream offset of `rcv_nxt` (bytes delivered in order so far).
    rcv_off: u64,
    /// The peer's FIN, seen ahead of a gap: its stream offset.
    peer_fin_off: Option<u64>,
    fin_received: bool,
    /// The user asked to close the sending side; a FIN follows the queued data.
    fin_queued: bool,
    /// Sequence number our FIN occupies, once sent.
    fin_seq: Option<SeqNum>,
    /// SYN or SYN-ACK to (re)send, and why.
    syn_pending: Option<SendReason>,
    /// What we must acknowledge and by when: each arriving segment's answer, delayed ACKs,
    /// challenge ACKs, D-SACK (see `ack_owed.rs`).
    ack_owed: ack_owed::AckOwed,
    /// A single retransmission from `snd_una` to make (fast or NewReno partial-ACK).
    rexmit_pending: Option<SendReason>,
    probe_pending: bool,
    ctl_queue: VecDeque<ControlSegment>,
    rtt: RttEstimator,
    sampler: RttSampler,
    cc: Controller,
    /// What the peer holds and what was lost: the SACK scoreboard, RACK, RFC 6675's
    /// HighRxt, the undo watch (see `Recovery`).
    recovery: Recovery,
    dupacks: u32,
    /// The protocol timers' deadlines: retransmission (or persist), tail-loss probe,
    /// TIME-WAIT (see `timer_table.rs`).
    timers: TimerTable,
    /// The RTO timer is running as the zero-window persist timer.
    persisting: bool,
    retries: u32,
    error: Option<ConnError>,
    events: VecDeque<Event>,
    log: EventLog,
    counters: Counters,
    /// Rule ids applied while handling the last input.
    applied: Vec<RuleId>,
    /// Payload copied out of `send_buf` for the segment being emitted.
    scratch: Vec<u8>,
    /// When we last answered an unacceptable ACK-only segment (see `oow_ack_interval_us`).
    last_oow_ack: Option<u64>,
    /// The current one-second window of challenge ACKs: when it began, how many were sent.
    challenge_window: Option<(u64, u32)>,
    /// The right edge of the receive window we advertised furthest (RCV.NXT + window of an
    /// ACK we sent), as a stream offset like `rcv_off`; `None` before the first. Scaling
    /// rounds windows to multiples of 2^rcv_wscale, and the edge must not move left because
    /// of it (see `window.rs`).
    rcv_adv: Option<u64>,
    /// Keep-alive timing and probes (see `keepalive.rs`).
    keepalive_state: keepalive::KeepaliveState,
    /// The timestamp clock's offset and TS.Recent's age (see `timestamps.rs`).
    ts: timestamps::TsState,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("state", &self.state)
            .field("tcb", &self.tcb)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(config: Config, local: SocketAddr, iss: SeqNum) -> Result<Self, Error> {
        config.validate()?;
        let mss = u32::from(config.mss_for(local.ip()));
        let tcb = Tcb {
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_mss: mss,
            ..Tcb::default()
        };
        Ok(Connection {
            rtt: RttEstimator::new(config.rto),
            cc: Controller::new(
                config.congestion_control,
                mss,
                config.initial_window_segments,
                iss,
            ),
            // Held data lies within the receive window, which rounding up to the scale's
            // granularity may take up to 2^shift - 1 bytes past the buffer (`window.rs`).
            reasm: Reassembly::new(
                config
                    .recv_buffer
                    .saturating_add(config.window_granularity() - 1),
            ),
            log: EventLog::new(config.log_limit),
            config,
            local,
            remote: None,
            state: State::Closed,
            passive: false,
            tcb,
            send_buf: VecDeque::new(),
            recv_buf: VecDeque::new(),
            rcv_off: 0,
            peer_fin_off: None,
            fin_received: false,
            fin_queued: false,
            fin_seq: None,
            syn_pending: None,
            ack_owed: ack_owed::AckOwed::default(),
            rexmit_pending: None,
            probe_pending: false,
            ctl_queue: VecDeque::new(),
            sampler: RttSampler::default(),
            recovery: Recovery::new(iss),
            dupacks: 0,
            timers: TimerTable::default(),
            persisting: false,
            retries: 0,
            error: None,
            events: VecDeque::new(),
            counters: Counters::default(),
            applied: Vec::new(),
            scratch: Vec::new(),
            last_oow_ack: None,
            challenge_window: None,
            rcv_adv: None,
            keepalive_state: keepalive::KeepaliveState::default(),
            ts: timestamps::TsState::default(),
        })
    }

    /// Active OPEN (RFC 9293 3.10.1): the SYN goes out on the next `poll_transmit`.
    pub fn connect(
        config: Config,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        now: u64,
    ) -> Result<Self, Error> {
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(Error::InvalidInput(
                "local and remote addresses must be of one family",
            ));
        }
        if remote.port() == 0 {
            return Err(Error::InvalidInput("remote port must not be 0"));
        }
        let mut c = Connection::new(config, local, iss)?;
        c.remote = Some(remote);
        c.syn_pending = Some(SendReason::Syn);
        c.set_state(now, State::SynSent, rules::CLOSED_CONNECT);
        Ok(c)
    }

    /// Passive OPEN: wait in LISTEN for one SYN; `iss` is used for the SYN-ACK.
    pub fn listen(config: Config, local: SocketAddr, iss: SeqNum) -> Result<Self, Error> {
        let mut c = Connection::new(config, local, iss)?;
        c.passive = true;
        c.set_state(0, State::Listen, rules::CLOSED_LISTEN);
        Ok(c)
    }

    // ----- accessors -----

    pub fn state(&self) -> State {
        self.state
    }

    pub fn tcb(&self) -> &Tcb {
        &self.tcb
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Nagle's algorithm off (`true`) or on, for this connection from now on (RFC 9293
    /// 3.7.4, MUST-17: the application must be able to turn it off; TCP_NODELAY). Data it
    /// was holding goes on the next `poll_transmit`.
    pub fn set_nodelay(&mut self, on: bool) {
        self.config.nodelay = on;
    }

    /// Tail-loss probes (RFC 8985 7) on or off for this connection from now on.
    pub fn set_tail_loss_probe(&mut self, on: bool) {
        self.config.tail_loss_probe = on;
        if !on {
            self.disarm_tlp();
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.log_dropped = self.log.dropped();
        c.acks_coalesced = self.ack_owed.coalesced();
        c.cwnd = self.cc.cwnd();
        c.ssthresh = self.cc.ssthresh();
        c.in_recovery = self.cc.in_recovery();
        c.congestion_control = self.cc.name();
        c
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    pub fn log_mut(&mut self) -> &mut EventLog {
        &mut self.log
    }

    /// Rule ids applied by the last `handle_segment`, `handle_timeout` or user call.
    pub fn applied_rules(&self) -> &[RuleId] {
        &self.applied
    }

    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }

    pub fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }

    /// The congestion control algorithm's name: "cubic" or "newreno".
    pub fn congestion_control_name(&self) -> &'static str {
        self.cc.name()
    }

    /// Switch the congestion control algorithm (Linux's TCP_CONGESTION on an open socket):
    /// the new one starts from the current cwnd and ssthresh.
    pub fn set_congestion_control(&mut self, alg: CongestionAlgorithm) {
        self.config.congestion_control = alg;
        self.cc.set_algorithm(alg);
    }

    pub fn srtt_us(&self) -> Option<u64> {
        self.rtt.srtt_us()
    }

    pub fn rto_us(&self) -> u64 {
        self.rtt.rto_us()
    }

    /// Bytes queued for sending and not yet acknowledged (including unsent).
    pub fn send_queue_len(&self) -> usize {
        self.send_buf.len()
    }

    /// Room left in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.config.send_buffer.saturating_sub(self.send_buf.len())
    }

    /// In-order bytes ready for `recv`.
    pub fn recv_queue_len(&self) -> usize {
        self.recv_buf.len()
    }

    /// What the peer's SACK blocks say it holds above SND.UNA (RFC 6675 3), ascending.
    pub fn sacked_ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.recovery.scoreboard.ranges()
    }

    /// Bytes held out of order.
    pub fn reassembly_len(&self) -> usize {
        self.reasm.held_bytes()
    }

    /// True once the peer's FIN has been received and every byte before it read.
    pub fn at_eof(&self) -> bool {
        self.fin_received && self.recv_buf.is_empty()
    }

    pub fn fin_received(&self) -> bool {
        self.fin_received
    }

    /// All queued data and our FIN (if any) acknowledged.
    pub fn all_acked(&self) -> bool {
        self.send_buf.is_empty() && self.tcb.snd_una == self.tcb.snd_max
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- user calls -----

    /// SEND (3.10.2): queue as much of `data` as the send buffer takes; returns the count.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        // SEND applies no logged rule: what `applied_rules` reports is this call's (none).
        self.applied.clear();
        if self.error.is_some() {
            return Err(Error::BrokenPipe);
        }
        match self.state {
            State::Closed => Err(Error::NotConnected),
            State::Listen => Err(Error::NotConnected),
            s if !s.can_send_data() || self.fin_queued => Err(Error::BrokenPipe),
            _ => {
                let n = data.len().min(self.send_capacity());
                self.send_buf.extend(&data[..n]);
                Ok(n)
            }
        }
    }

    /// RECEIVE (3.10.3): move up to `buf.len()` in-order bytes into `buf`.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.recv_buf.len());
        for (dst, src) in buf.iter_mut().zip(self.recv_buf.drain(..n)) {
            *dst = src;
        }
        self.after_read();
        n
    }

    /// RECEIVE into a growing vector, up to `max` bytes.
    pub fn recv_to_vec(&mut self, max: usize, out: &mut Vec<u8>) -> usize {
        let n = max.min(self.recv_buf.len());
        out.extend(self.recv_buf.drain(..n));
        self.after_read();
        n
    }

    /// Reading opened the window: tell the peer at once when the right edge may move by
    /// enough to matter (RFC 9293 3.8.6.2.2, receiver-side SWS avoidance; see
    /// `window_update_due`). Smaller openings wait for the next segment we send anyway.
    /// While a delayed ACK is pending (RFC 9293 3.8.6.3) the update rides on it, unless the
    /// window the peer knows would at least double (as Linux's `tcp_cleanup_rbuf`): a
    /// reader that keeps up with a bulk sender would otherwise turn every segment's
    /// delayed ACK into an immediate window update.
    fn after_read(&mut self) {
        if !self.state.is_synchronized() || !self.window_update_due() {
            return;
        }
        let known = u64::from(self.promised());
        if self.ack_owed.delayed_until().is_none()
            || u64::from(self.window_we_would_advertise()) >= 2 * known
        {
            self.ack_owed.owe_now();
        }
    }

    /// CLOSE (3.10.4): no more data from us; a FIN follows what is queued. Receiving goes on
    /// (this is TCP's half-close).
    pub fn close(&mut self, now: u64) -> Result<(), Error> {
        self.applied.clear();
        match self.state {
            State::Closed => Ok(()),
            State::Listen => {
                self.set_state(now, State::Closed, rules::LISTEN_CLOSE);
                self.events.push_back(Event::Closed);
                Ok(())
            }
            State::SynSent if !self.send_buf.is_empty() => {
                // RFC 9293 3.10.4 deletes the TCB here and fails the queued SENDs with
                // "error: closing". Our `send` has already told the caller those bytes were
                // taken, so dropping them would lose data silently: like SYN-RECEIVED, queue
                // the FIN for after the handshake instead.
                self.fin_queued = true;
                self.note_rule(now, rules::SYN_SENT_CLOSE_QUEUED);
                Ok(())
            }
            State::SynSent => {
                self.send_buf.clear();
                self.syn_pending = None;
                self.timers.stop(Timer::Retransmit);
                self.set_state(now, State::Closed, rules::SYN_SENT_CLOSE);
                self.events.push_back(Event::Closed);
                Ok(())
            }
            State::SynReceived => {
                // Queued until ESTABLISHED: the FIN must follow our SYN-ACK's acknowledgement.
                self.fin_queued = true;
                self.note_rule(now, rules::SYN_RECEIVED_CLOSE);
                Ok(())
            }
            State::Established => {
                self.fin_queued = true;
                self.set_state(now, State::FinWait1, rules::ESTABLISHED_CLOSE);
                Ok(())
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(now, State::LastAck, rules::CLOSE_WAIT_CLOSE);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// ABORT (3.10.5): send RST if synchronized, drop everything, go to CLOSED.
    pub fn abort(&mut self, now: u64) {
        self.applied.clear();
        if self.state == State::Closed {
            return;
        }
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            self.ctl_queue.push_back(ControlSegment {
                seq: self.tcb.snd_max,
                ack: SeqNum(0),
                flags: TcpFlags::RST,
                dst: None,
            });
        }
        self.send_buf.clear();
        self.recv_buf.clear();
        self.reasm.clear();
        self.enter_closed(now, rules::ANY_ABORT);
        self.events.push_back(Event::Closed);
    }

    // ----- shared helpers for input/output/timers -----

    pub(crate) fn set_state(&mut self, now: u64, to: State, rule: RuleId) {
        let from = self.state;
        self.state = to;
        self.applied.push(rule);
        self.log.push(now, LogKind::State { from, to, rule });
    }

    /// A rule that applies to an arriving segment without changing state: only recorded
    /// in `applied` (the segment's log entry names the first rule of the list).
    pub(crate) fn apply(&mut self, rule: RuleId) {
        self.applied.push(rule);
    }

    /// A rule that applies without changing state.
    pub(crate) fn note_rule(&mut self, now: u64, rule: RuleId) {
        self.applied.push(rule);
        self.log.push(now, LogKind::Timer { rule });
    }

    /// The segment being processed is out of order: its answer is an immediate duplicate
    /// ACK of its own (RFC 5681 4.2).
    pub(crate) fn owe_dup_ack(&mut self) {
        self.ack_owed.mark(ack_owed::Urgency::Duplicate);
    }

    /// The segment being processed is answered at once (RFC 9293 3.10.7.4).
    pub(crate) fn owe_ack(&mut self) {
        self.ack_owed.mark(ack_owed::Urgency::Now);
    }

    /// Go to CLOSED and stop every timer; the TCB is kept for inspection.
    pub(crate) fn enter_closed(&mut self, now: u64, rule: RuleId) {
        self.timers.stop_all();
        self.syn_pending = None;
        self.rexmit_pending = None;
        self.probe_pending = false;
        self.ack_owed.clear();
        self.disarm_tlp();
        self.set_state(now, State::Closed, rule);
    }

    pub(crate) fn fail(&mut self, now: u64, error: ConnError, rule: RuleId) {
        self.error = Some(error);
        self.send_buf.clear();
        self.enter_closed(now, rule);
        self.events.push_back(Event::Error(error));
    }

    /// Parse `bytes` as a TCP segment from `remote_ip` (checksum verified against the
    /// pseudo-header) and process it.
    pub fn handle_bytes(&mut self, now: u64, remote_ip: IpAddr, bytes: &[u8]) -> Result<(), Error> {
        let seg = TcpRepr::parse(bytes, remote_ip, self.local.ip()).map_err(Error::Wire)?;
        self.handle_segment(now, remote_ip, &seg);
        Ok(())
    }
}

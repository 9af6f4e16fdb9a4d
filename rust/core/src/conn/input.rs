//! Segment arrival (RFC 9293 3.10.7), with RFC 5961's RST/SYN/ACK checks and RFC 5681's
//! duplicate-ACK counting.

use std::net::{IpAddr, SocketAddr};

use super::events::{ConnError, Disposition, Event, LogKind, SegmentSummary};
use super::rules::{self, RuleId};
use super::state::State;
use super::{Connection, ControlSegment};
use crate::cc::{AckAction, DupAckAction};
use crate::seq::SeqNum;
use crate::wire::{TcpFlags, TcpRepr};

/// RFC 9293 3.7.1: the send MSS when the peer sends no MSS option.
fn default_mss(ip: IpAddr) -> u32 {
    if ip.is_ipv4() {
        536
    } else {
        1220
    }
}

impl Connection {
    /// Process one segment that arrived from `remote_ip` (checksum already verified).
    pub fn handle_segment(&mut self, now: u64, remote_ip: IpAddr, seg: &TcpRepr<'_>) {
        self.applied.clear();
        self.counters.segments_received += 1;
        self.counters.bytes_received += seg.payload.len() as u64;
        let (disposition, rule) = match self.state {
            State::Closed => self.on_closed(seg),
            State::Listen => self.on_listen(now, remote_ip, seg),
            State::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_other(now, seg),
        };
        if self.applied.first() != Some(&rule) {
            self.applied.insert(0, rule);
        }
        let summary = SegmentSummary {
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            len: seg.payload.len() as u32,
            window: seg.window,
        };
        self.log.push(
            now,
            LogKind::Received {
                seg: summary,
                disposition,
                rule,
            },
        );
    }

    /// RFC 9293 3.10.7.1: a segment for a connection that does not exist is answered by RST.
    fn on_closed(&mut self, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        match reset_for(seg) {
            Some(rst) => {
                self.ctl_queue.push_back(rst);
                (Disposition::Dropped, rules::CLOSED_RECV_SEGMENT)
            }
            None => (Disposition::Dropped, rules::CLOSED_RECV_RST),
        }
    }

    /// RFC 9293 3.10.7.2.
    fn on_listen(&mut self, now: u64, remote_ip: IpAddr, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            return (Disposition::Dropped, rules::LISTEN_RECV_RST);
        }
        if f.contains(TcpFlags::ACK) {
            self.ctl_queue.push_back(ControlSegment {
                seq: seg.ack,
                ack: SeqNum(0),
                flags: TcpFlags::RST,
                dst: Some(SocketAddr::new(remote_ip, seg.src_port)),
            });
            return (Disposition::Dropped, rules::LISTEN_RECV_ACK);
        }
        if !f.contains(TcpFlags::SYN) {
            return (Disposition::Dropped, rules::LISTEN_RECV_OTHER);
        }
        self.remote = Some(SocketAddr::new(remote_ip, seg.src_port));
        self.learn_syn_options(remote_ip, seg);
        self.tcb.irs = seg.seq;
        self.tcb.rcv_nxt = seg.seq + 1;
        self.tcb.snd_wnd = u32::from(seg.window);
        self.tcb.max_snd_wnd = self.tcb.snd_wnd;
        self.tcb.snd_wl1 = seg.seq;
        self.tcb.snd_wl2 = self.tcb.iss;
        // Data carried by a SYN is not kept: it is unacknowledged, so the peer sends it again.
        self.syn_pending = Some(super::SendReason::SynAck);
        self.set_state(now, State::SynReceived, rules::LISTEN_RECV_SYN);
        (Disposition::Accepted, rules::LISTEN_RECV_SYN)
    }

    fn learn_syn_options(&mut self, remote_ip: IpAddr, seg: &TcpRepr<'_>) {
        let peer_mss = seg
            .options
            .mss
            .map(u32::from)
            .unwrap_or_else(|| default_mss(remote_ip));
        let mss = u32::from(self.config.mss).min(peer_mss).max(1);
        self.tcb.snd_mss = mss;
        self.cc.set_mss(mss, self.config.initial_window_segments);
    }

    /// RFC 9293 3.10.7.3.
    fn on_syn_sent(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let f = seg.flags;
        let t = self.tcb;
        if f.contains(TcpFlags::ACK) && (seg.ack.le(t.iss) || seg.ack.gt(t.snd_nxt)) {
            if !f.contains(TcpFlags::RST) {
                self.ctl_queue.push_back(ControlSegment {
                    seq: seg.ack,
                    ack: SeqNum(0),
                    flags: TcpFlags::RST,
                    dst: None,
                });
            }
            return (Disposition::Dropped, rules::SYN_SENT_RECV_BAD_ACK);
        }
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                self.counters.resets_received += 1;
                self.fail(now, ConnError::Refused, rules::SYN_SENT_RECV_RST);
                return (Disposition::Reset, rules::SYN_SENT_RECV_RST);
            }
            return (Disposition::Dropped, rules::SYN_SENT_RECV_RST_IGNORED);
        }
        if !f.contains(TcpFlags::SYN) {
            return (Disposition::Dropped, rules::SYN_SENT_RECV_OTHER);
        }
        let remote_ip = self.remote.map(|r| r.ip()).unwrap_or(self.local.ip());
        self.learn_syn_options(remote_ip, seg);
        self.tcb.irs = seg.seq;
        self.tcb.rcv_nxt = seg.seq + 1;
        self.tcb.snd_wnd = u32::from(seg.window);
        self.tcb.max_snd_wnd = self.tcb.snd_wnd;
        self.tcb.snd_wl1 = seg.seq;
        if f.contains(TcpFlags::ACK) {
            self.tcb.snd_una = seg.ack;
            self.tcb.snd_wl2 = seg.ack;
            if let Some(sample) = self.sampler.on_ack(seg.ack, now) {
                self.rtt.on_sample(sample);
            }
            self.rto_deadline = None;
            self.retries = 0;
            self.ack_pending = true;
            self.set_state(now, State::Established, rules::SYN_SENT_RECV_SYNACK);
            self.events.push_back(Event::Connected);
            return (Disposition::Accepted, rules::SYN_SENT_RECV_SYNACK);
        }
        // Simultaneous open (3.5, figure 7): answer with SYN-ACK carrying our original ISS.
        self.tcb.snd_wl2 = self.tcb.iss;
        self.syn_pending = Some(super::SendReason::SynAck);
        self.set_state(now, State::SynReceived, rules::SYN_SENT_RECV_SYN);
        (Disposition::Accepted, rules::SYN_SENT_RECV_SYN)
    }

    /// The acceptance test of RFC 9293 3.10.7.4 (table 6).
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        let len = seg.seg_len();
        let wnd = self.rcv_wnd();
        let nxt = self.tcb.rcv_nxt;
        match (len, wnd) {
            (0, 0) => seg.seq == nxt,
            (0, _) => seg.seq.in_window(nxt, wnd),
            (_, 0) => false,
            (_, _) => seg.seq.in_window(nxt, wnd) || (seg.seq + (len - 1)).in_window(nxt, wnd),
        }
    }

    /// SYN-RECEIVED and the synchronized states: RFC 9293 3.10.7.4, steps one to eight.
    fn on_other(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let f = seg.flags;
        // Our SYN-ACK was lost and the peer repeated its SYN: answer it again at once rather
        // than waiting for our retransmission timer.
        if self.state == State::SynReceived
            && f.contains(TcpFlags::SYN)
            && !f.contains(TcpFlags::ACK)
            && !f.contains(TcpFlags::RST)
            && seg.seq == self.tcb.irs
        {
            self.syn_pending = Some(super::SendReason::SynAck);
            return (Disposition::Duplicate, rules::SYN_RECEIVED_RECV_SYN_DUP);
        }
        // A retransmitted FIN in TIME-WAIT is acknowledged and restarts the 2 MSL wait (step eight).
        if self.state == State::TimeWait
            && f.contains(TcpFlags::FIN)
            && !f.contains(TcpFlags::RST)
            && (seg.seq + seg.seg_len()) == self.tcb.rcv_nxt
        {
            self.ack_pending = true;
            self.time_wait_deadline = Some(now + 2 * self.config.msl_us);
            return (Disposition::Duplicate, rules::TIME_WAIT_RECV_FIN);
        }
        // First: sequence number.
        if !self.acceptable(seg) {
            self.counters.unacceptable_segments += 1;
            let old_data = seg.seg_len() > 0
                && (seg.seq + seg.seg_len()).le(self.tcb.rcv_nxt);
            if old_data {
                self.counters.duplicate_segments += 1;
                self.counters.duplicate_bytes += seg.payload.len() as u64;
            }
            if !f.contains(TcpFlags::RST) {
                self.ack_pending = true;
            }
            let d = if old_data {
                Disposition::Duplicate
            } else {
                Disposition::Dropped
            };
            return (d, rules::SEG_UNACCEPTABLE);
        }
        // Second: RST (RFC 5961 3.2: only an exact match resets; otherwise challenge).
        if f.contains(TcpFlags::RST) {
            return self.on_rst(now, seg);
        }
        // Fourth: SYN on a synchronized connection gets a challenge ACK (RFC 5961 4.2).
        if f.contains(TcpFlags::SYN) {
            self.challenge_pending = true;
            return (Disposition::Dropped, rules::SEG_SYN_CHALLENGE);
        }
        // Fifth: the ACK field.
        if !f.contains(TcpFlags::ACK) {
            return (Disposition::Dropped, rules::SEG_NO_ACK);
        }
        let mut first_rule = None;
        if self.state == State::SynReceived {
            let t = self.tcb;
            if seg.ack.gt(t.snd_una) && seg.ack.le(t.snd_nxt) {
                // The SYN's sequence number is acknowledged here, not in `on_new_ack`: it
                // occupies no byte of the send buffer.
                let syn_end = t.iss + 1;
                self.tcb.snd_una = syn_end;
                if self.tcb.snd_nxt.lt(syn_end) {
                    self.tcb.snd_nxt = syn_end;
                }
                if let Some(sample) = self.sampler.on_ack(syn_end, now) {
                    self.rtt.on_sample(sample);
                }
                self.rto_deadline = None;
                self.retries = 0;
                self.tcb.snd_wnd = u32::from(seg.window);
                self.tcb.max_snd_wnd = self.tcb.max_snd_wnd.max(self.tcb.snd_wnd);
                self.tcb.snd_wl1 = seg.seq;
                self.tcb.snd_wl2 = seg.ack;
                self.set_state(now, State::Established, rules::SYN_RECEIVED_RECV_ACK);
                self.events.push_back(Event::Connected);
                first_rule = Some(rules::SYN_RECEIVED_RECV_ACK);
                if self.fin_queued {
                    self.set_state(now, State::FinWait1, rules::ESTABLISHED_CLOSE);
                }
            } else {
                self.ctl_queue.push_back(ControlSegment {
                    seq: seg.ack,
                    ack: SeqNum(0),
                    flags: TcpFlags::RST,
                    dst: None,
                });
                return (Disposition::Dropped, rules::SYN_RECEIVED_RECV_BAD_ACK);
            }
        }
        let (ack_disposition, ack_rule) = match self.on_ack(now, seg) {
            Ok(x) => x,
            Err(dropped) => return dropped,
        };
        if self.state == State::Closed {
            return (ack_disposition, ack_rule);
        }
        let first_rule = first_rule.unwrap_or(ack_rule);
        // Seventh: segment text.
        let mut disposition = ack_disposition;
        let mut rule = first_rule;
        if !seg.payload.is_empty() && self.state.can_receive_data() && !self.fin_received {
            let (d, r) = self.on_data(now, seg);
            disposition = d;
            self.applied.push(r);
            if first_rule == rules::ACK_NEW || first_rule == rules::ACK_DUPLICATE {
                rule = r;
            }
        }
        // Eighth: FIN.
        if f.contains(TcpFlags::FIN) && !self.fin_received {
            let fin_off = self.stream_offset(seg.seq) + seg.payload.len() as i64;
            if fin_off >= 0 {
                let fin_off = fin_off as u64;
                if fin_off == self.rcv_off {
                    let r = self.on_fin(now);
                    if rule == rules::ACK_NEW || rule == rules::ACK_DUPLICATE {
                        rule = r;
                    }
                    disposition = Disposition::Accepted;
                } else if fin_off > self.rcv_off {
                    self.peer_fin_off = Some(fin_off);
                }
            }
        }
        (disposition, rule)
    }

    /// RFC 9293 3.10.7.4 second check, with RFC 5961 3.2.
    fn on_rst(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        if seg.seq != self.tcb.rcv_nxt {
            self.challenge_pending = true;
            return (Disposition::Dropped, rules::SEG_RST_CHALLENGE);
        }
        self.counters.resets_received += 1;
        match self.state {
            State::SynReceived if self.passive => {
                // Back to LISTEN: forget the half-open connection (3.10.7.4, second, SYN-RECEIVED).
                let (iss, config, local) = (self.tcb.iss, self.config.clone(), self.local);
                let log = std::mem::take(&mut self.log);
                let counters = self.counters;
                if let Ok(mut fresh) = Connection::new(config, local, iss) {
                    fresh.passive = true;
                    fresh.log = log;
                    fresh.counters = counters;
                    fresh.state = State::SynReceived;
                    *self = fresh;
                }
                self.set_state(now, State::Listen, rules::SYN_RECEIVED_RECV_RST);
                (Disposition::Reset, rules::SYN_RECEIVED_RECV_RST)
            }
            State::SynReceived => {
                self.fail(now, ConnError::Refused, rules::SYN_RECEIVED_RECV_RST);
                (Disposition::Reset, rules::SYN_RECEIVED_RECV_RST)
            }
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.recv_buf.clear();
                self.fail(now, ConnError::Reset, rules::SEG_RST_RESET);
                (Disposition::Reset, rules::SEG_RST_RESET)
            }
            _ => {
                self.enter_closed(now, rules::SEG_RST_CLOSE);
                self.events.push_back(Event::Closed);
                (Disposition::Reset, rules::SEG_RST_CLOSE)
            }
        }
    }

    /// RFC 9293 3.10.7.4 fifth check for ESTABLISHED and later states, with RFC 5961 5.2
    /// ACK validation and RFC 5681 / 6582 loss detection. `Err` means: drop the segment.
    fn on_ack(
        &mut self,
        now: u64,
        seg: &TcpRepr<'_>,
    ) -> Result<(Disposition, RuleId), (Disposition, RuleId)> {
        let t = self.tcb;
        if seg.ack.gt(t.snd_max) {
            self.challenge_pending = true;
            return Err((Disposition::Dropped, rules::ACK_UNSENT));
        }
        if seg.ack.lt(t.snd_una - t.max_snd_wnd) {
            self.challenge_pending = true;
            return Err((Disposition::Dropped, rules::ACK_TOO_OLD));
        }
        let window = u32::from(seg.window);
        let mut result = (Disposition::Accepted, rules::ACK_NEW);
        if seg.ack.gt(t.snd_una) {
            self.on_new_ack(now, seg.ack);
        } else {
            // RFC 5681 2: a duplicate ACK carries no data, no SYN/FIN, the same ACK number and
            // window, while data is outstanding.
            let dup = seg.ack == t.snd_una
                && seg.payload.is_empty()
                && !seg.flags.contains(TcpFlags::FIN)
                && window == t.snd_wnd
                && t.snd_max.gt(t.snd_una);
            if dup {
                self.dupacks += 1;
                self.counters.dup_acks_received += 1;
                let flight = t.snd_max.distance_from(t.snd_una);
                let action = self.cc.on_dup_ack(
                    self.dupacks,
                    self.config.dupack_threshold,
                    seg.ack,
                    flight,
                    t.snd_max,
                );
                result = (Disposition::DupAck, rules::ACK_DUPLICATE);
                if action == DupAckAction::FastRetransmit {
                    self.rexmit_pending = Some(super::SendReason::FastRetransmit);
                    result = (Disposition::DupAck, rules::ACK_FAST_RETRANSMIT);
                }
            } else {
                result = (Disposition::Accepted, rules::ACK_DUPLICATE);
            }
        }
        // Window update (3.10.7.4, fifth, ESTABLISHED): only from a newer segment.
        let t = self.tcb;
        if t.snd_wl1.lt(seg.seq) || (t.snd_wl1 == seg.seq && t.snd_wl2.le(seg.ack)) {
            self.tcb.snd_wnd = window;
            self.tcb.snd_wl1 = seg.seq;
            self.tcb.snd_wl2 = seg.ack;
            self.tcb.max_snd_wnd = self.tcb.max_snd_wnd.max(window);
            if window > 0 && self.persisting {
                self.persisting = false;
                self.rto_deadline = None;
                self.rtt.reset_backoff();
                self.arm_rto_if_outstanding(now);
            }
        }
        self.applied.push(result.1);
        // Our FIN acknowledged?
        let fin_acked = self.fin_seq.is_some_and(|s| self.tcb.snd_una.gt(s));
        if fin_acked {
            match self.state {
                State::FinWait1 => self.set_state(now, State::FinWait2, rules::FIN_WAIT_1_FIN_ACKED),
                State::Closing => {
                    self.set_state(now, State::TimeWait, rules::CLOSING_FIN_ACKED);
                    self.start_time_wait(now);
                }
                State::LastAck => {
                    self.enter_closed(now, rules::LAST_ACK_FIN_ACKED);
                    self.events.push_back(Event::Closed);
                    return Ok((Disposition::Accepted, rules::LAST_ACK_FIN_ACKED));
                }
                _ => {}
            }
        }
        Ok(result)
    }

    /// `snd_una` advances to `ack`: free acknowledged data, take an RTT sample (Karn's rule
    /// lives in the sampler), grow cwnd, manage the timer (RFC 6298 5.2, 5.3).
    fn on_new_ack(&mut self, now: u64, ack: SeqNum) {
        let t = self.tcb;
        let acked = ack.distance_from(t.snd_una);
        let fin_acked_now = self.fin_seq.is_some_and(|s| ack.gt(s) && !t.snd_una.gt(s));
        let data_acked = (acked - u32::from(fin_acked_now)) as usize;
        let data_acked = data_acked.min(self.send_buf.len());
        self.send_buf.drain(..data_acked);
        self.tcb.snd_una = ack;
        if self.tcb.snd_nxt.lt(ack) {
            self.tcb.snd_nxt = ack;
        }
        if let Some(sample) = self.sampler.on_ack(ack, now) {
            self.rtt.on_sample(sample);
        }
        self.retries = 0;
        let flight = self.tcb.snd_max.distance_from(ack);
        if self.cc.on_new_ack(ack, acked, flight) == AckAction::RetransmitNext && flight > 0 {
            self.rexmit_pending = Some(super::SendReason::RecoveryRetransmit);
        }
        if !self.cc.in_recovery() {
            self.dupacks = 0;
        }
        self.rto_deadline = None;
        self.arm_rto_if_outstanding(now);
    }

    /// Stream offset (relative to the first data byte) of sequence number `seq`.
    pub(crate) fn stream_offset(&self, seq: SeqNum) -> i64 {
        self.rcv_off as i64 + i64::from(seq.diff(self.tcb.rcv_nxt))
    }

    /// Seventh step: deliver in order, hold out of order, trim duplicates; every data segment
    /// is acknowledged at once, and one that leaves a gap gets the duplicate ACK naming
    /// `rcv_nxt`, the first missing byte.
    fn on_data(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let mut off = self.stream_offset(seg.seq);
        let mut data = seg.payload;
        if off < 0 {
            let skip = ((-off) as usize).min(data.len());
            self.counters.duplicate_bytes += skip as u64;
            data = &data[skip..];
            off = self.rcv_off as i64;
        }
        let limit = self.rcv_off + u64::from(self.rcv_wnd());
        let was_empty = self.recv_buf.is_empty();
        let out = self
            .reasm
            .insert(self.rcv_off, limit, off as u64, data, &mut self.recv_buf);
        self.rcv_off += out.delivered as u64;
        self.tcb.rcv_nxt += out.delivered as u32;
        self.counters.bytes_delivered += out.delivered as u64;
        self.counters.duplicate_bytes += out.duplicate as u64;
        self.counters.reassembly_dropped_bytes += out.dropped as u64;
        if out.delivered > 0 && was_empty {
            self.events.push_back(Event::Readable);
        }
        if !self.reasm.is_empty() {
            self.dupack_pending = true;
        } else {
            self.ack_pending = true;
        }
        if out.delivered > 0 {
            if self.peer_fin_off == Some(self.rcv_off) {
                self.peer_fin_off = None;
                self.applied.push(rules::DATA_IN_ORDER);
                let r = self.on_fin(now);
                return (Disposition::InOrder, r);
            }
            (Disposition::InOrder, rules::DATA_IN_ORDER)
        } else if out.held > 0 {
            self.counters.out_of_order_segments += 1;
            self.counters.out_of_order_bytes += out.held as u64;
            (Disposition::OutOfOrderHeld, rules::DATA_OUT_OF_ORDER)
        } else {
            self.counters.duplicate_segments += 1;
            (Disposition::Duplicate, rules::DATA_DUPLICATE)
        }
    }

    /// Eighth step: the FIN is next in sequence.
    fn on_fin(&mut self, now: u64) -> RuleId {
        self.tcb.rcv_nxt += 1;
        self.fin_received = true;
        self.ack_pending = true;
        self.events.push_back(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => {
                self.set_state(now, State::CloseWait, rules::ESTABLISHED_RECV_FIN);
                rules::ESTABLISHED_RECV_FIN
            }
            State::FinWait1 => {
                self.set_state(now, State::Closing, rules::FIN_WAIT_1_RECV_FIN);
                rules::FIN_WAIT_1_RECV_FIN
            }
            State::FinWait2 => {
                self.set_state(now, State::TimeWait, rules::FIN_WAIT_2_RECV_FIN);
                self.start_time_wait(now);
                rules::FIN_WAIT_2_RECV_FIN
            }
            _ => rules::TIME_WAIT_RECV_FIN,
        }
    }

    pub(crate) fn start_time_wait(&mut self, now: u64) {
        self.rto_deadline = None;
        self.rexmit_pending = None;
        self.time_wait_deadline = Some(now + 2 * self.config.msl_us);
    }
}

/// RFC 9293 3.10.7.1: the RST that answers a segment for no connection (none for a RST).
pub(crate) fn reset_for(seg: &TcpRepr<'_>) -> Option<ControlSegment> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    Some(if seg.flags.contains(TcpFlags::ACK) {
        ControlSegment {
            seq: seg.ack,
            ack: SeqNum(0),
            flags: TcpFlags::RST,
            dst: None,
        }
    } else {
        ControlSegment {
            seq: SeqNum(0),
            ack: seg.seq + seg.seg_len(),
            flags: TcpFlags::RST | TcpFlags::ACK,
            dst: None,
        }
    })
}

/// The RST (RFC 9293 3.10.7.1) that answers `seg` when no connection exists for it, with the
/// ports swapped; `None` when `seg` is itself a RST.
pub fn rst_reply(seg: &TcpRepr<'_>) -> Option<TcpRepr<'static>> {
    let c = reset_for(seg)?;
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq: c.seq,
        ack: c.ack,
        flags: c.flags,
        window: 0,
        urgent: 0,
        options: crate::wire::TcpOptions::default(),
        payload: &[],
    })
}

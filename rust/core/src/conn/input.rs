//! Segment arrival (RFC 9293 3.10.7) by state: CLOSED, LISTEN, SYN-SENT, then the ordered
//! checks of 3.10.7.4 for the other states, with RFC 5961's RST and SYN handling. The
//! individual checks live beside this file: `accept` (sequence number), `ack` (ACK field),
//! `text` (data and FIN).

use std::net::{IpAddr, SocketAddr};

use super::events::{ConnError, Disposition, Event, LogKind, SegmentSummary};
use super::rules::{self, RuleId};
use super::state::State;
use super::timer_table::Timer;
use super::{Connection, ControlSegment, MIN_MSS};
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
        // Whatever it is, the peer sent it: the keep-alive idle time starts again (in
        // SYN-RECEIVED and the synchronized states once timestamps let it through).
        if matches!(self.state, State::Closed | State::Listen | State::SynSent) {
            self.heard_from_peer(now);
        }
        let (disposition, rule) = match self.state {
            State::Closed => self.on_closed(remote_ip, seg),
            State::Listen => self.on_listen(now, remote_ip, seg),
            State::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_other(now, seg),
        };
        self.seal_answer();
        // `applied` lists every rule in the order the checks of 3.10.7 ran them; the log
        // entry names the first, which decided the segment's fate.
        let rule = self.applied.first().copied().unwrap_or(rule);
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
    fn on_closed(&mut self, remote_ip: IpAddr, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        match reset_for(seg) {
            Some(mut rst) => {
                // To the sender of the segment: a connection closed from LISTEN never had a
                // peer, and one that had may be hearing from someone else now.
                rst.dst = Some(SocketAddr::new(remote_ip, seg.src_port));
                self.ctl_queue.push_back(rst);
                self.apply(rules::CLOSED_RECV_SEGMENT);
                (Disposition::Dropped, rules::CLOSED_RECV_SEGMENT)
            }
            None => {
                self.apply(rules::CLOSED_RECV_RST);
                (Disposition::Dropped, rules::CLOSED_RECV_RST)
            }
        }
    }

    /// RFC 9293 3.10.7.2.
    fn on_listen(
        &mut self,
        now: u64,
        remote_ip: IpAddr,
        seg: &TcpRepr<'_>,
    ) -> (Disposition, RuleId) {
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            self.apply(rules::LISTEN_RECV_RST);
            return (Disposition::Dropped, rules::LISTEN_RECV_RST);
        }
        if f.contains(TcpFlags::ACK) {
            self.ctl_queue.push_back(ControlSegment {
                seq: seg.ack,
                ack: SeqNum(0),
                flags: TcpFlags::RST,
                dst: Some(SocketAddr::new(remote_ip, seg.src_port)),
            });
            self.apply(rules::LISTEN_RECV_ACK);
            return (Disposition::Dropped, rules::LISTEN_RECV_ACK);
        }
        if !f.contains(TcpFlags::SYN) {
            self.apply(rules::LISTEN_RECV_OTHER);
            return (Disposition::Dropped, rules::LISTEN_RECV_OTHER);
        }
        self.remote = Some(SocketAddr::new(remote_ip, seg.src_port));
        self.learn_syn_options(now, remote_ip, seg);
        self.tcb.irs = seg.seq;
        self.tcb.rcv_nxt = seg.seq + 1;
        self.tcb.snd_wnd = self.seg_wnd(seg);
        self.tcb.max_snd_wnd = self.tcb.snd_wnd;
        self.tcb.snd_wl1 = seg.seq;
        self.tcb.snd_wl2 = self.tcb.iss;
        // Data carried by a SYN is not kept: it is unacknowledged, so the peer sends it again.
        self.syn_pending = Some(super::SendReason::SynAck);
        self.set_state(now, State::SynReceived, rules::LISTEN_RECV_SYN);
        (Disposition::Accepted, rules::LISTEN_RECV_SYN)
    }

    fn learn_syn_options(&mut self, now: u64, remote_ip: IpAddr, seg: &TcpRepr<'_>) {
        self.learn_syn_timestamps(now, seg);
        let peer_mss = seg
            .options
            .mss
            .map(u32::from)
            .unwrap_or_else(|| default_mss(remote_ip));
        // A floor against a peer asking for tiny segments (a resource-exhaustion attack in
        // the style of CVE-2019-11479): the least MSS we accept in our own configuration.
        let own = u32::from(self.config.mss_for(self.local.ip()));
        // The options every segment will carry come off the payload (RFC 9293 3.7.1:
        // Eff.snd.MSS subtracts the TCP header with its options; RFC 6691 2).
        let mss = own
            .min(peer_mss)
            .saturating_sub(self.option_overhead())
            .max(MIN_MSS);
        self.tcb.snd_mss = mss;
        self.cc.set_mss(mss, self.config.initial_window_segments);
        self.learn_syn_scaling(seg);
        // Loss recovery by RFC 6675 when SACK was agreed, by RFC 6582 when not.
        self.cc.set_sack(self.tcb.sack_ok);
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
            self.apply(rules::SYN_SENT_RECV_BAD_ACK);
            return (Disposition::Dropped, rules::SYN_SENT_RECV_BAD_ACK);
        }
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                self.counters.resets_received += 1;
                self.fail(now, ConnError::Refused, rules::SYN_SENT_RECV_RST);
                return (Disposition::Reset, rules::SYN_SENT_RECV_RST);
            }
            self.apply(rules::SYN_SENT_RECV_RST_IGNORED);
            return (Disposition::Dropped, rules::SYN_SENT_RECV_RST_IGNORED);
        }
        if !f.contains(TcpFlags::SYN) {
            self.apply(rules::SYN_SENT_RECV_OTHER);
            return (Disposition::Dropped, rules::SYN_SENT_RECV_OTHER);
        }
        let remote_ip = self.remote.map(|r| r.ip()).unwrap_or(self.local.ip());
        self.learn_syn_options(now, remote_ip, seg);
        self.tcb.irs = seg.seq;
        self.tcb.rcv_nxt = seg.seq + 1;
        self.tcb.snd_wnd = self.seg_wnd(seg);
        self.tcb.max_snd_wnd = self.tcb.snd_wnd;
        self.tcb.snd_wl1 = seg.seq;
        if f.contains(TcpFlags::ACK) {
            self.tcb.snd_una = seg.ack;
            self.tcb.snd_wl2 = seg.ack;
            self.take_rtt_sample(now, seg.ack, seg);
            self.rtt.on_handshake_done(self.retries > 0);
            self.timers.stop(Timer::Retransmit);
            self.retries = 0;
            self.owe_ack();
            self.set_state(now, State::Established, rules::SYN_SENT_RECV_SYNACK);
            self.events.push_back(Event::Connected);
            if self.fin_queued {
                // CLOSE came with data queued in SYN-SENT (see `close`).
                self.set_state(now, State::FinWait1, rules::ESTABLISHED_QUEUED_CLOSE);
            }
            return (Disposition::Accepted, rules::SYN_SENT_RECV_SYNACK);
        }
        // Simultaneous open (3.5, figure 7): answer with SYN-ACK carrying our original ISS.
        self.tcb.snd_wl2 = self.tcb.iss;
        self.syn_pending = Some(super::SendReason::SynAck);
        self.set_state(now, State::SynReceived, rules::SYN_SENT_RECV_SYN);
        (Disposition::Accepted, rules::SYN_SENT_RECV_SYN)
    }

    /// SYN-RECEIVED to ESTABLISHED: `seg` acknowledged our SYN (3.10.7.4, fifth).
    fn establish(&mut self, now: u64, seg: &TcpRepr<'_>, rule: RuleId) {
        // The SYN's sequence number is acknowledged here, not in `on_new_ack`: it occupies
        // no byte of the send buffer.
        let syn_end = self.tcb.iss + 1;
        self.tcb.snd_una = syn_end;
        if self.tcb.snd_nxt.lt(syn_end) {
            self.tcb.snd_nxt = syn_end;
        }
        self.take_rtt_sample(now, syn_end, seg);
        self.rtt.on_handshake_done(self.retries > 0);
        self.timers.stop(Timer::Retransmit);
        self.retries = 0;
        self.tcb.snd_wnd = self.seg_wnd(seg);
        self.tcb.max_snd_wnd = self.tcb.max_snd_wnd.max(self.tcb.snd_wnd);
        self.tcb.snd_wl1 = seg.seq;
        self.tcb.snd_wl2 = seg.ack;
        self.set_state(now, State::Established, rule);
        self.events.push_back(Event::Connected);
        if self.fin_queued {
            self.set_state(now, State::FinWait1, rules::ESTABLISHED_QUEUED_CLOSE);
        }
    }

    /// SYN-RECEIVED and the synchronized states: RFC 9293 3.10.7.4, steps one to eight.
    fn on_other(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let f = seg.flags;
        // Our SYN-ACK was lost and the peer repeated its SYN: answer it again at once rather
        // than waiting for our retransmission timer. Before PAWS: the options are the
        // repeated SYN's (a peer may drop them when it retries, as FreeBSD and XNU can), and
        // the answer must follow them, or a peer that retried without timestamps would
        // have every later segment dropped as missing the option.
        let syn_again = self.state == State::SynReceived
            && f.contains(TcpFlags::SYN)
            && !f.contains(TcpFlags::ACK)
            && !f.contains(TcpFlags::RST)
            && seg.seq == self.tcb.irs;
        if syn_again {
            self.heard_from_peer(now);
            let remote_ip = self.remote.map_or(self.local.ip(), |r| r.ip());
            self.learn_syn_options(now, remote_ip, seg);
            self.syn_pending = Some(super::SendReason::SynAck);
            self.apply(rules::SYN_RECEIVED_RECV_SYN_DUP);
            return (Disposition::Duplicate, rules::SYN_RECEIVED_RECV_SYN_DUP);
        }
        // Timestamps first, once negotiated: a segment without the option, or an old one by
        // PAWS, goes no further (RFC 7323 3.2, 5.3 R1; see `timestamps.rs`). Nor does it
        // count as hearing from the peer: an old duplicate says nothing of the peer now.
        if let Some(dropped) = self.ts_screen(now, seg) {
            return dropped;
        }
        self.heard_from_peer(now);
        // Simultaneous open (3.5, figure 7, line 6): the peer's SYN-ACK repeats its SYN, so
        // table 6 rejects it (SEG.SEQ = RCV.NXT - 1), yet its ACK completes our handshake.
        // Appendix A.2 names simultaneous open among the cases where the strict test keeps
        // a valid ACK from being processed; we take it, as the figure shows, and the
        // connection is established without a further exchange.
        if self.state == State::SynReceived
            && f.contains(TcpFlags::SYN | TcpFlags::ACK)
            && !f.contains(TcpFlags::RST)
            && seg.seq == self.tcb.irs
            && seg.ack == self.tcb.iss + 1
            && self.tcb.snd_nxt == self.tcb.iss + 1
        {
            self.establish(now, seg, rules::SYN_RECEIVED_RECV_SYNACK);
            return (Disposition::Accepted, rules::SYN_RECEIVED_RECV_SYNACK);
        }
        // A retransmitted FIN in TIME-WAIT is acknowledged and restarts the 2 MSL wait (step eight).
        if self.state == State::TimeWait
            && f.contains(TcpFlags::FIN)
            && !f.contains(TcpFlags::RST)
            && (seg.seq + seg.seg_len()) == self.tcb.rcv_nxt
        {
            self.owe_ack();
            self.timers
                .start(Timer::TimeWait, now + 2 * self.config.msl_us);
            self.apply(rules::TIME_WAIT_RECV_FIN);
            return (Disposition::Duplicate, rules::TIME_WAIT_RECV_FIN);
        }
        // First: sequence number.
        if self.is_stale_ack(seg) {
            return self.on_stale_ack(now, seg);
        }
        if !self.acceptable(seg) {
            return self.on_unacceptable(now, seg);
        }
        // Second: RST (RFC 5961 3.2: only an exact match resets; otherwise challenge).
        if f.contains(TcpFlags::RST) {
            return self.on_rst(now, seg);
        }
        // Fourth: a SYN. In SYN-RECEIVED of a passive OPEN, RFC 9293 3.10.7.4 returns to
        // LISTEN (Linux answers with a RST as it forgets the request; the RFC drops the SYN:
        // the peer, if it means it, sends it again and finds the listener). Elsewhere (a
        // simultaneous open too, "per the directions for synchronized states") it gets a
        // challenge ACK (RFC 5961 4.2).
        if f.contains(TcpFlags::SYN) && self.state == State::SynReceived && self.passive {
            self.back_to_listen(now, rules::SYN_RECEIVED_RECV_SYN);
            return (Disposition::Dropped, rules::SYN_RECEIVED_RECV_SYN);
        }
        if f.contains(TcpFlags::SYN) {
            self.challenge(now);
            self.apply(rules::SEG_SYN_CHALLENGE);
            return (Disposition::Dropped, rules::SEG_SYN_CHALLENGE);
        }
        // Fifth: the ACK field.
        if !f.contains(TcpFlags::ACK) {
            self.apply(rules::SEG_NO_ACK);
            return (Disposition::Dropped, rules::SEG_NO_ACK);
        }
        let mut first_rule = None;
        if self.state == State::SynReceived {
            let t = self.tcb;
            if seg.ack.gt(t.snd_una) && seg.ack.le(t.snd_nxt) {
                self.establish(now, seg, rules::SYN_RECEIVED_RECV_ACK);
                first_rule = Some(rules::SYN_RECEIVED_RECV_ACK);
            } else {
                self.ctl_queue.push_back(ControlSegment {
                    seq: seg.ack,
                    ack: SeqNum(0),
                    flags: TcpFlags::RST,
                    dst: None,
                });
                self.apply(rules::SYN_RECEIVED_RECV_BAD_ACK);
                return (Disposition::Dropped, rules::SYN_RECEIVED_RECV_BAD_ACK);
            }
        }
        let (ack_disposition, ack_rule) = match self.on_ack(now, seg) {
            Ok(x) => x,
            Err(dropped) => return dropped,
        };
        // RFC 7323 5.3 R3: an acceptable segment may update TS.Recent, but only once its
        // ACK proved valid (and it was no RST or SYN): a blind segment that RFC 5961 drops
        // must not move TS.Recent, or one forged TSval far ahead would make PAWS refuse the
        // real peer for 24 days (Linux moved the update into tcp_ack for this reason).
        self.ts_update_recent(now, seg);
        if self.state == State::Closed {
            return (ack_disposition, ack_rule);
        }
        let rule = first_rule.unwrap_or(ack_rule);
        // Seventh: segment text.
        let mut disposition = ack_disposition;
        if !seg.payload.is_empty() && self.state.can_receive_data() && !self.fin_received {
            disposition = self.on_data(now, seg).0;
        }
        // Eighth: FIN.
        if f.contains(TcpFlags::FIN) && !self.fin_received {
            let fin_off = self.stream_offset(seg.seq) + seg.payload.len() as i64;
            if fin_off >= 0 {
                let fin_off = fin_off as u64;
                if fin_off == self.rcv_off {
                    self.on_fin(now);
                    disposition = Disposition::Accepted;
                } else if fin_off > self.rcv_off {
                    // A bare FIN beyond the gap replaces a held one (`fin.out_of_order`); one
                    // after text keeps the first held (`fin.none`), as the spec says.
                    if seg.payload.is_empty() || self.peer_fin_off.is_none() {
                        self.peer_fin_off = Some(fin_off);
                    }
                    if seg.payload.is_empty() {
                        // A bare FIN beyond a gap is out-of-order data like any other: answer
                        // at once with the ACK naming the first missing byte (RFC 5681 4.2).
                        self.counters.out_of_order_segments += 1;
                        self.owe_dup_ack();
                        self.apply(rules::FIN_OUT_OF_ORDER);
                        disposition = Disposition::OutOfOrderHeld;
                    }
                }
            }
        }
        (disposition, rule)
    }

    /// RFC 9293 3.10.7.4 second check, with RFC 5961 3.2.
    fn on_rst(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        if seg.seq != self.tcb.rcv_nxt {
            self.challenge(now);
            self.apply(rules::SEG_RST_CHALLENGE);
            return (Disposition::Dropped, rules::SEG_RST_CHALLENGE);
        }
        self.counters.resets_received += 1;
        match self.state {
            State::SynReceived if self.passive => {
                // 3.10.7.4, second, SYN-RECEIVED: back to LISTEN.
                self.back_to_listen(now, rules::SYN_RECEIVED_RECV_RST);
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
}

impl Connection {
    /// Forget the half-open connection of a passive OPEN and listen again (RFC 9293
    /// 3.10.7.4, second and fourth checks in SYN-RECEIVED): a fresh TCB with the same ISS,
    /// configuration and timestamp clock; the log and counters carry on.
    fn back_to_listen(&mut self, now: u64, rule: RuleId) {
        let (iss, config, local) = (self.tcb.iss, self.config.clone(), self.local);
        let log = std::mem::take(&mut self.log);
        let counters = self.counters;
        if let Ok(mut fresh) = Connection::new(config, local, iss) {
            fresh.passive = true;
            // The clock is the listener's, whatever the next peer.
            fresh.set_ts_offset(self.ts_offset());
            fresh.log = log;
            fresh.counters = counters;
            fresh.state = State::SynReceived;
            *self = fresh;
        }
        self.set_state(now, State::Listen, rule);
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

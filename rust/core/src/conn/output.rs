//! Deciding what to send next (RFC 9293 3.8, RFC 5681 3, RFC 6582 3.2) and emitting it.

use std::net::SocketAddr;

use super::ack_owed::OwedAck;
use super::events::{LogKind, SegmentSummary, SendReason};
use super::state::State;
use super::timer_table::Timer;
use super::{Connection, ControlSegment};
use crate::seq::SeqNum;
use crate::wire::{SackBlocks, TcpFlags, TcpOptions, TcpRepr};

/// One segment to emit: sequence number, flags, and a slice of the send buffer.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seq: SeqNum,
    /// `None` for a SYN (no ACK yet) or a bare RST.
    ack: Option<SeqNum>,
    flags: TcpFlags,
    data_index: usize,
    len: usize,
    reason: SendReason,
    dst: Option<SocketAddr>,
    /// The SACK blocks of an owed ACK sent as it was sealed; `None`: the current ones.
    sack: Option<SackBlocks>,
}

impl Plan {
    fn control(seq: SeqNum, ack: Option<SeqNum>, flags: TcpFlags, reason: SendReason) -> Self {
        Plan {
            seq,
            ack,
            flags,
            data_index: 0,
            len: 0,
            reason,
            dst: None,
            sack: None,
        }
    }
}

impl Connection {
    /// Take the next segment this connection wants to send, if any, and hand it with its
    /// destination to `emit` (which writes it out: see `TcpRepr::emit`). Call until `None`.
    pub fn poll_transmit<R>(
        &mut self,
        now: u64,
        emit: impl FnOnce(SocketAddr, &TcpRepr<'_>) -> R,
    ) -> Option<R> {
        let plan = self.next_plan(now)?;
        let dst = plan.dst.or(self.remote)?;
        let mut flags = plan.flags;
        if plan.ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        let syn = flags.contains(TcpFlags::SYN);
        let window = self.window_field(syn);
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(self.config.mss_for(self.local.ip()));
            self.syn_options(&mut options, flags.contains(TcpFlags::ACK));
        }
        options.timestamps = self.ts_option(now, flags);
        // RFC 2018 4: every ACK carries the held blocks (not a keep-alive, which the peer
        // does not read, nor a SYN or RST).
        let acks = flags.contains(TcpFlags::ACK) && !flags.contains(TcpFlags::RST);
        if acks && !syn && plan.reason != SendReason::KeepAlive {
            options.sack = plan.sack.unwrap_or_else(|| self.next_sack_blocks());
            options.sack.truncate(self.sack_room());
        }
        // Taken out of `self` for the duration so the repr can borrow it while we account.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if plan.len > 0 {
            copy_range(&self.send_buf, plan.data_index, plan.len, &mut scratch);
        }
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: dst.port(),
            seq: plan.seq,
            ack: plan.ack.unwrap_or(SeqNum(0)),
            flags,
            window,
            urgent: 0,
            options,
            payload: &scratch,
        };
        self.account_sent(now, &plan, &repr);
        let result = emit(dst, &repr);
        self.scratch = scratch;
        Some(result)
    }

    /// `poll_transmit` that returns the segment as checksummed bytes, with its destination.
    pub fn poll_transmit_bytes(&mut self, now: u64) -> Option<(SocketAddr, Vec<u8>)> {
        let local = self.local.ip();
        self.poll_transmit(now, |dst, repr| {
            let mut buf = vec![0u8; repr.buffer_len()];
            let n = repr.emit(&mut buf, local, dst.ip()).unwrap_or(0);
            buf.truncate(n);
            (dst, buf)
        })
        .filter(|(_, b)| !b.is_empty())
    }

    fn account_sent(&mut self, now: u64, plan: &Plan, repr: &TcpRepr<'_>) {
        self.ts_note_sent(repr.flags, repr.ack);
        let carries = plan.len > 0 || repr.flags.contains(TcpFlags::FIN);
        if carries && !repr.flags.contains(TcpFlags::SYN) {
            let end = repr.seq + repr.seg_len();
            let again = plan.reason.is_retransmission();
            if again {
                let tsval = repr.options.timestamps.map(|(v, _)| v);
                self.note_undo_retransmit(repr.seq, end, tsval);
            }
            if self.tcb.sack_ok {
                self.recovery.rack.on_send(repr.seq, end, now, again);
            }
            if plan.reason == SendReason::Data {
                // RFC 8985 7.2: new data (re)starts the probe timer.
                self.arm_tlp(now);
            }
        }
        let c = &mut self.counters;
        c.segments_sent += 1;
        c.bytes_sent += plan.len as u64;
        if plan.reason.is_retransmission() {
            c.bytes_retransmitted += plan.len as u64;
        }
        match plan.reason {
            SendReason::RetransmitTimeout => c.retransmits_timeout += 1,
            SendReason::FastRetransmit => c.retransmits_fast += 1,
            SendReason::RecoveryRetransmit => c.retransmits_recovery += 1,
            SendReason::DupAck => c.dup_acks_sent += 1,
            SendReason::Ack => c.acks_sent += 1,
            SendReason::ChallengeAck => c.challenge_acks_sent += 1,
            SendReason::Rst => c.resets_sent += 1,
            _ => {}
        }
        let blocks = repr.options.sack.len() as u64;
        c.sack_blocks_sent += blocks;
        if blocks > 0 {
            c.segments_with_sack_sent += 1;
        }
        // A keep-alive probe is numbered below what the peer expects, so the peer reads
        // neither its acknowledgement nor its window (RFC 9293 3.8.4): it answers no pending
        // ACK and advertises nothing.
        if repr.flags.contains(TcpFlags::ACK) && plan.reason != SendReason::KeepAlive {
            if !repr.flags.contains(TcpFlags::RST) {
                // A RST's window advertises nothing: the connection is gone.
                self.note_advertised(repr.window, repr.flags.contains(TcpFlags::SYN));
            }
            // A segment acknowledging all we have answers every acknowledgement owed, a
            // delayed one too: piggybacked on data, it costs nothing (RFC 9293 3.8.6.3).
            self.ack_owed
                .on_sent(repr.ack, self.tcb.rcv_nxt, plan.sack.is_none());
        }
        self.log.push(
            now,
            LogKind::Sent {
                seg: SegmentSummary {
                    seq: repr.seq,
                    ack: repr.ack,
                    flags: repr.flags,
                    len: plan.len as u32,
                    window: repr.window,
                },
                reason: plan.reason,
            },
        );
    }

    fn next_plan(&mut self, now: u64) -> Option<Plan> {
        if let Some(c) = self.ctl_queue.pop_front() {
            return Some(self.plan_control(c));
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.plan_syn(now),
            State::SynReceived => self
                .plan_syn(now)
                .or_else(|| self.plan_owed_ack())
                .or_else(|| self.plan_ack()),
            // Each arrival's answer in turn, ahead of any data: a duplicate ACK (RFC 5681 4.2)
            // piggybacked on data would not count as one at the sender, and an older answer
            // carries what the newest cannot (`ack_owed.rs`).
            _ => self
                .plan_owed_ack()
                .or_else(|| self.plan_single_retransmit(now))
                .or_else(|| self.plan_tlp_retransmit())
                // RFC 6675 NextSeg: lost holes, then new data, then other holes.
                .or_else(|| self.plan_sack_retransmit(now, true))
                .or_else(|| self.plan_data(now))
                .or_else(|| self.plan_sack_retransmit(now, false))
                .or_else(|| self.plan_fin(now))
                .or_else(|| self.plan_ack())
                .or_else(|| self.plan_keepalive()),
        }
    }

    fn plan_control(&self, c: ControlSegment) -> Plan {
        let (ack, flags) = if c.flags.contains(TcpFlags::ACK) {
            (Some(c.ack), TcpFlags::RST)
        } else {
            (None, c.flags)
        };
        let mut p = Plan::control(c.seq, ack, flags, SendReason::Rst);
        p.dst = c.dst;
        p
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first time or again.
    fn plan_syn(&mut self, now: u64) -> Option<Plan> {
        let reason = self.syn_pending.take()?;
        let iss = self.tcb.iss;
        let resend = self.tcb.snd_max.gt(iss);
        if resend {
            self.sampler.cancel();
        } else {
            self.sampler.start(iss + 1, now);
        }
        self.tcb.snd_nxt = iss + 1;
        self.tcb.snd_max = iss + 1;
        self.arm_rto(now);
        let (ack, reason) = if self.state == State::SynReceived {
            let r = if reason == SendReason::RetransmitTimeout {
                reason
            } else {
                SendReason::SynAck
            };
            (Some(self.tcb.rcv_nxt), r)
        } else {
            (None, reason)
        };
        Some(Plan::control(iss, ack, TcpFlags::SYN, reason))
    }

    /// Fast retransmit or a NewReno partial-ACK retransmission: one segment from `snd_una`.
    fn plan_single_retransmit(&mut self, now: u64) -> Option<Plan> {
        let reason = self.rexmit_pending.take()?;
        let t = self.tcb;
        let outstanding = t.snd_max.distance_from(t.snd_una) as usize;
        let mss = self.payload_room();
        let mut len = mss.min(self.send_buf.len()).min(outstanding);
        if let (_, Some(sacked)) = self.recovery.scoreboard.next_hole(t.snd_una) {
            // A short segment at SND.UNA: stop where the receiver's SACKed data begins.
            len = len.min(sacked.distance_from(t.snd_una) as usize);
        }
        let fin = self.fin_seq == Some(t.snd_una + len as u32);
        if len == 0 && !fin {
            return None;
        }
        self.sampler.cancel();
        let end = t.snd_una + len as u32 + u32::from(fin);
        if self.tcb.snd_nxt.lt(end) {
            self.tcb.snd_nxt = end;
        }
        self.note_recovery_retransmit(end);
        self.arm_rto(now);
        let mut flags = TcpFlags::empty();
        if fin {
            flags |= TcpFlags::FIN;
        }
        Some(Plan {
            seq: t.snd_una,
            ack: Some(t.rcv_nxt),
            flags,
            data_index: 0,
            len,
            reason,
            dst: None,
            sack: None,
        })
    }

    /// New data, or data again after a timeout rewound `snd_nxt` (go-back-N, RFC 6298 5.4),
    /// within min(cwnd, snd_wnd); a FIN rides on the last data segment.
    fn plan_data(&mut self, now: u64) -> Option<Plan> {
        // Resending after a timeout: what the receiver reported holding since is skipped
        // (RFC 6675 5.1: "a SACK TCP sender SHOULD use this SACK information"), but only
        // by a segment that goes: SND.NXT moves with what is sent, never alone.
        let before = self.tcb.snd_nxt;
        let sacked_next = self.skip_sacked();
        let plan = self.plan_data_from(now, sacked_next);
        if plan.is_none() {
            self.tcb.snd_nxt = before;
        }
        plan
    }

    fn plan_data_from(&mut self, now: u64, sacked_next: Option<SeqNum>) -> Option<Plan> {
        let t = self.tcb;
        let data_off = t.snd_nxt.distance_from(t.snd_una) as usize;
        if data_off >= self.send_buf.len() {
            return None;
        }
        let avail = self.send_buf.len() - data_off;
        // A tail-loss probe of new data goes whatever cwnd says (RFC 8985 7.3).
        let tlp = self.tlp_may_send_new();
        let usable = if tlp {
            t.snd_wnd.saturating_sub(data_off as u32) as usize
        } else if self.sack_recovery() {
            // RFC 6675 5 (C): new data too goes only while cwnd exceeds the pipe.
            t.snd_wnd
                .saturating_sub(data_off as u32)
                .min(self.recovery_room()) as usize
        } else {
            let wnd = t
                .snd_wnd
                .min(self.cc.cwnd().saturating_add(self.limited_transmit()));
            wnd.saturating_sub(data_off as u32) as usize
        };
        let room = self.payload_room();
        let mut len = avail.min(usable).min(room);
        if let Some(next) = sacked_next {
            len = len.min(next.distance_from(t.snd_nxt) as usize);
        }
        // The persist timer expired: with the window shut it sends a probe byte, with a
        // window open it is the override timeout of sender SWS avoidance (RFC 9293
        // 3.8.6.2.1 (4)): what the window takes goes now, however small.
        let forced = self.probe_pending || tlp;
        let probe = len == 0 && forced;
        self.probe_pending = false;
        if probe {
            // Zero-window probe (3.8.6.1): one byte beyond the window.
            len = 1;
        }
        if len == 0 {
            if t.snd_wnd == 0 && data_off == 0 && !self.timers.is_armed(Timer::Retransmit) {
                self.persisting = true;
                self.timers
                    .start(Timer::Retransmit, now + self.rtt.rto_us());
            }
            return None;
        }
        let retransmit = t.snd_nxt.lt(t.snd_max);
        let fin = !probe && len == avail && self.fin_may_follow();
        // Nagle and SWS avoidance decide about new data only: what is resent after a
        // timeout was sent before and goes as it went.
        if !retransmit && !forced && !self.may_send_new(len, room, avail, fin) {
            if t.snd_una == t.snd_max && !self.timers.is_armed(Timer::Retransmit) {
                // Nothing is outstanding, so no ACK will come to reconsider: the override
                // timer runs, combined with the persist timer as 3.8.6.2.1 suggests.
                self.persisting = true;
                self.timers
                    .start(Timer::Retransmit, now + self.rtt.rto_us());
            }
            return None;
        }
        if !probe && t.snd_wnd > 0 && self.persisting {
            // Data goes into an open window: the timer times it as the retransmission
            // timer from here on (the persist timer was only waiting for the window).
            self.persisting = false;
        }
        let reason = if probe {
            SendReason::Probe
        } else if retransmit {
            SendReason::RetransmitTimeout
        } else {
            SendReason::Data
        };
        if retransmit {
            self.sampler.cancel();
        } else if !probe {
            self.sampler.start(t.snd_nxt + len as u32, now);
        }
        if tlp {
            self.recovery.tlp_pending = false;
        }
        let mut flags = TcpFlags::empty();
        if len == avail {
            flags |= TcpFlags::PSH;
        }
        if fin {
            flags |= TcpFlags::FIN;
            self.fin_seq = Some(t.snd_nxt + len as u32);
        }
        let end = t.snd_nxt + len as u32 + u32::from(fin);
        self.tcb.snd_nxt = end;
        self.tcb.snd_max = self.tcb.snd_max.max(end);
        self.arm_rto(now);
        Some(Plan {
            seq: t.snd_nxt,
            ack: Some(t.rcv_nxt),
            flags,
            data_index: data_off,
            len,
            reason,
            dst: None,
            sack: None,
        })
    }

    /// A tail-loss probe with no new data to carry it: the last segment again (`tlp.rs`).
    fn plan_tlp_retransmit(&mut self) -> Option<Plan> {
        if self.tlp_may_send_new() {
            return None;
        }
        let (index, len, flags, reason) = self.tlp_retransmit()?;
        let t = self.tcb;
        self.sampler.cancel();
        Some(Plan {
            seq: t.snd_una + index as u32,
            ack: Some(t.rcv_nxt),
            flags,
            data_index: index,
            len,
            reason,
            dst: None,
            sack: None,
        })
    }

    /// A hole NextSeg chose in SACK recovery (`sack_recovery.rs`); `new_data_waits`: rule
    /// (2) comes next, so only a hole known lost goes now.
    fn plan_sack_retransmit(&mut self, now: u64, new_data_waits: bool) -> Option<Plan> {
        let r = self.next_sack_retransmit(self.payload_room(), new_data_waits)?;
        let t = self.tcb;
        let (flags, reason) = Self::sack_retransmit_flags(&r);
        self.sampler.cancel();
        self.note_recovery_retransmit(r.seq + r.len as u32 + u32::from(r.fin));
        self.arm_rto(now);
        Some(Plan {
            seq: r.seq,
            ack: Some(t.rcv_nxt),
            flags,
            data_index: r.seq.distance_from(t.snd_una) as usize,
            len: r.len,
            reason,
            dst: None,
            sack: None,
        })
    }

    /// Go-back-N after a timeout (`snd_nxt` below `snd_max`) over SACKed data: move
    /// `snd_nxt` past what the scoreboard holds; returns where the next SACKed range starts,
    /// which the segment must not reach.
    fn skip_sacked(&mut self) -> Option<SeqNum> {
        let t = self.tcb;
        if !t.sack_ok || !t.snd_nxt.lt(t.snd_max) || self.recovery.scoreboard.is_empty() {
            return None;
        }
        let (hole, next) = self.recovery.scoreboard.next_hole(t.snd_nxt);
        if hole.gt(t.snd_nxt) {
            self.tcb.snd_nxt = if hole.lt(t.snd_max) { hole } else { t.snd_max };
        }
        next
    }

    /// Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new
    /// segment go beyond cwnd, so that a window too small to draw three duplicates still
    /// gets its loss fast-retransmitted rather than timed out. It only sends what the
    /// output rules allow anyway (new data within the peer's window).
    fn limited_transmit(&self) -> u32 {
        if self.cc.in_recovery() || self.dupacks == 0 {
            return 0;
        }
        self.dupacks
            .min(2)
            .saturating_mul(self.payload_room() as u32)
    }

    /// Whether `len` bytes of new data (of `avail` queued and unsent) go now: sender SWS
    /// avoidance (RFC 9293 3.8.6.2.1, MUST-38) with Nagle's algorithm (3.7.4, RFC 1122
    /// 4.2.3.4) unless `nodelay`. Send (1) a full-sized segment; (2) all queued data, when
    /// it fits the usable window and nothing is unacknowledged (every SEND is pushed: the
    /// API has no other push); (3) at least Fs = 1/2 of the largest window the peer offered,
    /// again with nothing unacknowledged. Nagle is the "nothing unacknowledged" of (2) and
    /// (3). A segment that carries our FIN goes regardless: nothing will come to fill it.
    /// Otherwise wait for an ACK, or for the override timeout (`plan_data`).
    fn may_send_new(&self, len: usize, room: usize, avail: usize, fin: bool) -> bool {
        let t = self.tcb;
        if len >= room || fin {
            return true;
        }
        let nagle_ok = self.config.nodelay || t.snd_nxt == t.snd_una;
        nagle_ok && (len == avail || 2 * len as u64 >= u64::from(t.max_snd_wnd))
    }

    /// The user closed and the state sends (or resends) our FIN.
    fn fin_may_follow(&self) -> bool {
        self.fin_queued
            && matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
    }

    /// A FIN alone: all data is sent and `snd_nxt` stands where the FIN goes.
    fn plan_fin(&mut self, now: u64) -> Option<Plan> {
        let t = self.tcb;
        if !self.fin_may_follow()
            || t.snd_nxt.distance_from(t.snd_una) as usize != self.send_buf.len()
        {
            return None;
        }
        let reason = if self.fin_seq.is_some() {
            self.sampler.cancel();
            SendReason::RetransmitTimeout
        } else {
            SendReason::Fin
        };
        self.fin_seq = Some(t.snd_nxt);
        self.tcb.snd_nxt = t.snd_nxt + 1;
        self.tcb.snd_max = self.tcb.snd_max.max(t.snd_nxt + 1);
        self.arm_rto(now);
        Some(Plan::control(
            t.snd_nxt,
            Some(t.rcv_nxt),
            TcpFlags::FIN,
            reason,
        ))
    }

    /// The answer to an earlier arrival that must go alone (`AckOwed::pop_separate`), as it
    /// was when sealed.
    fn plan_owed_ack(&mut self) -> Option<Plan> {
        let OwedAck {
            ack,
            sack,
            duplicate,
        } = self.ack_owed.pop_separate(self.tcb.rcv_nxt)?;
        let reason = if duplicate {
            SendReason::DupAck
        } else {
            SendReason::Ack
        };
        let mut p = Plan::control(self.pure_ack_seq(), Some(ack), TcpFlags::empty(), reason);
        p.sack = Some(sack);
        Some(p)
    }

    /// An ACK of the current state, if one is owed.
    fn plan_ack(&mut self) -> Option<Plan> {
        let reason = self.ack_owed.owed_now()?;
        Some(Plan::control(
            self.pure_ack_seq(),
            Some(self.tcb.rcv_nxt),
            TcpFlags::empty(),
            reason,
        ))
    }

    /// The sequence number of a pure ACK: `snd_max`, not `snd_nxt`: after a timeout rewound
    /// `snd_nxt`, a pure ACK numbered below what the peer already holds would fail its
    /// acceptance test and never be read. Except against a closed window: then `snd_max` is
    /// past a probe the peer refused, and with RCV.WND = 0 only SEG.SEQ = RCV.NXT is
    /// acceptable (RFC 9293 3.10.7.4, table 6). The peer would answer our ACK instead of
    /// reading it, and if its own window is closed too, our answer to that answer would be
    /// refused as well: an ACK storm. SND.UNA is what the peer's last ACK named as its RCV.NXT.
    fn pure_ack_seq(&self) -> SeqNum {
        let t = self.tcb;
        if t.snd_wnd == 0 {
            t.snd_una
        } else {
            t.snd_max
        }
    }

    /// A keep-alive probe (RFC 9293 3.8.4): SEG.SEQ = SND.NXT - 1 and no data (SHLD-12
    /// prefers no data to RFC 1122's optional garbage octet). On an idle connection SND.NXT
    /// is the peer's RCV.NXT, so the peer finds the probe unacceptable and must answer it
    /// with an ACK (3.10.7.4, first check), or with a RST if it lost the connection. Last
    /// in the order: anything else we send would make the probe redundant, and a pending
    /// ACK goes first because the probe does not count as one.
    fn plan_keepalive(&mut self) -> Option<Plan> {
        if !std::mem::take(&mut self.keepalive_state.pending) {
            return None;
        }
        // Sent only if still idle (a SEND after the expiry makes the data the probe).
        self.keepalive_deadline()?;
        let t = self.tcb;
        Some(Plan::control(
            t.snd_nxt - 1,
            Some(t.rcv_nxt),
            TcpFlags::empty(),
            SendReason::KeepAlive,
        ))
    }

    /// RFC 6298 5.1: start the timer when sending something that occupies sequence space,
    /// unless it runs already.
    fn arm_rto(&mut self, now: u64) {
        if !self.timers.is_armed(Timer::Retransmit) {
            self.timers
                .start(Timer::Retransmit, now + self.rtt.rto_us());
        }
    }
}

/// Copy `len` bytes from `index` of a ring buffer with at most two `memcpy`s.
fn copy_range(buf: &std::collections::VecDeque<u8>, index: usize, len: usize, out: &mut Vec<u8>) {
    let (a, b) = buf.as_slices();
    let end = index + len;
    if index < a.len() {
        out.extend_from_slice(&a[index..end.min(a.len())]);
    }
    if end > a.len() {
        let from = index.saturating_sub(a.len());
        out.extend_from_slice(&b[from..end - a.len()]);
    }
}

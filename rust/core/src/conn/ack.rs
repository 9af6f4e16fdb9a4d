//! The fifth check on an arriving segment: its ACK field (RFC 9293 3.10.7.4), with RFC
//! 5961 5.2 ACK validation, RFC 5681 / 6582 loss detection and recovery, the RFC 6298
//! timer rules, and leaving the zero-window persist state (3.8.6.1).

use super::events::{Disposition, Event, SendReason};
use super::rules::{self, RuleId};
use super::state::State;
use super::timer_table::Timer;
use super::Connection;
use crate::cc::{AckAction, DupAckAction};
use crate::wire::{TcpFlags, TcpRepr};

impl Connection {
    /// RFC 9293 3.10.7.4 fifth check for ESTABLISHED and later states, with RFC 5961 5.2
    /// ACK validation and RFC 5681 / 6582 loss detection. `Err` means: drop the segment.
    pub(super) fn on_ack(
        &mut self,
        now: u64,
        seg: &TcpRepr<'_>,
    ) -> Result<(Disposition, RuleId), (Disposition, RuleId)> {
        let t = self.tcb;
        if seg.ack.gt(t.snd_max) {
            self.challenge(now);
            self.apply(rules::ACK_UNSENT);
            return Err((Disposition::Dropped, rules::ACK_UNSENT));
        }
        if seg.ack.lt(t.snd_una - t.max_snd_wnd) {
            self.challenge(now);
            self.apply(rules::ACK_TOO_OLD);
            return Err((Disposition::Dropped, rules::ACK_TOO_OLD));
        }
        // In bytes: the field scaled by the peer's shift (RFC 7323 2.3).
        let window = self.seg_wnd(seg);
        if self.persisting {
            // The peer answers our probes: it is alive, however long its window stays shut.
            self.retries = 0;
        }
        let mut result = (Disposition::Accepted, rules::ACK_NEW);
        if seg.ack.gt(t.snd_una) {
            self.on_new_ack(now, seg);
        }
        let sack_news = self.take_sack_blocks(seg);
        self.rack_update(now);
        if !seg.ack.gt(t.snd_una) {
            // With SACK, RFC 6675 2: a duplicate acknowledgment is one whose SACK blocks
            // report bytes not reported before. Without, RFC 5681 2: it carries no data, no
            // SYN/FIN, the same ACK number and window, while data is outstanding. Not with a
            // zero window, though: then all that is outstanding is a window probe the
            // receiver refused, and its answers say nothing about loss (counting them would
            // "fast retransmit" the probe byte and halve cwnd on every third probe). The
            // SACK definition is the one a receiver whose window grows as its application
            // reads (Linux's, for one) meets: the RFC 5681 test refuses all its duplicates.
            let outstanding = seg.ack == t.snd_una && t.snd_max.gt(t.snd_una);
            let dup = outstanding
                && if t.sack_ok {
                    sack_news
                } else {
                    seg.payload.is_empty()
                        && !seg.flags.contains(TcpFlags::FIN)
                        && window == t.snd_wnd
                        && window > 0
                };
            if dup {
                self.dupacks += 1;
                self.counters.dup_acks_received += 1;
                let flight = t.snd_max.distance_from(t.snd_una);
                let action = self.cc.on_dup_ack(
                    now,
                    self.dupacks,
                    self.config.dupack_threshold,
                    seg.ack,
                    flight,
                    t.snd_max,
                );
                result = (Disposition::DupAck, rules::ACK_DUPLICATE);
                if action == DupAckAction::FastRetransmit {
                    self.disarm_tlp();
                    self.start_sack_recovery();
                    self.recovery.rack.on_recovery();
                    self.start_undo_episode();
                    self.rexmit_pending = Some(SendReason::FastRetransmit);
                    result = (Disposition::DupAck, rules::ACK_FAST_RETRANSMIT);
                }
            } else {
                result = (Disposition::Accepted, rules::ACK_UNCHANGED);
            }
        }
        // Window update (3.10.7.4, fifth, ESTABLISHED): "If SND.UNA =< SEG.ACK =< SND.NXT",
        // and only from a segment no older than the one that last updated it.
        let t = self.tcb;
        let newer = t.snd_wl1.lt(seg.seq) || (t.snd_wl1 == seg.seq && t.snd_wl2.le(seg.ack));
        if newer && seg.ack.ge(t.snd_una) {
            self.tcb.snd_wnd = window;
            self.tcb.snd_wl1 = seg.seq;
            self.tcb.snd_wl2 = seg.ack;
            self.tcb.max_snd_wnd = self.tcb.max_snd_wnd.max(window);
            if window > 0 && self.persisting {
                self.leave_persist(now);
            }
        }
        self.apply(result.1);
        // Our FIN acknowledged?
        let fin_acked = self.fin_seq.is_some_and(|s| self.tcb.snd_una.gt(s));
        if fin_acked {
            match self.state {
                State::FinWait1 => {
                    self.set_state(now, State::FinWait2, rules::FIN_WAIT_1_FIN_ACKED)
                }
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

    /// The SACK blocks of an acceptable ACK (RFC 2018, RFC 6675 3) go into the scoreboard;
    /// returns whether they reported bytes not reported before. Ignored unless SACK was
    /// agreed (a block from a peer that did not offer it means nothing we asked for).
    fn take_sack_blocks(&mut self, seg: &TcpRepr<'_>) -> bool {
        self.recovery.scoreboard.advance(self.tcb.snd_una);
        if self.recovery.scoreboard.is_sacked(self.tcb.snd_una) {
            // The cumulative ACK stops at a byte the receiver had SACKed: it threw that
            // data away (reneging, RFC 2018 8). Believe nothing it SACKed before.
            self.recovery.scoreboard.clear();
            self.recovery.rack.on_reneging();
            self.counters.sack_reneging += 1;
        }
        if !self.tcb.sack_ok || seg.options.sack.is_empty() {
            return false;
        }
        let u = self
            .recovery
            .scoreboard
            .on_sack(&seg.options.sack, self.tcb.snd_max, seg.ack);
        if let Some((left, right)) = u.dsack {
            self.on_dsack(left, right);
            self.recovery.rack.on_dsack();
        }
        let c = &mut self.counters;
        c.sack_blocks_received += seg.options.sack.len() as u64;
        c.dsacks_received += u64::from(u.dsack.is_some());
        c.sack_blocks_invalid += u64::from(u.invalid);
        let news = u.newly_sacked > 0;
        self.recovery.sack_news_seen += u64::from(news);
        news
    }

    /// The peer's window opened while we were probing it.
    pub(super) fn leave_persist(&mut self, now: u64) {
        self.persisting = false;
        self.timers.stop(Timer::Retransmit);
        self.rtt.reset_backoff();
        // The last probe was refused while the window was shut (had it been taken, this ACK
        // would cover it): send from SND.UNA again, so it goes at the head of the next
        // segment instead of leaving a one-byte hole that only a retransmission would fill.
        let t = self.tcb;
        self.tcb.snd_nxt = t.snd_una;
        if t.snd_max == t.snd_una + 1 && !self.send_buf.is_empty() {
            // It is all that is outstanding: forget it was sent at all, so what follows is
            // new data (timed, and not counted as a retransmission).
            self.tcb.snd_max = t.snd_una;
        }
        self.arm_rto_if_outstanding(now);
    }

    /// `snd_una` advances to SEG.ACK: free acknowledged data, take an RTT sample (Karn's
    /// rule lives in the sampler; timestamps in `take_rtt_sample`), grow cwnd, manage the
    /// timer (RFC 6298 5.2, 5.3).
    pub(super) fn on_new_ack(&mut self, now: u64, seg: &TcpRepr<'_>) {
        let ack = seg.ack;
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
        self.take_rtt_sample(now, ack, seg);
        // New data acknowledged: the path delivers again, so the RTO returns from its
        // backed-off value to the one the estimate gives (RFC 6298 5.5's doubling guards a
        // path that does not answer). Karn's rule still keeps the ambiguous sample out of
        // SRTT; what changes is that the next timer no longer waits up to the 60 s ceiling
        // for a sample that a go-back-N resend may not produce for many round trips, which
        // at 10-30% loss stretched transfers to hundreds of seconds.
        self.rtt.reset_backoff();
        self.retries = 0;
        let flight = self.tcb.snd_max.distance_from(ack);
        let srtt = self.rtt.srtt_us();
        if self.cc.on_new_ack(now, ack, acked, flight, srtt) == AckAction::RetransmitNext
            && flight > 0
        {
            self.rexmit_pending = Some(SendReason::RecoveryRetransmit);
        }
        // After the window's own update, so that what it restores is not deflated again.
        if let Some((_, tsecr)) = seg.options.timestamps.filter(|_| self.tcb.ts_ok) {
            self.eifel_check(tsecr);
        }
        if !self.cc.in_recovery() {
            self.dupacks = 0;
        }
        self.timers.stop(Timer::Retransmit);
        self.arm_rto_if_outstanding(now);
        self.tlp_acked(now);
    }
}

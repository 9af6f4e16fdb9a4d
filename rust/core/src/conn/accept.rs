//! The first check on an arriving segment: is its sequence number acceptable (RFC 9293
//! 3.10.7.4, table 6)? With the allowances Appendix A.2 invites for valid ACK fields that
//! the strict test would throw away, and RFC 5961 7's throttling of the answers.

use super::events::Disposition;
use super::rules::{self, RuleId};
use super::state::State;
use super::Connection;
use crate::wire::{TcpFlags, TcpRepr};

impl Connection {
    /// The acceptance test of RFC 9293 3.10.7.4 (table 6).
    pub(super) fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
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

    /// A segment that failed the acceptance test: dropped, and answered with an ACK unless
    /// it is a RST (RFC 9293 3.10.7.4, first). Its ACK field is still taken when that is
    /// safe and useful (see `ack_despite_zero_window` and `carries_news`).
    pub(super) fn on_unacceptable(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        self.counters.unacceptable_segments += 1;
        self.apply(rules::SEG_UNACCEPTABLE);
        if self.ack_despite_zero_window(seg) {
            // RFC 9293 3.10.7.4: "If the RCV.WND is zero, no segments will be acceptable,
            // but special allowance should be made to accept valid ACKs". Without it two
            // peers whose windows are both closed never learn of each other's progress. The
            // text is dropped and acknowledged as usual.
            self.owe_ack();
            let _ = self.on_ack(now, seg);
            return (Disposition::Dropped, rules::SEG_UNACCEPTABLE);
        }
        let old_data = seg.seg_len() > 0 && (seg.seq + seg.seg_len()).le(self.tcb.rcv_nxt);
        if old_data {
            self.counters.duplicate_segments += 1;
            self.counters.duplicate_bytes += seg.payload.len() as u64;
            if !seg.payload.is_empty() {
                // Text we had acknowledged came again: report it (RFC 2883 4.1.1), so the
                // sender learns its retransmission was needless.
                self.note_duplicate(seg.seq, seg.seq + seg.payload.len() as u32);
            }
        }
        if self.carries_news(seg) {
            let _ = self.on_ack(now, seg);
            if self.state == State::Closed {
                return (Disposition::Dropped, rules::SEG_UNACCEPTABLE);
            }
        }
        if !seg.flags.contains(TcpFlags::RST) && self.may_answer_unacceptable(now, seg) {
            if old_data {
                // Its answer carries the D-SACK block: one of its own.
                self.owe_ack();
            } else {
                // Only to resynchronize: any ACK of the current state does, so one answers
                // a whole batch of them (a reordered pure ACK that PAWS or the window test
                // refused must not become a duplicate ACK of its own to the peer).
                self.ack_owed.owe_now();
            }
        }
        let d = if old_data {
            Disposition::Duplicate
        } else {
            Disposition::Dropped
        };
        (d, rules::SEG_UNACCEPTABLE)
    }

    /// An unacceptable segment whose ACK field acknowledges data we sent and the peer had
    /// not acknowledged yet, numbered within a window of RCV.NXT. Appendix A.2 again: a peer
    /// whose probe we took while our answer was in flight numbers its next segments one
    /// below our RCV.NXT (its SND.UNA), so table 6 refuses them; if we refuse its ACKs
    /// too, and it ours for the same reason, neither side ever learns that the other's
    /// window opened and both time out, each with the other's data in hand. The answer
    /// table 6 asks for is still sent.
    fn carries_news(&self, seg: &TcpRepr<'_>) -> bool {
        let t = self.tcb;
        let reach = i64::from(self.reach());
        let offset = i64::from(seg.seq.diff(t.rcv_nxt));
        self.state.is_synchronized()
            && seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::RST)
            && seg.ack.gt(t.snd_una)
            && seg.ack.le(t.snd_max)
            && (-reach..=i64::from(self.rcv_wnd()) + 1).contains(&offset)
    }

    /// An ACK-only segment numbered a little below RCV.NXT: a pure ACK the peer sent before
    /// data that overtook it on the way. Table 6 calls it unacceptable, and the reply it
    /// prescribes would reach the peer as a duplicate ACK; with data flowing both ways a
    /// couple of those beside genuinely out-of-order data trigger a spurious fast
    /// retransmit. RFC 9293 Appendix A.2 acknowledges that the strict rules keep valid ACK
    /// fields from being processed and leaves the remedy to implementations: ours takes the
    /// acknowledgement and sends nothing. The keep-alive shape, SEG.SEQ = RCV.NXT - 1
    /// (3.8.4), is not stale: it exists to elicit that reply.
    pub(super) fn is_stale_ack(&self, seg: &TcpRepr<'_>) -> bool {
        let nxt = self.tcb.rcv_nxt;
        let reach = self.reach();
        self.state.is_synchronized()
            && seg.flags.contains(TcpFlags::ACK)
            && !seg
                .flags
                .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
            && seg.payload.is_empty()
            && seg.seq.lt(nxt - 1)
            && nxt.distance_from(seg.seq) <= reach
    }

    /// Only an acknowledgement that is new is worth taking from a stale segment: one equal to
    /// SND.UNA would count as a duplicate ACK, which it is not (the peer sent it before the
    /// data that overtook it, not in answer to anything that arrived out of order).
    pub(super) fn on_stale_ack(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        self.apply(rules::SEG_STALE_ACK);
        if seg.ack.gt(self.tcb.snd_una) && seg.ack.le(self.tcb.snd_max) {
            let _ = self.on_ack(now, seg);
        }
        (Disposition::Duplicate, rules::SEG_STALE_ACK)
    }

    /// Whether to send the ACK that answers an unacceptable segment. Always for text, SYN
    /// or FIN (the peer needs it to resynchronize); for a bare ACK at most once per
    /// `oow_ack_interval_us`: an ACK answering an ACK is how two confused peers start an
    /// endless exchange.
    pub(super) fn may_answer_unacceptable(&mut self, now: u64, seg: &TcpRepr<'_>) -> bool {
        let bare = seg.payload.is_empty() && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
        if !bare {
            return true;
        }
        let interval = self.config.oow_ack_interval_us;
        if self
            .last_oow_ack
            .is_some_and(|t| now.saturating_sub(t) < interval)
        {
            return false;
        }
        self.last_oow_ack = Some(now);
        true
    }

    /// Owe the peer a challenge ACK (RFC 5961 3.2, 4.2, 5.2) if the rate limit of RFC 5961 7
    /// allows one more in the current second.
    pub(super) fn challenge(&mut self, now: u64) {
        const SEC: u64 = 1_000_000;
        let limit = self.config.challenge_ack_limit;
        let (start, sent) = match self.challenge_window {
            Some((start, sent)) if now.saturating_sub(start) < SEC => (start, sent),
            _ => (now, 0),
        };
        if limit != 0 && sent >= limit {
            self.counters.challenge_acks_suppressed += 1;
            return;
        }
        self.challenge_window = Some((start, sent + 1));
        self.ack_owed.owe_challenge();
    }

    /// The zero-window allowance of 3.10.7.4: a segment starting exactly at RCV.NXT while our
    /// window is closed (a window probe, typically) still has its ACK field processed.
    pub(super) fn ack_despite_zero_window(&self, seg: &TcpRepr<'_>) -> bool {
        self.state.is_synchronized()
            && self.rcv_wnd() == 0
            && seg.seq == self.tcb.rcv_nxt
            && seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::RST)
    }
}

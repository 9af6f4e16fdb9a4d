//! Loss recovery with SACK (RFC 6675 5): while in recovery, each ACK lets segments go as
//! long as the window exceeds `pipe`, the scoreboard's estimate of what is still in the
//! network, and NextSeg chooses them: first the holes the scoreboard shows lost, then new
//! data, then holes not yet known lost. So several holes are repaired per round trip, where
//! NewReno (RFC 6582) repairs one per partial ACK and leaves the rest to the timer.
//!
//! What this recovery retransmitted so far ends at `rxt_end` (RFC 6675's HighRxt + 1); a
//! SACKed byte is never retransmitted (the holes stop where the SACKed ranges start).
//! Without SACK, or outside recovery, none of this applies.

use super::events::SendReason;
use super::Connection;
use crate::scoreboard::Losses;
use crate::seq::SeqNum;
use crate::wire::TcpFlags;

/// A retransmission NextSeg chose: `len` data bytes from `seq`, with our FIN after them
/// when the hole reaches it.
pub(super) struct SackRetransmit {
    pub seq: SeqNum,
    pub len: usize,
    pub fin: bool,
}

impl Connection {
    /// RFC 6675 recovery is running: SACK agreed and fast recovery entered.
    pub(super) fn sack_recovery(&self) -> bool {
        self.tcb.sack_ok && self.cc.in_recovery()
    }

    fn losses(&self) -> Losses {
        self.recovery
            .scoreboard
            .losses(self.config.dupack_threshold, self.tcb.snd_mss)
    }

    /// What is in the network: RACK's record when it keeps one (segments neither
    /// delivered nor lost by RACK or by IsLost), else RFC 6675 4's SetPipe.
    pub(super) fn pipe(&self) -> u32 {
        let t = self.tcb;
        let losses = self.losses();
        if self.recovery.rack.is_tracking() {
            self.recovery.rack.pipe(losses.lost_below)
        } else {
            self.recovery
                .scoreboard
                .pipe(t.snd_max, self.recovery.rxt_end, losses)
        }
    }

    /// RFC 8985 6.2 on an acceptable ACK: what it delivered, then the losses it reveals.
    pub(super) fn rack_update(&mut self, now: u64) {
        if !self.tcb.sack_ok || !self.recovery.rack.is_tracking() {
            return;
        }
        self.recovery
            .rack
            .on_ack(now, self.tcb.snd_una, &self.recovery.scoreboard);
        let reo = self
            .recovery
            .rack
            .reo_wnd_us(self.cc.in_recovery(), self.rtt.srtt_us());
        let lost = self.recovery.rack.detect_losses(now, reo);
        self.counters.rack_lost_bytes += u64::from(lost);
    }

    /// The first stretch RACK marked lost, less what the scoreboard shows SACKed, up to
    /// `room` bytes: a lost retransmission included, which no duplicate ACK reveals.
    fn rack_lost_hole(&self, room: u32) -> Option<(SeqNum, u32)> {
        let (start, end) = self.recovery.rack.first_lost()?;
        let (hole, next_sacked) = self.recovery.scoreboard.next_hole(start);
        let stop = match next_sacked {
            Some(s) if s.lt(end) => s,
            _ => end,
        };
        let len = stop.distance_from(hole).min(room);
        (hole.lt(end) && len > 0).then_some((hole, len))
    }

    /// How much the window allows beyond `pipe` during SACK recovery (RFC 6675 5 (C):
    /// "while cwnd - pipe >= 1 SMSS").
    pub(super) fn recovery_room(&self) -> u32 {
        self.cc.cwnd().saturating_sub(self.pipe())
    }

    /// Recovery begins: nothing of it is retransmitted yet (HighRxt = HighACK).
    pub(super) fn start_sack_recovery(&mut self) {
        self.recovery.rxt_end = self.tcb.snd_una;
    }

    /// A retransmission of `[seq, end)` went in this recovery.
    pub(super) fn note_recovery_retransmit(&mut self, end: SeqNum) {
        if self.sack_recovery() && end.gt(self.recovery.rxt_end) {
            self.recovery.rxt_end = end;
        }
    }

    /// NextSeg's rules (1) and (3) (RFC 6675 4), when the window has room for a segment:
    /// a lost hole first; a hole not known lost only when `new_data_waits` is false (rule
    /// (2), new data, comes before it).
    pub(super) fn next_sack_retransmit(
        &self,
        room: usize,
        new_data_waits: bool,
    ) -> Option<SackRetransmit> {
        if !self.sack_recovery() || (self.recovery_room() as usize) < room {
            return None;
        }
        let t = self.tcb;
        let from = if self.recovery.rxt_end.gt(t.snd_una) {
            self.recovery.rxt_end
        } else {
            t.snd_una
        };
        let by_count =
            self.recovery
                .scoreboard
                .next_seg(from, t.snd_max, room as u32, self.losses());
        // RACK's lost stretch and IsLost's next hole: the lower goes first.
        let by_time = self.rack_lost_hole(room as u32).map(|(s, l)| (s, l, true));
        let (seq, len, lost) = match (by_time, by_count) {
            (Some(a), Some(b)) if b.2 && b.0.lt(a.0) => b,
            (Some(a), _) => a,
            (None, b) => b?,
        };
        if !lost && new_data_waits {
            return None;
        }
        // Data bytes of the hole; past them only our FIN can lie (it occupies the last
        // sequence number sent).
        let index = seq.distance_from(t.snd_una) as usize;
        let data = (len as usize).min(self.send_buf.len().saturating_sub(index));
        let fin = self
            .fin_seq
            .is_some_and(|f| f == seq + data as u32 && (data as u32) < len);
        if data == 0 && !fin {
            return None;
        }
        Some(SackRetransmit {
            seq,
            len: data,
            fin,
        })
    }

    /// The flags and reason of a NextSeg retransmission.
    pub(super) fn sack_retransmit_flags(r: &SackRetransmit) -> (TcpFlags, SendReason) {
        let flags = if r.fin {
            TcpFlags::FIN
        } else {
            TcpFlags::empty()
        };
        (flags, SendReason::RecoveryRetransmit)
    }
}

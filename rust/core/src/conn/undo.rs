//! Spurious retransmissions detected, and their congestion response undone: the window a
//! loss that never happened took away is given back (RFC 3708's D-SACK detection, RFC 3522's
//! Eifel detection with timestamps, RFC 4015's response in its simplest form).
//!
//! An episode starts when fast recovery or a retransmission timeout reduces the window. Two
//! signs prove it was needless:
//! - **D-SACK** (RFC 2883, RFC 3708): every segment retransmitted in the episode is
//!   reported back as a duplicate: the receiver had the originals.
//! - **Eifel** (RFC 3522): the first ACK of new data after the first retransmission echoes
//!   a timestamp older than that retransmission's: it answers the original transmission.
//!
//! Either one undoes the episode once (`Controller::undo`); the sequence of recovery itself
//! (`recover`, `in_recovery`) goes on as it would have. Reordering in the network (a segment
//! late by more than the duplicate-ACK threshold) is what usually causes such episodes.

use super::Connection;
use crate::seq::SeqNum;

/// The episode being watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Undo {
    /// Segments retransmitted in the episode not yet reported back by a D-SACK.
    retransmitted: u32,
    /// Sequence space the episode's retransmissions lie in: `[start, end)` (SND.UNA and
    /// SND.MAX when it began, extended by what was sent since).
    start: Option<SeqNum>,
    end: SeqNum,
    /// The TSval of its first retransmission (RFC 3522's RetransmitTS).
    first_tsval: Option<u32>,
    /// Whether the Eifel test is still to be made (on the first ACK of new data).
    eifel_pending: bool,
}

impl Connection {
    /// Fast recovery or a retransmission timeout just reduced the window.
    pub(super) fn start_undo_episode(&mut self) {
        let t = self.tcb;
        self.recovery.undo = Undo {
            start: Some(t.snd_una),
            end: t.snd_max,
            eifel_pending: true,
            ..Undo::default()
        };
    }

    /// A segment of ours went out as a retransmission, ending at `end`, with `tsval`.
    pub(super) fn note_undo_retransmit(&mut self, end: SeqNum, tsval: Option<u32>) {
        let u = &mut self.recovery.undo;
        if u.start.is_none() {
            return;
        }
        u.retransmitted = u.retransmitted.saturating_add(1);
        if end.gt(u.end) {
            u.end = end;
        }
        if u.first_tsval.is_none() {
            u.first_tsval = tsval;
        }
    }

    /// The peer's D-SACK reported `[left, right)` duplicate (RFC 2883).
    pub(super) fn on_dsack(&mut self, left: SeqNum, right: SeqNum) {
        let u = self.recovery.undo;
        let Some(start) = u.start else {
            return;
        };
        if left.lt(start) || right.gt(u.end) || u.retransmitted == 0 {
            return;
        }
        self.recovery.undo.retransmitted -= 1;
        if self.recovery.undo.retransmitted == 0 {
            self.undo_spurious();
        }
    }

    /// An ACK of new data echoing `tsecr` (0: none): RFC 3522's test, once per episode.
    pub(super) fn eifel_check(&mut self, tsecr: u32) {
        let u = self.recovery.undo;
        if u.start.is_none() || !u.eifel_pending || tsecr == 0 {
            return;
        }
        let Some(first) = u.first_tsval else {
            return;
        };
        self.recovery.undo.eifel_pending = false;
        // Older than the retransmission (mod 2^32, as timestamps compare): the original
        // arrived, so the retransmission was not needed.
        if first.wrapping_sub(tsecr) as i32 > 0 {
            self.undo_spurious();
        }
    }

    fn undo_spurious(&mut self) {
        self.recovery.undo = Undo::default();
        self.cc.undo();
        self.counters.spurious_undone += 1;
    }
}

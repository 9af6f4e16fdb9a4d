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

/// Retransmitted ranges an episode keeps to match D-SACKs against; an episode that
/// retransmits more is undone by Eifel only.
const WATCHED: usize = 8;

/// The episode being watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Undo {
    /// The episode's retransmissions not yet reported back by a D-SACK (RFC 3708: only a
    /// D-SACK of a segment we retransmitted says anything; one of a segment the network
    /// duplicated does not).
    retransmitted: [(SeqNum, SeqNum); WATCHED],
    pending: u8,
    /// More retransmissions than `WATCHED`: D-SACKs cannot prove them all needless.
    overflow: bool,
    /// Whether an episode is being watched.
    active: bool,
    /// The TSval of its first retransmission (RFC 3522's RetransmitTS).
    first_tsval: Option<u32>,
    /// Whether the Eifel test is still to be made (on the first ACK of new data).
    eifel_pending: bool,
}

impl Connection {
    /// Fast recovery or a retransmission timeout just reduced the window.
    pub(super) fn start_undo_episode(&mut self) {
        self.recovery.undo = Undo {
            active: true,
            eifel_pending: true,
            ..Undo::default()
        };
    }

    /// A segment of ours went out as a retransmission, `[start, end)`, with `tsval`.
    pub(super) fn note_undo_retransmit(&mut self, start: SeqNum, end: SeqNum, tsval: Option<u32>) {
        let u = &mut self.recovery.undo;
        if !u.active {
            return;
        }
        match u.retransmitted.get_mut(usize::from(u.pending)) {
            Some(slot) => {
                *slot = (start, end);
                u.pending += 1;
            }
            None => u.overflow = true,
        }
        if u.first_tsval.is_none() {
            u.first_tsval = tsval;
        }
    }

    /// The peer's D-SACK reported `[left, right)` duplicate (RFC 2883): if it is one of the
    /// episode's retransmissions, that one was needless; when all were, so was the episode.
    pub(super) fn on_dsack(&mut self, left: SeqNum, right: SeqNum) {
        let u = &mut self.recovery.undo;
        if !u.active || u.pending == 0 {
            return;
        }
        let n = usize::from(u.pending);
        let Some(i) = u.retransmitted[..n]
            .iter()
            .position(|&(s, e)| s.le(left) && right.le(e))
        else {
            return;
        };
        u.retransmitted.copy_within(i + 1..n, i);
        u.pending -= 1;
        if u.pending == 0 && !u.overflow {
            self.undo_spurious();
        }
    }

    /// An ACK of new data echoing `tsecr` (0: none): RFC 3522's test, once per episode.
    pub(super) fn eifel_check(&mut self, tsecr: u32) {
        let u = self.recovery.undo;
        if !u.active || !u.eifel_pending || tsecr == 0 {
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

//! The acknowledgements we owe the peer: the one owner of what must be acknowledged and by
//! when (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2, RFC 5681 4.2, RFC 2018 4, RFC 2883).
//!
//! An ACK answers one arriving segment, not one call: a batch of segments handed over at
//! once (a `recvmmsg`, a GRO train, the simulator delivering a burst) is acknowledged as if
//! each had come alone. While a segment is processed the input path *marks* what its answer
//! needs ([`Urgency`]); when the segment is done the connection *seals* that mark into a
//! snapshot ([`OwedAck`]: the acknowledgement number and SACK blocks of that moment), queued
//! in arrival order. The output path sends the snapshots one by one, except that the newest
//! one, when it still describes the current state and is no duplicate ACK, may ride on a
//! data segment instead of going alone (RFC 9293 3.8.6.3's piggybacking).
//!
//! Without this, ten in-order segments in one batch drew one ACK instead of five, and a
//! sender growing its window per ACK (RFC 5681 3.1) or probing for tail loss by timer
//! (Linux's TLP) took that as trouble.
//!
//! Besides the queue: the delayed-ACK timer and the bytes it covers (`delack.rs` decides),
//! an ACK of the current state owed for reasons that are no arrival (a window update after a
//! read, the delayed-ACK expiry), a rate-limited challenge ACK (RFC 5961 7), and a D-SACK
//! block (RFC 2883) waiting for the snapshot of the duplicate that caused it.

use std::collections::VecDeque;

use crate::seq::SeqNum;
use crate::wire::SackBlocks;

/// Snapshots kept waiting at most. A batch larger than this (beyond anything `recvmmsg` or
/// GRO hands over at once) has its newest answers merged into the last one kept, counted
/// in `coalesced`: the acknowledgement number only grows, so the merged ACK says at least
/// as much as the ones it replaces.
pub(super) const MAX_OWED_ACKS: usize = 64;

/// How the answer to the segment being processed must go; the strongest mark wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) enum Urgency {
    /// No answer of its own (or a delayed one: see `delack.rs`).
    #[default]
    None,
    /// An ACK at once; data of ours may carry it.
    Now,
    /// A duplicate ACK: at once, and alone, since one that carries data is no duplicate to
    /// the sender (RFC 5681 2, 4.2).
    Duplicate,
}

/// One acknowledgement as it was owed when its segment had been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OwedAck {
    pub ack: SeqNum,
    /// The SACK blocks of that moment, a D-SACK block first if the segment was a duplicate.
    pub sack: SackBlocks,
    pub duplicate: bool,
}

#[derive(Debug, Default)]
pub(super) struct AckOwed {
    arrival: Urgency,
    queue: VecDeque<OwedAck>,
    /// An ACK of the current state is owed, for a reason that is no arrival.
    now: bool,
    /// A challenge ACK is owed (RFC 5961 3.2, 4.2, 5.2), already counted against its limit.
    challenge: bool,
    /// When the delayed ACK must go at the latest; `None` while none is held back.
    delayed_until: Option<u64>,
    /// In-order bytes taken since the last ACK sent or sealed (RFC 5681 4.2's "every second
    /// full-sized segment").
    unacked: u32,
    /// RFC 2883: the duplicate range of the segment being processed, reported first in its
    /// ACK and never again.
    dsack: Option<(SeqNum, SeqNum)>,
    coalesced: u64,
}

impl AckOwed {
    /// The segment being processed needs an answer at least this urgent.
    pub fn mark(&mut self, urgency: Urgency) {
        self.arrival = self.arrival.max(urgency);
    }

    /// The segment being processed duplicated `[left, right)`: its ACK reports it (RFC
    /// 2883 4). Only the first duplicate range of a segment is kept.
    pub fn note_duplicate(&mut self, left: SeqNum, right: SeqNum) {
        if self.dsack.is_none() && left != right {
            self.dsack = Some((left, right));
        }
    }

    /// The D-SACK block waiting for this segment's answer.
    pub fn dsack(&self) -> Option<(SeqNum, SeqNum)> {
        self.dsack
    }

    /// The segment is done: what it marked, if anything. The caller builds the snapshot
    /// and hands it to [`AckOwed::push`]; either way the mark and the D-SACK are spent.
    pub fn take_arrival(&mut self) -> Urgency {
        let u = std::mem::take(&mut self.arrival);
        if u == Urgency::None {
            self.dsack = None;
        }
        u
    }

    /// Queue the answer to the segment just processed. It acknowledges everything taken so
    /// far, so nothing is held back for the delayed-ACK timer any more.
    pub fn push(&mut self, owed: OwedAck) {
        self.dsack = None;
        self.unacked = 0;
        self.delayed_until = None;
        if self.queue.len() >= MAX_OWED_ACKS {
            if let Some(last) = self.queue.back_mut() {
                let duplicate = last.duplicate || owed.duplicate;
                *last = OwedAck { duplicate, ..owed };
                self.coalesced += 1;
                return;
            }
        }
        self.queue.push_back(owed);
    }

    /// The next snapshot that must go as a segment of its own: any duplicate ACK, and any
    /// that no longer describes the current state (`ack` is RCV.NXT now) or has newer ones
    /// behind it. The newest, still current, non-duplicate one stays for whatever segment
    /// goes next to carry (see [`AckOwed::current`]).
    pub fn pop_separate(&mut self, ack: SeqNum) -> Option<OwedAck> {
        let front = self.queue.front()?;
        if front.duplicate || front.ack != ack || self.queue.len() > 1 {
            self.queue.pop_front()
        } else {
            None
        }
    }

    /// The newest snapshot, if it is the only one left: what the next segment carrying an
    /// ACK conveys (its SACK blocks include the D-SACK of the duplicate it answers).
    pub fn current(&self) -> Option<&OwedAck> {
        (self.queue.len() == 1)
            .then(|| self.queue.front())
            .flatten()
    }

    /// Whether an ACK of the current state is owed, and the reason to log it by.
    pub fn owed_now(&self) -> Option<super::SendReason> {
        use super::SendReason;
        if let Some(o) = self.current() {
            return Some(if o.duplicate {
                SendReason::DupAck
            } else {
                SendReason::Ack
            });
        }
        if self.challenge {
            Some(SendReason::ChallengeAck)
        } else if self.now {
            Some(SendReason::Ack)
        } else {
            None
        }
    }

    /// An ACK of the current state is owed (not for an arrival: a read opened the window,
    /// the delayed-ACK timer expired).
    pub fn owe_now(&mut self) {
        self.now = true;
    }

    pub fn owe_challenge(&mut self) {
        self.challenge = true;
    }

    /// A segment carrying `ack` went out, RCV.NXT being `rcv_nxt`; `conveyed_current`: it
    /// carried what [`AckOwed::current`] holds (it was no snapshot popped to go alone).
    /// One that acknowledges everything settles every ACK of the current state, delayed
    /// ones too, and the newest snapshot if it carried it and that is no duplicate ACK
    /// (which only a pure ACK of its own conveys).
    pub fn on_sent(&mut self, ack: SeqNum, rcv_nxt: SeqNum, conveyed_current: bool) {
        if ack != rcv_nxt {
            return;
        }
        self.now = false;
        self.challenge = false;
        self.delayed_until = None;
        self.unacked = 0;
        let settled = |o: &OwedAck| o.ack == rcv_nxt && !o.duplicate;
        if conveyed_current && self.current().is_some_and(settled) {
            self.queue.clear();
        }
    }

    /// In-order bytes taken: returns the total unacknowledged.
    pub fn add_unacked(&mut self, bytes: u32) -> u32 {
        self.unacked = self.unacked.saturating_add(bytes);
        self.unacked
    }

    pub fn unacked(&self) -> u32 {
        self.unacked
    }

    /// Hold the ACK back until `deadline` at the latest; an earlier deadline stands (MUST-40
    /// bounds the delay of each acknowledgement, not of the last).
    pub fn delay_until(&mut self, deadline: u64) {
        self.delayed_until.get_or_insert(deadline);
    }

    pub fn delayed_until(&self) -> Option<u64> {
        self.delayed_until
    }

    /// The delayed-ACK timer expired: the ACK it held is owed now.
    pub fn delay_expired(&mut self) {
        self.delayed_until = None;
        self.now = true;
    }

    /// ACKs merged into others because too many waited (see [`MAX_OWED_ACKS`]).
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }

    /// The connection closed: nothing is owed any more.
    pub fn clear(&mut self) {
        let coalesced = self.coalesced;
        *self = AckOwed {
            coalesced,
            ..AckOwed::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owed(ack: u32, duplicate: bool) -> OwedAck {
        OwedAck {
            ack: SeqNum(ack),
            sack: SackBlocks::new(),
            duplicate,
        }
    }

    #[test]
    fn the_strongest_mark_wins_and_is_spent_by_taking_it() {
        let mut a = AckOwed::default();
        a.mark(Urgency::Duplicate);
        a.mark(Urgency::Now);
        assert_eq!(a.take_arrival(), Urgency::Duplicate);
        assert_eq!(a.take_arrival(), Urgency::None);
    }

    #[test]
    fn older_snapshots_go_alone_and_the_newest_may_ride_on_data() {
        let mut a = AckOwed::default();
        a.push(owed(100, false));
        a.push(owed(200, false));
        // Two queued: the first goes alone, whatever the current state.
        assert_eq!(
            a.pop_separate(SeqNum(200)).map(|o| o.ack),
            Some(SeqNum(100))
        );
        // The second is current: it waits for a segment to carry it.
        assert_eq!(a.pop_separate(SeqNum(200)), None);
        assert_eq!(a.owed_now(), Some(super::super::SendReason::Ack));
        a.on_sent(SeqNum(200), SeqNum(200), true);
        assert_eq!(a.owed_now(), None);
    }

    #[test]
    fn a_duplicate_ack_always_goes_alone() {
        let mut a = AckOwed::default();
        a.push(owed(100, true));
        a.push(owed(100, true));
        assert!(a.pop_separate(SeqNum(100)).is_some_and(|o| o.duplicate));
        // Sending the first settles neither the second nor, riding on data, itself.
        a.on_sent(SeqNum(100), SeqNum(100), false);
        a.on_sent(SeqNum(100), SeqNum(100), true);
        assert!(a.pop_separate(SeqNum(100)).is_some_and(|o| o.duplicate));
    }

    #[test]
    fn a_snapshot_overtaken_by_new_data_goes_alone() {
        let mut a = AckOwed::default();
        a.push(owed(100, false));
        assert!(a.pop_separate(SeqNum(150)).is_some());
    }

    #[test]
    fn sealing_an_answer_ends_the_delay() {
        let mut a = AckOwed::default();
        a.add_unacked(1000);
        a.delay_until(40);
        a.push(owed(1, false));
        assert_eq!(a.unacked(), 0);
        assert_eq!(a.delayed_until(), None);
    }

    #[test]
    fn a_huge_batch_is_bounded_and_merged_into_the_last() {
        let mut a = AckOwed::default();
        for i in 0..(MAX_OWED_ACKS as u32 + 10) {
            a.push(owed(i, i == 3 + MAX_OWED_ACKS as u32));
        }
        assert_eq!(a.queue.len(), MAX_OWED_ACKS);
        assert_eq!(a.coalesced(), 10);
        let last = a.queue.back().copied();
        assert_eq!(last.map(|o| o.ack), Some(SeqNum(MAX_OWED_ACKS as u32 + 9)));
        assert!(
            last.is_some_and(|o| o.duplicate),
            "a merged duplicate stays one"
        );
    }

    #[test]
    fn an_ack_of_an_earlier_moment_settles_nothing_current() {
        let mut a = AckOwed::default();
        a.owe_now();
        a.on_sent(SeqNum(5), SeqNum(9), true);
        assert_eq!(a.owed_now(), Some(super::super::SendReason::Ack));
    }

    #[test]
    fn a_dsack_is_spent_with_its_segment() {
        let mut a = AckOwed::default();
        a.note_duplicate(SeqNum(1), SeqNum(5));
        a.note_duplicate(SeqNum(7), SeqNum(9));
        assert_eq!(a.dsack(), Some((SeqNum(1), SeqNum(5))));
        assert_eq!(a.take_arrival(), Urgency::None);
        assert_eq!(a.dsack(), None);
    }
}

//! The data receiver's side of SACK (RFC 2018 3-4, RFC 2883): which blocks our ACKs carry,
//! and sealing each arriving segment's answer into the record of ACKs owed (`ack_owed.rs`).
//!
//! RFC 2018 4: once SACK is agreed, every ACK sent while out-of-order data is held carries
//! the option (data segments and window updates too, not only duplicate ACKs); the first
//! block is the one holding the segment that triggered the ACK, then the blocks reported
//! most recently (the receive buffer keeps that order, `Reassembly::sack_ranges`), as many
//! as the option space leaves room for: 3 beside timestamps, 4 without. RFC 2883: a segment
//! that duplicates data already received is reported once, as the first block (D-SACK),
//! followed by the held block it lies in, if any.

use super::ack_owed::{OwedAck, Urgency};
use super::state::State;
use super::Connection;
use crate::seq::SeqNum;
use crate::wire::{SackBlocks, MAX_SACK_BLOCKS};

/// Bytes a SACK option of `n` blocks takes in the header, with the two NOPs that align it
/// (RFC 2018 3: 2 + 8n).
fn sack_option_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        4 + 8 * n
    }
}

impl Connection {
    /// Sequence number of stream offset `off` of the received stream.
    fn rcv_seq_at(&self, off: u64) -> SeqNum {
        // The held data lies within a window of RCV.NXT, so the distance fits 32 bits.
        self.tcb.rcv_nxt + (off.wrapping_sub(self.rcv_off) as u32)
    }

    /// The SACK blocks of the current state, `dsack` first when given (RFC 2883 4); empty
    /// unless SACK was agreed (RFC 2018 2: a receiver MUST NOT send them otherwise).
    pub(super) fn sack_blocks(&self, dsack: Option<(SeqNum, SeqNum)>) -> SackBlocks {
        let mut blocks = SackBlocks::new();
        if !self.tcb.sack_ok {
            return blocks;
        }
        if let Some((left, right)) = dsack {
            blocks.push(left, right);
        }
        for &(start, end) in self.reasm.sack_ranges().as_slice() {
            blocks.push(self.rcv_seq_at(start), self.rcv_seq_at(end));
        }
        blocks
    }

    /// SACK blocks a segment of ours has room for beside the other options of a
    /// synchronized connection (timestamps take 12 of the 40 bytes).
    pub(super) fn sack_room(&self) -> usize {
        if self.tcb.ts_ok {
            MAX_SACK_BLOCKS - 1
        } else {
            MAX_SACK_BLOCKS
        }
    }

    /// The blocks the next segment carrying an ACK reports: those of the answer it conveys
    /// when one is waiting, else the current ones.
    pub(super) fn next_sack_blocks(&self) -> SackBlocks {
        match self.ack_owed.current() {
            Some(owed) => owed.sack,
            None => self.sack_blocks(None),
        }
    }

    /// Payload bytes a data segment may carry now: the effective MSS less the SACK option
    /// it will carry (RFC 6691 2: the MSS counts no TCP options, so the ones a segment
    /// carries beyond those every segment has come off its payload, or the packet would
    /// outgrow the path's MTU).
    pub(super) fn payload_room(&self) -> usize {
        let n = self.next_sack_blocks().len().min(self.sack_room());
        (self.tcb.snd_mss as usize)
            .saturating_sub(sack_option_len(n))
            .max(1)
    }

    /// The arriving segment has been processed: queue the answer it marked, a snapshot of
    /// this moment's acknowledgement and SACK blocks (`ack_owed.rs`).
    pub(super) fn seal_answer(&mut self) {
        let urgency = self.ack_owed.take_arrival();
        let answers = self.state == State::SynReceived || self.state.is_synchronized();
        if urgency == Urgency::None || !answers {
            return;
        }
        let sack = self.sack_blocks(self.ack_owed.dsack());
        self.ack_owed.push(OwedAck {
            ack: self.tcb.rcv_nxt,
            sack,
            duplicate: urgency == Urgency::Duplicate,
        });
    }

    /// The arriving segment repeats `[left, right)`, data we hold or have delivered: its
    /// answer reports it as a D-SACK block (RFC 2883 4), with the held block it lies in
    /// (4.1.2) reported next.
    pub(super) fn note_duplicate(&mut self, left: SeqNum, right: SeqNum) {
        if !self.tcb.sack_ok {
            return;
        }
        self.ack_owed.note_duplicate(left, right);
        let off = self.stream_offset(left);
        if off >= self.rcv_off as i64 {
            self.reasm.touch(off as u64);
        }
    }
}

//! The seventh and eighth checks on an arriving segment: its text and its FIN (RFC 9293
//! 3.10.7.4), through the reassembly buffer (RFC 5681 4.2's immediate duplicate ACKs).

use super::events::{Disposition, Event};
use super::rules::{self, RuleId};
use super::state::State;
use super::timer_table::Timer;
use super::Connection;
use crate::seq::SeqNum;
use crate::wire::TcpRepr;

impl Connection {
    /// Stream offset (relative to the first data byte) of sequence number `seq`.
    pub(crate) fn stream_offset(&self, seq: SeqNum) -> i64 {
        self.rcv_off as i64 + i64::from(seq.diff(self.tcb.rcv_nxt))
    }

    /// Seventh step: deliver in order, hold out of order, trim duplicates. Text taken in
    /// order is acknowledged at once or within the delayed-ACK time (`delack.rs`); every
    /// other data segment at once, and one that leaves a gap gets the duplicate ACK naming
    /// `rcv_nxt`, the first missing byte.
    pub(super) fn on_data(&mut self, now: u64, seg: &TcpRepr<'_>) -> (Disposition, RuleId) {
        let mut off = self.stream_offset(seg.seq);
        let mut data = seg.payload;
        if off < 0 {
            let skip = ((-off) as usize).min(data.len());
            self.counters.duplicate_bytes += skip as u64;
            data = &data[skip..];
            off = self.rcv_off as i64;
        }
        let before = self.rcv_off as i64 - off;
        if before > 0 {
            // The part below RCV.NXT we had already: a D-SACK block (RFC 2883 4.1.1).
            let had = before.min(data.len() as i64) as u32;
            let at = self.tcb.rcv_nxt - before as u32;
            self.note_duplicate(at, at + had);
        }
        // Nothing beyond the peer's FIN: its stream ends there, and taking more would
        // carry RCV.NXT past the FIN, which would then never be processed.
        let limit =
            (self.rcv_off + u64::from(self.rcv_wnd())).min(self.peer_fin_off.unwrap_or(u64::MAX));
        let was_empty = self.recv_buf.is_empty();
        // Text beyond a gap was held before this segment: if this one is taken in order it
        // fills (part of) the gap, which RFC 5681 4.2 wants acknowledged at once.
        let gap = !self.reasm.is_empty();
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
        if out.duplicate == data.len() && !data.is_empty() {
            // All of it held already: a D-SACK block, then the block it lies in (RFC 2883
            // 4.1.2).
            let at = seg.seq + (seg.payload.len() - data.len()) as u32;
            self.note_duplicate(at, at + data.len() as u32);
        }
        if !self.reasm.is_empty() {
            self.owe_dup_ack();
        } else if out.delivered > 0 {
            // No hole (any more): it may wait a little for more text (delayed ACK,
            // `delack.rs`).
            self.on_in_order_text(now, out.delivered, gap);
        } else {
            // Nothing new: a duplicate (or text beyond the window) is answered at once
            // (RFC 9293 3.10.7.4: the ACK tells the sender what we have).
            self.owe_ack();
        }
        if out.delivered > 0 {
            self.apply(rules::DATA_IN_ORDER);
            if self.peer_fin_off == Some(self.rcv_off) {
                self.peer_fin_off = None;
                let r = self.on_fin(now);
                return (Disposition::InOrder, r);
            }
            (Disposition::InOrder, rules::DATA_IN_ORDER)
        } else if out.held > 0 {
            self.counters.out_of_order_segments += 1;
            self.counters.out_of_order_bytes += out.held as u64;
            self.apply(rules::DATA_OUT_OF_ORDER);
            (Disposition::OutOfOrderHeld, rules::DATA_OUT_OF_ORDER)
        } else {
            self.counters.duplicate_segments += 1;
            self.apply(rules::DATA_DUPLICATE);
            (Disposition::Duplicate, rules::DATA_DUPLICATE)
        }
    }

    /// Eighth step: the FIN is next in sequence.
    pub(super) fn on_fin(&mut self, now: u64) -> RuleId {
        self.tcb.rcv_nxt += 1;
        self.fin_received = true;
        // The FIN taken in order ends the stream: one held elsewhere (a peer's error, or a
        // forgery) is void (the spec's recv_fin rules clear peer_fin_held).
        self.peer_fin_off = None;
        self.owe_ack();
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
        self.timers.stop(Timer::Retransmit);
        self.rexmit_pending = None;
        self.timers
            .start(Timer::TimeWait, now + 2 * self.config.msl_us);
    }
}

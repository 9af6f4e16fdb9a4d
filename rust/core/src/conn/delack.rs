//! Delayed acknowledgements (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2, RFC 5681 4.2).
//!
//! An ACK for in-order text may wait up to `Config::delayed_ack_us` for more text (one ACK
//! then covers both) or for a segment of ours to ride on. It goes at once when two
//! full-sized segments' worth is unacknowledged (SHLD-19: "at least every second
//! full-sized segment or 2*RMSS bytes"), and for everything RFC 5681 4.2 wants answered
//! without delay: out-of-order text, text that fills (part of) a gap, duplicates, a FIN.
//! Those mark their answer as due at once where they are processed (`ack_owed.rs`); only
//! `on_in_order_text` decides to wait. Within a batch of segments the count runs per
//! segment: each answer sealed resets it, so every second segment of the batch is
//! acknowledged.
//!
//! The spec (`models/tcp.toml`) sees the choice as the input `in.ack_delay_ok` (the ACK of
//! `data.in_order` is optional when it holds) and the expiry as `timer.delayed_ack`; the
//! conformance tests derive both from `spec_vars` (see `delack_spec_vars`).

use super::rules;
use super::Connection;

impl Connection {
    /// Text was taken in order: `delivered` bytes, of a segment that arrived while the
    /// reassembly buffer held text beyond a gap (`gap`) or not. Acknowledge it now, or
    /// start the delayed-ACK timer.
    pub(super) fn on_in_order_text(&mut self, now: u64, delivered: usize, gap: bool) {
        let delivered = u32::try_from(delivered).unwrap_or(u32::MAX);
        let unacked = self.ack_owed.add_unacked(delivered);
        if !self.ack_may_wait(gap, unacked) {
            self.owe_ack();
            return;
        }
        // The deadline counts from the first byte held unacknowledged: later text does not
        // push it back (MUST-40 bounds the delay of each acknowledgement, not of the last).
        self.ack_owed
            .delay_until(now.saturating_add(self.config.delayed_ack_us));
    }

    /// Whether the ACK for the `unacked` bytes may be delayed: the feature is on,
    /// the segment did not fill (part of) a gap (RFC 5681 4.2: "an immediate ACK SHOULD be
    /// generated when an incoming segment fills in all or part of a gap"), and less than
    /// two full-sized segments' worth is unacknowledged. A full-sized segment is the
    /// effective MSS: what the peer's segments can be at most.
    fn ack_may_wait(&self, gap: bool, unacked: u32) -> bool {
        self.config.delayed_ack_us != 0
            && !gap
            && u64::from(unacked) < 2 * u64::from(self.tcb.snd_mss)
    }

    /// The earlier of two deadlines, either of which may be unset.
    pub(super) fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The delayed-ACK timer at `now`. Due alone, its expiry is the event: the ACK goes
    /// out (`timer.delayed_ack`) and true is returned, nothing else being due. Due together
    /// with another timer, that one's expiry is the event: the ACK rides on what it sends,
    /// or goes alone after it (an ACK the output process may always send).
    pub(super) fn on_delayed_ack_timer(&mut self, now: u64) -> bool {
        if self.ack_owed.delayed_until().is_none_or(|t| now < t) {
            return false;
        }
        self.ack_owed.delay_expired();
        if self.protocol_deadline().is_some_and(|t| now >= t) {
            return false;
        }
        self.counters.delayed_acks += 1;
        self.note_rule(now, rules::TIMER_DELAYED_ACK);
        true
    }

    /// What the conformance tests need to derive `in.ack_delay_ok` and `in.ack_timer`
    /// (the core does not know "now" between inputs), and the observed `ack_delayed`.
    pub(super) fn delack_spec_vars(&self) -> [(&'static str, u64); 6] {
        [
            (
                "ack_delayed",
                u64::from(self.ack_owed.delayed_until().is_some()),
            ),
            ("delayed_ack_us", self.config.delayed_ack_us),
            (
                "delack_deadline_us",
                self.ack_owed.delayed_until().unwrap_or(u64::MAX),
            ),
            (
                "other_deadline_us",
                self.protocol_deadline().unwrap_or(u64::MAX),
            ),
            ("rcv_unacked", u64::from(self.ack_owed.unacked())),
            ("snd_mss", u64::from(self.tcb.snd_mss)),
        ]
    }
}

//! TCP Timestamps (RFC 7323 3-5): the option's negotiation on the SYNs, the option on every
//! later segment, round-trip time measurement from its echo (RTTM, section 4) and
//! protection against wrapped sequence numbers (PAWS, section 5).
//!
//! # The clock
//!
//! TSval = offset + now / 1 ms, mod 2^32. RFC 7323 5.4 asks for a tick between 1 ms and
//! 1 s: 1 ms (Linux's) gives RTT samples the granularity RFC 6298's G expects and still
//! takes 24.8 days to wrap the sign bit. The offset is per connection (5.4, last bullet;
//! 7.1 RECOMMENDS it): the endpoint derives it from a keyed hash of the 4-tuple, so TSvals
//! reveal neither the host's uptime nor how connections relate. A `Connection` made
//! directly starts at 0 (packet scripts stay deterministic) unless `set_ts_offset` is called.
//!
//! # The state
//!
//! `Tcb::ts_ok` (3.2's Snd.TS.OK), `Tcb::ts_recent` (TS.Recent) and `Tcb::last_ack_sent`
//! (Last.ACK.sent, 4.3) live with the other negotiated options in the TCB; the offset and
//! the time TS.Recent was last set (for 5.5) live here.
//!
//! # Arrival (SYN-RECEIVED and the synchronized states)
//!
//! Before any other check (5.3: "PAWS processing MUST take precedence over the regular TCP
//! acceptability check"): a segment without the option is dropped (3.2), one older than
//! TS.Recent is answered like an unacceptable segment and dropped (5.3 R1), unless
//! TS.Recent is more than 24 days old (5.5). After the acceptance test, TS.Recent takes the
//! segment's TSval when SEG.SEQ <= Last.ACK.sent (5.3 R3, 4.3): with delayed ACKs that
//! echoes the earliest unacknowledged segment (4.3 case A), for an out-of-order segment the
//! last one that advanced RCV.NXT (case B), and for one that fills a hole the filler (case
//! C). A RST is exempt from all of it (5.2: it "MUST NOT be subjected to the PAWS check",
//! and its option "MUST NOT be used to update connection state").

use super::events::Disposition;
use super::rules::{self, RuleId};
use super::Connection;
use crate::seq::SeqNum;
use crate::wire::{TcpFlags, TcpRepr};

/// Microseconds per tick of the timestamp clock (RFC 7323 5.4: 1 ms to 1 s).
pub const TS_TICK_US: u64 = 1_000;

/// Bytes the option takes in a segment: NOP, NOP, kind, length and the two 4-byte values,
/// the layout of RFC 7323 Appendix A. Every segment after the SYNs carries them once the
/// option is negotiated, so they come off the payload (RFC 9293 3.7.1: Eff.snd.MSS counts
/// the TCP options; RFC 6691 2: the MSS option itself does not).
pub const TS_OPTION_LEN: u32 = 12;

/// RFC 7323 5.5: TS.Recent is invalid once "a connection is idle for more than 24 days"
/// (the sign bit of the fastest clock 5.4 allows wraps after 24.8).
pub const TS_RECENT_MAX_AGE_US: u64 = 24 * 24 * 3600 * 1_000_000;

/// The timestamp clock of a connection whose offset is `offset`, at `now` (microseconds).
pub fn ts_clock(offset: u32, now: u64) -> u32 {
    // The clock is a 32-bit counter (RFC 7323 5.2 compares its values mod 2^32): dropping
    // the high bits of the tick count is the intended wrap.
    offset.wrapping_add((now / TS_TICK_US) as u32)
}

/// `a < b` in RFC 7323 5.2's modular order: "s < t if 0 < (t - s) < 2^31", the same test
/// as for sequence numbers (`SeqNum::lt`).
pub(crate) fn ts_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// What a connection keeps about timestamps beside the TCB's variables.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TsState {
    /// Added to the clock (RFC 7323 5.4, 7.1).
    offset: u32,
    /// When TS.Recent was last set from a segment (RFC 7323 5.5); `None` before.
    recent_age: Option<u64>,
    /// When the retransmission timer last expired (see `ts_rtt_sample`); `None` before.
    last_rto: Option<u64>,
}

impl Connection {
    /// Offset the timestamp clock of this connection (RFC 7323 5.4, 7.1): its TSvals are
    /// `off + now / 1 ms`. Call before the first segment goes out; the endpoint does.
    pub fn set_ts_offset(&mut self, off: u32) {
        self.ts.offset = off;
    }

    /// The offset of the timestamp clock (see `set_ts_offset`).
    pub fn ts_offset(&self) -> u32 {
        self.ts.offset
    }

    /// Both SYNs carried the Timestamps option (RFC 7323 3.2).
    pub fn ts_ok(&self) -> bool {
        self.tcb.ts_ok
    }

    /// TS.Recent (RFC 7323 4.3): the peer's TSval we echo.
    pub fn ts_recent(&self) -> u32 {
        self.tcb.ts_recent
    }

    /// Our timestamp clock at `now`.
    pub(super) fn ts_now(&self, now: u64) -> u32 {
        ts_clock(self.ts.offset, now)
    }

    /// The peer's SYN (in LISTEN) or SYN or SYN-ACK (in SYN-SENT) arrived. RFC 7323 3.2:
    /// the option is in use when both SYNs carry it; our initial SYN carries it iff the
    /// configuration says so, and a SYN-ACK of ours answers only a SYN that had it. Its
    /// TSval starts TS.Recent (5.2: "TSval timestamps sent on <SYN> and <SYN,ACK> segments
    /// are used to initialize PAWS").
    pub(super) fn learn_syn_timestamps(&mut self, now: u64, seg: &TcpRepr<'_>) {
        let tsopt = seg.options.timestamps.filter(|_| self.config.timestamps);
        self.tcb.ts_ok = tsopt.is_some();
        // Appendix D: Last.ACK.sent starts at RCV.NXT (the SYN's sequence number plus one),
        // not at 0: otherwise a segment handled before our first ACK goes out could set
        // TS.Recent from beyond a hole (4.3 case B forbids it).
        self.tcb.last_ack_sent = seg.seq + 1;
        self.tcb.ts_recent = tsopt.map_or(0, |(tsval, _)| tsval);
        self.ts.recent_age = tsopt.map(|_| now);
    }

    /// Bytes of options every segment after the SYNs carries (see `TS_OPTION_LEN`).
    pub(super) fn option_overhead(&self) -> u32 {
        if self.tcb.ts_ok {
            TS_OPTION_LEN
        } else {
            0
        }
    }

    /// The Timestamps option of a segment with `flags` sent at `now`, if it carries one.
    /// Our initial SYN (and its retransmissions) offers it when configured, with TSecr 0
    /// (3.2: "If the ACK bit is not set ... SHOULD set the TSecr field to zero"). Once
    /// negotiated, every other segment carries it (3.2 MUST), echoing TS.Recent (4.3 (3)).
    /// A RST carries none: 5.2 RECOMMENDS one (TSval 0, TSecr the offending segment's TSval)
    /// "to enable research into this area", a SHOULD we do not follow, as many stacks; a
    /// receiver must accept a RST without it anyway (5.2: no PAWS check for <RST>).
    pub(super) fn ts_option(&self, now: u64, flags: TcpFlags) -> Option<(u32, u32)> {
        if flags.contains(TcpFlags::RST) {
            return None;
        }
        if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
            return self.config.timestamps.then(|| (self.ts_now(now), 0));
        }
        self.tcb
            .ts_ok
            .then(|| (self.ts_now(now), self.tcb.ts_recent))
    }

    /// A segment with `flags` and ACK field `ack` went out: RFC 7323 4.3 (1), Last.ACK.sent
    /// "holds the ACK field from the last segment sent". Keep-alive probes included: their
    /// ACK field is RCV.NXT like any other.
    pub(super) fn ts_note_sent(&mut self, flags: TcpFlags, ack: SeqNum) {
        if flags.contains(TcpFlags::ACK) && !flags.contains(TcpFlags::RST) {
            self.tcb.last_ack_sent = ack;
        }
    }

    /// TS.Recent is more than 24 days old (RFC 7323 5.5): it no longer says anything about
    /// the peer's clock, which may have wrapped its sign bit since.
    fn ts_recent_expired(&self, now: u64) -> bool {
        self.ts
            .recent_age
            .is_some_and(|t| now.saturating_sub(t) > TS_RECENT_MAX_AGE_US)
    }

    /// The first checks on a segment in SYN-RECEIVED or a synchronized state, before every
    /// other (RFC 7323 5.3: PAWS "MUST take precedence over the regular TCP acceptability
    /// check"). `Some` when the segment is dropped here; `None` lets it go on.
    pub(super) fn ts_screen(
        &mut self,
        now: u64,
        seg: &TcpRepr<'_>,
    ) -> Option<(Disposition, RuleId)> {
        if !self.tcb.ts_ok || seg.flags.contains(TcpFlags::RST) {
            return None;
        }
        let Some((tsval, _)) = seg.options.timestamps else {
            // 3.2: "If a non-<RST> segment is received without a TSopt, a TCP SHOULD
            // silently drop the segment" (and MUST NOT abort the connection for it).
            self.counters.ts_missing_dropped += 1;
            self.apply(rules::SEG_TS_MISSING);
            return Some((Disposition::Dropped, rules::SEG_TS_MISSING));
        };
        if !ts_lt(tsval, self.tcb.ts_recent) || self.ts_recent_expired(now) {
            return None;
        }
        // 5.3 R1: "treat the arriving segment as not acceptable: Send an acknowledgment in
        // reply ... and drop the segment", as an unacceptable segment is answered, with the
        // same throttle for bare ACKs (`may_answer_unacceptable`): two peers that each find
        // the other's timestamps old must not answer each other forever.
        self.counters.paws_rejected += 1;
        self.apply(rules::SEG_PAWS_REJECT);
        if self.may_answer_unacceptable(now, seg) {
            // As for any unacceptable segment (`on_unacceptable`): an ACK of the current
            // state, one for the whole batch.
            self.ack_owed.owe_now();
        }
        let old_data = seg.seg_len() > 0 && (seg.seq + seg.seg_len()).le(self.tcb.rcv_nxt);
        let d = if old_data {
            Disposition::Duplicate
        } else {
            Disposition::Dropped
        };
        Some((d, rules::SEG_PAWS_REJECT))
    }

    /// The segment passed the acceptance test: RFC 7323 5.3 R3, "If an arriving segment
    /// satisfies SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent (see Section 4.3), then
    /// record its timestamp in TS.Recent." The first half holds here (`ts_screen` let it
    /// through), or TS.Recent has expired and 5.5 wants it replaced. Never from a RST (5.2).
    pub(super) fn ts_update_recent(&mut self, now: u64, seg: &TcpRepr<'_>) {
        if !self.tcb.ts_ok || seg.flags.contains(TcpFlags::RST) {
            return;
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            if seg.seq.le(self.tcb.last_ack_sent) {
                self.tcb.ts_recent = tsval;
                self.ts.recent_age = Some(now);
            }
        }
    }

    /// `seg` advanced SND.UNA to `ack`: feed the RTT estimator. The timed segment's sample
    /// when Karn's rule allows one (microsecond precise); otherwise the echoed timestamp's
    /// (RFC 7323 4.1's RTTM rule: only from a segment that "advances the left edge of the
    /// send window"). An echo times the transmission it answers, so unlike Karn's sampler it
    /// also measures retransmitted segments (RFC 7323 4.3 case C echoes the one that filled
    /// the hole).
    pub(super) fn take_rtt_sample(&mut self, now: u64, ack: SeqNum, seg: &TcpRepr<'_>) {
        let karn = self.sampler.on_ack(ack, now);
        if let Some(sample) = karn.or_else(|| self.ts_rtt_sample(now, seg)) {
            self.rtt.on_sample(sample);
        }
    }

    /// The RTT that `seg`'s TSecr measures, in whole ticks: 0 counts as one (as Linux: a
    /// sample below the clock's resolution is not a zero RTT). An echo of 0 is taken for
    /// "nothing echoed" (3.2: a segment without ACK carries TSecr 0), and one from the
    /// future (or more than 2^31 ticks old) is not ours to believe.
    ///
    /// Nor is an echo of a segment sent before the retransmission timer last expired. After
    /// a timeout we resend from SND.UNA; when the ACKs that acknowledged the first copies
    /// were lost, the receiver finds the copies old and answers them echoing TS.Recent, the
    /// TSval of the last segment that advanced its RCV.NXT: from before the timeout (4.3
    /// (C): "An RTT computed from an earlier segment would probably include the sender's
    /// retransmit timeout, badly biasing the sender's average RTT estimate"). Taken, such
    /// a sample counts the backed-off timeouts as round-trip time, inflating the RTO at the
    /// moment it matters most; under heavy loss the connection crawls.
    fn ts_rtt_sample(&self, now: u64, seg: &TcpRepr<'_>) -> Option<u64> {
        if !self.tcb.ts_ok || !seg.flags.contains(TcpFlags::ACK) {
            return None;
        }
        let (_, tsecr) = seg.options.timestamps?;
        if tsecr == 0 {
            return None;
        }
        let ticks = u64::try_from(self.ts_now(now).wrapping_sub(tsecr) as i32).ok()?;
        // Ticks since the last expiry, counted as the clock counts them: a copy resent at
        // the expiry and echoed now is exactly that old, an earlier segment older.
        let since_rto = self
            .ts
            .last_rto
            .map(|t| (now / TS_TICK_US).saturating_sub(t / TS_TICK_US));
        if since_rto.is_some_and(|since| ticks > since) {
            return None;
        }
        Some(ticks.max(1) * TS_TICK_US)
    }

    /// The retransmission timer expired at `now` (see `ts_rtt_sample`).
    pub(super) fn ts_note_timeout(&mut self, now: u64) {
        self.ts.last_rto = Some(now);
    }

    /// Forget the segment being timed, without a sample: a connection rebuilt from a SYN
    /// cookie re-creates its handshake at the time of the ACK, and timing that SYN-ACK would
    /// measure nothing (a sample of 0).
    pub(crate) fn cancel_rtt_timing(&mut self) {
        self.sampler.cancel();
    }

    /// The spec's timestamp variables (`spec_vars`).
    pub(super) fn ts_spec_vars(&self) -> [(&'static str, u64); 5] {
        [
            ("ts_ok", u64::from(self.tcb.ts_ok)),
            ("ts_recent", u64::from(self.tcb.ts_recent)),
            ("last_ack_sent", u64::from(self.tcb.last_ack_sent.raw())),
            ("timestamps", u64::from(self.config.timestamps)),
            ("ts_recent_age_us", self.ts.recent_age.unwrap_or(u64::MAX)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_ticks_every_millisecond_from_the_offset_and_wraps() {
        assert_eq!(ts_clock(0, 0), 0);
        assert_eq!(ts_clock(0, 999), 0);
        assert_eq!(ts_clock(0, 1_000), 1);
        assert_eq!(ts_clock(7, 2_500_000), 2_507);
        assert_eq!(ts_clock(u32::MAX, 2_000), 1);
        // 2^32 ticks later the clock is where it started.
        assert_eq!(ts_clock(5, (1u64 << 32) * TS_TICK_US), 5);
    }

    #[test]
    fn timestamps_compare_mod_2_32() {
        assert!(ts_lt(1, 2));
        assert!(!ts_lt(2, 2));
        assert!(!ts_lt(3, 2));
        assert!(ts_lt(0xFFFF_FFF0, 0x10), "0x10 is newer across the wrap");
        assert!(!ts_lt(0x10, 0xFFFF_FFF0));
        assert!(ts_lt(0, 0x7FFF_FFFF));
        assert!(
            !ts_lt(0, 0x8000_0001),
            "more than 2^31 ahead reads as behind"
        );
    }
}

//! Tail-loss probes (RFC 8985 7): a loss at the tail of a flight leaves no later segment to
//! draw duplicate ACKs or SACKs, so without a probe it waits for the retransmission timer.
//! When data is outstanding and nothing was heard for the probe timeout (PTO: two smoothed
//! RTTs, more when a single segment is out and the peer may delay its ACK), one segment
//! goes: new data if the windows allow, else the last segment sent, again. Its ACK (or
//! SACK) then starts fast recovery as the lost tail's own would have. One probe per flight:
//! the next waits for an ACK of new data. Never in loss recovery, while probing a shut
//! window, or before the first RTT sample; and only with SACK, as Linux: without it the
//! probe's answer is one more duplicate ACK that cannot say what it repaired (in the
//! simulator at 1% loss, probes without SACK doubled the timeouts).
//!
//! The spec sees the expiry as `timer.tlp` (the observed `tlp_armed` and the input
//! `in.tlp_due`); the probe itself is a data segment the output rules allow.

use super::events::SendReason;
use super::rules;
use super::state::State;
use super::timer_table::Timer;
use super::Connection;
use crate::wire::TcpFlags;

/// The least PTO: timers finer than this are not worth a probe (Linux's floor is 10 ms).
pub const TLP_MIN_PTO_US: u64 = 10_000;

/// RFC 8985 7.2's WCDelAckT: how long a receiver may delay its ACK of a lone segment.
pub const TLP_DELAYED_ACK_US: u64 = 200_000;

impl Connection {
    /// Start or restart the probe timer (RFC 8985 7.2): after new data went, or an ACK
    /// acknowledged new data.
    pub(super) fn arm_tlp(&mut self, now: u64) {
        self.timers
            .set(Timer::TailLossProbe, self.pto_deadline(now));
    }

    fn pto_deadline(&self, now: u64) -> Option<u64> {
        let t = self.tcb;
        let states = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if !self.config.tail_loss_probe
            || !t.sack_ok
            || !states
            || t.snd_max == t.snd_una
            // Beyond a shut (or shrunk) window a probe would be refused: the persist timer
            // deals with it.
            || t.snd_max.distance_from(t.snd_una) > t.snd_wnd
            || self.persisting
            || self.cc.in_recovery()
            || self.recovery.tlp_out
        {
            return None;
        }
        let srtt = self.rtt.srtt_us()?;
        let rto = self.timers.get(Timer::Retransmit)?;
        let mut pto = srtt.saturating_mul(2).max(TLP_MIN_PTO_US);
        if t.snd_max.distance_from(t.snd_una) <= t.snd_mss {
            pto = pto.saturating_add(TLP_DELAYED_ACK_US);
        }
        let at = now.saturating_add(pto);
        // A probe after the retransmission timer would be none.
        (at < rto).then_some(at)
    }

    /// The probe timer expired (`timer.tlp`): the probe goes on the next `poll_transmit`,
    /// and the retransmission timer restarts behind it (RFC 8985 7.3).
    pub(super) fn on_tlp_timer(&mut self, now: u64) {
        self.timers.stop(Timer::TailLossProbe);
        self.recovery.tlp_out = true;
        self.recovery.tlp_pending = true;
        self.counters.tail_loss_probes += 1;
        self.timers
            .start(Timer::Retransmit, now.saturating_add(self.rtt.rto_us()));
        self.note_rule(now, rules::TIMER_TLP);
    }

    /// The probe, if one is due and there is no new data for it: the last segment sent,
    /// again (with our FIN if it was the last thing sent). New data, when the peer's
    /// window has room for it, goes by `plan_data` instead (`tlp_may_send_new`).
    pub(super) fn tlp_retransmit(&mut self) -> Option<(usize, usize, TcpFlags, SendReason)> {
        if !self.recovery.tlp_pending {
            return None;
        }
        self.recovery.tlp_pending = false;
        let t = self.tcb;
        let outstanding = t.snd_max.distance_from(t.snd_una) as usize;
        let fin = self.fin_seq.is_some_and(|f| f + 1 == t.snd_max);
        let data_out = outstanding
            .saturating_sub(usize::from(fin))
            .min(self.send_buf.len());
        let len = data_out.min(self.payload_room());
        if len == 0 && !fin {
            return None;
        }
        let flags = if fin {
            TcpFlags::FIN
        } else {
            TcpFlags::empty()
        };
        Some((data_out - len, len, flags, SendReason::TailLossProbe))
    }

    /// Whether the due probe may be new data: some is queued and the peer's window takes
    /// it (RFC 8985 7.3 prefers new data, whatever cwnd says).
    pub(super) fn tlp_may_send_new(&self) -> bool {
        let t = self.tcb;
        let sent = t.snd_max.distance_from(t.snd_una) as usize;
        self.recovery.tlp_pending
            && self.send_buf.len() > sent
            && t.snd_wnd as usize > sent
            && t.snd_nxt == t.snd_max
    }

    /// An ACK of new data ended the probe's round: the next flight may be probed again.
    pub(super) fn tlp_acked(&mut self, now: u64) {
        self.recovery.tlp_out = false;
        self.arm_tlp(now);
    }

    /// Nothing to probe any more (a timeout, recovery, the connection closed).
    pub(super) fn disarm_tlp(&mut self) {
        self.timers.stop(Timer::TailLossProbe);
        self.recovery.tlp_pending = false;
    }
}

//! Timer expiries: retransmission (RFC 6298 5.4-5.7), zero-window persist (RFC 9293
//! 3.8.6.1), the user timeout as a retransmission limit (3.8.3), and TIME-WAIT (3.10.8).

use super::events::{ConnError, Event, SendReason};
use super::rules;
use super::state::State;
use super::timer_table::Timer;
use super::Connection;

impl Connection {
    /// When `handle_timeout` should be called next, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        Self::earliest(self.ack_owed.delayed_until(), self.protocol_deadline())
    }

    /// The earliest deadline of every timer but the delayed ACK's (see `delack.rs`): the
    /// timer table's and the keep-alive's.
    pub(super) fn protocol_deadline(&self) -> Option<u64> {
        Self::earliest(self.timers.earliest(), self.keepalive_deadline())
    }

    /// Fire whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        self.applied.clear();
        // RFC 9293 3.8.6.3: a delayed ACK whose time is up, alone, is all this expiry does.
        if self.on_delayed_ack_timer(now) {
            return;
        }
        if self.timers.is_due(Timer::TimeWait, now) {
            self.enter_closed(now, rules::TIME_WAIT_TIMEOUT);
            self.events.push_back(Event::Closed);
            return;
        }
        // The probe timer runs ahead of the retransmission timer; due, it is the event
        // (`timer.tlp`), and the retransmission timer starts again behind the probe.
        if self.timers.is_due(Timer::TailLossProbe, now) {
            self.on_tlp_timer(now);
            return;
        }
        if self.timers.is_due(Timer::Retransmit, now) {
            self.timers.stop(Timer::Retransmit);
            self.disarm_tlp();
            if self.persisting {
                self.on_persist(now);
            } else {
                self.on_retransmission_timeout(now);
            }
        }
        // Read after the timers above: the keep-alive timer runs only while they do not
        // (see `keepalive.rs`), so at most one of them fires.
        if self.keepalive_deadline().is_some_and(|t| now >= t) {
            self.on_keepalive_timeout(now);
        }
    }

    fn on_persist(&mut self, now: u64) {
        // RFC 9293 3.8.6.1: while the receiver answers the probes the connection MUST stay
        // open (MUST-37), however long its window stays shut; but a peer that went silent
        // must not hold it forever. So unanswered probes count like retransmissions, and any
        // acknowledgement resets the count (`on_ack`).
        if self.retries >= self.config.max_retransmissions {
            self.fail(now, ConnError::TimedOut, rules::TIMER_GIVE_UP);
            return;
        }
        self.retries += 1;
        // Whatever was being timed sits beyond the closed window: its acknowledgement would
        // measure how long the window stayed shut, not the round trip.
        self.sampler.cancel();
        // The probe is always the first unacknowledged byte, so a refused probe leaves no gap.
        self.tcb.snd_nxt = self.tcb.snd_una;
        self.probe_pending = true;
        if self.tcb.snd_wnd == 0 {
            // With the window open this expiry is sender SWS avoidance's override
            // (`output.rs`), not a probe.
            self.counters.window_probes += 1;
        }
        self.rtt.on_timeout();
        self.timers
            .start(Timer::Retransmit, now + self.rtt.rto_us());
        self.note_rule(now, rules::TIMER_PROBE);
    }

    /// Expiries allowed before giving up in the current state: the SYN limit while the
    /// handshake runs (3.8.3, MUST-23), the data limit after it.
    pub(super) fn retry_limit(&self) -> u32 {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            self.config.max_syn_retransmissions
        } else {
            self.config.max_retransmissions
        }
    }

    fn on_retransmission_timeout(&mut self, now: u64) {
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        if self.retries >= self.retry_limit() {
            self.fail(now, ConnError::TimedOut, rules::TIMER_GIVE_UP);
            return;
        }
        if !handshake && self.tcb.snd_wnd == 0 {
            // What is outstanding lies beyond a window the peer has since closed: it was
            // refused, not lost, and resending it would be refused again. Probe instead
            // (3.8.6.1); otherwise each expiry would resend nothing, and the connection would
            // time out while the peer is alive and acknowledging.
            self.persisting = true;
            self.dupacks = 0;
            self.rexmit_pending = None;
            self.on_persist(now);
            return;
        }
        self.retries += 1;
        self.counters.rto_expirations += 1;
        let t = self.tcb;
        self.cc
            .on_timeout(now, t.snd_max.distance_from(t.snd_una), t.snd_max);
        self.rtt.on_timeout();
        self.sampler.cancel();
        self.ts_note_timeout(now);
        // What the receiver SACKed is kept across a first timeout, so the resend skips it
        // (RFC 6675 5.1 and RFC 2018's erratum 1610 allow it, as Linux does): a reneging
        // receiver is caught by its ACK (`take_sack_blocks`). A second timeout in a row
        // falls back to RFC 2018 8: start afresh.
        if self.retries > 1 {
            self.recovery.scoreboard.clear();
        }
        self.dupacks = 0;
        self.rexmit_pending = None;
        if handshake {
            self.syn_pending = Some(SendReason::RetransmitTimeout);
        } else {
            self.start_undo_episode();
            // Go back to the first unacknowledged byte and resend from there: without SACK
            // everything after a timed-out segment is presumed lost.
            self.tcb.snd_nxt = t.snd_una;
        }
        self.timers
            .start(Timer::Retransmit, now + self.rtt.rto_us());
        self.note_rule(now, rules::TIMER_RETRANSMIT);
    }

    pub(crate) fn arm_rto_if_outstanding(&mut self, now: u64) {
        if !self.timers.is_armed(Timer::Retransmit) && self.tcb.snd_max != self.tcb.snd_una {
            self.timers
                .start(Timer::Retransmit, now + self.rtt.rto_us());
        }
    }
}

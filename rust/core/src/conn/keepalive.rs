//! TCP keep-alives (RFC 9293 3.8.4, RFC 1122 4.2.3.6): off by default; when on, a connection
//! that has heard nothing from its peer for `idle` while nothing of ours is outstanding sends
//! a probe, again every `interval`, and after `count` probes without any answer it fails with
//! `TimedOut`.
//!
//! The timer is not armed or disarmed by hand: its deadline is a function of the state
//! (`keepalive_deadline`), read by `poll_timeout` after every call, so that no path that
//! makes the connection busy or idle can forget to update it.

use super::events::ConnError;
use super::rules;
use super::state::State;
use super::timer_table::Timer;
use super::{Connection, Error};

/// RFC 9293 3.8.4 (MUST-28): the idle time defaults to no less than two hours. Linux's
/// `tcp_keepalive_time` is exactly that.
pub const DEFAULT_KEEPALIVE_IDLE_US: u64 = 7_200_000_000;
/// Linux's `tcp_keepalive_intvl`.
pub const DEFAULT_KEEPALIVE_INTERVAL_US: u64 = 75_000_000;
/// Linux's `tcp_keepalive_probes`.
pub const DEFAULT_KEEPALIVE_COUNT: u32 = 9;

/// Keep-alive settings of one connection (`Config::keepalive`; `None` there is off, as
/// RFC 9293 3.8.4 requires by default, MUST-25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// How long the connection must be idle (nothing received, nothing of ours
    /// outstanding) before the first probe (TCP_KEEPIDLE), in microseconds.
    pub idle_us: u64,
    /// Time between unanswered probes (TCP_KEEPINTVL), in microseconds.
    pub interval_us: u64,
    /// Probes sent without an answer before the connection is given up (TCP_KEEPCNT). The
    /// connection fails one `interval` after the last of them.
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle_us: DEFAULT_KEEPALIVE_IDLE_US,
            interval_us: DEFAULT_KEEPALIVE_INTERVAL_US,
            count: DEFAULT_KEEPALIVE_COUNT,
        }
    }
}

impl Keepalive {
    /// Times must be positive: a zero interval would probe in a loop at one instant. The core
    /// counts in microseconds and takes short times (tests and simulations use them); the
    /// socket API applies Linux's whole-second limits on top. At least one probe: giving up
    /// without asking the peer would break MUST-29 outright (a lost ACK is not a dead peer),
    /// and the default of 9 probes is what makes one lost answer harmless.
    pub fn validate(&self) -> Result<(), Error> {
        if self.idle_us == 0 || self.interval_us == 0 {
            return Err(Error::InvalidInput(
                "keepalive idle and interval must be positive",
            ));
        }
        if self.count == 0 {
            return Err(Error::InvalidInput("keepalive count must be at least 1"));
        }
        Ok(())
    }
}

/// The keep-alive bookkeeping of a connection.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct KeepaliveState {
    /// When a segment last arrived from the peer (or the connection was established).
    pub(super) last_heard: u64,
    /// Probes sent since then (Linux's `icsk_probes_out` for keep-alives).
    pub(super) probes: u32,
    /// When the last probe was sent.
    pub(super) last_probe: u64,
    /// A probe is due to be sent by `poll_transmit`.
    pub(super) pending: bool,
}

impl Connection {
    /// The keep-alive settings in force (`None`: off).
    pub fn keepalive(&self) -> Option<Keepalive> {
        self.config.keepalive
    }

    /// Turn keep-alives on (with these settings) or off for this connection, at any time
    /// (MUST-24: per connection). The idle time counts from the last segment received.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) -> Result<(), Error> {
        if let Some(k) = keepalive {
            k.validate()?;
        }
        self.config.keepalive = keepalive;
        Ok(())
    }

    /// The connection is idle in the sense of RFC 9293 3.8.4 (MUST-26): synchronized, with
    /// nothing sent and unacknowledged, nothing queued, and no retransmission or persist
    /// timer running (those timers watch the peer while anything is outstanding, RFC 6298).
    /// Only where both directions may still carry segments that answer a probe, as Linux:
    /// in FIN-WAIT-1, CLOSING and LAST-ACK our FIN is outstanding, and TIME-WAIT has its
    /// own timer.
    fn keepalive_idle(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        ) && self.send_buf.is_empty()
            && self.tcb.snd_una == self.tcb.snd_max
            && !self.timers.is_armed(Timer::Retransmit)
    }

    /// When the keep-alive timer expires, if it runs: `idle` after the last segment heard,
    /// then `interval` after each probe.
    pub(super) fn keepalive_deadline(&self) -> Option<u64> {
        let k = self.config.keepalive?;
        if !self.keepalive_idle() {
            return None;
        }
        let ka = &self.keepalive_state;
        Some(if ka.probes == 0 {
            ka.last_heard.saturating_add(k.idle_us)
        } else {
            ka.last_probe.saturating_add(k.interval_us)
        })
    }

    /// A segment arrived from the peer: it is alive, the idle time starts again and the
    /// unanswered probes are forgotten (RFC 1122 4.2.3.6: probes are sent only when nothing
    /// has been received "within an interval"). Any segment that reached this connection
    /// counts, acceptable or not: the answer to a probe is typically an ACK, and a peer that
    /// sends anything at all is there. Probes are only ever sent on a synchronized
    /// connection, and the count is the spec's `keepalive_probes`, which a CLOSED TCB keeps
    /// as it was (the spec's `keepalive.heard` covers the synchronized states only).
    pub(super) fn heard_from_peer(&mut self, now: u64) {
        self.keepalive_state.last_heard = now;
        if self.state.is_synchronized() {
            self.keepalive_state.probes = 0;
        }
    }

    /// The keep-alive timer expired (`handle_timeout` checked the deadline).
    pub(super) fn on_keepalive_timeout(&mut self, now: u64) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        if self.keepalive_state.probes >= k.count {
            // `count` probes, each given `interval` to be answered: the peer is gone
            // (RFC 1122 4.2.3.6 leaves the number to us; Linux reports ETIMEDOUT too).
            self.fail(now, ConnError::TimedOut, rules::KEEPALIVE_GIVE_UP);
            return;
        }
        self.keepalive_state.probes += 1;
        self.keepalive_state.last_probe = now;
        self.keepalive_state.pending = true;
        self.counters.keepalive_probes += 1;
        self.note_rule(now, rules::KEEPALIVE_PROBE);
    }
}

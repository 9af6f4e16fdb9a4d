//! The connection's timer table: one deadline per protocol timer, indexed by [`Timer`]
//! (DESIGN.md, "Connection state has owners"; quinn-proto keeps its timers the same way).
//! The table is the only writer of the deadlines: the input, output and timeout paths
//! start and stop timers through it, and `poll_timeout` asks it for the earliest.
//!
//! Two timers live elsewhere because another part owns what they derive from: the
//! delayed-ACK deadline belongs to the record of the ACK we owe (`ack_owed.rs`), and the
//! keep-alive deadline is computed from when the peer was last heard (`keepalive.rs`).
//! Times are microseconds the caller gives; nothing here reads a clock.

/// The timers the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Retransmission (RFC 6298), which runs as the zero-window persist timer (RFC 9293
    /// 3.8.6.1) while `persisting`: the two never run at once.
    Retransmit,
    /// The tail-loss probe timeout (RFC 8985 7.2), ahead of the retransmission timer.
    TailLossProbe,
    /// TIME-WAIT's 2 MSL (RFC 9293 3.4.2).
    TimeWait,
}

impl Timer {
    const COUNT: usize = 3;

    fn index(self) -> usize {
        match self {
            Timer::Retransmit => 0,
            Timer::TailLossProbe => 1,
            Timer::TimeWait => 2,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TimerTable {
    deadlines: [Option<u64>; Timer::COUNT],
}

impl TimerTable {
    /// When `timer` expires; `None` while it is stopped.
    pub fn get(&self, timer: Timer) -> Option<u64> {
        self.deadlines[timer.index()]
    }

    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Whether `timer` runs and its deadline has come at `now`.
    pub fn is_due(&self, timer: Timer, now: u64) -> bool {
        self.get(timer).is_some_and(|t| now >= t)
    }

    /// (Re)start `timer` to expire at `at`.
    pub fn start(&mut self, timer: Timer, at: u64) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Start `timer` to expire at `at`, or to the deadline `None` leaves it stopped.
    pub fn set(&mut self, timer: Timer, at: Option<u64>) {
        self.deadlines[timer.index()] = at;
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Every timer stopped (the connection closed).
    pub fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    /// The earliest deadline of any running timer.
    pub fn earliest(&self) -> Option<u64> {
        self.deadlines.iter().flatten().copied().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_running_timer_is_next() {
        let mut t = TimerTable::default();
        assert_eq!(t.earliest(), None);
        t.start(Timer::TimeWait, 500);
        t.start(Timer::Retransmit, 300);
        t.set(Timer::TailLossProbe, Some(200));
        assert_eq!(t.earliest(), Some(200));
        assert!(t.is_due(Timer::TailLossProbe, 200));
        assert!(!t.is_due(Timer::Retransmit, 299));
        t.stop(Timer::TailLossProbe);
        assert!(!t.is_armed(Timer::TailLossProbe));
        assert_eq!(t.earliest(), Some(300));
        t.stop_all();
        assert_eq!(t.earliest(), None);
    }
}

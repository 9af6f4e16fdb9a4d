//! Which connections the endpoint must look at, so that no periodic call walks all of them.
//!
//! A connection only changes when someone calls into it, and every such call goes through
//! the endpoint (its own calls, or `connection_mut` handing it to the user). So after each
//! call the endpoint notes the connection here: its timer deadline, re-read at once when the
//! endpoint made the call and marked stale when the user holds the connection; that it may
//! have segments to send; and that it may have events. `poll_transmit`, `handle_timeout`,
//! `poll_timeout` and `poll_event` then visit only the connections noted, in `ConnId` order,
//! which is the order the full walk used: every connection sees the same calls in the same
//! order as before.

use std::collections::{BTreeSet, HashMap};

use super::ConnId;

#[derive(Debug, Default)]
pub(super) struct Schedule {
    /// `(deadline, id)` for every connection with a known, armed timer: one entry per id.
    timers: BTreeSet<(u64, ConnId)>,
    /// The deadline each id is filed under in `timers`, to find and replace its entry.
    deadline: HashMap<ConnId, u64>,
    /// Lent to the user by `connection_mut`: the deadline in `timers` may be out of date
    /// until the endpoint re-reads it (`reread`).
    stale: BTreeSet<ConnId>,
    /// May have segments to send.
    sendable: BTreeSet<ConnId>,
    /// May have events for `poll_event`.
    evented: BTreeSet<ConnId>,
}

impl Schedule {
    /// The endpoint just called into `id`, whose timer now reads `deadline`.
    pub(super) fn called(&mut self, id: ConnId, deadline: Option<u64>) {
        self.set_timer(id, deadline);
        self.stale.remove(&id);
        self.sendable.insert(id);
        self.evented.insert(id);
    }

    /// `id` was handed to the user, who may call anything on it.
    pub(super) fn lent(&mut self, id: ConnId) {
        self.stale.insert(id);
        self.sendable.insert(id);
        self.evented.insert(id);
    }

    /// The deadline of `id`, lent earlier, was re-read; nothing else is known about it.
    pub(super) fn reread(&mut self, id: ConnId, deadline: Option<u64>) {
        self.set_timer(id, deadline);
        self.stale.remove(&id);
    }

    /// `id` was just drained of segments and its timer re-read.
    pub(super) fn drained(&mut self, id: ConnId, deadline: Option<u64>) {
        self.set_timer(id, deadline);
        self.stale.remove(&id);
        self.sendable.remove(&id);
    }

    /// `id` no longer exists.
    pub(super) fn forget(&mut self, id: ConnId) {
        self.set_timer(id, None);
        self.stale.remove(&id);
        self.sendable.remove(&id);
        self.evented.remove(&id);
    }

    fn set_timer(&mut self, id: ConnId, deadline: Option<u64>) {
        if self.deadline.get(&id).copied() == deadline {
            return;
        }
        if let Some(old) = self.deadline.remove(&id) {
            self.timers.remove(&(old, id));
        }
        if let Some(t) = deadline {
            self.timers.insert((t, id));
            self.deadline.insert(id, t);
        }
    }

    /// Ids whose deadline may be out of date; the caller re-reads each with `reread`.
    pub(super) fn take_stale(&mut self) -> BTreeSet<ConnId> {
        std::mem::take(&mut self.stale)
    }

    pub(super) fn stale(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.stale.iter().copied()
    }

    /// The earliest deadline among connections whose deadline is known; stale ones are
    /// skipped (there are at most as many of them as the user touched since the last poll).
    pub(super) fn earliest_known(&self) -> Option<u64> {
        self.timers
            .iter()
            .find(|(_, id)| !self.stale.contains(id))
            .map(|&(t, _)| t)
    }

    /// Remove and return, in id order, every connection whose deadline is at or before
    /// `now`. Call after re-reading the stale ones, so that the set is exact.
    pub(super) fn take_due(&mut self, now: u64) -> Vec<ConnId> {
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.deadline.remove(&id);
            due.push(id);
        }
        due.sort_unstable();
        due
    }

    /// Every connection that may have segments to send, in id order; the set is emptied.
    pub(super) fn take_sendable(&mut self) -> BTreeSet<ConnId> {
        std::mem::take(&mut self.sendable)
    }

    /// The lowest id that may have events, if any.
    pub(super) fn first_evented(&self) -> Option<ConnId> {
        self.evented.first().copied()
    }

    /// `id` has no events left.
    pub(super) fn events_drained(&mut self, id: ConnId) {
        self.evented.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_are_replaced_not_duplicated() {
        let mut s = Schedule::default();
        s.called(2, Some(50));
        s.called(1, Some(70));
        s.called(2, Some(90));
        assert_eq!(s.earliest_known(), Some(70));
        // A lent connection's entry is not trusted until re-read.
        s.lent(1);
        assert_eq!(s.earliest_known(), Some(90));
        assert_eq!(s.take_stale().into_iter().collect::<Vec<_>>(), vec![1]);
        s.reread(1, Some(10));
        assert_eq!(s.earliest_known(), Some(10));
        assert_eq!(s.take_due(90), vec![1, 2]);
        assert_eq!(s.earliest_known(), None);
    }

    #[test]
    fn forgotten_connections_leave_no_trace() {
        let mut s = Schedule::default();
        s.called(3, Some(5));
        s.lent(3);
        s.forget(3);
        assert_eq!(s.earliest_known(), None);
        assert!(s.take_sendable().is_empty());
        assert_eq!(s.first_evented(), None);
        assert_eq!(s.stale().count(), 0);
    }
}

//! RACK (RFC 8985 6): time-based loss detection over a record of the segments in flight.
//!
//! A segment is lost once a segment sent after it has been delivered (cumulatively or
//! selectively acknowledged) and a round trip plus a reordering window has passed since it
//! was sent. Unlike counting duplicate ACKs, this finds a lost *retransmission* (whose
//! duplicate ACKs never come), and tolerates reordering up to the window. What is here is
//! the detection run on each ACK (steps 1 to 5); the reordering timer and the tail-loss
//! probe are not built yet, so a loss with no later ACK still waits for the RTO.
//!
//! The record holds one entry per segment sent (sequence range, last transmission time,
//! whether it was retransmitted, delivered, lost), in sequence order, allocated on first use
//! and bounded by [`MAX_RECORDS`]; it lives only while SACK is in use (without SACK nothing
//! above SND.UNA is ever known delivered). Times are microseconds the caller gives.

use std::collections::VecDeque;

use crate::scoreboard::Scoreboard;
use crate::seq::SeqNum;

/// Segments recorded at most; beyond it new ones go unrecorded (never marked lost, and not
/// counted in the pipe), which at worst falls back on RFC 6675's view.
pub const MAX_RECORDS: usize = 1 << 16;

/// Loss recoveries after which a reordering window widened by D-SACKs shrinks back (RFC
/// 8985 6.2 step 4).
const REO_WND_PERSIST: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    start: SeqNum,
    end: SeqNum,
    xmit_us: u64,
    retransmitted: bool,
    delivered: bool,
    lost: bool,
}

impl Record {
    fn len(&self) -> u32 {
        self.end.distance_from(self.start)
    }
}

/// RFC 8985's RACK_sent_after: sent later, ties broken by sequence.
fn sent_after(t1: u64, seq1: SeqNum, t2: u64, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.gt(seq2))
}

#[derive(Debug, Clone, Default)]
pub struct Rack {
    records: VecDeque<Record>,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered.
    xmit_us: Option<u64>,
    end_seq: SeqNum,
    /// RACK.rtt: the round trip of that segment.
    rtt_us: u64,
    /// RACK.min_RTT: the least of RACK's samples (a plain minimum, not windowed).
    min_rtt_us: Option<u64>,
    /// RACK.fack: the highest sequence number delivered.
    fack: Option<SeqNum>,
    reordering_seen: bool,
    /// RACK.reo_wnd_mult: grown by D-SACKs (step 4).
    reo_wnd_mult: u32,
    /// Recoveries since the multiplier last grew.
    recoveries: u32,
}

impl Rack {
    /// A segment `[start, end)` went out at `now`; `retransmission`: it was sent before.
    pub fn on_send(&mut self, start: SeqNum, end: SeqNum, now: u64, retransmission: bool) {
        if !end.gt(start) {
            return;
        }
        if retransmission {
            self.split_at(start);
            self.split_at(end);
            let mut covered = false;
            for r in self.records.iter_mut() {
                if r.start.ge(start) && r.end.le(end) {
                    r.retransmitted = true;
                    r.lost = false;
                    r.xmit_us = now;
                    covered = true;
                }
            }
            if covered {
                return;
            }
        }
        let extends = self.records.back().is_none_or(|r| r.end.le(start));
        if extends && self.records.len() < MAX_RECORDS {
            self.records.push_back(Record {
                start,
                end,
                xmit_us: now,
                retransmitted: retransmission,
                delivered: false,
                lost: false,
            });
        }
    }

    /// Cut the record containing `at` in two there, so records can be marked per range.
    fn split_at(&mut self, at: SeqNum) {
        let i = self
            .records
            .iter()
            .position(|r| r.start.lt(at) && r.end.gt(at));
        if let Some(i) = i {
            let mut tail = self.records[i];
            tail.start = at;
            self.records[i].end = at;
            self.records.insert(i + 1, tail);
        }
    }

    /// An ACK moved SND.UNA to `snd_una` and left the scoreboard as `sacked`: mark what it
    /// delivered and update RACK's view (steps 1 to 3).
    pub fn on_ack(&mut self, now: u64, snd_una: SeqNum, sacked: &Scoreboard) {
        let mut newest: Option<Record> = None;
        let mut take = |rack: &mut Rack, r: Record| {
            let rtt = now.saturating_sub(r.xmit_us);
            // Step 2: a retransmitted segment acknowledged sooner than a round trip after
            // its retransmission was delivered by an earlier copy: no sample.
            if r.retransmitted && rack.min_rtt_us.is_some_and(|m| rtt < m) {
                return;
            }
            match rack.fack {
                Some(f) if r.end.lt(f) && !r.retransmitted => rack.reordering_seen = true,
                Some(f) if !r.end.gt(f) => {}
                _ => rack.fack = Some(r.end),
            }
            if newest.is_none_or(|n| sent_after(r.xmit_us, r.end, n.xmit_us, n.end)) {
                newest = Some(r);
            }
        };
        while let Some(r) = self.records.front().copied() {
            if r.end.le(snd_una) {
                self.records.pop_front();
                if !r.delivered {
                    take(self, r);
                }
            } else {
                if r.start.lt(snd_una) {
                    self.records[0].start = snd_una;
                }
                break;
            }
        }
        if !sacked.is_empty() {
            for i in 0..self.records.len() {
                let r = self.records[i];
                if !r.delivered && sacked.covers(r.start, r.end) {
                    self.records[i].delivered = true;
                    self.records[i].lost = false;
                    take(self, r);
                }
            }
        }
        if let Some(n) = newest {
            let rtt = now.saturating_sub(n.xmit_us);
            self.rtt_us = rtt;
            self.min_rtt_us = Some(self.min_rtt_us.map_or(rtt, |m| m.min(rtt)));
            if self
                .xmit_us
                .is_none_or(|x| sent_after(n.xmit_us, n.end, x, self.end_seq))
            {
                self.xmit_us = Some(n.xmit_us);
                self.end_seq = n.end;
            }
        }
    }

    /// The receiver reneged (RFC 2018 8): nothing it SACKed counts as delivered any more;
    /// what it dropped is lost.
    pub fn on_reneging(&mut self) {
        for r in self.records.iter_mut().filter(|r| r.delivered) {
            r.delivered = false;
            r.lost = true;
        }
    }

    /// A D-SACK arrived: reordering the window was too small for, perhaps (step 4).
    pub fn on_dsack(&mut self) {
        self.reordering_seen = true;
        self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(REO_WND_PERSIST);
        self.recoveries = 0;
    }

    /// A loss recovery began (step 4's count of recoveries).
    pub fn on_recovery(&mut self) {
        self.recoveries += 1;
        if self.recoveries >= REO_WND_PERSIST {
            self.reo_wnd_mult = 0;
            self.recoveries = 0;
        }
    }

    /// RACK.reo_wnd (step 4): none before reordering was seen, while in recovery; else a
    /// quarter of the least RTT per step of the multiplier, at most SRTT.
    pub fn reo_wnd_us(&self, in_recovery: bool, srtt_us: Option<u64>) -> u64 {
        if !self.reordering_seen && in_recovery {
            return 0;
        }
        let quarter = self.min_rtt_us.unwrap_or(0) / 4;
        let w = quarter.saturating_mul(u64::from(self.reo_wnd_mult) + 1);
        srtt_us.map_or(w, |s| w.min(s))
    }

    /// Step 5: mark lost every segment not delivered that was sent before the most recently
    /// sent delivered one, a round trip and `reo_wnd` ago. Returns the bytes newly marked.
    pub fn detect_losses(&mut self, now: u64, reo_wnd_us: u64) -> u32 {
        let Some(xmit) = self.xmit_us else {
            return 0;
        };
        let (end_seq, rtt) = (self.end_seq, self.rtt_us);
        let mut marked = 0;
        for r in self.records.iter_mut() {
            if r.delivered || r.lost || !sent_after(xmit, end_seq, r.xmit_us, r.end) {
                continue;
            }
            if r.xmit_us.saturating_add(rtt).saturating_add(reo_wnd_us) <= now {
                r.lost = true;
                marked += r.len();
            }
        }
        marked
    }

    /// The first run of contiguous segments marked lost and not retransmitted since.
    pub fn first_lost(&self) -> Option<(SeqNum, SeqNum)> {
        let mut it = self.records.iter().skip_while(|r| !r.lost || r.delivered);
        let first = it.next()?;
        let mut end = first.end;
        for r in it {
            if r.start != end || !r.lost || r.delivered {
                break;
            }
            end = r.end;
        }
        Some((first.start, end))
    }

    /// What is in the network: segments neither delivered nor lost, where a segment below
    /// `lost_below` that was never retransmitted counts as lost too (RFC 6675's IsLost).
    pub fn pipe(&self, lost_below: SeqNum) -> u32 {
        self.records
            .iter()
            .filter(|r| !r.delivered && !r.lost)
            .filter(|r| r.retransmitted || !r.end.le(lost_below))
            .map(Record::len)
            .sum()
    }

    /// Whether segments are recorded (SACK is in use and data was sent).
    pub fn is_tracking(&self) -> bool {
        !self.records.is_empty()
    }

    /// RACK's latest round trip, its least, and whether reordering was seen.
    pub fn rtt_us(&self) -> Option<u64> {
        self.xmit_us.map(|_| self.rtt_us)
    }

    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SackBlocks;

    fn sack(sb: &mut Scoreboard, list: &[(u32, u32)], snd_max: u32) {
        let mut b = SackBlocks::new();
        for &(l, r) in list {
            b.push(SeqNum(l), SeqNum(r));
        }
        sb.on_sack(&b, SeqNum(snd_max), SeqNum(0));
    }

    /// Ten 100-byte segments sent 1 ms apart from t = 0.
    fn flight() -> (Rack, Scoreboard) {
        let mut r = Rack::default();
        for k in 0..10u32 {
            r.on_send(
                SeqNum(k * 100),
                SeqNum(k * 100 + 100),
                u64::from(k) * 1000,
                false,
            );
        }
        (r, Scoreboard::new(SeqNum(0)))
    }

    #[test]
    fn a_segment_sent_before_a_delivered_one_is_lost_a_round_trip_later() {
        let (mut r, mut sb) = flight();
        // The third segment (sent at 2 ms) is SACKed at 22 ms: RTT 20 ms.
        sack(&mut sb, &[(200, 300)], 1000);
        r.on_ack(22_000, SeqNum(0), &sb);
        assert_eq!(r.rtt_us(), Some(20_000));
        // Segments 0 and 1 were sent before it; with no reordering window, they are lost
        // once 20 ms passed since they went: at 22 ms for the second (sent at 1 ms).
        assert_eq!(r.detect_losses(22_000, 0), 200);
        assert_eq!(r.first_lost(), Some((SeqNum(0), SeqNum(200))));
        // Those sent after it are in flight: 7 segments.
        assert_eq!(r.pipe(SeqNum(0)), 700);
        // With a reordering window of 5 ms, not yet.
        let (mut r, mut sb) = flight();
        sack(&mut sb, &[(200, 300)], 1000);
        r.on_ack(22_000, SeqNum(0), &sb);
        assert_eq!(r.detect_losses(22_000, 5_000), 0);
        assert_eq!(r.detect_losses(26_000, 5_000), 200);
    }

    #[test]
    fn a_lost_retransmission_is_found_by_later_deliveries() {
        let (mut r, mut sb) = flight();
        sack(&mut sb, &[(200, 1000)], 1000);
        r.on_ack(30_000, SeqNum(0), &sb);
        r.detect_losses(30_000, 0);
        assert_eq!(r.first_lost(), Some((SeqNum(0), SeqNum(200))));
        // Retransmitted at 30 ms: no longer lost, in flight again.
        r.on_send(SeqNum(0), SeqNum(100), 30_000, true);
        assert_eq!(r.first_lost(), Some((SeqNum(100), SeqNum(200))));
        r.on_send(SeqNum(100), SeqNum(200), 30_000, true);
        assert_eq!(r.first_lost(), None);
        // New data sent at 31 ms is SACKed at 52 ms: the retransmissions, sent before it
        // and a round trip ago, are lost again.
        r.on_send(SeqNum(1000), SeqNum(1100), 31_000, false);
        sack(&mut sb, &[(1000, 1100)], 1100);
        r.on_ack(52_000, SeqNum(0), &sb);
        assert_eq!(r.detect_losses(52_000, 0), 200);
        assert_eq!(r.first_lost(), Some((SeqNum(0), SeqNum(200))));
    }

    #[test]
    fn cumulative_acks_pop_records_and_partial_ones_trim() {
        let (mut r, sb) = flight();
        r.on_ack(20_000, SeqNum(250), &sb);
        assert_eq!(r.records.len(), 8);
        assert_eq!(r.records[0].start, SeqNum(250));
        assert_eq!(r.pipe(SeqNum(0)), 750);
    }

    #[test]
    fn a_segment_delivered_below_the_forward_ack_is_reordering() {
        let (mut r, mut sb) = flight();
        sack(&mut sb, &[(500, 600)], 1000);
        r.on_ack(30_000, SeqNum(0), &sb);
        assert!(!r.reordering_seen());
        sack(&mut sb, &[(300, 400)], 1000);
        r.on_ack(31_000, SeqNum(0), &sb);
        assert!(r.reordering_seen());
        // Then the window is a quarter of the least RTT, even in recovery.
        assert_eq!(r.reo_wnd_us(true, Some(40_000)), 25_000 / 4);
    }

    #[test]
    fn a_retransmission_splits_records_at_its_edges() {
        let (mut r, _) = flight();
        r.on_send(SeqNum(150), SeqNum(250), 50_000, true);
        let spans: Vec<(u32, u32, bool)> = r
            .records
            .iter()
            .take(5)
            .map(|x| (x.start.0, x.end.0, x.retransmitted))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 100, false),
                (100, 150, false),
                (150, 200, true),
                (200, 250, true),
                (250, 300, false)
            ]
        );
    }
}

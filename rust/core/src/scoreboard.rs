//! The data sender's SACK scoreboard (RFC 6675 3, RFC 2018 5): which bytes above SND.UNA
//! the receiver has reported holding, from the SACK blocks of the ACKs it sent.
//!
//! Kept in sequence numbers as offsets from SND.UNA's current value (re-based whenever it
//! advances), so the ranges compare as plain integers: everything here lies within one
//! window above SND.UNA, far below 2^31. Blocks are checked before they count (RFC 2018 5:
//! only between SND.UNA and SND.MAX; RFC 2883: a block below SND.UNA, or inside another
//! block of the same option, reports a duplicate: D-SACK). Memory is bounded: at most
//! [`MAX_RANGES`] disjoint ranges, allocated on first use.

use crate::seq::SeqNum;
use crate::wire::SackBlocks;

/// Disjoint SACKed ranges kept at most: 32 KiB of them. Holes are bounded by the window, so
/// this covers every other segment lost out of a window of 8192 segments (12 MiB at the
/// usual MSS); a window that loses more, or a peer that splits its reports into more
/// pieces than that (an attack in the style of CVE-2019-11477), loses the ranges furthest
/// from SND.UNA, which only makes us retransmit more. (64 was too few: a slow-start
/// overshoot into a 1000-packet queue leaves hundreds of holes, and the ranges dropped
/// counted as in flight, so the pipe never let recovery send.)
pub const MAX_RANGES: usize = 4096;

/// What one ACK's SACK option told us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Bytes between SND.UNA and SND.MAX reported for the first time (RFC 6675 2: an ACK
    /// with such news is a duplicate acknowledgment).
    pub newly_sacked: u32,
    /// The first block reported a duplicate (RFC 2883 4): `[left, right)`.
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// Blocks ignored as impossible (reversed, or beyond what we sent).
    pub invalid: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    /// SND.UNA the offsets count from.
    base: SeqNum,
    /// Disjoint, non-adjacent `[start, end)` offsets from `base`, ascending.
    ranges: Vec<(u32, u32)>,
    sacked: u32,
}

impl Scoreboard {
    /// Nothing SACKed; offsets from `snd_una`.
    pub fn new(snd_una: SeqNum) -> Self {
        Scoreboard {
            base: snd_una,
            ..Scoreboard::default()
        }
    }

    /// Bytes above SND.UNA the receiver holds by its SACK blocks.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// SACKed ranges as sequence numbers, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.ranges
            .iter()
            .map(|&(s, e)| (self.base + s, self.base + e))
    }

    /// SND.UNA moved to `snd_una`: forget what it covers.
    pub fn advance(&mut self, snd_una: SeqNum) {
        let by = snd_una.distance_from(self.base);
        if by == 0 {
            return;
        }
        self.base = snd_una;
        let mut sacked = 0;
        self.ranges.retain_mut(|r| {
            r.0 = r.0.saturating_sub(by);
            r.1 = r.1.saturating_sub(by);
            sacked += r.1 - r.0;
            r.1 > r.0
        });
        self.sacked = sacked;
    }

    /// Forget everything (RFC 2018 8: after a retransmission timeout the receiver may have
    /// discarded what it SACKed, so the sender must not rely on it).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }

    /// Take the SACK blocks of an ACK whose acknowledgement field is `seg_ack`; SND.UNA is
    /// `base` (call `advance` first), SND.MAX `snd_max`.
    pub fn on_sack(&mut self, blocks: &SackBlocks, snd_max: SeqNum, seg_ack: SeqNum) -> SackUpdate {
        let mut update = SackUpdate::default();
        let limit = snd_max.distance_from(self.base);
        for (i, &(left, right)) in blocks.as_slice().iter().enumerate() {
            if i == 0 && self.is_dsack(blocks, left, right, seg_ack) {
                update.dsack = Some((left, right));
                continue;
            }
            let (Some(start), Some(end)) = (self.offset(left), self.offset(right)) else {
                // Below SND.UNA (old news, or a D-SACK that was not first): nothing new.
                continue;
            };
            if start >= end || end > limit {
                update.invalid += 1;
                continue;
            }
            update.newly_sacked += self.insert(start, end);
        }
        update
    }

    /// RFC 2883 4: the first block is a D-SACK when it lies below the ACK's own cumulative
    /// acknowledgement (not ours: an old ACK overtaken by a newer one names blocks below
    /// SND.UNA that were news when it was sent), or within the second block.
    fn is_dsack(&self, blocks: &SackBlocks, left: SeqNum, right: SeqNum, seg_ack: SeqNum) -> bool {
        if right.le(seg_ack) && left.lt(right) {
            return true;
        }
        match blocks.as_slice().get(1) {
            Some(&(l2, r2)) => l2.le(left) && right.le(r2) && left.lt(right),
            None => false,
        }
    }

    /// `seq` as an offset from SND.UNA, if it is not below it.
    fn offset(&self, seq: SeqNum) -> Option<u32> {
        seq.ge(self.base).then(|| seq.distance_from(self.base))
    }

    /// Add `[start, end)`; returns the bytes not covered before.
    fn insert(&mut self, start: u32, end: u32) -> u32 {
        let mut new_start = start;
        let mut new_end = end;
        let mut covered = 0u32;
        // Ranges that overlap or touch [start, end) merge into it.
        let first = self.ranges.partition_point(|r| r.1 < start);
        let mut last = first;
        while let Some(&(s, e)) = self.ranges.get(last) {
            if s > end {
                break;
            }
            covered += e.min(end).saturating_sub(s.max(start));
            new_start = new_start.min(s);
            new_end = new_end.max(e);
            last += 1;
        }
        let added = (end - start) - covered;
        self.ranges.splice(first..last, [(new_start, new_end)]);
        self.sacked += added;
        if self.ranges.len() > MAX_RANGES {
            if let Some((s, e)) = self.ranges.pop() {
                self.sacked -= e - s;
            }
        }
        added
    }

    /// Bytes SACKed at or above `seq` (RFC 6675 4's IsLost counts them).
    pub fn sacked_above(&self, seq: SeqNum) -> u32 {
        let Some(at) = self.offset(seq) else {
            return self.sacked;
        };
        self.ranges
            .iter()
            .map(|&(s, e)| e.saturating_sub(s.max(at)))
            .sum()
    }

    /// Whether every byte of `[start, end)` is SACKed (a binary search: RACK asks this of
    /// every record on every ACK, so it must not walk the ranges).
    pub fn covers(&self, start: SeqNum, end: SeqNum) -> bool {
        let (Some(a), Some(b)) = (self.offset(start), self.offset(end)) else {
            return false;
        };
        let i = self.ranges.partition_point(|r| r.1 <= a);
        self.ranges.get(i).is_some_and(|&(s, e)| s <= a && b <= e)
    }

    /// Whether the byte at `seq` is SACKed.
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        let Some(at) = self.offset(seq) else {
            return false;
        };
        let i = self.ranges.partition_point(|r| r.1 <= at);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= at)
    }

    /// The first byte at or after `seq` that is not SACKed, and where the SACKed run after
    /// it begins (`None`: nothing SACKed beyond): the next hole to fill.
    pub fn next_hole(&self, seq: SeqNum) -> (SeqNum, Option<SeqNum>) {
        let at = self.offset(seq).unwrap_or(0);
        let mut cur = at;
        for &(s, e) in &self.ranges {
            if e <= cur {
                continue;
            }
            if s > cur {
                return (self.base + cur, Some(self.base + s));
            }
            cur = e;
        }
        (self.base + cur, None)
    }
}

/// RFC 6675 4's view of the bytes outstanding, for one ACK's worth of decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Losses {
    /// Every unSACKed byte below this is lost (IsLost): more than (DupThresh - 1) * SMSS
    /// bytes, or DupThresh discontiguous ranges, are SACKed above it. SND.UNA when none.
    pub lost_below: SeqNum,
}

impl Scoreboard {
    /// Where IsLost (RFC 6675 4) stops holding: scanning the ranges from the highest down,
    /// the start of the first one at which what is SACKed at and above it reaches the
    /// threshold. IsLost never changes inside a hole, so the hole below that range and
    /// every one under it are lost, and none above.
    pub fn losses(&self, dupthresh: u32, mss: u32) -> Losses {
        let bytes_limit = u64::from(dupthresh.saturating_sub(1)) * u64::from(mss);
        let (mut bytes, mut count) = (0u64, 0u32);
        for &(s, e) in self.ranges.iter().rev() {
            bytes += u64::from(e - s);
            count += 1;
            if bytes > bytes_limit || count >= dupthresh {
                return Losses {
                    lost_below: self.base + s,
                };
            }
        }
        Losses {
            lost_below: self.base,
        }
    }

    /// Bytes of `[from, to)` not SACKed.
    pub fn unsacked(&self, from: SeqNum, to: SeqNum) -> u32 {
        let (Some(a), Some(b)) = (self.offset(from), self.offset(to)) else {
            return 0;
        };
        if b <= a {
            return 0;
        }
        let covered: u32 = self
            .ranges
            .iter()
            .map(|&(s, e)| e.min(b).saturating_sub(s.max(a)))
            .sum();
        (b - a) - covered
    }

    /// RFC 6675 4's SetPipe: the bytes still in the network. An unSACKed byte counts once
    /// if it is not lost, and once more if it was retransmitted (it lies below
    /// `rxt_end`, one past the highest byte retransmitted in this recovery).
    pub fn pipe(&self, snd_max: SeqNum, rxt_end: SeqNum, losses: Losses) -> u32 {
        let una = self.base;
        let lost_below = if losses.lost_below.gt(una) {
            losses.lost_below
        } else {
            una
        };
        let rxt_end = if rxt_end.gt(snd_max) {
            snd_max
        } else {
            rxt_end
        };
        self.unsacked(lost_below, snd_max)
            .saturating_add(self.unsacked(una, rxt_end))
    }

    /// RFC 6675 4's NextSeg, rules (1) and (3): the first unSACKed byte at or after `from`
    /// (one past what this recovery already retransmitted) and below the highest SACKed
    /// byte (1.b: nothing above what any SACK covers is a hole yet), and how
    /// many bytes from it may go in one segment of at most `mss` without touching SACKed
    /// data; `lost` tells rule (1) (IsLost holds: retransmit before new data) from rule (3)
    /// (not known lost: only when there is no new data to send).
    pub fn next_seg(
        &self,
        from: SeqNum,
        snd_max: SeqNum,
        mss: u32,
        losses: Losses,
    ) -> Option<(SeqNum, u32, bool)> {
        let from = if from.lt(self.base) { self.base } else { from };
        let (start, next_sacked) = self.next_hole(from);
        // (1.b): a hole has SACKed data above it.
        let end = next_sacked?;
        if !start.lt(snd_max) {
            return None;
        }
        let mut end = end;
        if end.gt(snd_max) {
            end = snd_max;
        }
        let lost = start.lt(losses.lost_below);
        if lost && end.gt(losses.lost_below) {
            end = losses.lost_below;
        }
        let len = end.distance_from(start).min(mss);
        (len > 0).then_some((start, len, lost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `on_sack` for an ACK of SND.UNA itself.
    fn take(sb: &mut Scoreboard, b: &SackBlocks, snd_max: SeqNum) -> SackUpdate {
        let una = sb.base;
        sb.on_sack(b, snd_max, una)
    }

    fn blocks(list: &[(u32, u32)]) -> SackBlocks {
        let mut b = SackBlocks::new();
        for &(l, r) in list {
            b.push(SeqNum(l), SeqNum(r));
        }
        b
    }

    #[test]
    fn new_blocks_count_once_and_merge() {
        let mut sb = Scoreboard::new(SeqNum(1000));
        let u = take(&mut sb, &blocks(&[(2000, 3000)]), SeqNum(10_000));
        assert_eq!(u.newly_sacked, 1000);
        let u = take(
            &mut sb,
            &blocks(&[(2500, 3500), (2000, 3000)]),
            SeqNum(10_000),
        );
        assert_eq!(u.newly_sacked, 500, "only the part not reported before");
        let u = take(&mut sb, &blocks(&[(2000, 3500)]), SeqNum(10_000));
        assert_eq!(u.newly_sacked, 0, "old news");
        assert_eq!(sb.sacked_bytes(), 1500);
        assert_eq!(
            sb.ranges().collect::<Vec<_>>(),
            [(SeqNum(2000), SeqNum(3500))]
        );
        let u = take(
            &mut sb,
            &blocks(&[(4000, 4500), (3500, 4000)]),
            SeqNum(10_000),
        );
        assert_eq!(u.newly_sacked, 1000);
        assert_eq!(sb.ranges().count(), 1, "adjacent ranges join");
    }

    #[test]
    fn dsack_below_snd_una_or_inside_the_second_block() {
        let mut sb = Scoreboard::new(SeqNum(1000));
        let u = take(&mut sb, &blocks(&[(500, 900)]), SeqNum(5000));
        assert_eq!(u.dsack, Some((SeqNum(500), SeqNum(900))));
        assert_eq!(u.newly_sacked, 0);
        let u = take(
            &mut sb,
            &blocks(&[(2100, 2200), (2000, 3000)]),
            SeqNum(5000),
        );
        assert_eq!(u.dsack, Some((SeqNum(2100), SeqNum(2200))));
        assert_eq!(u.newly_sacked, 1000, "the second block still counts");
    }

    #[test]
    fn impossible_blocks_are_ignored() {
        let mut sb = Scoreboard::new(SeqNum(1000));
        let u = take(
            &mut sb,
            &blocks(&[(3000, 2000), (4000, 6000)]),
            SeqNum(5000),
        );
        assert_eq!((u.newly_sacked, u.invalid), (0, 2));
        assert!(sb.is_empty());
    }

    #[test]
    fn advancing_forgets_what_is_acknowledged() {
        let mut sb = Scoreboard::new(SeqNum(u32::MAX - 100));
        take(&mut sb, &blocks(&[(200, 400), (600, 800)]), SeqNum(2000));
        assert_eq!(sb.sacked_bytes(), 400);
        sb.advance(SeqNum(300));
        assert_eq!(sb.sacked_bytes(), 300);
        assert_eq!(
            sb.ranges().collect::<Vec<_>>(),
            [(SeqNum(300), SeqNum(400)), (SeqNum(600), SeqNum(800))]
        );
        assert_eq!(sb.sacked_above(SeqNum(650)), 150);
        assert!(sb.is_sacked(SeqNum(700)) && !sb.is_sacked(SeqNum(500)));
        assert_eq!(sb.next_hole(SeqNum(300)), (SeqNum(400), Some(SeqNum(600))));
        assert_eq!(sb.next_hole(SeqNum(650)), (SeqNum(800), None));
    }

    #[test]
    fn is_lost_pipe_and_next_seg_follow_rfc_6675() {
        // Ten 100-byte segments from 0; 0..200 and 400..500 lost, the rest SACKed except
        // the tail 900..1000, still in flight.
        let mut sb = Scoreboard::new(SeqNum(0));
        take(&mut sb, &blocks(&[(200, 400), (500, 900)]), SeqNum(1000));
        let mss = 100;
        let l = sb.losses(3, mss);
        // 400 bytes SACKed above 400 (> 2 * 100): the hole at 400 is lost, and so is the
        // one at 100 below it.
        assert_eq!(l.lost_below, SeqNum(500));
        // Nothing retransmitted yet: only the tail is in flight; lost holes count nothing.
        assert_eq!(sb.pipe(SeqNum(1000), SeqNum(0), l), 100);
        // Rule (1): the first lost hole from SND.UNA.
        assert_eq!(
            sb.next_seg(SeqNum(0), SeqNum(1000), mss, l),
            Some((SeqNum(0), 100, true))
        );
        // After retransmitting up to 200, the next lost hole is at 400.
        assert_eq!(
            sb.next_seg(SeqNum(200), SeqNum(1000), mss, l),
            Some((SeqNum(400), 100, true))
        );
        assert_eq!(sb.pipe(SeqNum(1000), SeqNum(200), l), 100 + 200);
        // Past the lost holes nothing: the unSACKed tail has no SACKed data above it, so it
        // is no hole (rule 1.b), only in flight.
        assert_eq!(sb.next_seg(SeqNum(500), SeqNum(1000), mss, l), None);
        // With a SACK above it, a hole not known lost is rule (3)'s.
        let mut sb3 = sb.clone();
        take(&mut sb3, &blocks(&[(990, 1000)]), SeqNum(1000));
        let l3 = sb3.losses(3, mss);
        assert_eq!(
            sb3.next_seg(SeqNum(500), SeqNum(1000), mss, l3),
            Some((SeqNum(900), 90, false))
        );
        assert_eq!(sb.next_seg(SeqNum(1000), SeqNum(1000), mss, l), None);
        // One SACKed range, small: nothing is lost yet.
        let mut sb = Scoreboard::new(SeqNum(0));
        take(&mut sb, &blocks(&[(100, 200)]), SeqNum(1000));
        assert_eq!(sb.losses(3, mss).lost_below, SeqNum(0));
        // Three discontiguous ranges count as three segments (IsLost's second test).
        take(&mut sb, &blocks(&[(300, 310), (500, 510)]), SeqNum(1000));
        assert_eq!(sb.losses(3, mss).lost_below, SeqNum(100));
    }

    #[test]
    fn the_number_of_ranges_is_bounded() {
        let mut sb = Scoreboard::new(SeqNum(0));
        for i in 0..(MAX_RANGES as u32 + 20) {
            take(
                &mut sb,
                &blocks(&[(10 + 20 * i, 20 + 20 * i)]),
                SeqNum(1 << 20),
            );
        }
        assert_eq!(sb.ranges().count(), MAX_RANGES);
        assert_eq!(sb.sacked_bytes(), 10 * MAX_RANGES as u32);
    }
}

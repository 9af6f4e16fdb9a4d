//! Receive-side reassembly: the out-of-order ("reorder") buffer.
//!
//! RFC 9293 3.10.7.4 ("seventh, process the segment text") lets a receiver keep segments
//! that arrive beyond RCV.NXT but within the window, and deliver them once the gap before
//! them fills; RFC 1122 4.2.2.20 says segments out of order SHOULD be queued for later
//! processing. This module is that queue, plus the in-order path, in 64-bit stream offsets:
//! the connection maps sequence numbers to offsets first, so no modular arithmetic here.
//!
//! Memory is bounded by `capacity` bytes of out-of-order data. In-order data is never
//! subject to the bound: it goes straight to the caller's buffer, whose size the receive
//! window already limits.

use std::collections::{BTreeMap, VecDeque};

use crate::wire::MAX_SACK_BLOCKS;

/// What one [`Reassembly::insert`] did with the bytes it was given.
///
/// Per call, `delivered + duplicate + dropped + (held_bytes after - held_bytes before)`
/// equals the length of the inserted data (released held bytes appear in `delivered` and
/// leave the held total, so they cancel out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertOutcome {
    /// Bytes appended to `out` in order, including previously held bytes released by this
    /// insert.
    pub delivered: usize,
    /// New bytes stored out of order.
    pub held: usize,
    /// Bytes already delivered or already held (trimmed).
    pub duplicate: usize,
    /// Bytes beyond `limit` or that did not fit in capacity.
    pub dropped: usize,
}

/// The out-of-order buffer.
///
/// Held data is a map from start offset to bytes. Invariants: ranges are disjoint and never
/// adjacent (adjacent ones are merged on insert), so [`Reassembly::ranges`] is already the
/// merged SACK view; no range is empty; `held_bytes` is the sum of their lengths.
#[derive(Debug, Clone, Default)]
pub struct Reassembly {
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    capacity: usize,
    /// The held ranges that arrivals last added to, most recent first, each named by one
    /// offset inside it: the order in which RFC 2018 4 lists SACK blocks. Ranges only grow
    /// (merging) or leave (delivered), so an offset keeps naming its range. Inline, so an
    /// idle connection pays no allocation for it.
    recent: [u64; MAX_SACK_BLOCKS],
    recent_len: u8,
}

/// `data[from..to]`, or empty if the bounds are off. The callers compute bounds that are
/// always valid; this keeps a logic slip from turning into a panic on network input.
fn slice(data: &[u8], from: usize, to: usize) -> &[u8] {
    data.get(from..to).unwrap_or(&[])
}

/// End offset of a held range.
fn end_of(start: u64, bytes: &[u8]) -> u64 {
    start.saturating_add(bytes.len() as u64)
}

/// Offset difference as a length. Only used where the difference is bounded by a slice
/// length, so it always fits; saturate rather than truncate just in case.
fn len_between(from: u64, to: u64) -> usize {
    usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX)
}

impl Reassembly {
    /// An empty buffer holding at most `capacity` out-of-order bytes at once.
    pub fn new(capacity: usize) -> Self {
        Reassembly {
            held: BTreeMap::new(),
            held_bytes: 0,
            capacity,
            recent: [0; MAX_SACK_BLOCKS],
            recent_len: 0,
        }
    }

    /// Accept the segment `data` starting at stream offset `offset`.
    ///
    /// `next` = offset of the first byte not yet delivered (RCV.NXT as an offset); `limit` =
    /// first offset beyond the receive window. Data in `[next, limit)` is accepted: the part
    /// starting exactly at `next` is appended to `out` at once, then any held data that
    /// became contiguous is drained into `out` too; parts beyond `next` are held (merged
    /// with what is held; overlapping bytes counted as duplicate once, keeping the first
    /// copy). Parts `< next` are duplicate; parts `>= limit` are dropped.
    ///
    /// Keeping the first copy is a choice RFC 9293 leaves open; it means a later segment
    /// cannot rewrite bytes already accepted, which is what a receiver that has delivered
    /// those bytes would have to do anyway.
    pub fn insert(
        &mut self,
        next: u64,
        limit: u64,
        offset: u64,
        data: &[u8],
        out: &mut VecDeque<u8>,
    ) -> InsertOutcome {
        let mut outcome = InsertOutcome::default();
        if !self.held.is_empty() {
            // If the caller moved `next` on by other means, held data below it is stale;
            // any part of it at or beyond `next` may now be deliverable. (A no-op when the
            // caller keeps `next` in step with what this buffer delivered.)
            outcome.delivered = self.settle(next, out);
        }
        let next = next.saturating_add(outcome.delivered as u64);

        let len = data.len();
        // Trim to the window (RFC 9293 3.10.7.4: only the part within the window is
        // acceptable). Work in indices into `data` so that `offset + len` never has to be
        // formed (it could exceed u64::MAX on hostile input).
        // [0, i0): before `next`, already delivered.
        let i0 = len_between(offset, next).min(len);
        // [i0, i1): inside the window; [i1, len): at or beyond `limit`.
        let i1 = len_between(offset, limit).min(len).max(i0);
        outcome.duplicate = i0;
        outcome.dropped = len - i1;
        // Offset of data[i0]; cannot overflow: it is <= next or <= limit.
        let lo = offset.saturating_add(i0 as u64);
        let accepted = slice(data, i0, i1);

        // Fast path: the common in-order arrival with nothing queued.
        if self.held.is_empty() && lo == next {
            out.extend(accepted);
            outcome.delivered += accepted.len();
            return outcome;
        }
        let mut nxt = next;

        if accepted.is_empty() {
            return outcome;
        }
        let hi = lo.saturating_add(accepted.len() as u64);

        // Split [lo, hi) into gaps (bytes not held: new) and overlaps (already held:
        // duplicates, first copy kept). Collected first because storing gaps mutates the map.
        let mut gaps: Vec<(u64, u64)> = Vec::new();
        let mut cursor = lo;
        // A held range starting before `lo` may cover its beginning.
        if let Some((&start, bytes)) = self.held.range(..lo).next_back() {
            let end = end_of(start, bytes);
            if end > lo {
                let covered = end.min(hi);
                outcome.duplicate += len_between(lo, covered);
                cursor = covered;
            }
        }
        for (&start, bytes) in self.held.range(lo..hi) {
            if start > cursor {
                gaps.push((cursor, start));
            }
            let end = end_of(start, bytes).min(hi);
            outcome.duplicate += len_between(start.max(cursor), end);
            cursor = cursor.max(end);
        }
        if cursor < hi {
            gaps.push((cursor, hi));
        }

        for (g_start, g_end) in gaps {
            let bytes = slice(accepted, len_between(lo, g_start), len_between(lo, g_end));
            if g_start == nxt {
                // In order: straight to the application, no capacity involved, then release
                // whatever held data this made contiguous.
                out.extend(bytes);
                outcome.delivered += bytes.len();
                nxt = g_end;
                let released = self.drain_from(nxt, out);
                outcome.delivered += released;
                nxt = nxt.saturating_add(released as u64);
            } else {
                // Out of order: hold what fits. The earliest bytes are kept, as they are the
                // ones closest to filling the hole at `next`; the rest is dropped and will
                // come again by retransmission.
                let room = self.capacity.saturating_sub(self.held_bytes);
                let keep = bytes.len().min(room);
                outcome.dropped += bytes.len() - keep;
                if keep > 0 {
                    self.store(g_start, slice(bytes, 0, keep));
                    if outcome.held == 0 {
                        // The block this segment went into is the one its ACK reports first.
                        self.touch(g_start);
                    }
                    outcome.held += keep;
                }
            }
        }
        outcome
    }

    /// Discard held bytes below `next` and deliver anything that now starts at `next`.
    /// Returns the number of bytes delivered.
    fn settle(&mut self, next: u64, out: &mut VecDeque<u8>) -> usize {
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            if start >= next {
                break;
            }
            let mut bytes = entry.remove();
            self.held_bytes -= bytes.len();
            let skip = len_between(start, next);
            if skip < bytes.len() {
                let tail = bytes.split_off(skip);
                self.held_bytes += tail.len();
                self.held.insert(next, tail);
                // Ranges were disjoint and non-adjacent, so nothing else starts below
                // `next` any more.
                break;
            }
        }
        self.drain_from(next, out)
    }

    /// If a held range starts exactly at `at`, move it to `out`; returns its length. The
    /// non-adjacency invariant means one range is all that can become contiguous.
    fn drain_from(&mut self, at: u64, out: &mut VecDeque<u8>) -> usize {
        match self.held.remove(&at) {
            Some(bytes) => {
                self.held_bytes -= bytes.len();
                out.extend(bytes.iter());
                bytes.len()
            }
            None => 0,
        }
    }

    /// Hold `bytes` at `start`. The caller guarantees they overlap nothing held; merge with a
    /// range ending at `start` and/or one beginning right after, to keep ranges non-adjacent.
    fn store(&mut self, start: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = end_of(start, bytes);
        self.held_bytes += bytes.len();
        let following = self.held.remove(&end);
        let preceding = self
            .held
            .range_mut(..start)
            .next_back()
            .filter(|(&s, v)| end_of(s, v) == start);
        match preceding {
            Some((_, prev)) => {
                prev.extend_from_slice(bytes);
                if let Some(f) = following {
                    prev.extend_from_slice(&f);
                }
            }
            None => {
                let mut merged = bytes.to_vec();
                if let Some(f) = following {
                    merged.extend_from_slice(&f);
                }
                self.held.insert(start, merged);
            }
        }
    }

    /// Bytes currently held out of order.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Change the bound for future inserts. Shrinking never discards already-held data: those
    /// bytes were accepted (and may have been SACKed, RFC 2018 section 8 notwithstanding), so
    /// throwing them away would only cost a retransmission.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Held `[start, end)` ranges in ascending order, adjacent ranges already joined: the
    /// blocks a SACK option (RFC 2018) would report.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.held.iter().map(|(&s, v)| (s, end_of(s, v)))
    }

    /// Stream offset one past the furthest held byte. Ranges are disjoint, so the last one
    /// ends furthest.
    pub fn held_end(&self) -> Option<u64> {
        self.held.iter().next_back().map(|(&s, v)| end_of(s, v))
    }

    /// Offset of the lowest held byte.
    pub fn first_held(&self) -> Option<u64> {
        self.held.keys().next().copied()
    }

    pub fn clear(&mut self) {
        self.held.clear();
        self.held_bytes = 0;
        self.recent_len = 0;
    }

    /// The held range that contains offset `at`.
    pub fn range_containing(&self, at: u64) -> Option<(u64, u64)> {
        let (&start, bytes) = self.held.range(..=at).next_back()?;
        let end = end_of(start, bytes);
        (at < end).then_some((start, end))
    }

    /// An arrival added to (or duplicated) the held range containing `at`: it becomes the
    /// most recent, first in [`Reassembly::sack_ranges`]. Offsets naming the same range, or
    /// a range no longer held, are dropped from the list.
    pub fn touch(&mut self, at: u64) {
        let Some(range) = self.range_containing(at) else {
            return;
        };
        let mut kept = [0u64; MAX_SACK_BLOCKS];
        kept[0] = at;
        let mut n = 1;
        for &p in self.recent_list() {
            let other = self.range_containing(p);
            if other.is_some() && other != Some(range) && n < MAX_SACK_BLOCKS {
                kept[n] = p;
                n += 1;
            }
        }
        self.recent = kept;
        // n <= MAX_SACK_BLOCKS (4) fits a u8.
        self.recent_len = n as u8;
    }

    fn recent_list(&self) -> &[u64] {
        self.recent
            .get(..usize::from(self.recent_len))
            .unwrap_or(&[])
    }

    /// The held ranges a SACK option reports, in RFC 2018 4's order: the one the latest
    /// arrival went into first, then those of earlier arrivals, most recent first; then
    /// any other held ranges, in ascending order, until [`MAX_SACK_BLOCKS`] (the caller
    /// keeps as many as its option space allows).
    pub fn sack_ranges(&self) -> SackRanges {
        let mut out = SackRanges::default();
        let recent = self
            .recent_list()
            .iter()
            .filter_map(|&p| self.range_containing(p));
        for r in recent.chain(self.ranges()) {
            if out.len() == MAX_SACK_BLOCKS {
                break;
            }
            if !out.as_slice().contains(&r) {
                out.push(r);
            }
        }
        out
    }
}

/// Up to [`MAX_SACK_BLOCKS`] held ranges `[start, end)` in stream offsets, in report order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackRanges {
    ranges: [(u64, u64); MAX_SACK_BLOCKS],
    len: usize,
}

impl SackRanges {
    fn push(&mut self, r: (u64, u64)) {
        if let Some(slot) = self.ranges.get_mut(self.len) {
            *slot = r;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[(u64, u64)] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Insert and check the per-call accounting identity; returns the outcome.
    fn ins(
        r: &mut Reassembly,
        next: &mut u64,
        limit: u64,
        offset: u64,
        data: &[u8],
        out: &mut VecDeque<u8>,
    ) -> InsertOutcome {
        let before = r.held_bytes();
        let out_before = out.len();
        let o = r.insert(*next, limit, offset, data, out);
        let after = r.held_bytes();
        assert_eq!(
            o.delivered + o.duplicate + o.dropped + after,
            data.len() + before,
            "accounting: {o:?}, held {before} -> {after}, len {}",
            data.len()
        );
        assert_eq!(out.len() - out_before, o.delivered);
        assert!(
            after <= r.capacity().max(before),
            "held {after} over capacity"
        );
        assert_eq!(
            r.ranges().map(|(s, e)| (e - s) as usize).sum::<usize>(),
            after
        );
        check_ranges(r);
        *next += o.delivered as u64;
        if let Some(first) = r.first_held() {
            assert!(first > *next, "held data at or below next");
        }
        o
    }

    fn check_ranges(r: &Reassembly) {
        let v: Vec<_> = r.ranges().collect();
        for (s, e) in &v {
            assert!(s < e);
        }
        for w in v.windows(2) {
            assert!(w[0].1 < w[1].0, "ranges not disjoint/merged: {v:?}");
        }
        assert_eq!(r.first_held(), v.first().map(|x| x.0));
        assert_eq!(r.is_empty(), v.is_empty());
    }

    /// Visit every permutation of `items` (Heap's algorithm).
    fn permutations<T: Clone>(items: &mut Vec<T>, k: usize, f: &mut impl FnMut(&[T])) {
        if k <= 1 {
            f(items);
            return;
        }
        for i in 0..k {
            permutations(items, k - 1, f);
            let j = if k % 2 == 0 { i } else { 0 };
            items.swap(j, k - 1);
        }
    }

    #[test]
    fn in_order_fast_path() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let o = r.insert(0, 1000, 0, b"hello", &mut out);
        assert_eq!(
            o,
            InsertOutcome {
                delivered: 5,
                ..Default::default()
            }
        );
        let o = r.insert(5, 1000, 5, b" world", &mut out);
        assert_eq!(o.delivered, 6);
        assert_eq!(out, b"hello world".to_vec());
        assert!(r.is_empty());
    }

    #[test]
    fn hole_then_fill_releases_held_data() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let mut next = 0;
        let o = ins(&mut r, &mut next, 100, 5, b"fghij", &mut out);
        assert_eq!((o.held, o.delivered), (5, 0));
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(5, 10)]);
        assert_eq!(r.first_held(), Some(5));
        let o = ins(&mut r, &mut next, 100, 0, b"abcde", &mut out);
        assert_eq!(o.delivered, 10);
        assert_eq!(o.held, 0);
        assert_eq!(out, b"abcdefghij".to_vec());
        assert!(r.is_empty());
        assert_eq!(next, 10);
    }

    #[test]
    fn adjacent_ranges_merge_and_separate_ranges_stay() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let mut next = 0;
        let d = stream(40);
        ins(&mut r, &mut next, 100, 15, &d[15..20], &mut out);
        ins(&mut r, &mut next, 100, 10, &d[10..15], &mut out);
        ins(&mut r, &mut next, 100, 30, &d[30..35], &mut out);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(10, 20), (30, 35)]);
        // Bridging the two ranges joins all three pieces into one.
        let o = ins(&mut r, &mut next, 100, 20, &d[20..30], &mut out);
        assert_eq!(o.held, 10);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(10, 35)]);
        assert_eq!(r.held_bytes(), 25);
        ins(&mut r, &mut next, 100, 0, &d[0..10], &mut out);
        assert_eq!(out, d[..35].to_vec());
    }

    #[test]
    fn overlap_keeps_first_copy_and_counts_duplicates() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let mut next = 0;
        ins(&mut r, &mut next, 100, 5, b"AAAAA", &mut out); // [5, 10)
        let o = ins(&mut r, &mut next, 100, 3, b"bbbbbbbbb", &mut out); // [3, 12)
        assert_eq!(o.duplicate, 5);
        assert_eq!(o.held, 4);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(3, 12)]);
        // A segment overlapping both ends of what is held plus some already delivered data.
        let o = ins(&mut r, &mut next, 100, 0, b"ccccccccccccccc", &mut out); // [0, 15)
        assert_eq!(o.duplicate, 9);
        assert_eq!(o.delivered, 15);
        assert_eq!(out, b"cccbbAAAAAbbccc".to_vec());
        let o = ins(&mut r, &mut next, 100, 10, b"zzzzzzzz", &mut out); // [10, 18)
        assert_eq!((o.duplicate, o.delivered), (5, 3));
        assert_eq!(out.len(), 18);
    }

    #[test]
    fn gaps_between_several_held_ranges() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let mut next = 0;
        let d = stream(50);
        ins(&mut r, &mut next, 100, 10, &d[10..15], &mut out);
        ins(&mut r, &mut next, 100, 20, &d[20..25], &mut out);
        ins(&mut r, &mut next, 100, 30, &d[30..35], &mut out);
        // [12, 40): overlaps three ranges partially/fully, fills three gaps.
        let o = ins(&mut r, &mut next, 100, 12, &d[12..40], &mut out);
        assert_eq!(o.duplicate, 3 + 5 + 5);
        assert_eq!(o.held, 5 + 5 + 5);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(10, 40)]);
        // In-order segment reaching into the held range: it is delivered up to the held
        // range, which is then released, and the rest is new data beyond it.
        let o = ins(&mut r, &mut next, 100, 0, &d[0..45], &mut out);
        assert_eq!(o.delivered, 45);
        assert_eq!(o.duplicate, 30);
        assert_eq!(out, d[..45].to_vec());
        assert!(r.is_empty());
    }

    #[test]
    fn old_data_is_duplicate() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let o = r.insert(10, 100, 0, &[1; 10], &mut out);
        assert_eq!(
            o,
            InsertOutcome {
                duplicate: 10,
                ..Default::default()
            }
        );
        let o = r.insert(10, 100, 4, &[2; 10], &mut out);
        assert_eq!((o.duplicate, o.delivered), (6, 4));
        assert_eq!(out, vec![2; 4]);
        let o = r.insert(10, 100, 0, &[], &mut out);
        assert_eq!(o, InsertOutcome::default());
    }

    #[test]
    fn limit_is_respected() {
        let mut r = Reassembly::new(1000);
        let mut out = VecDeque::new();
        let mut next = 0;
        let d = stream(40);
        // Straddles the window end: only [20, 25) is accepted.
        let o = ins(&mut r, &mut next, 25, 20, &d[20..30], &mut out);
        assert_eq!((o.held, o.dropped), (5, 5));
        // Entirely beyond: dropped.
        let o = ins(&mut r, &mut next, 25, 30, &d[30..40], &mut out);
        assert_eq!((o.held, o.dropped), (0, 10));
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(20, 25)]);
        // In-order data is cut at the limit too.
        let o = ins(&mut r, &mut next, 25, 0, &d[0..40], &mut out);
        assert_eq!((o.delivered, o.dropped, o.duplicate), (25, 15, 5));
        // The window opens, the sender retransmits: the rest arrives.
        let o = ins(&mut r, &mut next, 100, 25, &d[25..40], &mut out);
        assert_eq!(o.delivered, 15);
        assert_eq!(out, d);
        // A zero/inverted window accepts nothing new.
        let o = r.insert(40, 30, 40, &[1, 2, 3], &mut out);
        assert_eq!(o.dropped, 3);
    }

    #[test]
    fn capacity_bound_and_resend() {
        let mut r = Reassembly::new(8);
        let mut out = VecDeque::new();
        let mut next = 0;
        let d = stream(30);
        let o = ins(&mut r, &mut next, 100, 10, &d[10..15], &mut out);
        assert_eq!(o.held, 5);
        // Only 3 more bytes fit: the earliest 3 of the segment.
        let o = ins(&mut r, &mut next, 100, 20, &d[20..30], &mut out);
        assert_eq!((o.held, o.dropped), (3, 7));
        assert_eq!(r.held_bytes(), 8);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(10, 15), (20, 23)]);
        // Full: more out-of-order data is dropped, duplicates still recognised.
        let o = ins(&mut r, &mut next, 100, 16, &d[16..18], &mut out);
        assert_eq!(o.dropped, 2);
        let o = ins(&mut r, &mut next, 100, 10, &d[10..12], &mut out);
        assert_eq!(o.duplicate, 2);
        // In-order data is never refused for capacity, even far more than capacity.
        let o = ins(&mut r, &mut next, 100, 0, &d[0..20], &mut out);
        assert_eq!(o.delivered, 23);
        assert_eq!(o.duplicate, 5);
        // Re-sent remainder is delivered.
        ins(&mut r, &mut next, 100, 23, &d[23..30], &mut out);
        assert_eq!(out, d);
        assert!(r.is_empty());
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn zero_capacity_still_delivers_in_order() {
        let mut r = Reassembly::new(0);
        let mut out = VecDeque::new();
        let o = r.insert(0, 100, 5, b"xyz", &mut out);
        assert_eq!(o.dropped, 3);
        assert!(r.is_empty());
        let o = r.insert(0, 100, 0, b"abcdefgh", &mut out);
        assert_eq!(o.delivered, 8);
    }

    #[test]
    fn shrinking_capacity_keeps_held_data() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let mut next = 0;
        let d = stream(30);
        ins(&mut r, &mut next, 100, 10, &d[10..30], &mut out);
        r.set_capacity(5);
        assert_eq!(r.capacity(), 5);
        assert_eq!(r.held_bytes(), 20);
        // Nothing new fits, but nothing was discarded either.
        let o = ins(&mut r, &mut next, 100, 5, &d[5..8], &mut out);
        assert_eq!(o.dropped, 3);
        ins(&mut r, &mut next, 100, 0, &d[0..10], &mut out);
        assert_eq!(out, d);
    }

    #[test]
    fn clear_empties() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        r.insert(0, 100, 10, &[1; 10], &mut out);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.first_held(), None);
        assert_eq!(r.ranges().count(), 0);
        // Capacity is fully available again.
        let o = r.insert(0, 1000, 10, &[1; 100], &mut out);
        assert_eq!(o.held, 100);
    }

    #[test]
    fn stale_held_data_below_next_is_trimmed_and_released() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let d = stream(40);
        r.insert(0, 100, 10, &d[10..20], &mut out);
        r.insert(0, 100, 25, &d[25..30], &mut out);
        // The caller says bytes up to 15 were delivered elsewhere: [15, 20) is now in order.
        let o = r.insert(15, 100, 20, &d[20..25], &mut out);
        assert_eq!(o.delivered, 15);
        assert_eq!(out, d[15..30].to_vec());
        assert!(r.is_empty());
        assert_eq!(r.held_bytes(), 0);
        // Entirely stale held data is just discarded.
        r.insert(30, 100, 35, &d[35..40], &mut out);
        let o = r.insert(50, 100, 60, &[], &mut out);
        assert_eq!(o, InsertOutcome::default());
        assert!(r.is_empty());
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn extreme_offsets_do_not_panic() {
        let mut r = Reassembly::new(100);
        let mut out = VecDeque::new();
        let o = r.insert(0, u64::MAX, u64::MAX - 2, &[1; 10], &mut out);
        assert_eq!(o.held + o.dropped, 10);
        assert!(o.held <= 2);
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            vec![(u64::MAX - 2, u64::MAX)]
        );
        // One new byte in order, which releases the two held ones; the rest is beyond limit.
        let o = r.insert(u64::MAX - 3, u64::MAX, u64::MAX - 3, &[2; 10], &mut out);
        assert_eq!(
            o,
            InsertOutcome {
                delivered: 3,
                held: 0,
                duplicate: 2,
                dropped: 7
            }
        );
        let o = r.insert(u64::MAX, u64::MAX, 0, &[3; 10], &mut out);
        assert_eq!(o.duplicate, 10);
    }

    /// Six overlapping segments, including an exact duplicate and one contained in another,
    /// covering 0..30. Every one of the 720 arrival orders must deliver the stream exactly.
    #[test]
    fn every_arrival_order_delivers_the_stream_once() {
        let n = 30;
        let d = stream(n);
        let mut segs: Vec<(usize, usize)> =
            vec![(0, 7), (5, 14), (12, 18), (12, 18), (14, 16), (17, 30)];
        let total_in: usize = segs.iter().map(|(s, e)| e - s).sum();
        let mut count = 0;
        permutations(&mut segs.clone(), 6, &mut |order: &[(usize, usize)]| {
            count += 1;
            let mut r = Reassembly::new(1 << 20);
            let mut out = VecDeque::new();
            let mut next = 0u64;
            let mut delivered = 0;
            let mut duplicate = 0;
            for &(s, e) in order {
                let o = ins(&mut r, &mut next, n as u64, s as u64, &d[s..e], &mut out);
                assert_eq!(o.dropped, 0);
                delivered += o.delivered;
                duplicate += o.duplicate;
            }
            assert_eq!(out, d, "order {order:?}");
            assert_eq!(delivered, n);
            assert_eq!(duplicate, total_in - n, "order {order:?}");
            assert!(r.is_empty());
            assert_eq!(r.held_bytes(), 0);
        });
        assert_eq!(count, 720);
        // Also with a tight window and capacity: re-send rounds until everything arrives.
        segs.sort();
        permutations(&mut segs, 6, &mut |order: &[(usize, usize)]| {
            let mut r = Reassembly::new(6);
            let mut out = VecDeque::new();
            let mut next = 0u64;
            for _round in 0..6 {
                for &(s, e) in order {
                    let limit = next + 12;
                    ins(&mut r, &mut next, limit, s as u64, &d[s..e], &mut out);
                }
            }
            assert_eq!(out, d, "order {order:?}");
            assert!(r.is_empty());
        });
    }

    /// Random segmentation of a random stream: cut points, plus extra random duplicate
    /// slices, in a random order.
    fn scenario() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>)> {
        (1usize..400)
            .prop_flat_map(|n| {
                (
                    proptest::collection::vec(any::<u8>(), n),
                    proptest::collection::vec(0..n, 0..20),
                    proptest::collection::vec((0..n, 0..n), 0..10),
                )
            })
            .prop_flat_map(|(data, cuts, extra)| {
                let n = data.len();
                let mut points = cuts;
                points.push(0);
                points.push(n);
                points.sort_unstable();
                points.dedup();
                let mut segs: Vec<(usize, usize)> =
                    points.windows(2).map(|w| (w[0], w[1])).collect();
                for (a, b) in extra {
                    segs.push((a.min(b), a.max(b) + 1));
                }
                (Just(data), Just(segs).prop_shuffle())
            })
    }

    proptest! {
        #[test]
        fn random_segmentation_delivers_stream((data, segs) in scenario()) {
            let n = data.len();
            let mut r = Reassembly::new(usize::MAX);
            let mut out = VecDeque::new();
            let mut next = 0u64;
            for (s, e) in segs {
                let o = ins(&mut r, &mut next, n as u64, s as u64, &data[s..e], &mut out);
                prop_assert_eq!(o.dropped, 0);
            }
            prop_assert_eq!(out.into_iter().collect::<Vec<_>>(), data);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn bounded_capacity_and_window_eventually_deliver(
            (data, segs) in scenario(),
            cap in 0usize..64,
            win in 1u64..128,
        ) {
            let n = data.len();
            let mut r = Reassembly::new(cap);
            let mut out = VecDeque::new();
            let mut next = 0u64;
            // Each round re-sends everything; the segment covering `next` always gets
            // at least one byte through, so n rounds are enough.
            for _round in 0..=n {
                for &(s, e) in &segs {
                    let limit = (next + win).min(n as u64);
                    ins(&mut r, &mut next, limit, s as u64, &data[s..e], &mut out);
                    prop_assert!(r.held_bytes() <= cap);
                    if let Some((_, end)) = r.ranges().last() {
                        prop_assert!(end <= n as u64);
                    }
                }
                if next == n as u64 {
                    break;
                }
            }
            prop_assert_eq!(out.into_iter().collect::<Vec<_>>(), data);
            prop_assert!(r.is_empty());
        }
    }
}

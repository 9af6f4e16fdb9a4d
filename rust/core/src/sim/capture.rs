//! What a simulated host sent and received, kept for a pcap file: the packets with their
//! virtual times, in the order the host saw them. The simulator runs without Python in the
//! loop, so packets wait here until the caller takes them; a bound keeps a forgotten
//! capture from growing without end, and what it turned away is counted.

use std::collections::VecDeque;

/// A captured packet: its virtual time (microseconds) and its bytes.
pub type Captured = (u64, Vec<u8>);

/// Packets a capture holds between two `take`s before it turns new ones away.
pub const CAPTURE_LIMIT: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Capture {
    packets: VecDeque<Captured>,
    /// Packets turned away because the capture was full.
    pub dropped: u64,
}

impl Capture {
    pub fn record(&mut self, now: u64, packet: &[u8]) {
        if self.packets.len() >= CAPTURE_LIMIT {
            self.dropped += 1;
        } else {
            self.packets.push_back((now, packet.to_vec()));
        }
    }

    /// Everything recorded since the last call, oldest first.
    pub fn take(&mut self) -> Vec<Captured> {
        self.packets.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_counts_what_it_turns_away() {
        let mut c = Capture::default();
        c.record(1, b"a");
        c.record(2, b"b");
        assert_eq!(c.take(), vec![(1, b"a".to_vec()), (2, b"b".to_vec())]);
        assert!(c.take().is_empty());
        for t in 0..CAPTURE_LIMIT as u64 + 3 {
            c.record(t, b"x");
        }
        assert_eq!(c.dropped, 3);
        assert_eq!(c.take().len(), CAPTURE_LIMIT);
    }
}

//! The Reno window algorithm of RFC 5681 3.1 (the "NewReno" of RFC 6582 is Reno's window
//! with the [`Controller`](super::Controller)'s recovery): slow start, congestion
//! avoidance with byte counting, halving on loss. In bytes.

use super::{slow_start, CongestionControl};

#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance (RFC 5681 3.1, eq. 3's
    /// byte-counting variant).
    ca_acked: u32,
    /// `(cwnd, ssthresh)` just before the last congestion event or timeout, for `undo`.
    saved: Option<(u32, u32)>,
}

impl NewReno {
    /// An initial window of `iw_segments` segments of `mss` (both at least 1).
    pub fn new(mss: u32, iw_segments: u32) -> Self {
        let mss = mss.max(1);
        // RFC 5681 3.1: initial ssthresh may be arbitrarily high.
        NewReno::with_window(mss, mss.saturating_mul(iw_segments.max(1)), u32::MAX)
    }

    /// Starting from `cwnd` and `ssthresh` (bytes), as when the algorithm is switched on
    /// an open connection.
    pub fn with_window(mss: u32, cwnd: u32, ssthresh: u32) -> Self {
        let mss = mss.max(1);
        NewReno {
            mss,
            cwnd: cwnd.max(mss),
            ssthresh: ssthresh.max(mss),
            ca_acked: 0,
            saved: None,
        }
    }

    /// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
    fn halve(&mut self, flight: u32) {
        self.saved = Some((self.cwnd, self.ssthresh));
        self.ssthresh = (flight / 2).max(self.mss.saturating_mul(2));
        self.ca_acked = 0;
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn set_mss(&mut self, mss: u32, iw_segments: u32) {
        self.mss = mss.max(1);
        self.cwnd = self.mss.saturating_mul(iw_segments.max(1));
    }

    fn on_ack(&mut self, _now_us: u64, acked: u32, _flight: u32, _srtt_us: Option<u64>) {
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 3.1 eq. 2).
            self.cwnd = slow_start(self.cwnd, acked, self.mss);
        } else {
            // Congestion avoidance: one SMSS per cwnd of acknowledged bytes.
            self.ca_acked = self.ca_acked.saturating_add(acked);
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    /// RFC 5681 3.2 step 2: ssthresh by eq. 4; cwnd starts recovery at ssthresh (the
    /// controller adds the three segments of step 3 and the inflation).
    fn on_congestion_event(&mut self, _now_us: u64, flight: u32) {
        self.halve(flight);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_end(&mut self, _now_us: u64, limit: u32) {
        self.cwnd = self.ssthresh.min(limit).max(self.mss);
        self.ca_acked = 0;
    }

    /// RFC 5681 eq. 4 and 5: ssthresh halves, cwnd = LW = 1 SMSS.
    fn on_timeout(&mut self, _now_us: u64, flight: u32) {
        self.halve(flight);
        self.cwnd = self.mss;
    }

    /// Restores the cwnd and ssthresh saved just before the last congestion event or
    /// timeout (RFC 4015's response in its simplest form); once only.
    fn undo(&mut self) {
        if let Some((cwnd, ssthresh)) = self.saved.take() {
            self.cwnd = cwnd;
            self.ssthresh = ssthresh;
            self.ca_acked = 0;
        }
    }

    fn name(&self) -> &'static str {
        "newreno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_and_undo() {
        let mut cc = NewReno::new(1000, 10);
        cc.on_congestion_event(0, 10_000);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (5000, 5000));
        cc.undo();
        assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, u32::MAX));
        cc.undo();
        assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, u32::MAX), "only once");
        // RFC 5681 eq. 4's floor of 2 SMSS, and eq. 5's loss window.
        cc.on_timeout(0, 1500);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (1000, 2000));
    }
}

//! Congestion control, in two layers (all quantities in bytes):
//!
//! - the **window algorithm** behind the [`CongestionControl`] trait: slow start, congestion
//!   avoidance, and what cwnd and ssthresh become on a loss or a timeout. Two implement it:
//!   [`NewReno`] (RFC 5681) and [`Cubic`] (RFC 9438), chosen per connection by
//!   [`CongestionAlgorithm`];
//! - the **loss-recovery sequencing** of RFC 6582 (NewReno fast recovery: `recover`, when
//!   recovery starts and ends, the window's inflation by the duplicate ACKs and its
//!   deflation by partial ACKs), in [`Controller`], the one the connection owns. It is the
//!   same whatever the algorithm: RFC 9438 4.2 "does not make any changes to the TCP Fast
//!   Recovery and Fast Retransmit algorithms".
//!
//! Time is a microsecond count the caller gives (`now_us`); nothing here reads a clock.

mod cubic;
mod newreno;
mod recovery;

use core::fmt::Debug;

pub use cubic::Cubic;
pub use newreno::NewReno;
pub use recovery::{AckAction, Controller, DupAckAction};

/// A congestion window algorithm (RFC 5681 3.1's growth and reduction rules, or another's
/// such as RFC 9438's). It only decides window sizes; fast retransmit and recovery are the
/// [`Controller`]'s, which calls these hooks. `Sync` too, so that a connection can sit in a
/// Python object (PyO3's classes are `Send + Sync`).
pub trait CongestionControl: Send + Sync + Debug {
    /// The congestion window, in bytes.
    fn cwnd(&self) -> u32;

    /// The slow start threshold, in bytes (`u32::MAX` until the first congestion event,
    /// RFC 5681 3.1's "arbitrarily high" initial value).
    fn ssthresh(&self) -> u32;

    /// The sender's MSS is now known (from the SYN exchange): the window restarts at the
    /// initial window of `iw_segments` segments of it.
    fn set_mss(&mut self, mss: u32, iw_segments: u32);

    /// A new ACK acknowledged `acked_bytes` outside loss recovery; `flight` bytes stay
    /// outstanding; `srtt_us` is RFC 6298's smoothed RTT, `None` before the first sample.
    fn on_ack(&mut self, now_us: u64, acked_bytes: u32, flight: u32, srtt_us: Option<u64>);

    /// A loss detected by duplicate ACKs (or SACK) with `flight` bytes outstanding: set
    /// ssthresh and the reduced cwnd that recovery starts from (RFC 5681 3.2 step 2, RFC
    /// 9438 4.6).
    fn on_congestion_event(&mut self, now_us: u64, flight: u32);

    /// Recovery ended with a full ACK: the window to continue with is ssthresh, but no more
    /// than `limit` bytes (the recovery sequencing's, RFC 6582 3.2 step 4's deflation; see
    /// `Controller`), and at least one SMSS.
    fn on_recovery_end(&mut self, now_us: u64, limit: u32);

    /// The retransmission timer expired with `flight` bytes outstanding (RFC 5681 eq. 4
    /// and 5; RFC 9438 4.8).
    fn on_timeout(&mut self, now_us: u64, flight: u32);

    /// The last congestion event (or timeout) was spurious: restore cwnd and ssthresh (and
    /// the algorithm's own state) as they were just before it. Does nothing when no event
    /// was saved, or after it was undone once; each implementation documents the details.
    fn undo(&mut self);

    /// The algorithm's name as Linux spells its `TCP_CONGESTION` names: "newreno", "cubic".
    fn name(&self) -> &'static str;
}

/// Which [`CongestionControl`] a connection uses (`Config::congestion_control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// RFC 5681 slow start and congestion avoidance, halving on loss.
    NewReno,
    /// RFC 9438: the cubic window function, β = 0.7. The default, as on Linux since 2.6.19
    /// (and on Windows and macOS): it regains the window quicker than Reno on paths with a
    /// large bandwidth-delay product, and behaves as Reno where Reno does well (RFC 9438
    /// 4.3's Reno-friendly region).
    #[default]
    Cubic,
}

impl CongestionAlgorithm {
    /// Every algorithm, in the order `name()` lists them.
    pub const ALL: [CongestionAlgorithm; 2] =
        [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic];

    /// Its name: "newreno" or "cubic".
    pub fn name(self) -> &'static str {
        match self {
            CongestionAlgorithm::NewReno => "newreno",
            CongestionAlgorithm::Cubic => "cubic",
        }
    }

    /// The algorithm called `name`: "newreno" (or "reno", Linux's name for it) or "cubic";
    /// `None` for any other name (case matters, as in Linux's `TCP_CONGESTION`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "cubic" => Some(CongestionAlgorithm::Cubic),
            "newreno" | "reno" => Some(CongestionAlgorithm::NewReno),
            _ => None,
        }
    }

    /// A fresh instance with an initial window of `iw_segments` segments of `mss`.
    pub fn build(self, mss: u32, iw_segments: u32) -> Box<dyn CongestionControl> {
        match self {
            CongestionAlgorithm::NewReno => Box::new(NewReno::new(mss, iw_segments)),
            CongestionAlgorithm::Cubic => Box::new(Cubic::new(mss, iw_segments)),
        }
    }

    /// An instance that starts from `cwnd` and `ssthresh` (bytes), as when a connection
    /// switches algorithm; what the old one knew besides is not carried over.
    pub fn build_from(self, mss: u32, cwnd: u32, ssthresh: u32) -> Box<dyn CongestionControl> {
        match self {
            CongestionAlgorithm::NewReno => Box::new(NewReno::with_window(mss, cwnd, ssthresh)),
            CongestionAlgorithm::Cubic => Box::new(Cubic::with_window(mss, cwnd, ssthresh)),
        }
    }
}

/// RFC 5681 3.1 slow start with byte counting (eq. 2, at most one SMSS per ACK): the
/// increase both algorithms use while cwnd < ssthresh.
pub(crate) fn slow_start(cwnd: u32, acked: u32, mss: u32) -> u32 {
    cwnd.saturating_add(acked.min(mss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in CongestionAlgorithm::ALL {
            assert_eq!(CongestionAlgorithm::from_name(a.name()), Some(a));
            assert_eq!(a.build(1000, 10).name(), a.name());
        }
        assert_eq!(
            CongestionAlgorithm::from_name("reno"),
            Some(CongestionAlgorithm::NewReno)
        );
        assert_eq!(CongestionAlgorithm::from_name("CUBIC"), None);
        assert_eq!(CongestionAlgorithm::from_name("bbr"), None);
        assert_eq!(CongestionAlgorithm::from_name(""), None);
        assert_eq!(CongestionAlgorithm::default(), CongestionAlgorithm::Cubic);
    }
}

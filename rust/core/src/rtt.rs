//! Retransmission timeout computation (RFC 6298) and Karn's-algorithm RTT sampling.
//!
//! All times are microseconds supplied by the caller; nothing here reads a clock.

use crate::seq::SeqNum;

/// Tunables of the RTO computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoConfig {
    /// RTO before any RTT sample exists: 1 s (RFC 6298 2.1).
    pub initial_rto_us: u64,
    /// Lower bound on any computed RTO: 1 s (RFC 6298 2.4's SHOULD). Configurable because
    /// simulations and data-centre deployments commonly use less.
    pub min_rto_us: u64,
    /// Upper bound on RTO, also capping the backoff: 60 s, the least 2.5 allows.
    pub max_rto_us: u64,
    /// Clock granularity G: the floor of the variance term (RFC 6298 2.2-2.3, section 4).
    pub granularity_us: u64,
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig {
            initial_rto_us: 1_000_000,
            min_rto_us: 1_000_000,
            max_rto_us: 60_000_000,
            granularity_us: 1_000,
        }
    }
}

/// K in `RTO = SRTT + max(G, K * RTTVAR)` (RFC 6298 2.2).
const K: u64 = 4;

/// The RTO data starts with after a handshake that timed out without an RTT sample (RFC
/// 6298 5.7; Linux's TCP_TIMEOUT_FALLBACK).
pub const SYN_TIMEOUT_FALLBACK_US: u64 = 3_000_000;

/// SRTT/RTTVAR estimator and the (backed-off) RTO derived from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttEstimator {
    config: RtoConfig,
    /// `(SRTT, RTTVAR)` once the first sample has arrived.
    est: Option<(u64, u64)>,
    /// RTO from the last computation (2.1 or 2.2/2.3), before backoff.
    base_rto_us: u64,
    /// Timer expiries since the last sample (each one doubles the RTO, 5.5).
    backoff: u32,
}

impl RttEstimator {
    pub fn new(config: RtoConfig) -> Self {
        let base_rto_us = bound(&config, config.initial_rto_us);
        RttEstimator {
            config,
            est: None,
            base_rto_us,
            backoff: 0,
        }
    }

    /// Feed one RTT measurement (already filtered by Karn's rule, see [`RttSampler`]).
    ///
    /// Integer arithmetic in microseconds, rounded to nearest: the residual error (a couple
    /// of microseconds at most) is far below G, which dominates the variance term at that
    /// scale anyway.
    pub fn on_sample(&mut self, rtt_us: u64) {
        let r = rtt_us;
        let (srtt, rttvar) = match self.est {
            // 2.2: first measurement.
            None => (r, r / 2),
            Some((srtt, rttvar)) => {
                // 2.3: RTTVAR uses the SRTT from *before* this update, so it is computed
                // first. beta = 1/4, alpha = 1/8. u128 keeps `3 * x` / `7 * x` from
                // overflowing on absurd inputs.
                let dev = u128::from(srtt.abs_diff(r));
                let rttvar = (3 * u128::from(rttvar) + dev + 2) / 4;
                let srtt = (7 * u128::from(srtt) + u128::from(r) + 4) / 8;
                (saturate(srtt), saturate(rttvar))
            }
        };
        self.est = Some((srtt, rttvar));
        // 2.2/2.3: RTO = SRTT + max(G, K*RTTVAR); section 4 makes G the floor of the
        // variance term. Then the 2.4 minimum and 2.5 maximum.
        let var_term = self.config.granularity_us.max(rttvar.saturating_mul(K));
        self.base_rto_us = bound(&self.config, srtt.saturating_add(var_term));
        // A fresh measurement supersedes the backed-off value ("collapsing" the RTO, as the
        // note after 5.7 describes): the doubled value was a guess made without data.
        self.backoff = 0;
    }

    /// The retransmission timer expired: back off (RFC 6298 5.5), bounded by the maximum.
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Current RTO, backoff included.
    pub fn rto_us(&self) -> u64 {
        let max = self.config.max_rto_us;
        // Doubling `backoff` times is a left shift; once it would overflow (or exceed the
        // maximum) the cap applies. The base is never lowered by the cap: it already sits
        // within the configured bounds.
        let backed = if self.backoff == 0 {
            self.base_rto_us
        } else if self.backoff >= 64 || self.base_rto_us.leading_zeros() < self.backoff {
            u64::MAX
        } else {
            self.base_rto_us << self.backoff
        };
        if self.backoff == 0 {
            backed
        } else {
            backed.min(max).max(self.base_rto_us)
        }
    }

    pub fn srtt_us(&self) -> Option<u64> {
        self.est.map(|(s, _)| s)
    }

    pub fn rttvar_us(&self) -> Option<u64> {
        self.est.map(|(_, v)| v)
    }

    /// Timer expiries (doublings) since the last sample or reset.
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// Drop the backoff without a new sample (e.g. when an ACK for new data proves the path
    /// is alive but Karn's rule forbids timing it).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The handshake is over. RFC 6298 5.7 (MUST): if the SYN (or SYN-ACK) timed out and
    /// the handshake gave no RTT sample, data starts with an RTO of 3 s (within the
    /// configured bounds), not the initial 1 s nor the backed-off value: the path was slow
    /// or lossy enough to lose the first guess. With a sample, the estimate stands and the
    /// backoff is gone (the sample collapsed it).
    pub fn on_handshake_done(&mut self, timed_out: bool) {
        if timed_out && self.est.is_none() {
            self.base_rto_us = bound(&self.config, SYN_TIMEOUT_FALLBACK_US);
        }
        self.backoff = 0;
    }

    pub fn config(&self) -> &RtoConfig {
        &self.config
    }
}

/// Apply the 2.4 lower and 2.5 upper bounds. On a misconfiguration with `min > max` the
/// upper bound wins (an enormous RTO is the worse failure); `u64::clamp` would panic instead.
fn bound(config: &RtoConfig, rto: u64) -> u64 {
    rto.max(config.min_rto_us).min(config.max_rto_us)
}

fn saturate(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

/// Times one segment at a time (RFC 6298 3, Karn's algorithm).
///
/// The classic scheme: at most one segment is timed per RTT; a retransmission of anything
/// makes the ACK that follows ambiguous (it may acknowledge either copy), so the running
/// measurement is abandoned rather than risk a too-short sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RttSampler {
    /// `(end, sent_at)` of the timed segment: an ACK >= `end` acknowledges it.
    timed: Option<(SeqNum, u64)>,
}

impl RttSampler {
    pub fn is_timing(&self) -> bool {
        self.timed.is_some()
    }

    /// Start timing the segment whose last byte is `end - 1` (i.e. an ACK >= `end`
    /// acknowledges it), sent at `now`. Ignored if already timing.
    pub fn start(&mut self, end: SeqNum, now: u64) {
        if self.timed.is_none() {
            self.timed = Some((end, now));
        }
    }

    /// An ACK arrived: if it covers the timed segment, stop and return the sample
    /// (`now - sent`; a clock that went backwards yields 0 rather than a wrapped value).
    pub fn on_ack(&mut self, ack: SeqNum, now: u64) -> Option<u64> {
        let (end, sent) = self.timed?;
        // Circular comparison: correct across the 2^32 wrap (RFC 9293 3.4).
        if ack.ge(end) {
            self.timed = None;
            Some(now.saturating_sub(sent))
        } else {
            None
        }
    }

    /// Any retransmission invalidates the measurement (Karn): stop without a sample.
    pub fn cancel(&mut self) {
        self.timed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounds wide enough that the raw 2.2/2.3 arithmetic is visible.
    fn loose() -> RtoConfig {
        RtoConfig {
            initial_rto_us: 1_000_000,
            min_rto_us: 1_000,
            max_rto_us: 60_000_000,
            granularity_us: 1_000,
        }
    }

    #[test]
    fn defaults_follow_rfc6298() {
        let c = RtoConfig::default();
        assert_eq!(c.initial_rto_us, 1_000_000);
        assert_eq!(c.min_rto_us, 1_000_000);
        assert_eq!(c.max_rto_us, 60_000_000);
        assert_eq!(c.granularity_us, 1_000);
        let e = RttEstimator::new(c);
        assert_eq!(e.rto_us(), 1_000_000);
        assert_eq!(e.srtt_us(), None);
        assert_eq!(e.rttvar_us(), None);
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.config(), &c);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut e = RttEstimator::new(loose());
        e.on_sample(100_000);
        assert_eq!(e.srtt_us(), Some(100_000));
        assert_eq!(e.rttvar_us(), Some(50_000));
        // 100 ms + 4 * 50 ms.
        assert_eq!(e.rto_us(), 300_000);
    }

    #[test]
    fn subsequent_samples_match_hand_computation() {
        let mut e = RttEstimator::new(loose());
        e.on_sample(100_000);
        // RTTVAR = 3/4*50000 + 1/4*|100000-200000| = 62500 (uses the OLD srtt; updating SRTT
        // first would give 59375). SRTT = 7/8*100000 + 1/8*200000 = 112500.
        e.on_sample(200_000);
        assert_eq!(e.rttvar_us(), Some(62_500));
        assert_eq!(e.srtt_us(), Some(112_500));
        assert_eq!(e.rto_us(), 112_500 + 250_000);
        // RTTVAR = 3/4*62500 + 1/4*62500 = 62500. SRTT = (7*112500 + 50000)/8 = 104687.5,
        // rounded to 104688.
        e.on_sample(50_000);
        assert_eq!(e.rttvar_us(), Some(62_500));
        assert_eq!(e.srtt_us(), Some(104_688));
        assert_eq!(e.rto_us(), 104_688 + 250_000);
    }

    #[test]
    fn granularity_floors_the_variance_term() {
        let mut e = RttEstimator::new(loose());
        for _ in 0..200 {
            e.on_sample(10_000);
        }
        assert_eq!(e.srtt_us(), Some(10_000));
        // RTTVAR has decayed to (almost) nothing: 4*RTTVAR < G, so RTO = SRTT + G.
        assert!(e.rttvar_us().unwrap_or(u64::MAX) * 4 < 1_000);
        assert_eq!(e.rto_us(), 11_000);
    }

    #[test]
    fn min_and_max_clamp() {
        let mut e = RttEstimator::new(RtoConfig::default());
        e.on_sample(100_000);
        assert_eq!(e.rto_us(), 1_000_000, "raised to the 1 s minimum (2.4)");
        let mut e = RttEstimator::new(RtoConfig::default());
        e.on_sample(50_000_000);
        // 50 s + 4 * 25 s = 150 s, capped at 60 s (2.5).
        assert_eq!(e.rto_us(), 60_000_000);
        // Absurd inputs saturate instead of overflowing.
        e.on_sample(u64::MAX);
        e.on_sample(u64::MAX);
        assert_eq!(e.rto_us(), 60_000_000);
    }

    #[test]
    fn misconfigured_bounds_do_not_panic() {
        let cfg = RtoConfig {
            initial_rto_us: 5,
            min_rto_us: 10_000,
            max_rto_us: 1_000,
            granularity_us: 0,
        };
        let mut e = RttEstimator::new(cfg);
        assert_eq!(e.rto_us(), 1_000);
        e.on_sample(0);
        e.on_timeout();
        assert_eq!(e.rto_us(), 1_000);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = RttEstimator::new(RtoConfig::default());
        let expected = [
            2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000, 60_000_000, 60_000_000,
        ];
        for (i, want) in expected.into_iter().enumerate() {
            e.on_timeout();
            assert_eq!(e.rto_us(), want, "after {} timeouts", i + 1);
            assert_eq!(e.backoff_count() as usize, i + 1);
        }
        // Many more expiries must neither overflow nor exceed the cap.
        for _ in 0..200 {
            e.on_timeout();
        }
        assert_eq!(e.rto_us(), 60_000_000);
        assert_eq!(e.backoff_count(), 207);
    }

    #[test]
    fn sample_and_reset_clear_backoff() {
        let mut e = RttEstimator::new(loose());
        e.on_sample(100_000);
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.rto_us(), 1_200_000);
        e.on_sample(100_000);
        assert_eq!(e.backoff_count(), 0);
        // RTTVAR = 3/4*50000 = 37500, SRTT = 100000: RTO = 250000, no longer backed off.
        assert_eq!(e.rto_us(), 250_000);
        e.on_timeout();
        assert_eq!(e.rto_us(), 500_000);
        e.reset_backoff();
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto_us(), 250_000);
        // Reset does not touch the estimate itself.
        assert_eq!(e.srtt_us(), Some(100_000));
    }

    #[test]
    fn sampler_measures_covering_ack() {
        let mut s = RttSampler::default();
        assert!(!s.is_timing());
        assert_eq!(s.on_ack(SeqNum(100), 5), None);
        s.start(SeqNum(1000), 10_000);
        assert!(s.is_timing());
        // A second start while timing is ignored: the original send time stays.
        s.start(SeqNum(2000), 20_000);
        // Partial ACK: not yet.
        assert_eq!(s.on_ack(SeqNum(999), 30_000), None);
        assert!(s.is_timing());
        assert_eq!(s.on_ack(SeqNum(1000), 45_000), Some(35_000));
        assert!(!s.is_timing());
        // Only one sample per timed segment.
        assert_eq!(s.on_ack(SeqNum(3000), 50_000), None);
    }

    #[test]
    fn sampler_karn_cancel_discards_measurement() {
        let mut s = RttSampler::default();
        s.start(SeqNum(500), 1_000);
        s.cancel();
        assert!(!s.is_timing());
        assert_eq!(s.on_ack(SeqNum(500), 9_000), None);
        // A new segment can be timed afterwards.
        s.start(SeqNum(900), 10_000);
        assert_eq!(s.on_ack(SeqNum(1_000), 12_500), Some(2_500));
    }

    #[test]
    fn sampler_across_sequence_wrap() {
        let mut s = RttSampler::default();
        let end = SeqNum(u32::MAX - 10) + 100; // wraps to 89
        assert_eq!(end.raw(), 89);
        s.start(end, 0);
        // An ACK numerically larger but circularly before `end` does not count.
        assert_eq!(s.on_ack(SeqNum(u32::MAX - 5), 10), None);
        assert!(s.is_timing());
        assert_eq!(s.on_ack(SeqNum(200), 700), Some(700));
    }

    #[test]
    fn sampler_tolerates_time_going_backwards() {
        let mut s = RttSampler::default();
        s.start(SeqNum(10), 1_000);
        assert_eq!(s.on_ack(SeqNum(10), 500), Some(0));
    }
}

//! CUBIC (RFC 9438): after a loss the window follows W_cubic(t) = C(t-K)^3 + W_max, a
//! cubic of the time since the congestion avoidance stage began, concave up to the window
//! at the last loss (W_max) and convex past it, and at least what Reno would have
//! (the Reno-friendly region, 4.3). β = 0.7.
//!
//! Windows are kept in bytes (RFC 9438 4.1 allows it: the SMSS is factored in wherever the
//! RFC counts segments, and acknowledged bytes replace _segments_acked_); the cubic
//! function itself is evaluated in segments and seconds, in `f64`, and every result is
//! clamped before it becomes a `u32` window.
//!
//! Choices where the RFC leaves room:
//! - Slow start is RFC 5681's (4.10 allows it where HyStart++ is not used).
//! - The window "at the congestion event" (cwnd_prior, and W_max before fast convergence)
//!   is cwnd, or the flight size when that is smaller: without RFC 7661's cwnd validation a
//!   cwnd the receiver's window or the application kept from being used would otherwise
//!   set a W_max the path never carried (4.6 asks implementations to guard against this).
//! - Fast convergence (4.7) is on, as on Linux; `set_fast_convergence` turns it off.
//! - A full ACK ends recovery as for NewReno (RFC 6582 3.2 step 4, option 1): cwnd =
//!   min(ssthresh, max(FlightSize, SMSS) + SMSS), then slow start back up to ssthresh;
//!   the congestion avoidance stage, and so the epoch, starts at the first ACK with
//!   cwnd >= ssthresh.
//! - Application-limited and idle periods (4.2: t "MUST NOT include" them): an ACK that
//!   leaves nothing in flight marks the connection idle; at the next ACK the epoch start
//!   moves later by the time since then less one smoothed RTT (the data that ACK covers was
//!   sent about an RTT ago, so that is when sending resumed), as Linux moves it when
//!   transmission restarts.

use super::{slow_start, CongestionControl};

/// RFC 9438 4.1.1's C, in segments per second cubed (section 5 sets it to 0.4).
pub const C: f64 = 0.4;
/// β_cubic (4.6).
pub const BETA: f64 = 0.7;
/// α_cubic = 3(1 - β) / (1 + β) (4.3), about 0.53.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// The current congestion avoidance stage (RFC 9438 4.1.2's t_epoch, K, W_est).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Epoch {
    /// t_epoch, in microseconds of the caller's clock (moved later by idle periods).
    start_us: u64,
    /// K, in seconds (at least 0).
    k_s: f64,
    /// W_est (4.3), in bytes.
    w_est: f64,
}

/// What `undo` restores (RFC 9438 4.9.2's undo_ variables).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Saved {
    cwnd: u32,
    ssthresh: u32,
    cwnd_prior: f64,
    w_max: Option<f64>,
    epoch: Option<Epoch>,
}

#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max in bytes; `None` until the first congestion event and after a timeout, when
    /// the next congestion avoidance stage sets it to the window it starts with (4.8, 4.10).
    w_max: Option<f64>,
    /// cwnd_prior (4.1.2) in bytes: the window when ssthresh was last set.
    cwnd_prior: f64,
    epoch: Option<Epoch>,
    /// Growth (bytes) computed but not yet whole bytes of cwnd.
    pending: f64,
    /// When an ACK last left nothing in flight (see the module's notes on idle periods).
    idle_since: Option<u64>,
    fast_convergence: bool,
    saved: Option<Saved>,
}

/// `x` as a window in bytes: NaN to 0, everything else clamped into `u32`.
fn to_bytes(x: f64) -> u32 {
    if x.is_nan() {
        0
    } else {
        x.clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

/// Microseconds as seconds.
fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

impl Cubic {
    /// An initial window of `iw_segments` segments of `mss` (both at least 1).
    pub fn new(mss: u32, iw_segments: u32) -> Self {
        let mss = mss.max(1);
        Cubic::with_window(mss, mss.saturating_mul(iw_segments.max(1)), u32::MAX)
    }

    /// Starting from `cwnd` and `ssthresh` (bytes), as when the algorithm is switched on
    /// an open connection; no congestion event is remembered.
    pub fn with_window(mss: u32, cwnd: u32, ssthresh: u32) -> Self {
        let mss = mss.max(1);
        Cubic {
            mss,
            cwnd: cwnd.max(mss),
            ssthresh: ssthresh.max(mss),
            w_max: None,
            cwnd_prior: 0.0,
            epoch: None,
            pending: 0.0,
            idle_since: None,
            fast_convergence: true,
            saved: None,
        }
    }

    /// RFC 9438 4.7's fast convergence, on by default ("SHOULD be implemented"; it
    /// "SHOULD be disabled" for a single flow alone on its path, which a host cannot know).
    pub fn set_fast_convergence(&mut self, on: bool) {
        self.fast_convergence = on;
    }

    /// W_max in bytes, once a congestion avoidance stage or event has set it.
    pub fn w_max(&self) -> Option<u32> {
        self.w_max.map(|w| to_bytes(w.round()))
    }

    /// K of the current congestion avoidance stage, in seconds.
    pub fn k_secs(&self) -> Option<f64> {
        self.epoch.map(|e| e.k_s)
    }

    /// W_cubic(t) (Figure 1) in bytes, for `t_s` seconds into the stage with constant `k_s`.
    fn w_cubic(&self, w_max: f64, k_s: f64, t_s: f64) -> f64 {
        let d = t_s - k_s;
        C * d * d * d * f64::from(self.mss) + w_max
    }

    /// The window the congestion event or timeout happens at: cwnd, or the flight when
    /// smaller (see the module's notes).
    fn window_at_event(&self, flight: u32) -> f64 {
        let w = if flight > 0 {
            self.cwnd.min(flight)
        } else {
            self.cwnd
        };
        f64::from(w)
    }

    /// What `undo` restores, as it is before a congestion event or timeout changes it.
    fn save(&mut self) {
        self.saved = Some(Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            cwnd_prior: self.cwnd_prior,
            w_max: self.w_max,
            epoch: self.epoch,
        });
    }

    /// ssthresh = max(β * FlightSize, 2 SMSS) (Figure 5), cwnd_prior, a new epoch to come.
    fn reduce(&mut self, flight: u32) {
        self.cwnd_prior = self.window_at_event(flight);
        // β = 7/10 exactly, in integers.
        let reduced = u64::from(flight) * 7 / 10;
        let floor = u64::from(self.mss) * 2;
        self.ssthresh = to_bytes(reduced.max(floor) as f64);
        self.epoch = None;
        self.pending = 0.0;
        self.idle_since = None;
    }

    /// The first ACK of a congestion avoidance stage: t_epoch, K (Figure 2) and W_est.
    fn start_epoch(&mut self, now_us: u64) -> Epoch {
        let cwnd = f64::from(self.cwnd);
        let w_max = match self.w_max {
            Some(w) if w > cwnd => w,
            // No W_max (after a timeout, 4.8, or without a loss yet, 4.10), or one no
            // larger than the window now (after an undo, or a switch of algorithm): K = 0
            // and W_max = the window the stage starts with.
            _ => cwnd,
        };
        self.w_max = Some(w_max);
        let segments = (w_max - cwnd) / f64::from(self.mss);
        let k_s = (segments / C).cbrt();
        let epoch = Epoch {
            start_us: now_us,
            k_s: if k_s.is_finite() { k_s.max(0.0) } else { 0.0 },
            w_est: cwnd,
        };
        self.epoch = Some(epoch);
        epoch
    }

    /// Congestion avoidance (4.2-4.5) for an ACK of `acked` bytes.
    fn avoid(&mut self, now_us: u64, acked: u32, srtt_us: Option<u64>) {
        let rtt_us = srtt_us.unwrap_or(0);
        let mut e = match self.epoch {
            None => self.start_epoch(now_us),
            Some(mut e) => {
                if let Some(idle) = self.idle_since {
                    let gap = now_us.saturating_sub(idle).saturating_sub(rtt_us);
                    e.start_us = e.start_us.saturating_add(gap);
                }
                e
            }
        };
        let w_max = self.w_max.unwrap_or(f64::from(self.cwnd));
        let mss = f64::from(self.mss);
        let cwnd = f64::from(self.cwnd.max(1));
        let acked = f64::from(acked);
        // Figure 4, in bytes; α becomes 1 once W_est reaches cwnd_prior.
        let alpha = if e.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        e.w_est += alpha * acked * mss / cwnd;
        let t_s = secs(now_us.saturating_sub(e.start_us));
        let grown = if self.w_cubic(w_max, e.k_s, t_s) < e.w_est {
            // The Reno-friendly region (4.3): cwnd = W_est.
            self.pending = 0.0;
            e.w_est.max(cwnd)
        } else {
            // Concave (4.4) or convex (4.5): (target - cwnd) / cwnd per acknowledged
            // segment, target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd] (4.2).
            let target = self
                .w_cubic(w_max, e.k_s, t_s + secs(rtt_us))
                .clamp(cwnd, 1.5 * cwnd);
            self.pending += (target - cwnd) / cwnd * acked;
            let whole = self.pending.floor();
            self.pending -= whole;
            cwnd + whole
        };
        self.cwnd = to_bytes(grown).max(self.mss);
        self.epoch = Some(e);
    }
}

impl CongestionControl for Cubic {
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

    fn on_ack(&mut self, now_us: u64, acked: u32, flight: u32, srtt_us: Option<u64>) {
        if self.cwnd < self.ssthresh {
            // 4.10: slow start, RFC 5681's.
            self.cwnd = slow_start(self.cwnd, acked, self.mss);
        } else {
            self.avoid(now_us, acked, srtt_us);
        }
        self.idle_since = (flight == 0).then_some(now_us);
    }

    /// Fast convergence (4.7), then Figure 5: ssthresh = max(0.7 FlightSize, 2 SMSS), and
    /// cwnd = ssthresh. The next congestion avoidance stage starts a new epoch.
    fn on_congestion_event(&mut self, _now_us: u64, flight: u32) {
        self.save();
        let w = self.window_at_event(flight);
        self.w_max = Some(match self.w_max {
            Some(prev) if self.fast_convergence && w < prev => w * (1.0 + BETA) / 2.0,
            _ => w,
        });
        self.reduce(flight);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_end(&mut self, _now_us: u64, limit: u32) {
        self.cwnd = self.ssthresh.min(limit).max(self.mss);
        self.pending = 0.0;
    }

    /// 4.8: cwnd to RFC 5681's loss window (1 SMSS), ssthresh with β as on a loss; the next
    /// congestion avoidance stage has K = 0 and W_max = W_est = its starting window.
    fn on_timeout(&mut self, _now_us: u64, flight: u32) {
        self.save();
        self.reduce(flight);
        self.w_max = None;
        self.cwnd = self.mss;
    }

    /// RFC 9438 4.9.2: restores cwnd, ssthresh, cwnd_prior, W_max and the epoch (t_epoch,
    /// K, W_est) saved just before the last congestion event or timeout, once, and only
    /// while cwnd is still below the window of that event (cwnd_prior); later the current
    /// values stand.
    fn undo(&mut self) {
        if let Some(s) = self.saved.take() {
            if f64::from(self.cwnd) < self.cwnd_prior {
                self.cwnd = s.cwnd;
                self.ssthresh = s.ssthresh;
                self.cwnd_prior = s.cwnd_prior;
                self.w_max = s.w_max;
                self.epoch = s.epoch;
                self.pending = 0.0;
            }
        }
    }

    fn name(&self) -> &'static str {
        "cubic"
    }
}

#[cfg(test)]
#[path = "cubic_tests.rs"]
mod tests;

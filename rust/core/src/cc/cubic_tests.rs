//! CUBIC against RFC 9438's formulas, computed here independently of the implementation.

use super::*;
use crate::cc::{CongestionAlgorithm, NewReno};
use proptest::prelude::*;

const MSS: u32 = 1000;
const RTT_US: u64 = 100_000;
/// Where the tests' congestion avoidance stages begin.
const T0: u64 = 1_000_000;

/// RFC 9438 Figure 1, in segments and seconds.
fn w_cubic(w_max: f64, k: f64, t: f64) -> f64 {
    0.4 * (t - k).powi(3) + w_max
}

/// Figure 2 with cwnd_epoch = β W_max: K = cbrt(W_max (1 - β) / C).
fn k_for(w_max: f64) -> f64 {
    (w_max * (1.0 - 0.7) / 0.4).cbrt()
}

/// A window of `segments` at a loss with that much in flight: W_max = `segments`.
fn after_loss(segments: u32) -> Cubic {
    let mut cc = Cubic::with_window(MSS, segments * MSS, u32::MAX);
    cc.on_congestion_event(0, segments * MSS);
    cc
}

fn seg(bytes: u32) -> f64 {
    f64::from(bytes) / f64::from(MSS)
}

#[test]
fn beta_reduces_to_seven_tenths_of_the_flight() {
    let mut cc = Cubic::new(MSS, 10);
    cc.on_congestion_event(0, 123_456);
    // Figure 5: ssthresh = 0.7 * FlightSize, cwnd = ssthresh (NewReno would halve).
    assert_eq!(cc.ssthresh(), 86_419);
    assert_eq!(cc.cwnd(), 86_419);
    assert_eq!(cc.w_max(), Some(10_000), "cwnd was the smaller");
    let mut reno = NewReno::new(MSS, 10);
    reno.on_congestion_event(0, 123_456);
    assert_eq!(reno.ssthresh(), 61_728);
    // The floor of 2 SMSS.
    let mut small = Cubic::new(MSS, 2);
    small.on_congestion_event(0, 2 * MSS);
    assert_eq!((small.cwnd(), small.ssthresh()), (2 * MSS, 2 * MSS));
}

#[test]
fn k_for_w_max_100_segments() {
    let mut cc = after_loss(100);
    assert_eq!(cc.w_max(), Some(100 * MSS));
    assert_eq!(cc.cwnd(), 70 * MSS);
    assert_eq!(cc.k_secs(), None, "the epoch starts with the first ACK");
    cc.on_ack(T0, MSS, 70 * MSS, Some(RTT_US));
    let k = cc.k_secs().unwrap_or(0.0);
    assert!((k - 4.2172).abs() < 1e-4, "K = {k}");
    assert!((k - k_for(100.0)).abs() < 1e-9);
}

/// One ACK of one segment `t` seconds into the stage grows cwnd by (target - cwnd) / cwnd
/// segments, target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd] (4.2, 4.4, 4.5).
#[test]
fn one_ack_grows_towards_w_cubic_of_t_plus_rtt() {
    let k = k_for(100.0);
    let rtt = RTT_US as f64 / 1e6;
    // Concave side (t + RTT < K), then convex (t + RTT > K), then where 1.5 cwnd caps it.
    for t in [0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 6.0, 20.0] {
        let mut cc = after_loss(100);
        cc.on_ack(T0, MSS, 70 * MSS, Some(RTT_US));
        let before = seg(cc.cwnd());
        cc.on_ack(T0 + (t * 1e6) as u64, MSS, 70 * MSS, Some(RTT_US));
        let target = w_cubic(100.0, k, t + rtt).clamp(before, 1.5 * before);
        let expected = (target - before) / before; // segments, for one segment acked
        let grew = seg(cc.cwnd()) - before;
        assert!(
            (grew - expected).abs() <= 1.0 / f64::from(MSS),
            "t = {t}: grew {grew} segments, RFC 9438 says {expected}"
        );
        if t == 20.0 {
            assert!((expected - 0.5).abs() < 1e-12, "capped at 1.5 cwnd");
        }
    }
}

/// ACK-clocked for 14 s after a loss at 1000 segments (K = 9.09 s), the window follows
/// W_cubic: between W_cubic(t) and W_cubic(t + RTT), concave below W_max up to K, convex
/// above it after. (Reno's W_est, about 0.53 segment per RTT, stays far below.)
#[test]
fn window_follows_w_cubic_over_time() {
    let w_max = 1000.0;
    let k = k_for(w_max);
    let rtt = RTT_US as f64 / 1e6;
    let mut cc = after_loss(1000);
    let mut now = T0;
    for round in 1..=140u32 {
        let acks = cc.cwnd() / MSS;
        for _ in 0..acks {
            now += RTT_US / u64::from(acks);
            cc.on_ack(now, MSS, cc.cwnd(), Some(RTT_US));
        }
        let t = (now - T0) as f64 / 1e6;
        let w = seg(cc.cwnd());
        if round % 10 == 0 {
            let (lo, hi) = (w_cubic(w_max, k, t), w_cubic(w_max, k, t + rtt));
            assert!(
                lo - 1.0 <= w && w <= hi + 1.0,
                "t = {t}: cwnd {w} segments, W_cubic {lo}..{hi}"
            );
            if t < k - rtt {
                assert!(w < w_max, "concave: below W_max before K");
            }
            if t > k + rtt {
                assert!(w > w_max, "convex: past W_max after K");
            }
        }
    }
}

/// At a small W_max and a short RTT Reno's window (W_est, Figure 4) grows faster than the
/// cubic, and cwnd follows it (4.3).
#[test]
fn reno_friendly_region_wins_at_small_w_max_and_short_rtt() {
    let rtt_us = 1_000;
    let mut cc = after_loss(10);
    let k = k_for(10.0);
    let mut now = T0;
    let mut w_est: Option<f64> = None; // bytes
    for _ in 0..50 {
        let acks = cc.cwnd() / MSS;
        for _ in 0..acks {
            now += rtt_us / u64::from(acks);
            let cwnd = f64::from(cc.cwnd());
            // W_est starts at cwnd_epoch; alpha = 3(1-β)/(1+β) until it reaches cwnd_prior.
            let est = w_est.unwrap_or(cwnd);
            let alpha = if est >= 10_000.0 { 1.0 } else { 0.9 / 1.7 };
            let est = est + alpha * f64::from(MSS) * f64::from(MSS) / cwnd;
            w_est = Some(est);
            cc.on_ack(now, MSS, cc.cwnd(), Some(rtt_us));
            assert_eq!(cc.cwnd(), est.max(cwnd) as u32);
        }
    }
    let t = (now - T0) as f64 / 1e6;
    let cubic_alone = w_cubic(10.0, k, t + rtt_us as f64 / 1e6);
    let w = seg(cc.cwnd());
    assert!(
        cubic_alone < 8.0,
        "the cubic is still near cwnd_epoch: {cubic_alone}"
    );
    assert!(w > 40.0, "Reno-friendly growth: {w} segments after 50 RTTs");
}

#[test]
fn fast_convergence_lowers_w_max() {
    for (on, w_max, k) in [(true, 51.0, 22.5f64.cbrt()), (false, 60.0, 45f64.cbrt())] {
        let mut cc = after_loss(100);
        cc.set_fast_convergence(on);
        // A second loss below the last W_max (100 segments), at 60 segments in flight.
        cc.on_congestion_event(T0, 60 * MSS);
        assert_eq!(cc.ssthresh(), 42 * MSS);
        // 4.7: W_max = 60 (1 + β) / 2 = 51 segments with fast convergence, else 60.
        assert_eq!(
            cc.w_max(),
            Some((w_max * f64::from(MSS)) as u32),
            "fast convergence {on}"
        );
        cc.on_ack(T0 + 1, MSS, 42 * MSS, Some(RTT_US));
        // Figure 2: K = cbrt((W_max - cwnd_epoch) / C), cwnd_epoch = 42.
        let got = cc.k_secs().unwrap_or(0.0);
        assert!((got - k).abs() < 1e-6, "K = {got}, want {k}");
    }
}

#[test]
fn timeout_resets_to_one_segment_then_k_is_zero() {
    let mut cc = Cubic::with_window(MSS, 50 * MSS, u32::MAX);
    cc.on_congestion_event(0, 50 * MSS);
    cc.on_timeout(T0, 40 * MSS);
    // 4.8: cwnd as Reno's (1 SMSS), ssthresh with β.
    assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 28 * MSS));
    assert_eq!(cc.w_max(), None);
    let mut now = T0;
    while cc.cwnd() < cc.ssthresh() {
        now += 1_000;
        cc.on_ack(now, MSS, cc.cwnd(), Some(RTT_US));
    }
    assert_eq!(cc.cwnd(), 28 * MSS, "slow start (RFC 5681) up to ssthresh");
    assert_eq!(cc.k_secs(), None);
    let start = now + 1_000;
    cc.on_ack(start, MSS, cc.cwnd(), Some(RTT_US));
    // The stage starts with K = 0 and W_max = the window it starts with.
    assert_eq!(cc.k_secs(), Some(0.0));
    assert_eq!(cc.w_max(), Some(28 * MSS));
    let before = seg(cc.cwnd());
    cc.on_ack(start + 2_000_000, MSS, cc.cwnd(), Some(RTT_US));
    let target = w_cubic(28.0, 0.0, 2.1).clamp(before, 1.5 * before);
    let grew = seg(cc.cwnd()) - before;
    assert!(
        (grew - (target - before) / before).abs() <= 1e-3,
        "grew {grew}"
    );
}

#[test]
fn recovery_end_deflates_and_the_epoch_waits_for_avoidance() {
    let mut cc = after_loss(100);
    cc.on_recovery_end(T0, 11 * MSS);
    assert_eq!(cc.cwnd(), 11 * MSS, "min(ssthresh, the sequencing's limit)");
    cc.on_ack(T0, MSS, 10 * MSS, Some(RTT_US));
    assert_eq!(cc.cwnd(), 12 * MSS, "slow start below ssthresh");
    assert_eq!(cc.k_secs(), None);
}

#[test]
fn undo_restores_the_state_before_the_event() {
    let mut cc = Cubic::with_window(MSS, 100 * MSS, u32::MAX);
    cc.on_congestion_event(0, 100 * MSS);
    cc.undo();
    assert_eq!(
        (cc.cwnd(), cc.ssthresh(), cc.w_max()),
        (100 * MSS, u32::MAX, None)
    );
    // Once the window has grown back past the event's, the current values stand.
    let mut cc = after_loss(100);
    cc.on_congestion_event(T0, 70 * MSS);
    let (cwnd, ssthresh) = (cc.cwnd(), cc.ssthresh());
    cc.undo();
    assert_eq!((cc.cwnd(), cc.ssthresh()), (70 * MSS, 70 * MSS), "undone");
    cc.on_congestion_event(T0, 70 * MSS);
    assert_eq!((cc.cwnd(), cc.ssthresh()), (cwnd, ssthresh));
    cc.cwnd = 80 * MSS;
    cc.undo();
    assert_eq!(
        cc.cwnd(),
        80 * MSS,
        "cwnd above cwnd_prior: nothing restored"
    );
}

#[test]
fn an_idle_period_does_not_count_towards_t() {
    let mut busy = after_loss(100);
    let mut idle = after_loss(100);
    for cc in [&mut busy, &mut idle] {
        cc.on_ack(T0, MSS, 70 * MSS, Some(RTT_US));
    }
    // `idle` had nothing in flight for 10 s; its next ACK covers data sent an RTT ago.
    idle.on_ack(T0 + 1_000_000, MSS, 0, Some(RTT_US));
    busy.on_ack(T0 + 1_000_000, MSS, 70 * MSS, Some(RTT_US));
    let (b, i) = (busy.cwnd(), idle.cwnd());
    assert_eq!(b, i);
    // 10 s later less the RTT: t = 1.1 s for both.
    busy.on_ack(T0 + 1_100_000, MSS, 70 * MSS, Some(RTT_US));
    idle.on_ack(T0 + 11_000_000, MSS, 70 * MSS, Some(RTT_US));
    assert!(busy.cwnd() > b);
    assert_eq!(busy.cwnd(), idle.cwnd(), "the same t after the idle time");
}

#[derive(Debug, Clone)]
enum Op {
    Ack(u64, u32, u32, Option<u64>),
    Event(u64, u32),
    End(u64, u32),
    Timeout(u64, u32),
    Undo,
    Mss(u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let now = prop_oneof![Just(0u64), Just(u64::MAX), 0u64..100_000_000, any::<u64>()];
    let bytes = prop_oneof![Just(0u32), Just(u32::MAX), 0u32..10_000_000, any::<u32>()];
    let srtt = prop_oneof![
        Just(None),
        Just(Some(0u64)),
        Just(Some(u64::MAX)),
        any::<Option<u64>>()
    ];
    prop_oneof![
        4 => (now.clone(), bytes.clone(), bytes.clone(), srtt).prop_map(|(n, a, f, s)| Op::Ack(n, a, f, s)),
        1 => (now.clone(), bytes.clone()).prop_map(|(n, f)| Op::Event(n, f)),
        1 => (now.clone(), bytes.clone()).prop_map(|(n, f)| Op::End(n, f)),
        1 => (now, bytes.clone()).prop_map(|(n, f)| Op::Timeout(n, f)),
        1 => Just(Op::Undo),
        1 => (bytes, 0u32..100).prop_map(|(m, iw)| Op::Mss(m, iw)),
    ]
}

proptest! {
    /// No input panics (zero MSS, huge flights, time going backwards, no RTT sample) or
    /// leaves a window below one byte.
    #[test]
    fn no_input_panics(mss in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
                       ops in proptest::collection::vec(op(), 0..60)) {
        for kind in CongestionAlgorithm::ALL {
            let mut cc = kind.build(mss, 10);
            for op in &ops {
                match *op {
                    Op::Ack(n, a, f, s) => cc.on_ack(n, a, f, s),
                    Op::Event(n, f) => cc.on_congestion_event(n, f),
                    Op::End(n, f) => cc.on_recovery_end(n, f),
                    Op::Timeout(n, f) => cc.on_timeout(n, f),
                    Op::Undo => cc.undo(),
                    Op::Mss(m, iw) => cc.set_mss(m, iw),
                }
                prop_assert!(cc.cwnd() >= 1 && cc.ssthresh() >= 1, "{:?}", cc);
            }
        }
    }
}

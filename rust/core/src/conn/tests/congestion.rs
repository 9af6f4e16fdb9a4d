//! The congestion control algorithms in a connection: NewReno halves on a loss, CUBIC keeps
//! 0.7 of the window (RFC 9438 4.6); RFC 6582 recovery is the same for both.

use super::*;
use crate::cc::CongestionAlgorithm;

const MSS: u32 = 1460;

fn with(alg: CongestionAlgorithm) -> Connection {
    let config = Config {
        congestion_control: alg,
        ..immediate()
    };
    established_with(config, Peer::default(), 0)
}

fn dup_ack(c: &mut Connection, now: u64, ack: u32) {
    recv(c, now, &Peer::default().ack(IRS + 1, ack));
}

#[test]
fn cubic_is_the_default() {
    assert_eq!(
        Config::default().congestion_control,
        CongestionAlgorithm::Cubic
    );
    let c = established();
    assert_eq!(c.congestion_control_name(), "cubic");
    assert_eq!(c.counters().congestion_control, "cubic");
}

#[test]
fn a_loss_keeps_seven_tenths_with_cubic_half_with_newreno() {
    for (alg, ssthresh) in [
        (CongestionAlgorithm::NewReno, 9 * MSS / 2),
        (CongestionAlgorithm::Cubic, 9 * MSS * 7 / 10),
    ] {
        let mut c = with(alg);
        assert_eq!(c.congestion_control_name(), alg.name());
        c.send(&pattern(10 * MSS as usize, 3)).unwrap();
        assert_eq!(drain(&mut c, 0).len(), 10);
        // The first segment arrives, the second is lost: three duplicate ACKs follow its
        // ACK, with 9 segments in flight.
        let una = ISS + 1 + MSS;
        for t in 0..=3 {
            dup_ack(&mut c, t, una);
        }
        assert_eq!(drain_one(&mut c, 3).reason, SendReason::FastRetransmit);
        let k = c.counters();
        assert!(k.in_recovery, "{alg:?}");
        assert_eq!((k.ssthresh, c.ssthresh()), (ssthresh, ssthresh), "{alg:?}");
        // RFC 5681 3.2 step 3 on top of the algorithm's reduced window, for both.
        assert_eq!(k.cwnd, ssthresh + 3 * MSS, "{alg:?}");
        dup_ack(&mut c, 4, una);
        assert_eq!(c.cwnd(), ssthresh + 4 * MSS, "inflation, {alg:?}");
        // The full ACK ends recovery: min(ssthresh, max(FlightSize, SMSS) + SMSS).
        dup_ack(&mut c, 5, ISS + 1 + 10 * MSS);
        assert!(!c.counters().in_recovery);
        assert_eq!(c.cwnd(), 2 * MSS, "{alg:?}");
        assert_eq!(c.ssthresh(), ssthresh, "{alg:?}");
    }
}

#[test]
fn a_timeout_sets_ssthresh_by_the_algorithm() {
    for (alg, ssthresh) in [
        (CongestionAlgorithm::NewReno, 4 * MSS / 2),
        (CongestionAlgorithm::Cubic, 4 * MSS * 7 / 10),
    ] {
        let mut c = with(alg);
        c.send(&pattern(4 * MSS as usize, 4)).unwrap();
        drain(&mut c, 0);
        let deadline = c.poll_timeout().unwrap_or(SEC);
        c.handle_timeout(deadline);
        assert_eq!(
            drain_one(&mut c, deadline).reason,
            SendReason::RetransmitTimeout
        );
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, ssthresh), "{alg:?}");
    }
}

#[test]
fn switching_on_an_open_connection_keeps_the_window() {
    let mut c = with(CongestionAlgorithm::Cubic);
    let cwnd = c.cwnd();
    c.set_congestion_control(CongestionAlgorithm::NewReno);
    assert_eq!(c.congestion_control_name(), "newreno");
    assert_eq!(c.config().congestion_control, CongestionAlgorithm::NewReno);
    assert_eq!(c.cwnd(), cwnd);
}

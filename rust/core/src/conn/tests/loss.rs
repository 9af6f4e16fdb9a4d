//! Loss recovery: fast retransmit and NewReno (RFC 5681 3.2, RFC 6582), the retransmission
//! timer with backoff and Karn's rule (RFC 6298), giving up (RFC 9293 3.8.3).

use super::*;
use crate::conn::{rules, ConnError};

const MSS: u32 = 1460;

/// Established with NewReno (the window values below are RFC 5681's; `congestion.rs` has
/// CUBIC's), then `segments` full segments sent at `now` (all fit the initial window).
fn with_flight(segments: u32, now: u64) -> (Connection, Vec<Sent>, Vec<u8>) {
    let config = Config {
        congestion_control: crate::cc::CongestionAlgorithm::NewReno,
        ..immediate()
    };
    let mut c = established_with(config, Peer::default(), 0);
    let data = pattern((segments * MSS) as usize, 5);
    assert_eq!(c.send(&data), Ok(data.len()));
    let sent = drain(&mut c, now);
    assert_eq!(sent.len(), segments as usize);
    (c, sent, data)
}

fn dup_ack(c: &mut Connection, now: u64, ack: u32) {
    recv(c, now, &Peer::default().ack(IRS + 1, ack));
}

#[test]
fn three_duplicate_acks_trigger_fast_retransmit_two_do_not() {
    let (mut c, sent, data) = with_flight(10, 0);
    let una = ISS + 1 + MSS;
    // The first segment arrives, the second is lost, the rest are answered with duplicate
    // ACKs for the second.
    dup_ack(&mut c, 10, una);
    assert!(
        drain(&mut c, 10).is_empty(),
        "all data is in flight already"
    );
    dup_ack(&mut c, 11, una);
    dup_ack(&mut c, 12, una);
    assert_eq!(c.applied_rules()[0], rules::ACK_DUPLICATE);
    assert!(
        drain(&mut c, 12).is_empty(),
        "two duplicate ACKs are not enough"
    );
    assert_eq!(c.counters().retransmits_fast, 0);
    assert_eq!(c.counters().dup_acks_received, 2);
    dup_ack(&mut c, 13, una);
    assert_eq!(c.applied_rules()[0], rules::ACK_FAST_RETRANSMIT);
    let r = drain_one(&mut c, 13);
    assert_eq!(r.reason, SendReason::FastRetransmit);
    assert_eq!(r.seq, una, "from snd_una");
    assert_eq!(r.payload, sent[1].payload);
    assert_eq!(r.payload, data[MSS as usize..2 * MSS as usize]);
    assert_eq!(c.counters().retransmits_fast, 1);
    // RFC 5681 eq. 4: ssthresh = FlightSize / 2; cwnd = ssthresh + 3 * SMSS.
    assert_eq!(c.ssthresh(), 9 * MSS / 2);
    assert_eq!(c.cwnd(), 9 * MSS / 2 + 3 * MSS);
    // More duplicates inflate the window but do not retransmit again.
    dup_ack(&mut c, 14, una);
    assert!(drain(&mut c, 14).is_empty());
    assert_eq!(c.counters().retransmits_fast, 1);
}

#[test]
fn losing_the_first_data_segment_is_fast_retransmitted_too() {
    // Duplicate ACKs for ISS+1: RFC 6582's `recover` must not bar them (see cc/recovery.rs).
    let (mut c, _, _) = with_flight(5, 0);
    for t in 1..=3 {
        dup_ack(&mut c, t, ISS + 1);
    }
    let r = drain_one(&mut c, 3);
    assert_eq!((r.reason, r.seq), (SendReason::FastRetransmit, ISS + 1));
}

#[test]
fn partial_ack_retransmits_next_and_full_ack_ends_recovery() {
    let (mut c, _, _) = with_flight(10, 0);
    let una = ISS + 1 + MSS;
    for t in 0..4 {
        dup_ack(&mut c, 10 + t, una);
    }
    assert_eq!(drain_one(&mut c, 13).reason, SendReason::FastRetransmit);
    // Segments 2 and 4 were lost: the ACK for the retransmission stops at segment 4.
    let partial = ISS + 1 + 3 * MSS;
    dup_ack(&mut c, 20, partial);
    let r = drain_one(&mut c, 20);
    assert_eq!((r.reason, r.seq), (SendReason::RecoveryRetransmit, partial));
    // The full ACK (everything sent before recovery began) ends it: cwnd deflates to
    // min(ssthresh, max(FlightSize, SMSS) + SMSS) (RFC 6582 3.2 step 4).
    let all = ISS + 1 + 10 * MSS;
    dup_ack(&mut c, 30, all);
    assert!(drain(&mut c, 30).is_empty());
    assert_eq!(c.cwnd(), 2 * MSS, "nothing left in flight: SMSS + SMSS");
    assert_eq!(c.counters().retransmits_recovery, 1);
    // Out of recovery, growth is normal again and a new loss is a new fast retransmit; a
    // connection stuck in recovery would only inflate cwnd on these duplicates.
    let more = pattern(4 * MSS as usize, 8);
    c.send(&more).unwrap();
    let mut now = 40;
    let mut acked = all;
    while c.cwnd() < 4 * MSS {
        let s = drain(&mut c, now);
        assert!(!s.is_empty());
        acked += s.iter().map(|s| s.payload.len() as u32).sum::<u32>();
        dup_ack(&mut c, now, acked);
        now += 1;
    }
    c.send(&pattern(6 * MSS as usize, 9)).unwrap();
    let flight = drain(&mut c, now);
    assert!(flight.len() >= 4);
    let hole = flight[0].seq;
    for _ in 0..3 {
        now += 1;
        dup_ack(&mut c, now, hole);
    }
    // The retransmission first; the inflated window may let new data follow it (RFC 5681
    // 3.2 step 4).
    let r = drain(&mut c, now);
    assert_eq!((r[0].reason, r[0].seq), (SendReason::FastRetransmit, hole));
    assert!(r[1..].iter().all(|s| s.reason == SendReason::Data));
    assert_eq!(c.counters().retransmits_fast, 2);
}

#[test]
fn timeout_resends_from_snd_una_with_exponential_backoff_then_gives_up() {
    let config = Config {
        max_retransmissions: 3,
        ..immediate()
    };
    let mut c = established_with(config, Peer::default(), 0);
    c.send(&pattern(3000, 1)).unwrap();
    let t0 = 5 * SEC;
    let first = drain(&mut c, t0);
    assert_eq!(first.len(), 3);
    // The first segment is acknowledged, the other two never are.
    let una = ISS + 1 + MSS;
    let t1 = t0 + 30_000;
    recv(&mut c, t1, &Peer::default().ack(IRS + 1, una));
    assert_eq!(c.rto_us(), SEC);
    // RFC 6298 5.3: the ACK of new data restarts the timer.
    let mut deadline = t1 + SEC;
    assert_eq!(c.poll_timeout(), Some(deadline));
    for (i, rto) in [2 * SEC, 4 * SEC, 8 * SEC].into_iter().enumerate() {
        c.handle_timeout(deadline - 1);
        assert!(
            drain(&mut c, deadline - 1).is_empty(),
            "not before the deadline"
        );
        c.handle_timeout(deadline);
        assert_eq!(c.applied_rules(), &[rules::TIMER_RETRANSMIT]);
        let segs = drain(&mut c, deadline);
        // Go-back-N from snd_una within cwnd, which the timeout cut to one segment.
        assert_eq!(segs.len(), 1, "expiry {i}: {segs:#?}");
        assert_eq!(segs[0].seq, una);
        assert_eq!(segs[0].payload, first[1].payload);
        assert_eq!(segs[0].reason, SendReason::RetransmitTimeout);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.rto_us(), rto, "RFC 6298 5.5: the RTO doubles");
        deadline += rto;
        assert_eq!(c.poll_timeout(), Some(deadline));
    }
    assert_eq!(c.counters().retransmits_timeout, 3);
    assert_eq!(c.counters().rto_expirations, 3);
    // The fourth expiry exceeds max_retransmissions.
    c.handle_timeout(deadline);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::TimedOut));
    assert_eq!(events(&mut c), vec![Event::Error(ConnError::TimedOut)]);
    assert!(drain(&mut c, deadline).is_empty());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.send(b"x"), Err(crate::conn::Error::BrokenPipe));
}

#[test]
fn karn_no_sample_from_a_retransmitted_segment() {
    // The SYN-ACK arrives after 100 ms: SRTT 100 ms, RTO at its 1 s floor.
    let mut c = established_with(immediate(), Peer::default(), 100_000);
    assert_eq!(c.srtt_us(), Some(100_000));
    let t0 = SEC;
    c.send(&[1; 500]).unwrap();
    drain_one(&mut c, t0);
    c.handle_timeout(t0 + SEC);
    assert_eq!(
        drain_one(&mut c, t0 + SEC).reason,
        SendReason::RetransmitTimeout
    );
    assert_eq!(c.rto_us(), 2 * SEC);
    // The ACK comes 10 ms after the retransmission. It may answer either copy, so it is no
    // measurement (1.01 s or 10 ms?): SRTT stays. New data was acknowledged, though, so the
    // path delivers again: the RTO is the estimate's again, not the backed-off 2 s.
    recv(
        &mut c,
        t0 + SEC + 10_000,
        &Peer::default().ack(IRS + 1, ISS + 501),
    );
    assert_eq!(c.tcb().snd_una.0, ISS + 501);
    assert_eq!(c.srtt_us(), Some(100_000));
    assert_eq!(c.rto_us(), SEC);
    // A segment sent once and acknowledged after 30 ms is a sample: SRTT moves (RFC 6298
    // 2.3, alpha = 1/8) and the backoff collapses to the computed RTO.
    let t1 = 3 * SEC;
    c.send(&[2; 500]).unwrap();
    drain_one(&mut c, t1);
    recv(
        &mut c,
        t1 + 30_000,
        &Peer::default().ack(IRS + 1, ISS + 1001),
    );
    assert_eq!(c.srtt_us(), Some((7 * 100_000 + 30_000) / 8));
    assert_eq!(c.rto_us(), SEC);
}

#[test]
fn data_after_a_handshake_that_timed_out_without_a_sample_starts_with_a_3_s_rto() {
    // RFC 6298 5.7 (MUST). Timestamps off, so the retransmitted SYN's answer gives no sample.
    let config = Config {
        timestamps: false,
        ..immediate()
    };
    let mut c = Connection::connect(config.clone(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain_one(&mut c, 0);
    c.handle_timeout(SEC);
    assert_eq!(drain_one(&mut c, SEC).reason, SendReason::RetransmitTimeout);
    assert_eq!(c.rto_us(), 2 * SEC, "backed off while the handshake runs");
    recv(
        &mut c,
        SEC + 5_000,
        &Peer::default().syn_ack(IRS, ISS + 1, Some(1460)),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        c.srtt_us(),
        None,
        "Karn: no sample from a retransmitted SYN"
    );
    assert_eq!(c.rto_us(), 3 * SEC);
    drain(&mut c, SEC + 5_000);
    c.send(&[1; 100]).unwrap();
    drain_one(&mut c, 2 * SEC);
    assert_eq!(c.poll_timeout(), Some(2 * SEC + 3 * SEC));
    // Without a timeout the handshake's sample rules, as before.
    let c = established_with(config, Peer::default(), 100_000);
    assert_eq!(c.rto_us(), SEC);
}

#[test]
fn fast_retransmit_is_not_timed_either() {
    let mut c = established_with(immediate(), Peer::default(), 100_000);
    let data = pattern(5 * MSS as usize, 2);
    c.send(&data).unwrap();
    drain(&mut c, SEC);
    for i in 0..3 {
        dup_ack(&mut c, SEC + 1 + i, ISS + 1);
    }
    drain_one(&mut c, SEC + 3);
    // Whatever the ACK timing, no sample comes from the retransmitted data.
    recv(
        &mut c,
        SEC + 900_000,
        &Peer::default().ack(IRS + 1, ISS + 1 + 5 * MSS),
    );
    assert_eq!(c.srtt_us(), Some(100_000));
}

#[test]
fn limited_transmit_sends_a_new_segment_on_each_of_the_first_two_duplicates() {
    // RFC 3042: fourteen segments queued; the second is lost. The window (slow start)
    // lets twelve go; each of the first two duplicate ACKs lets one more go beyond it.
    let mut c = established();
    let data = pattern(14 * MSS as usize, 8);
    c.send(&data).unwrap();
    assert_eq!(drain(&mut c, 0).len(), 10);
    let una = ISS + 1 + MSS;
    recv(&mut c, 10, &Peer::default().ack(IRS + 1, una));
    assert_eq!(drain(&mut c, 10).len(), 2, "slow start: one ACK, two more");
    for (k, now) in [(12u32, 11), (13, 12)] {
        dup_ack(&mut c, now, una);
        let s: Vec<(u32, SendReason)> = drain(&mut c, now)
            .iter()
            .map(|s| (s.seq, s.reason))
            .collect();
        assert_eq!(s, [(ISS + 1 + k * MSS, SendReason::Data)]);
    }
    dup_ack(&mut c, 13, una);
    let r = drain(&mut c, 13);
    assert_eq!((r[0].seq, r[0].reason), (una, SendReason::FastRetransmit));
}

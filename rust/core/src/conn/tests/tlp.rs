//! Tail-loss probes (RFC 8985 7): a lost tail is repaired by a probe two round trips after
//! the last ACK, not by the retransmission timer.

use super::*;
use crate::conn::rules;
use crate::conn::tlp::{TLP_DELAYED_ACK_US, TLP_MIN_PTO_US};

const MSS: u32 = 1460;

/// Established at 20 ms (the SYN-ACK's round trip: SRTT 20 ms), SACK agreed, TLP on.
fn established_tlp() -> Connection {
    let mut c = Connection::connect(
        Config {
            timestamps: false,
            delayed_ack_us: 0,
            nodelay: true,
            ..Config::default()
        },
        LOCAL,
        REMOTE,
        SeqNum(ISS),
        0,
    )
    .unwrap();
    drain_one(&mut c, 0);
    let mut synack = Peer::default().syn_ack(IRS, ISS + 1, Some(1460));
    synack.options.sack_permitted = true;
    recv(&mut c, 20_000, &synack);
    drain(&mut c, 20_000);
    assert_eq!(c.srtt_us(), Some(20_000));
    c
}

#[test]
fn a_lost_last_segment_is_probed_before_the_retransmission_timer() {
    let mut c = established_tlp();
    c.send(&pattern(4 * MSS as usize, 1)).unwrap();
    assert_eq!(drain(&mut c, 30_000).len(), 4);
    // Three arrive; the last is lost.
    recv(
        &mut c,
        50_000,
        &Peer::default().ack(IRS + 1, ISS + 1 + 3 * MSS),
    );
    // One segment out: PTO = 2 SRTT plus the peer's worst delayed ACK (RFC 8985 7.2).
    let pto = (2 * 20_000u64).max(TLP_MIN_PTO_US) + TLP_DELAYED_ACK_US;
    let srtt = c.srtt_us().unwrap();
    let due = c.poll_timeout().unwrap();
    assert!(due < 50_000 + c.rto_us(), "before the RTO");
    assert_eq!(
        due,
        50_000 + (2 * srtt).max(TLP_MIN_PTO_US) + TLP_DELAYED_ACK_US
    );
    assert!(pto > 0);
    c.handle_timeout(due);
    assert_eq!(c.applied_rules(), [rules::TIMER_TLP]);
    let probe = drain_one(&mut c, due);
    assert_eq!(
        (probe.seq, probe.payload.len(), probe.reason),
        (ISS + 1 + 3 * MSS, MSS as usize, SendReason::TailLossProbe)
    );
    // One probe per flight: nothing more until an ACK.
    assert!(c.poll_timeout().is_some_and(|t| t >= due + c.rto_us()));
    recv(
        &mut c,
        due + 20_000,
        &Peer::default().ack(IRS + 1, ISS + 1 + 4 * MSS),
    );
    let k = c.counters();
    assert_eq!((k.tail_loss_probes, k.rto_expirations), (1, 0));
    assert!(c.all_acked());
}

#[test]
fn the_probe_is_new_data_when_there_is_some() {
    let mut c = established_tlp();
    // Fifteen segments queued, ten fit the initial window; no ACK comes.
    c.send(&pattern(15 * MSS as usize, 2)).unwrap();
    assert_eq!(drain(&mut c, 30_000).len(), 10);
    let due = c.poll_timeout().unwrap();
    assert_eq!(due, 30_000 + 40_000, "2 SRTT after the last new data");
    c.handle_timeout(due);
    let probe = drain_one(&mut c, due);
    assert_eq!(
        (probe.seq, probe.reason),
        (ISS + 1 + 10 * MSS, SendReason::Data),
        "new data, beyond cwnd (RFC 8985 7.3)"
    );
    assert_eq!(c.counters().tail_loss_probes, 1);
}

#[test]
fn no_probe_without_a_round_trip_sample_or_when_turned_off() {
    let mut c = Connection::connect(Config::default(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain_one(&mut c, 0);
    c.handle_timeout(SEC);
    drain(&mut c, SEC);
    let mut synack = Peer::default().syn_ack(IRS, ISS + 1, Some(1460));
    synack.options.sack_permitted = true;
    recv(&mut c, SEC + 20_000, &synack);
    drain(&mut c, SEC + 20_000);
    assert_eq!(
        c.srtt_us(),
        None,
        "Karn: the retransmitted SYN gave no sample"
    );
    c.send(&[1; 100]).unwrap();
    drain(&mut c, 2 * SEC);
    assert_eq!(
        c.poll_timeout(),
        Some(2 * SEC + 3 * SEC),
        "only the (3 s) RTO"
    );
    let mut c = established_tlp();
    c.set_tail_loss_probe(false);
    c.send(&[1; 100]).unwrap();
    drain(&mut c, 30_000);
    assert_eq!(c.poll_timeout(), Some(30_000 + c.rto_us()));
}

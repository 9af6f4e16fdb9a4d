//! SACK both ways: the blocks our ACKs carry (RFC 2018 4) and D-SACK (RFC 2883), one answer
//! per arriving segment within a batch (RFC 5681 4.2), and duplicate acknowledgments as RFC
//! 6675 2 defines them for a SACK sender.

use super::*;
use crate::conn::rules;

const MSS: u32 = 1460;
/// RCV.NXT once established.
const NXT: u32 = IRS + 1;

/// Established with SACK agreed (the peer's SYN-ACK offers it), timestamps on both sides or
/// on neither.
fn established_sack(timestamps: bool) -> Connection {
    let config = Config {
        timestamps,
        ..immediate()
    };
    let mut c = Connection::connect(config, LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain_one(&mut c, 0);
    let mut synack = Peer::default().syn_ack(IRS, ISS + 1, Some(1460));
    synack.options.sack_permitted = true;
    if timestamps {
        synack.options.timestamps = Some((1, 1));
    }
    recv(&mut c, 0, &synack);
    assert!(c.tcb().sack_ok);
    drain(&mut c, 0);
    c
}

/// `len` bytes of text from the peer at `seq` (with a timestamp when the connection uses
/// them), and our one answer.
fn arrive(c: &mut Connection, seq: u32, len: usize) -> Sent {
    let data = pattern(len, seq as u8);
    let mut seg = Peer::default().data(seq, ISS + 1, &data);
    if c.tcb().ts_ok {
        seg.options.timestamps = Some((2, 0));
    }
    recv(c, 10, &seg);
    drain_one(c, 10)
}

#[test]
fn sack_blocks_name_the_held_ranges_the_newest_first() {
    let mut c = established_sack(false);
    let n = NXT;
    let a = arrive(&mut c, n + 100, 100);
    assert_eq!((a.ack, a.reason), (n, SendReason::DupAck));
    assert_eq!(a.sack, [(n + 100, n + 200)]);
    let a = arrive(&mut c, n + 300, 100);
    assert_eq!(a.sack, [(n + 300, n + 400), (n + 100, n + 200)]);
    let a = arrive(&mut c, n + 500, 100);
    assert_eq!(
        a.sack,
        [(n + 500, n + 600), (n + 300, n + 400), (n + 100, n + 200)]
    );
    // A segment joining two blocks: the joined block comes first (RFC 2018 4).
    let a = arrive(&mut c, n + 200, 100);
    assert_eq!(a.sack, [(n + 100, n + 400), (n + 500, n + 600)]);
    // The hole at RCV.NXT filled: what is still held is still reported.
    let a = arrive(&mut c, n, 100);
    assert_eq!(a.ack, n + 400);
    assert_eq!(a.sack, [(n + 500, n + 600)]);
    // Nothing held any more: no option.
    let a = arrive(&mut c, n + 400, 100);
    assert_eq!(a.ack, n + 600);
    assert!(a.sack.is_empty());
    assert_eq!(c.counters().sack_blocks_sent, 1 + 2 + 3 + 2 + 1);
}

#[test]
fn the_option_space_bounds_the_blocks_three_beside_timestamps() {
    for (timestamps, room) in [(false, 4), (true, 3)] {
        let mut c = established_sack(timestamps);
        let mut last = None;
        for k in 1..=5u32 {
            last = Some(arrive(&mut c, NXT + 200 * k, 100));
        }
        let a = last.unwrap();
        assert_eq!(a.sack.len(), room, "timestamps {timestamps}");
        assert_eq!(a.sack[0], (NXT + 1000, NXT + 1100), "the newest first");
    }
}

#[test]
fn no_blocks_unless_both_sides_agreed_to_sack() {
    let mut c = established();
    assert!(!c.tcb().sack_ok);
    let a = arrive(&mut c, NXT + 100, 100);
    assert_eq!(a.reason, SendReason::DupAck);
    assert!(a.sack.is_empty());
}

#[test]
fn a_duplicate_of_delivered_text_is_reported_by_a_dsack_block() {
    let mut c = established_sack(false);
    arrive(&mut c, NXT, 100);
    // The same segment again (a needless retransmission): RFC 2883 4.1.1.
    let a = arrive(&mut c, NXT, 100);
    assert_eq!(a.ack, NXT + 100);
    assert_eq!(a.sack, [(NXT, NXT + 100)]);
    // Reported once: the next ACK has no D-SACK.
    let a = arrive(&mut c, NXT + 100, 100);
    assert!(a.sack.is_empty());
    // A segment straddling RCV.NXT reports only the part we had.
    let a = arrive(&mut c, NXT + 150, 100);
    assert_eq!(a.ack, NXT + 250);
    assert_eq!(a.sack, [(NXT + 150, NXT + 200)]);
}

#[test]
fn a_duplicate_of_held_text_is_reported_before_its_block() {
    let mut c = established_sack(false);
    let n = NXT;
    arrive(&mut c, n + 100, 100);
    arrive(&mut c, n + 300, 100);
    // RFC 2883 4.1.2: the D-SACK block, then the held block it lies in, then the rest.
    let a = arrive(&mut c, n + 100, 100);
    assert_eq!(a.ack, n);
    assert_eq!(
        a.sack,
        [(n + 100, n + 200), (n + 100, n + 200), (n + 300, n + 400)]
    );
}

#[test]
fn a_batch_of_in_order_segments_is_acknowledged_every_second_segment() {
    // Delayed ACKs on (the default): handed over in one batch, ten full segments draw five
    // ACKs, as they would one by one (RFC 9293 3.8.6.3, RFC 5681 4.2), not one.
    let config = Config {
        timestamps: false,
        ..Config::default()
    };
    let mut c = established_with(config, Peer::default(), 0);
    let data = pattern(10 * MSS as usize, 1);
    for k in 0..10u32 {
        let chunk = &data[(k * MSS) as usize..((k + 1) * MSS) as usize];
        recv(
            &mut c,
            10,
            &Peer::default().data(NXT + k * MSS, ISS + 1, chunk),
        );
    }
    let acks: Vec<u32> = drain(&mut c, 10).iter().map(|s| s.ack).collect();
    let want: Vec<u32> = (1..=5).map(|k| NXT + 2 * k * MSS).collect();
    assert_eq!(acks, want);
    // Nine: the last one waits for the delayed-ACK timer, or for a tenth.
    for k in 0..9u32 {
        let chunk = &data[(k * MSS) as usize..((k + 1) * MSS) as usize];
        recv(
            &mut c,
            20,
            &Peer::default().data(NXT + (10 + k) * MSS, ISS + 1, chunk),
        );
    }
    assert_eq!(drain(&mut c, 20).len(), 4);
    assert!(
        c.poll_timeout().is_some(),
        "the ninth segment's ACK is delayed"
    );
}

#[test]
fn data_carries_the_blocks_and_shrinks_to_make_room_for_them() {
    let mut c = established_sack(false);
    arrive(&mut c, NXT + 100, 100);
    let payload = pattern(MSS as usize, 7);
    c.send(&payload).unwrap();
    let sent = drain(&mut c, 20);
    // RFC 6691 2: the 12-byte SACK option (NOP, NOP, one block) comes off the payload.
    assert_eq!(sent[0].payload.len(), MSS as usize - 12);
    assert_eq!(sent[0].sack, [(NXT + 100, NXT + 200)]);
    let total: usize = sent.iter().map(|s| s.payload.len()).sum();
    assert_eq!(total, MSS as usize, "nothing lost to the shrinking");
}

/// Ten full segments in flight on a SACK connection.
fn sack_flight() -> Connection {
    let mut c = established_sack(false);
    let data = pattern(10 * MSS as usize, 3);
    c.send(&data).unwrap();
    assert_eq!(drain(&mut c, 0).len(), 10);
    c
}

/// The peer's ACK of `ack` with window `window` and SACK blocks.
fn sack_ack(c: &mut Connection, now: u64, ack: u32, window: u16, blocks: &[(u32, u32)]) {
    let mut seg = Peer { window }.ack(NXT, ack);
    for &(l, r) in blocks {
        seg.options.sack.push(SeqNum(l), SeqNum(r));
    }
    recv(c, now, &seg);
}

#[test]
fn with_sack_a_duplicate_ack_is_one_that_brings_sack_news() {
    let mut c = sack_flight();
    let una = ISS + 1 + MSS;
    let seg = |k: u32| (ISS + 1 + k * MSS, ISS + 1 + (k + 1) * MSS);
    sack_ack(&mut c, 10, una, 65535, &[]);
    // The window grows as the peer's application reads (as Linux's does): RFC 5681's test
    // would refuse all of these; RFC 6675's counts each one that SACKs something new.
    sack_ack(&mut c, 11, una, 60000, &[seg(2)]);
    assert_eq!(c.applied_rules()[0], rules::ACK_DUPLICATE);
    sack_ack(&mut c, 12, una, 61000, &[(seg(2).0, seg(3).1)]);
    assert_eq!(c.applied_rules()[0], rules::ACK_DUPLICATE);
    // The same blocks again bring nothing: no duplicate.
    sack_ack(&mut c, 13, una, 62000, &[(seg(2).0, seg(3).1)]);
    assert_eq!(c.applied_rules()[0], rules::ACK_UNCHANGED);
    assert!(drain(&mut c, 13).is_empty());
    sack_ack(&mut c, 14, una, 63000, &[(seg(2).0, seg(4).1)]);
    assert_eq!(c.applied_rules()[0], rules::ACK_FAST_RETRANSMIT);
    let r = drain_one(&mut c, 14);
    assert_eq!((r.seq, r.reason), (una, SendReason::FastRetransmit));
    let k = c.counters();
    assert_eq!((k.sack_blocks_received, k.dup_acks_received), (4, 3));
}

#[test]
fn sack_blocks_reporting_duplicates_or_the_impossible_count_for_nothing() {
    let mut c = sack_flight();
    let una = ISS + 1 + MSS;
    sack_ack(&mut c, 10, una, 65535, &[]);
    // A D-SACK below SND.UNA, then a block past what we sent.
    sack_ack(&mut c, 11, una, 65535, &[(ISS + 1, una)]);
    sack_ack(&mut c, 12, una, 65535, &[(una + MSS, ISS + 1 + 20 * MSS)]);
    let k = c.counters();
    assert_eq!((k.dsacks_received, k.sack_blocks_invalid), (1, 1));
    assert_eq!(k.dup_acks_received, 0);
}

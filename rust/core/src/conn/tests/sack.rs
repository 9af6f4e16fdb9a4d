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

#[test]
fn rfc_6675_recovery_repairs_several_holes_in_one_window() {
    // Ten segments; the second, fifth and eighth are lost. Every ACK after the first SACKs
    // more of what arrived. NewReno would resend one hole per partial ACK; with SACK each
    // hole goes as soon as the scoreboard shows it lost and the pipe leaves room.
    let mut c = sack_flight();
    let seg = |k: u32| ISS + 1 + k * MSS;
    let una = seg(1);
    sack_ack(&mut c, 10, una, 65535, &[]);
    sack_ack(&mut c, 11, una, 65535, &[(seg(2), seg(3))]);
    sack_ack(&mut c, 12, una, 65535, &[(seg(2), seg(4))]);
    assert!(drain(&mut c, 12).is_empty());
    sack_ack(
        &mut c,
        13,
        una,
        65535,
        &[(seg(5), seg(6)), (seg(2), seg(4))],
    );
    let r = drain(&mut c, 13);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].seq, r[0].reason), (una, SendReason::FastRetransmit));
    // RFC 6675 5 step 4.2: no inflation by 3 segments with SACK.
    assert_eq!(c.cwnd(), c.ssthresh());
    sack_ack(
        &mut c,
        14,
        una,
        65535,
        &[(seg(5), seg(7)), (seg(2), seg(4))],
    );
    // Now more than 2 segments are SACKed above the fifth: it is lost (IsLost), and it goes
    // at once, no partial ACK needed; the holes not known lost (the eighth, the tenth)
    // follow by NextSeg's rule 3 while the pipe leaves room.
    sack_ack(
        &mut c,
        15,
        una,
        65535,
        &[(seg(8), seg(9)), (seg(5), seg(7)), (seg(2), seg(4))],
    );
    let r = drain(&mut c, 15);
    let seqs: Vec<(u32, SendReason)> = r.iter().map(|s| (s.seq, s.reason)).collect();
    assert_eq!(
        seqs[0],
        (seg(4), SendReason::RecoveryRetransmit),
        "{seqs:?}"
    );
    for s in &r {
        assert_eq!(s.payload.len(), MSS as usize);
        for (l, h) in [(seg(2), seg(4)), (seg(5), seg(7)), (seg(8), seg(9))] {
            assert!(
                s.seq + MSS <= l || s.seq >= h,
                "a SACKed byte resent: {s:?}"
            );
        }
    }
    // The pipe never exceeds the window after what was sent.
    assert!(
        c.pipe() <= c.cwnd() + MSS,
        "pipe {} cwnd {}",
        c.pipe(),
        c.cwnd()
    );
    // The holes filled: the full ACK ends recovery.
    sack_ack(&mut c, 20, seg(10), 65535, &[]);
    assert!(!c.cc.in_recovery());
    assert_eq!(c.counters().rto_expirations, 0);
}

/// Fast recovery entered by three ACKs SACKing the segments above the second (late or
/// lost, as the test goes on); `ts` adds options to each ACK. The window just before.
fn spurious_fast_retransmit(c: &mut Connection, ts: impl Fn(&mut TcpRepr<'_>)) -> u32 {
    let mss = c.tcb().snd_mss;
    let seg = |k: u32| ISS + 1 + k * mss;
    let una = seg(1);
    let ack = |c: &mut Connection, now: u64, blocks: &[(u32, u32)]| {
        let mut s = Peer::default().ack(NXT, una);
        for &(l, r) in blocks {
            s.options.sack.push(SeqNum(l), SeqNum(r));
        }
        ts(&mut s);
        recv(c, now, &s);
    };
    ack(c, 30_000, &[]);
    let before = c.cwnd();
    ack(c, 31_000, &[(seg(2), seg(3))]);
    ack(c, 32_000, &[(seg(2), seg(4))]);
    ack(c, 33_000, &[(seg(2), seg(5))]);
    let r = drain(c, 33_000);
    assert_eq!((r[0].seq, r[0].reason), (una, SendReason::FastRetransmit));
    assert!(c.cwnd() < before, "the window was reduced");
    before
}

#[test]
fn a_retransmission_reported_back_by_dsack_undoes_the_reduction() {
    let mut c = sack_flight();
    let before = spurious_fast_retransmit(&mut c, |_| {});
    // The late original arrives, then our retransmission: the receiver reports the latter
    // as a duplicate (RFC 2883), so the loss never happened (RFC 3708).
    let seg = |k: u32| ISS + 1 + k * MSS;
    sack_ack(&mut c, 40_000, seg(5), 65535, &[]);
    assert_eq!(c.counters().spurious_undone, 0);
    sack_ack(&mut c, 41_000, seg(5), 65535, &[(seg(1), seg(2))]);
    let k = c.counters();
    assert_eq!((k.dsacks_received, k.spurious_undone), (1, 1));
    assert!(c.cwnd() >= before, "cwnd {} restored to {before}", c.cwnd());
}

#[test]
fn an_ack_echoing_the_original_timestamp_undoes_the_reduction() {
    // RFC 3522: with timestamps, the first ACK of new data after the retransmission tells
    // which copy it answers.
    let mut c = established_sack(true);
    let data = pattern(10 * MSS as usize, 3);
    c.send(&data).unwrap();
    let sent = drain(&mut c, 5_000);
    let original = sent[1].timestamps.unwrap().0;
    let echo = |s: &mut TcpRepr<'_>| s.options.timestamps = Some((3, original));
    let before = spurious_fast_retransmit(&mut c, echo);
    let mut full = Peer::default().ack(NXT, ISS + 1 + 10 * MSS);
    full.options.timestamps = Some((4, original));
    recv(&mut c, 40_000, &full);
    assert_eq!(c.counters().spurious_undone, 1);
    assert!(c.cwnd() >= before.min(c.ssthresh()));
    // An echo of the retransmission itself undoes nothing.
    let mut c = established_sack(true);
    c.send(&data).unwrap();
    drain(&mut c, 5_000);
    spurious_fast_retransmit(&mut c, echo);
    let rxt = c
        .log()
        .entries()
        .filter_map(|e| match e.kind {
            LogKind::Sent {
                seg,
                reason: SendReason::FastRetransmit,
            } => Some(seg),
            _ => None,
        })
        .count();
    assert_eq!(rxt, 1);
    let mut full = Peer::default().ack(NXT, ISS + 1 + 10 * MSS);
    full.options.timestamps = Some((4, 33));
    recv(&mut c, 40_000, &full);
    assert_eq!(c.counters().spurious_undone, 0);
}

#[test]
fn rack_finds_a_lost_retransmission_without_waiting_for_the_timer() {
    // RFC 8985: the fast retransmission of the second segment is lost too. No duplicate
    // ACK can say so; RACK does, once data sent after it is delivered a round trip later.
    let mut c = sack_flight();
    let seg = |k: u32| ISS + 1 + k * MSS;
    let una = seg(1);
    lost_second_segment(&mut c);
    // Everything but the second is SACKed: the pipe holds only the retransmission, and
    // new data goes.
    sack_ack(&mut c, 34_000, una, 65535, &[(seg(2), seg(10))]);
    c.send(&pattern(4 * MSS as usize, 9)).unwrap();
    let new: Vec<(u32, SendReason)> = drain(&mut c, 35_000)
        .iter()
        .map(|s| (s.seq, s.reason))
        .collect();
    assert!(!new.is_empty(), "new data goes");
    assert!(new.iter().all(|s| s.1 == SendReason::Data), "{new:?}");
    assert_eq!(new[0].0, seg(10));
    // The new data arrives; the retransmission never does.
    sack_ack(
        &mut c,
        62_000,
        una,
        65535,
        &[(seg(10), seg(11)), (seg(2), seg(10))],
    );
    let again: Vec<(u32, SendReason)> = drain(&mut c, 62_000)
        .iter()
        .map(|s| (s.seq, s.reason))
        .collect();
    assert_eq!(
        again.first(),
        Some(&(una, SendReason::RecoveryRetransmit)),
        "{again:?}"
    );
    let k = c.counters();
    assert_eq!(k.rto_expirations, 0);
    assert!(k.rack_lost_bytes >= u64::from(MSS));
}

/// Ten segments in flight, the second really lost: fast retransmit of it. The window
/// before recovery.
fn lost_second_segment(c: &mut Connection) -> u32 {
    spurious_fast_retransmit(c, |_| {})
}

#[test]
fn a_dsack_of_a_segment_never_retransmitted_undoes_nothing() {
    // RFC 3708: the network duplicated the fourth segment, which we never resent; its
    // D-SACK (inside the second block, RFC 2883 4.1.2) says nothing of our retransmission.
    let mut c = sack_flight();
    lost_second_segment(&mut c);
    let seg = |k: u32| ISS + 1 + k * MSS;
    sack_ack(
        &mut c,
        34_000,
        seg(1),
        65535,
        &[(seg(3), seg(4)), (seg(2), seg(5))],
    );
    let k = c.counters();
    assert_eq!((k.dsacks_received, k.spurious_undone), (1, 0));
}

#[test]
fn an_old_ack_overtaken_by_a_newer_one_is_no_dsack() {
    // Its block lies below our SND.UNA but above its own acknowledgement: news when it was
    // sent, no duplicate (RFC 2883 4 compares with the ACK's own field).
    let mut c = sack_flight();
    lost_second_segment(&mut c);
    let seg = |k: u32| ISS + 1 + k * MSS;
    sack_ack(&mut c, 40_000, seg(5), 65535, &[]);
    sack_ack(&mut c, 40_100, seg(1), 65535, &[(seg(2), seg(5))]);
    let k = c.counters();
    assert_eq!((k.dsacks_received, k.spurious_undone), (0, 0));
}

#[test]
fn a_fast_retransmission_of_a_short_segment_stops_at_sacked_data() {
    // Ten writes of 100 bytes, each its own segment (Nagle off); the first is lost. The
    // retransmission is 100 bytes, not an MSS running over what the receiver holds.
    let mut c = established_sack(false);
    for k in 0..10u32 {
        c.send(&pattern(100, k as u8)).unwrap();
        assert_eq!(drain(&mut c, 0).len(), 1);
    }
    let s = |k: u32| ISS + 1 + 100 * k;
    sack_ack(&mut c, 10, s(0), 65535, &[(s(1), s(2))]);
    sack_ack(&mut c, 11, s(0), 65535, &[(s(1), s(3))]);
    sack_ack(&mut c, 12, s(0), 65535, &[(s(1), s(4))]);
    let r = drain(&mut c, 12);
    assert_eq!(r[0].reason, SendReason::FastRetransmit);
    assert_eq!(r[0].payload.len(), 100);
}

#[test]
fn with_sack_a_loss_right_after_a_recovery_starts_another() {
    // RFC 6675 5: recovery may begin again once HighACK reached the last recovery point;
    // the segment right after it is lost, and its duplicates name recover + 1. (NewReno's
    // test, "covers more than recover", would leave it to the timer.)
    let mut c = sack_flight();
    let seg = |k: u32| ISS + 1 + k * MSS;
    lost_second_segment(&mut c);
    // In recovery, with all but the second SACKed, five new segments go.
    c.send(&pattern(5 * MSS as usize, 4)).unwrap();
    sack_ack(&mut c, 34_000, seg(1), 65535, &[(seg(2), seg(10))]);
    let sent: Vec<u32> = drain(&mut c, 34_000).iter().map(|s| s.seq).collect();
    assert_eq!(sent, (10..15).map(seg).collect::<Vec<_>>());
    // The retransmission arrives: the ACK covers the recovery point; the eleventh (the
    // first segment after it) is lost.
    sack_ack(&mut c, 40_000, seg(10), 65535, &[(seg(11), seg(12))]);
    assert!(!c.cc.in_recovery());
    sack_ack(&mut c, 41_000, seg(10), 65535, &[(seg(11), seg(13))]);
    sack_ack(&mut c, 42_000, seg(10), 65535, &[(seg(11), seg(14))]);
    sack_ack(&mut c, 43_000, seg(10), 65535, &[(seg(11), seg(15))]);
    let r: Vec<(u32, SendReason)> = drain(&mut c, 43_000)
        .iter()
        .map(|s| (s.seq, s.reason))
        .collect();
    assert_eq!(
        r.first(),
        Some(&(seg(10), SendReason::FastRetransmit)),
        "{r:?}"
    );
}

//! Data transfer: ordering, reassembly, sequence wrap, the zero window (RFC 9293 3.8.6,
//! 3.10.7.4 seventh; RFC 5681 4.2).

use super::*;
use crate::conn::rules;

#[test]
fn out_of_order_data_is_held_dup_acked_and_released_in_order() {
    let mut c = established();
    let peer = Peer::default();
    let nxt = IRS + 1;
    let (d1, d2, d3) = (pattern(100, 1), pattern(100, 2), pattern(100, 3));
    // Second piece first: held, and answered at once with an ACK naming the hole.
    recv(&mut c, 10, &peer.data(nxt + 100, ISS + 1, &d2));
    assert_eq!(c.reassembly_len(), 100);
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.tcb().rcv_nxt.0, nxt);
    assert_eq!(c.applied_rules().last(), Some(&rules::DATA_OUT_OF_ORDER));
    let dup = drain_one(&mut c, 10);
    assert_eq!((dup.flags, dup.seq, dup.ack), (TcpFlags::ACK, ISS + 1, nxt));
    assert_eq!(dup.reason, SendReason::DupAck);
    assert!(events(&mut c).is_empty(), "nothing readable yet");
    // Third piece: still a hole at `nxt`.
    recv(&mut c, 20, &peer.data(nxt + 200, ISS + 1, &d3));
    assert_eq!(c.reassembly_len(), 200);
    let dup = drain_one(&mut c, 20);
    assert_eq!((dup.ack, dup.reason), (nxt, SendReason::DupAck));
    let counters = c.counters();
    assert_eq!(counters.out_of_order_segments, 2);
    assert_eq!(counters.dup_acks_sent, 2);
    // The first piece fills the hole: all 300 bytes, in order, one cumulative ACK.
    recv(&mut c, 30, &peer.data(nxt, ISS + 1, &d1));
    assert_eq!(c.reassembly_len(), 0);
    assert_eq!(c.tcb().rcv_nxt.0, nxt + 300);
    assert_eq!(events(&mut c), vec![Event::Readable]);
    let ack = drain_one(&mut c, 30);
    assert_eq!((ack.ack, ack.reason), (nxt + 300, SendReason::Ack));
    let mut got = Vec::new();
    c.recv_to_vec(1000, &mut got);
    assert_eq!(got, [d1, d2, d3].concat());
}

#[test]
fn overlapping_and_duplicate_segments_deliver_each_byte_once() {
    let mut c = established();
    let peer = Peer::default();
    let nxt = IRS + 1;
    let data = pattern(300, 9);
    recv(&mut c, 1, &peer.data(nxt, ISS + 1, &data[..150]));
    // A retransmission overlapping what we have and extending it.
    recv(&mut c, 2, &peer.data(nxt + 100, ISS + 1, &data[100..300]));
    // A pure duplicate: acknowledged again (it is unacceptable, RFC 9293 3.10.7.4 first).
    recv(&mut c, 3, &peer.data(nxt, ISS + 1, &data[..150]));
    assert_eq!(c.applied_rules()[0], rules::SEG_UNACCEPTABLE);
    let acks = drain(&mut c, 3);
    assert!(acks.iter().all(|a| a.payload.is_empty()));
    assert_eq!(acks.last().map(|a| a.ack), Some(nxt + 300));
    let mut got = Vec::new();
    c.recv_to_vec(1000, &mut got);
    assert_eq!(got, data);
    assert_eq!(c.counters().duplicate_segments, 1);
}

#[test]
fn fin_beyond_a_gap_waits_for_the_gap() {
    let mut c = established();
    let peer = Peer::default();
    let nxt = IRS + 1;
    // The last 100 bytes and the FIN arrive before the first 100.
    let tail = peer.seg(TcpFlags::ACK | TcpFlags::FIN, nxt + 100, ISS + 1, &[2; 100]);
    recv(&mut c, 1, &tail);
    assert_eq!(c.state(), State::Established, "FIN not yet in sequence");
    assert!(!c.fin_received());
    assert_eq!(drain_one(&mut c, 1).ack, nxt);
    recv(&mut c, 2, &peer.data(nxt, ISS + 1, &[1; 100]));
    assert_eq!(c.state(), State::CloseWait);
    assert!(c.fin_received());
    assert_eq!(c.tcb().rcv_nxt.0, nxt + 201, "200 bytes and the FIN");
    assert_eq!(drain_one(&mut c, 2).ack, nxt + 201);
    assert_eq!(events(&mut c), vec![Event::Readable, Event::PeerClosed]);
    let mut got = Vec::new();
    c.recv_to_vec(1000, &mut got);
    assert_eq!(got, [[1u8; 100], [2u8; 100]].concat());
    assert!(c.at_eof());
}

#[test]
fn bare_fin_beyond_a_gap_is_dup_acked_and_applied_later() {
    let mut c = established();
    let peer = Peer::default();
    let nxt = IRS + 1;
    recv(&mut c, 1, &peer.fin(nxt + 50, ISS + 1));
    assert_eq!(c.state(), State::Established);
    let dup = drain_one(&mut c, 1);
    assert_eq!((dup.ack, dup.reason), (nxt, SendReason::DupAck));
    assert_eq!(c.counters().out_of_order_segments, 1);
    recv(&mut c, 2, &peer.data(nxt, ISS + 1, &[7; 50]));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(drain_one(&mut c, 2).ack, nxt + 51);
}

#[test]
fn ack_for_unsent_data_is_not_taken_and_elicits_an_ack() {
    let mut c = established();
    let peer = Peer::default();
    c.send(&[5; 100]).unwrap();
    let d = drain_one(&mut c, 1);
    assert_eq!(d.seq, ISS + 1);
    // The peer acknowledges 500 bytes we never sent (RFC 9293 3.10.7.4 fifth, RFC 5961 5.2).
    recv(&mut c, 2, &peer.ack(IRS + 1, ISS + 1 + 500));
    assert_eq!(c.tcb().snd_una.0, ISS + 1, "nothing acknowledged");
    assert_eq!(c.send_queue_len(), 100);
    assert_eq!(c.applied_rules()[0], rules::ACK_UNSENT);
    let reply = drain_one(&mut c, 2);
    assert_eq!(reply.flags, TcpFlags::ACK);
    assert_eq!((reply.seq, reply.ack), (ISS + 101, IRS + 1));
    assert_eq!(reply.reason, SendReason::ChallengeAck);
    // Data riding on such a segment is dropped too.
    recv(&mut c, 3, &peer.data(IRS + 1, ISS + 1 + 500, b"xyz"));
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.tcb().rcv_nxt.0, IRS + 1);
    // The right ACK is taken.
    recv(&mut c, 4, &peer.ack(IRS + 1, ISS + 101));
    assert_eq!(c.tcb().snd_una.0, ISS + 101);
    assert_eq!(c.send_queue_len(), 0);
}

#[test]
fn stale_pure_ack_is_taken_silently() {
    let mut c = established();
    let peer = Peer::default();
    c.send(&[5; 300]).unwrap();
    drain(&mut c, 1);
    // The peer sent a pure ACK for 100 bytes, then 200 bytes of data acknowledging all
    // 300; the data overtook the ACK on the way.
    let nxt = IRS + 1;
    recv(&mut c, 2, &peer.data(nxt, ISS + 301, &[1; 200]));
    drain(&mut c, 2);
    recv(&mut c, 3, &peer.ack(nxt, ISS + 101));
    assert_eq!(c.applied_rules()[0], rules::SEG_STALE_ACK);
    assert!(
        drain(&mut c, 3).is_empty(),
        "an answer would be a duplicate ACK at the peer"
    );
    // The keep-alive shape (SEG.SEQ = RCV.NXT - 1, RFC 9293 3.8.4) is still answered.
    recv(&mut c, 4, &peer.ack(nxt + 199, ISS + 301));
    let a = drain_one(&mut c, 4);
    assert_eq!((a.seq, a.ack), (ISS + 301, nxt + 200));
    // A stale ACK that still carries news is taken.
    c.send(&[6; 10]).unwrap();
    drain(&mut c, 5);
    recv(&mut c, 6, &peer.ack(nxt + 100, ISS + 311));
    assert_eq!(c.tcb().snd_una.0, ISS + 311);
    assert!(drain(&mut c, 6).is_empty());
}

/// A pair carrying `len` bytes each way; both close once their data is queued. Returns
/// what each side received.
fn transfer_both_ways(p: &mut Pair, len: usize) -> (Vec<u8>, Vec<u8>) {
    let (to_b, to_a) = (pattern(len, 0x11), pattern(len, 0x77));
    let (mut a_off, mut b_off) = (0, 0);
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        if a_off < to_b.len() {
            a_off += p.a.send(&to_b[a_off..]).unwrap_or(0);
            if a_off == to_b.len() {
                p.a.close(p.now).unwrap();
            }
        }
        if p.b.state() != State::Listen && b_off < to_a.len() {
            b_off += p.b.send(&to_a[b_off..]).unwrap_or(0);
            if b_off == to_a.len() {
                p.b.close(p.now).unwrap();
            }
        }
        let moved = p.exchange();
        p.a.recv_to_vec(usize::MAX, &mut a_got);
        p.b.recv_to_vec(usize::MAX, &mut b_got);
        if moved == 0 && !p.fire_next_timer() {
            break;
        }
    }
    assert_eq!(b_got.len(), len);
    assert!(b_got == to_b, "a->b bytes differ");
    assert_eq!(a_got.len(), len);
    assert!(a_got == to_a, "b->a bytes differ");
    (a_got, b_got)
}

#[test]
fn transfer_across_the_sequence_wrap() {
    // Both ISNs just below 2^32: 100 KB each way crosses the wrap on both sides.
    let a_iss = u32::MAX - 1000;
    let b_iss = u32::MAX - 20_000;
    let mut p = Pair::new(immediate(), a_iss, immediate(), b_iss);
    transfer_both_ways(&mut p, 100 * 1024);
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.b.state(), State::Closed);
    // Data bytes plus SYN and FIN, modulo 2^32.
    let span = 100 * 1024 + 2;
    assert_eq!(p.a.tcb().snd_una.0, a_iss.wrapping_add(span));
    assert_eq!(p.b.tcb().snd_una.0, b_iss.wrapping_add(span));
    assert!(p.a.tcb().snd_una.0 < a_iss, "the sequence space wrapped");
    assert_eq!(p.a.counters().retransmits_timeout, 0);
    assert_eq!(p.a.counters().retransmits_fast, 0);
}

#[test]
fn zero_window_is_probed_and_transfer_resumes_when_the_app_reads() {
    let small = Config {
        recv_buffer: 4096,
        ..immediate()
    };
    let mut p = Pair::new(immediate(), 10, small, 20_000);
    p.exchange();
    let data = pattern(20_000, 3);
    assert_eq!(p.a.send(&data), Ok(20_000));
    // b's application does not read: its buffer fills and its window closes. Two full
    // segments (1448 bytes: the MSS less the timestamps option both negotiated) go; the
    // last 1200 bytes are less than an MSS and than half of b's 4096-byte window: sender
    // SWS avoidance holds them until its override timeout (RFC 9293 3.8.6.2.1).
    p.exchange();
    assert_eq!(p.b.recv_queue_len(), 2 * 1448);
    assert!(p.fire_next_timer());
    p.exchange();
    assert_eq!(p.b.recv_queue_len(), 4096);
    assert_eq!(p.b.tcb().rcv_wnd, 0);
    assert_eq!(p.a.tcb().snd_wnd, 0);
    assert_eq!(p.a.tcb().snd_una.0, 11 + 4096, "everything sent was taken");
    // Probing goes on at growing intervals, beyond max_retransmissions, while b answers
    // (RFC 9293 3.8.6.1, MUST-37).
    let mut last_gap = 0;
    let rounds = p.a.config().max_retransmissions as usize + 5;
    for round in 0..rounds {
        let before = p.now;
        let t = p.a.poll_timeout().expect("persist timer armed");
        p.now = t;
        p.a.handle_timeout(t);
        let probe = drain_one(&mut p.a, t);
        assert_eq!(probe.reason, SendReason::Probe, "round {round}");
        assert_eq!(probe.seq, 11 + 4096, "the probe is the next byte");
        assert_eq!(probe.payload.len(), 1);
        deliver(&mut p.b, t, LOCAL, &probe);
        let answer = drain_one(&mut p.b, t);
        assert_eq!(
            (answer.ack, answer.window),
            (11 + 4096, 0),
            "refused, window still 0"
        );
        deliver(&mut p.a, t, REMOTE, &answer);
        assert!(drain(&mut p.a, t).is_empty());
        let gap = t - before;
        assert!(gap >= last_gap, "probe intervals never shrink");
        last_gap = gap;
    }
    assert!(last_gap > SEC, "the interval backed off");
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.a.counters().window_probes, rounds as u64);
    assert_eq!(
        p.a.counters().retransmits_fast,
        0,
        "probe answers are not dup ACKs"
    );
    assert_eq!(
        p.a.ssthresh(),
        u32::MAX,
        "and no congestion response either"
    );
    // The application reads: b announces the open window and the data flows again.
    let mut got = Vec::new();
    while got.len() < data.len() {
        p.b.recv_to_vec(usize::MAX, &mut got);
        if p.exchange() == 0 && got.len() < data.len() && p.b.recv_queue_len() == 0 {
            assert!(p.fire_next_timer(), "stalled at {} bytes", got.len());
        }
    }
    assert!(got == data);
    assert_eq!(p.a.counters().retransmits_timeout, 0);
    assert_eq!(p.b.counters().out_of_order_segments, 0, "no hole was left");
}

#[test]
fn persist_timer_gives_up_on_a_silent_peer() {
    let config = Config {
        max_retransmissions: 3,
        ..immediate()
    };
    let mut c = established_with(config, Peer { window: 100 }, 0);
    c.send(&[1; 500]).unwrap();
    assert_eq!(drain_one(&mut c, 0).payload.len(), 100);
    recv(&mut c, 10, &Peer { window: 0 }.ack(IRS + 1, ISS + 101));
    assert!(drain(&mut c, 10).is_empty());
    // Nobody answers the probes.
    for _ in 0..3 {
        let t = c.poll_timeout().unwrap();
        c.handle_timeout(t);
        assert_eq!(drain_one(&mut c, t).reason, SendReason::Probe);
    }
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        vec![Event::Error(crate::conn::ConnError::TimedOut)]
    );
}

#[test]
fn window_closing_on_data_in_flight_turns_the_timer_into_probes() {
    let mut c = established_with(immediate(), Peer { window: 3000 }, 0);
    c.send(&[1; 3000]).unwrap();
    assert_eq!(drain(&mut c, 0).len(), 3);
    // Only the first segment is taken, and the window closes behind it: the rest was
    // refused, not lost.
    recv(&mut c, 10, &Peer { window: 0 }.ack(IRS + 1, ISS + 1461));
    for i in 0..20 {
        let t = c.poll_timeout().unwrap();
        c.handle_timeout(t);
        let s = drain_one(&mut c, t);
        assert_eq!(s.reason, SendReason::Probe, "expiry {i}");
        assert_eq!((s.seq, s.payload.len()), (ISS + 1461, 1));
        recv(&mut c, t, &Peer { window: 0 }.ack(IRS + 1, ISS + 1461));
    }
    assert_eq!(
        c.state(),
        State::Established,
        "the peer answers, so we wait"
    );
    // The window opens; the rest goes out from the first unacknowledged byte.
    let now = c.poll_timeout().unwrap();
    recv(&mut c, now, &Peer::default().ack(IRS + 1, ISS + 1461));
    let segs = drain(&mut c, now);
    assert_eq!(segs[0].seq, ISS + 1461);
    assert_eq!(segs.iter().map(|s| s.payload.len()).sum::<usize>(), 1540);
}

#[test]
fn both_windows_closed_no_ack_storm_and_both_resume() {
    let small = || Config {
        recv_buffer: 3000,
        ..immediate()
    };
    let mut p = Pair::new(small(), 10, small(), 50_000);
    p.exchange();
    let (to_b, to_a) = (pattern(12_000, 1), pattern(12_000, 2));
    assert_eq!(p.a.send(&to_b), Ok(12_000));
    assert_eq!(p.b.send(&to_a), Ok(12_000));
    // Neither application reads: both windows close, and both sides probe. Every exchange
    // must come to rest (a loop of ACKs answering unacceptable ACKs would not). The last
    // 80 bytes of each window wait for SWS avoidance's override timeout.
    p.exchange();
    assert!(p.fire_next_timer());
    p.exchange();
    assert_eq!((p.a.tcb().rcv_wnd, p.b.tcb().rcv_wnd), (0, 0));
    for _ in 0..30 {
        assert!(p.fire_next_timer());
        let moved = p.exchange();
        assert!(moved <= 8, "{moved} segments for one round of probes");
    }
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    // Both read; everything arrives, byte-exact.
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        p.a.recv_to_vec(usize::MAX, &mut a_got);
        p.b.recv_to_vec(usize::MAX, &mut b_got);
        if a_got.len() == to_a.len() && b_got.len() == to_b.len() {
            break;
        }
        if p.exchange() == 0 && p.a.recv_queue_len() == 0 && p.b.recv_queue_len() == 0 {
            assert!(p.fire_next_timer());
        }
    }
    assert!(
        a_got == to_a && b_got == to_b,
        "{} {}",
        a_got.len(),
        b_got.len()
    );
}

#[test]
fn ack_field_is_taken_from_data_refused_by_a_zero_window() {
    let config = Config {
        recv_buffer: 1000,
        ..immediate()
    };
    let mut c = established_with(config, Peer::default(), 0);
    let peer = Peer::default();
    c.send(&[9; 300]).unwrap();
    drain(&mut c, 1);
    // The peer fills our window; our application does not read.
    recv(&mut c, 2, &peer.data(IRS + 1, ISS + 1, &[1; 1000]));
    assert_eq!(drain_one(&mut c, 2).window, 0);
    // Its next segment is refused for want of window, but it acknowledges our 300 bytes:
    // RFC 9293 3.10.7.4 asks for "special allowance ... to accept valid ACKs".
    recv(&mut c, 3, &peer.data(IRS + 1001, ISS + 301, &[2; 10]));
    assert_eq!(c.tcb().snd_una.0, ISS + 301);
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(c.recv_queue_len(), 1000, "the text itself is not taken");
    let a = drain_one(&mut c, 3);
    assert_eq!((a.ack, a.window), (IRS + 1001, 0));
}

#[test]
fn window_is_not_taken_from_an_old_acknowledgement() {
    let mut c = established();
    let peer = Peer::default();
    c.send(&[1; 200]).unwrap();
    drain(&mut c, 1);
    recv(&mut c, 2, &peer.ack(IRS + 1, ISS + 201));
    assert_eq!(c.tcb().snd_wnd, 65535);
    // A later sequence number (data beyond a gap) but an acknowledgement below SND.UNA:
    // RFC 9293 3.10.7.4 only updates the window when SND.UNA =< SEG.ACK.
    let small = Peer { window: 10 };
    recv(&mut c, 3, &small.data(IRS + 51, ISS + 101, &[5; 20]));
    assert_eq!(c.reassembly_len(), 20, "the data is taken");
    assert_eq!(c.tcb().snd_wnd, 65535, "the window is not");
    assert_eq!(c.tcb().snd_una.0, ISS + 201);
}

#[test]
fn pure_ack_against_a_closed_window_is_numbered_snd_una() {
    let mut c = established_with(immediate(), Peer { window: 100 }, 0);
    let peer = Peer { window: 0 };
    c.send(&[1; 500]).unwrap();
    drain(&mut c, 0);
    recv(&mut c, 1, &peer.ack(IRS + 1, ISS + 101));
    drain(&mut c, 1);
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    let probe = drain_one(&mut c, t);
    assert_eq!((probe.reason, probe.seq), (SendReason::Probe, ISS + 101));
    // The peer, window still shut, sends us data. Our ACK must be acceptable to it: with
    // RCV.WND = 0 only SEG.SEQ = RCV.NXT is (RFC 9293 table 6), and its RCV.NXT is our
    // SND.UNA, not the end of the refused probe.
    recv(&mut c, t + 1, &peer.data(IRS + 1, ISS + 101, b"hi"));
    let ack = drain_one(&mut c, t + 1);
    assert_eq!((ack.seq, ack.ack), (ISS + 101, IRS + 3));
    assert!(ack.payload.is_empty());
}

#[test]
fn new_ack_on_a_segment_numbered_just_below_rcv_nxt_is_taken_and_answered() {
    // How two peers probing each other's closed windows deadlocked: each took the other's
    // probe byte while its own answer was lost, so each numbered its next segments one below
    // the other's RCV.NXT, and each refused the other's ACKs (table 6) until both timed out.
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 1, &peer.data(IRS + 1, ISS + 1, &[1; 10]));
    drain(&mut c, 1);
    c.send(&[2; 100]).unwrap();
    drain(&mut c, 2);
    // SEG.SEQ = RCV.NXT - 1 (the keep-alive shape), acknowledging our 100 bytes.
    recv(&mut c, 3, &peer.ack(IRS + 10, ISS + 101));
    assert_eq!(c.tcb().snd_una.0, ISS + 101, "the acknowledgement is taken");
    assert_eq!(c.send_queue_len(), 0);
    let a = drain_one(&mut c, 3);
    assert_eq!(
        (a.seq, a.ack),
        (ISS + 101, IRS + 11),
        "and the segment answered"
    );
    // An ACK that is not news, or numbered far outside the window, is not taken.
    c.send(&[3; 50]).unwrap();
    drain(&mut c, 4);
    recv(&mut c, 5, &peer.ack(IRS + 1 + 200_000, ISS + 151));
    assert_eq!(c.tcb().snd_una.0, ISS + 101);
}

#[test]
fn out_of_order_segments_in_one_batch_each_get_a_duplicate_ack() {
    // A transport hands segments over in batches and polls once after each batch: the
    // sender must still see one duplicate ACK per out-of-order segment (RFC 5681 4.2).
    let mut c = established();
    let peer = Peer::default();
    let nxt = IRS + 1;
    for k in 1..=4u32 {
        recv(
            &mut c,
            10,
            &peer.data(nxt + 100 * k, ISS + 1, &pattern(100, k as u8)),
        );
    }
    let sent = drain(&mut c, 10);
    assert_eq!(sent.len(), 4, "{sent:?}");
    for s in &sent {
        assert_eq!(
            (s.flags, s.seq, s.ack, s.reason),
            (TcpFlags::ACK, ISS + 1, nxt, SendReason::DupAck)
        );
        assert!(s.payload.is_empty());
    }
    assert_eq!(c.counters().dup_acks_sent, 4);
    // Two more out of order, then the hole filled, all in one batch: answered as if they
    // had come one by one, two duplicate ACKs and then the cumulative one.
    recv(&mut c, 20, &peer.data(nxt + 500, ISS + 1, &pattern(100, 5)));
    recv(&mut c, 20, &peer.data(nxt + 600, ISS + 1, &pattern(100, 6)));
    recv(&mut c, 20, &peer.data(nxt, ISS + 1, &pattern(100, 0)));
    let sent = drain(&mut c, 20);
    let answers: Vec<_> = sent.iter().map(|s| (s.ack, s.reason)).collect();
    assert_eq!(
        answers,
        [
            (nxt, SendReason::DupAck),
            (nxt, SendReason::DupAck),
            (nxt + 700, SendReason::Ack)
        ]
    );
}

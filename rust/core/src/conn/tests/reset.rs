//! Resets: in SYN-SENT (RFC 9293 3.10.7.3), in synchronized states with RFC 5961 3.2's
//! exact-match rule, and the RST that answers a segment for no connection (3.10.7.1).

use super::*;
use crate::conn::{rst_reply, rules, ConnError};

fn syn_sent() -> Connection {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain(&mut c, 0);
    c
}

#[test]
fn rst_with_acceptable_ack_in_syn_sent_is_refused() {
    let mut c = syn_sent();
    recv(
        &mut c,
        5,
        &Peer::default().seg(TcpFlags::RST | TcpFlags::ACK, 0, ISS + 1, &[]),
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::Refused));
    assert_eq!(events(&mut c), vec![Event::Error(ConnError::Refused)]);
    assert_eq!(c.applied_rules()[0], rules::SYN_SENT_RECV_RST);
    assert!(drain(&mut c, 5).is_empty(), "never answer a RST");
    assert_eq!(c.poll_timeout(), None, "the SYN timer is stopped");
}

#[test]
fn rst_in_syn_sent_without_acceptable_ack_is_ignored() {
    let mut c = syn_sent();
    // No ACK at all: cannot be tied to our SYN.
    recv(&mut c, 1, &Peer::default().rst(0));
    assert_eq!(c.state(), State::SynSent);
    // An ACK that does not acknowledge our SYN.
    recv(
        &mut c,
        2,
        &Peer::default().seg(TcpFlags::RST | TcpFlags::ACK, 0, ISS + 9, &[]),
    );
    assert_eq!(c.state(), State::SynSent);
    assert!(drain(&mut c, 2).is_empty());
    assert!(events(&mut c).is_empty());
}

#[test]
fn rst_with_exact_sequence_number_resets_established() {
    let mut c = established();
    c.send(b"pending").unwrap();
    recv(
        &mut c,
        1,
        &Peer::default().data(IRS + 1, ISS + 1, b"unread"),
    );
    drain(&mut c, 1);
    recv(&mut c, 2, &Peer::default().rst(IRS + 7));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::Reset));
    assert_eq!(c.applied_rules()[0], rules::SEG_RST_RESET);
    let ev = events(&mut c);
    assert_eq!(ev.last(), Some(&Event::Error(ConnError::Reset)));
    assert!(drain(&mut c, 2).is_empty());
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.counters().resets_received, 1);
}

#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack() {
    let mut c = established();
    recv(&mut c, 1, &Peer::default().rst(IRS + 1 + 10));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.applied_rules()[0], rules::SEG_RST_CHALLENGE);
    let ch = drain_one(&mut c, 1);
    assert_eq!(ch.flags, TcpFlags::ACK);
    assert_eq!((ch.seq, ch.ack), (ISS + 1, IRS + 1));
    assert_eq!(ch.reason, SendReason::ChallengeAck);
    assert_eq!(c.counters().challenge_acks_sent, 1);
    // Outside the window: silently dropped (RFC 5961 3.2, 1).
    recv(&mut c, 2, &Peer::default().rst(IRS + 1 + 70_000));
    assert_eq!(c.state(), State::Established);
    assert!(drain(&mut c, 2).is_empty());
    assert!(events(&mut c).is_empty());
}

#[test]
fn syn_on_established_connection_gets_a_challenge_ack() {
    let mut c = established();
    recv(&mut c, 1, &Peer::default().syn(IRS + 100, None));
    assert_eq!(c.state(), State::Established);
    let ch = drain_one(&mut c, 1);
    assert_eq!((ch.reason, ch.ack), (SendReason::ChallengeAck, IRS + 1));
}

#[test]
fn blind_rst_with_a_random_in_window_sequence_number_gets_a_challenge_ack() {
    // RFC 5961 3.2: an attacker who guesses a sequence number in the window but not
    // RCV.NXT itself must not reset the connection; it gets a challenge ACK naming RCV.NXT
    // (seq = SND.NXT), which a real peer would answer with an exact RST. Many seeds, each a
    // fresh connection and a random offset in (0, RCV.WND).
    for seed in 0..200u64 {
        let mut c = established();
        let wnd = c.rcv_wnd();
        let mut rng = crate::rng::Rng::new(seed);
        let offset = 1 + rng.below(u64::from(wnd) - 1) as u32;
        recv(&mut c, 1, &Peer::default().rst(IRS + 1 + offset));
        assert_eq!(
            c.state(),
            State::Established,
            "seed {seed}, offset {offset}"
        );
        assert_eq!(c.applied_rules(), [rules::SEG_RST_CHALLENGE], "seed {seed}");
        let ch = drain_one(&mut c, 1);
        assert_eq!(ch.reason, SendReason::ChallengeAck, "seed {seed}");
        assert_eq!(
            (ch.flags, ch.seq, ch.ack),
            (TcpFlags::ACK, ISS + 1, IRS + 1)
        );
    }
}

#[test]
fn challenge_acks_are_rate_limited_per_second() {
    // RFC 5961 7: a blind flood of in-window RSTs, SYNs and bad ACKs (here 30 in one
    // instant, a random in-window sequence number each) gets at most the limit of challenge
    // ACKs per second; the connection survives it all.
    let mut c = established();
    let limit = immediate().challenge_ack_limit;
    let mut rng = crate::rng::Rng::new(7);
    for i in 0..30u32 {
        let seg = match i % 3 {
            0 => Peer::default().rst(IRS + 2 + rng.below(60_000) as u32),
            1 => Peer::default().syn(IRS + 2 + rng.below(60_000) as u32, None),
            _ => Peer::default().ack(IRS + 1, ISS + 1_000_000),
        };
        recv(&mut c, 5, &seg);
    }
    assert_eq!(c.state(), State::Established);
    let sent = drain(&mut c, 5);
    assert!(sent.iter().all(|s| s.reason == SendReason::ChallengeAck));
    let counters = c.counters();
    assert_eq!(counters.challenge_acks_suppressed, 30 - u64::from(limit));
    // Challenges owed within one poll share one ACK; none is owed beyond the limit.
    assert!(!sent.is_empty() && sent.len() <= limit as usize);
    // A second later the limit starts over.
    recv(&mut c, 5 + SEC, &Peer::default().rst(IRS + 50));
    assert_eq!(drain_one(&mut c, 5 + SEC).reason, SendReason::ChallengeAck);
    // And a limit of 0 turns it off.
    let mut free = established_with(
        Config {
            challenge_ack_limit: 0,
            ..immediate()
        },
        Peer::default(),
        0,
    );
    for i in 0..30 {
        recv(&mut free, 1, &Peer::default().rst(IRS + 2 + i));
        assert_eq!(drain_one(&mut free, 1).reason, SendReason::ChallengeAck);
    }
}

#[test]
fn closed_connection_answers_segments_with_rst() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(1)).unwrap();
    c.close(0).unwrap();
    assert_eq!(c.state(), State::Closed);
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    recv(&mut c, 1, &Peer::default().ack(777, 4242));
    let rst = drain_one(&mut c, 1);
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, 4242);
    assert_eq!(rst.reason, SendReason::Rst);
    // Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counted.
    let seg = Peer::default().seg(TcpFlags::SYN | TcpFlags::FIN, 777, 0, b"abc");
    recv(&mut c, 2, &seg);
    let rst = drain_one(&mut c, 2);
    assert_eq!(rst.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((rst.seq, rst.ack), (0, 777 + 3 + 2));
    // A RST is never answered.
    recv(&mut c, 3, &Peer::default().rst(5));
    assert!(drain(&mut c, 3).is_empty());
    assert_eq!(c.counters().resets_sent, 2);
}

#[test]
fn rst_reply_numbers_and_ports() {
    let peer = Peer::default();
    let with_ack = peer.ack(100, 200);
    let r = rst_reply(&with_ack).unwrap();
    assert_eq!((r.src_port, r.dst_port), (LOCAL.port(), REMOTE.port()));
    assert_eq!((r.seq.0, r.flags), (200, TcpFlags::RST));
    assert!(r.payload.is_empty());
    let data_no_ack = peer.seg(TcpFlags::PSH, u32::MAX - 1, 0, b"0123");
    let r = rst_reply(&data_no_ack).unwrap();
    assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(r.seq.0, 0);
    assert_eq!(r.ack.0, 2, "SEG.SEQ + SEG.LEN, modulo 2^32");
    assert_eq!(r.window, 0);
    assert!(rst_reply(&peer.rst(9)).is_none());
    assert!(rst_reply(&peer.seg(TcpFlags::RST | TcpFlags::ACK, 9, 9, &[])).is_none());
}

#[test]
fn abort_sends_rst_and_closes() {
    let mut c = established();
    c.send(&[1; 100]).unwrap();
    drain(&mut c, 1);
    c.abort(2);
    assert_eq!(c.state(), State::Closed);
    let rst = drain_one(&mut c, 2);
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, ISS + 101, "SND.NXT (RFC 9293 3.10.5)");
    assert_eq!(events(&mut c), vec![Event::Closed]);
}

#[test]
fn rst_in_syn_received_from_listen_returns_to_listen() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().syn(300, None));
    drain(&mut c, 0);
    recv(&mut c, 1, &Peer::default().rst(301));
    assert_eq!(c.state(), State::Listen);
    assert_eq!(c.applied_rules()[0], rules::SYN_RECEIVED_RECV_RST);
    // It takes a new SYN.
    recv(&mut c, 2, &Peer::default().syn(9000, None));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(drain_one(&mut c, 2).ack, 9001);
}

#[test]
fn syn_in_syn_received_from_listen_returns_to_listen() {
    // RFC 9293 3.10.7.4, fourth check, SYN-RECEIVED of a passive OPEN: a SYN in the window
    // (not the peer's first SYN again) sends the connection back to LISTEN, silently.
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().syn(300, None));
    drain(&mut c, 0);
    recv(&mut c, 1, &Peer::default().syn(305, None));
    assert_eq!(c.state(), State::Listen);
    assert_eq!(c.applied_rules(), [rules::SYN_RECEIVED_RECV_SYN]);
    assert!(
        drain(&mut c, 1).is_empty(),
        "the SYN is dropped, nothing answered"
    );
    assert_eq!(
        c.poll_timeout(),
        None,
        "the SYN-ACK timer is gone with the TCB"
    );
    // The peer's next SYN finds the listener, answered from the same ISS.
    recv(&mut c, 2, &Peer::default().syn(9000, None));
    assert_eq!(c.state(), State::SynReceived);
    let synack = drain_one(&mut c, 2);
    assert_eq!((synack.seq, synack.ack), (7000, 9001));
}

#[test]
fn syn_again_in_syn_received_is_answered_not_a_reset() {
    // The peer's own SYN repeated (our SYN-ACK lost) keeps the connection: SYN-ACK again.
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().syn(300, None));
    drain(&mut c, 0);
    recv(&mut c, 1, &Peer::default().syn(300, None));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.applied_rules(), [rules::SYN_RECEIVED_RECV_SYN_DUP]);
    assert_eq!(drain_one(&mut c, 1).ack, 301);
}

#[test]
fn syn_in_syn_received_of_a_simultaneous_open_gets_a_challenge_ack() {
    // Not opened from LISTEN: "handle per the directions for synchronized states"
    // (RFC 9293 3.10.7.4, fourth), i.e. RFC 5961 4.2's challenge ACK.
    let mut c = syn_sent();
    recv(&mut c, 1, &Peer::default().syn(300, None));
    assert_eq!(c.state(), State::SynReceived);
    drain(&mut c, 1);
    recv(&mut c, 2, &Peer::default().syn(305, None));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.applied_rules(), [rules::SEG_SYN_CHALLENGE]);
    let ch = drain_one(&mut c, 2);
    assert_eq!((ch.flags, ch.ack), (TcpFlags::ACK, 301));
}

#[test]
fn answers_to_unacceptable_bare_acks_are_throttled() {
    let mut c = established();
    let peer = Peer::default();
    // A bare ACK far beyond our window, again and again (RFC 5961 7).
    let far = peer.ack(IRS + 1 + 200_000, ISS + 1);
    let mut answers = 0;
    for i in 0..10 {
        recv(&mut c, 100 + i, &far);
        answers += drain(&mut c, 100 + i).len();
    }
    assert_eq!(answers, 1, "one answer per interval");
    let interval = c.config().oow_ack_interval_us;
    recv(&mut c, 100 + interval - 1, &far);
    assert!(drain(&mut c, 100 + interval - 1).is_empty());
    recv(&mut c, 100 + interval, &far);
    assert_eq!(drain_one(&mut c, 100 + interval).ack, IRS + 1);
    // Unacceptable text is always answered: the peer needs our RCV.NXT.
    for i in 1..=3 {
        recv(
            &mut c,
            100 + interval + i,
            &peer.data(IRS + 1 + 200_000, ISS + 1, b"x"),
        );
        assert_eq!(drain_one(&mut c, 100 + interval + i).ack, IRS + 1);
    }
}

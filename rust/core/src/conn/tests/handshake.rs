//! Opening: active, passive, back to back, data on the third ACK, duplicate SYNs and
//! simultaneous open (RFC 9293 3.5).

use super::*;
use crate::conn::rules;
use std::net::Ipv6Addr;

#[test]
fn active_open_sends_syn_and_synack_establishes() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    assert_eq!(c.state(), State::SynSent);
    let syn = drain_one(&mut c, 0);
    assert_eq!(syn.flags, TcpFlags::SYN, "a bare SYN, no ACK");
    assert_eq!(syn.seq, ISS);
    assert_eq!(syn.mss, Some(1460));
    assert!(syn.payload.is_empty());
    assert_eq!(syn.reason, SendReason::Syn);
    assert_eq!(syn.dst, REMOTE);
    // Nothing more until something arrives: the SYN is not repeated on the next poll.
    assert!(drain(&mut c, 0).is_empty());
    assert_eq!(
        c.poll_timeout(),
        Some(SEC),
        "SYN retransmission timer at the initial RTO"
    );

    let peer = Peer { window: 8000 };
    recv(&mut c, 50_000, &peer.syn_ack(IRS, ISS + 1, Some(1000)));
    assert_eq!(c.state(), State::Established);
    assert_eq!(events(&mut c), vec![Event::Connected]);
    assert_eq!(c.applied_rules()[0], rules::SYN_SENT_RECV_SYNACK);
    let t = *c.tcb();
    assert_eq!((t.iss.0, t.irs.0), (ISS, IRS));
    assert_eq!((t.snd_una.0, t.snd_nxt.0), (ISS + 1, ISS + 1));
    assert_eq!(t.rcv_nxt.0, IRS + 1);
    assert_eq!(t.snd_wnd, 8000);
    assert_eq!(t.snd_mss, 1000, "the smaller of our MSS and the peer's");
    assert_eq!(c.srtt_us(), Some(50_000), "the SYN was timed");
    assert_eq!(c.poll_timeout(), None, "nothing outstanding");

    let ack = drain_one(&mut c, 50_000);
    assert_eq!(ack.flags, TcpFlags::ACK);
    assert_eq!((ack.seq, ack.ack), (ISS + 1, IRS + 1));
    assert!(ack.payload.is_empty());
    assert_eq!(ack.reason, SendReason::Ack);
    assert!(drain(&mut c, 50_000).is_empty());
}

#[test]
fn synack_without_mss_option_uses_the_default_mss() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain(&mut c, 0);
    recv(&mut c, 10, &Peer::default().syn_ack(IRS, ISS + 1, None));
    assert_eq!(c.tcb().snd_mss, 536, "RFC 9293 3.7.1: 536 for IPv4");
}

#[test]
fn ipv6_connections_announce_and_use_an_mss_20_bytes_smaller() {
    // The same 1500-byte MTU: 1460 over IPv4, 1440 over IPv6 (RFC 9293 3.7.1, RFC 8200).
    let v6 = |last: u16, port| {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
            port,
        )
    };
    let mut c = Connection::connect(immediate(), v6(1, 1000), v6(2, 2000), SeqNum(ISS), 0).unwrap();
    let syn = drain_one(&mut c, 0);
    assert_eq!(syn.mss, Some(1440));
    recv(
        &mut c,
        10,
        &Peer::default().syn_ack(IRS, ISS + 1, Some(1460)),
    );
    assert_eq!(
        c.tcb().snd_mss,
        1440,
        "never more than our own MSS over IPv6"
    );
}

#[test]
fn a_tiny_peer_mss_is_raised_to_the_floor() {
    // A peer announcing MSS 0 or 1 would have us send one-byte segments (the resource
    // exhaustion of CVE-2019-11479): we never go below our own least MSS.
    for peer_mss in [0, 1, 63] {
        let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
        drain(&mut c, 0);
        recv(
            &mut c,
            10,
            &Peer::default().syn_ack(IRS, ISS + 1, Some(peer_mss)),
        );
        assert_eq!(c.tcb().snd_mss, crate::conn::MIN_MSS, "peer MSS {peer_mss}");
    }
}

#[test]
fn passive_open_answers_syn_and_ack_establishes() {
    let iss = 7000;
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(iss)).unwrap();
    assert_eq!(c.state(), State::Listen);
    assert!(drain(&mut c, 0).is_empty());
    let peer = Peer::default();
    recv(&mut c, 0, &peer.syn(300, Some(1200)));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.remote(), Some(REMOTE));
    let synack = drain_one(&mut c, 0);
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((synack.seq, synack.ack), (iss, 301));
    assert_eq!(synack.mss, Some(1460));
    assert_eq!(synack.reason, SendReason::SynAck);
    assert_eq!(synack.dst, REMOTE);

    recv(&mut c, 20_000, &peer.ack(301, iss + 1));
    assert_eq!(c.state(), State::Established);
    assert_eq!(events(&mut c), vec![Event::Connected]);
    let t = *c.tcb();
    assert_eq!((t.snd_una.0, t.rcv_nxt.0, t.irs.0), (iss + 1, 301, 300));
    assert_eq!(t.snd_mss, 1200);
    assert!(
        drain(&mut c, 20_000).is_empty(),
        "the final ACK is not answered"
    );
}

#[test]
fn listen_resets_an_ack_and_ignores_a_rst() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().rst(55));
    assert!(drain(&mut c, 0).is_empty());
    recv(&mut c, 0, &Peer::default().ack(300, 4242));
    let rst = drain_one(&mut c, 0);
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, 4242, "RFC 9293 3.10.7.2: <SEQ=SEG.ACK><CTL=RST>");
    assert_eq!(rst.dst, REMOTE);
    assert_eq!(c.state(), State::Listen);
}

#[test]
fn back_to_back_handshake_numbers() {
    let (a_iss, b_iss) = (111, 999_999);
    let mut p = Pair::new(immediate(), a_iss, immediate(), b_iss);
    p.exchange();
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    let segs: Vec<_> = p
        .trace
        .iter()
        .map(|(who, s)| (*who, s.flags, s.seq, s.ack))
        .collect();
    assert_eq!(
        segs,
        vec![
            ('a', TcpFlags::SYN, a_iss, 0),
            ('b', TcpFlags::SYN | TcpFlags::ACK, b_iss, a_iss + 1),
            ('a', TcpFlags::ACK, a_iss + 1, b_iss + 1),
        ]
    );
    let (a, b) = (*p.a.tcb(), *p.b.tcb());
    assert_eq!((a.irs, b.irs), (b.iss, a.iss));
    assert_eq!(a.rcv_nxt, b.iss + 1);
    assert_eq!(b.rcv_nxt, a.iss + 1);
    assert_eq!(a.snd_una, a.iss + 1);
    assert_eq!(b.snd_una, b.iss + 1);
}

#[test]
fn third_ack_carries_data_sent_in_syn_sent() {
    let mut p = Pair::new(immediate(), 40, immediate(), 90_000);
    assert_eq!(p.a.send(b"hello"), Ok(5));
    let syn = drain_one(&mut p.a, 0);
    assert!(syn.payload.is_empty(), "no data on our SYN");
    deliver(&mut p.b, 0, LOCAL, &syn);
    let synack = drain_one(&mut p.b, 0);
    deliver(&mut p.a, 0, REMOTE, &synack);
    assert_eq!(p.a.state(), State::Established);
    // One segment completes the handshake and carries the data.
    let third = drain_one(&mut p.a, 0);
    assert_eq!(third.flags, TcpFlags::ACK | TcpFlags::PSH);
    assert_eq!((third.seq, third.ack), (41, 90_001));
    assert_eq!(third.payload, b"hello");
    assert_eq!(third.reason, SendReason::Data);
    deliver(&mut p.b, 0, LOCAL, &third);
    assert_eq!(p.b.state(), State::Established);
    assert_eq!(events(&mut p.b), vec![Event::Connected, Event::Readable]);
    let mut got = Vec::new();
    p.b.recv_to_vec(100, &mut got);
    assert_eq!(got, b"hello");
    let ack = drain_one(&mut p.b, 0);
    assert_eq!(ack.ack, 46);
}

#[test]
fn repeated_syn_in_syn_received_is_answered_again() {
    let iss = 7000;
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(iss)).unwrap();
    let peer = Peer::default();
    recv(&mut c, 0, &peer.syn(300, None));
    let first = drain_one(&mut c, 0);
    // Our SYN-ACK was lost; the peer's SYN timer fires and the same SYN comes again.
    recv(&mut c, SEC / 2, &peer.syn(300, None));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.applied_rules()[0], rules::SYN_RECEIVED_RECV_SYN_DUP);
    let again = drain_one(&mut c, SEC / 2);
    assert_eq!(
        (again.flags, again.seq, again.ack),
        (first.flags, first.seq, first.ack)
    );
    assert!(drain(&mut c, SEC / 2).is_empty(), "one answer per SYN");
    // A SYN with another sequence number is not a repeat. Outside the window it fails the
    // acceptance test and is answered with an ACK; the connection stays (within the window
    // it would go back to LISTEN: reset.rs).
    recv(&mut c, SEC / 2, &peer.syn(301 + 100_000, None));
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.applied_rules()[0], rules::SEG_UNACCEPTABLE);
    let answer = drain_one(&mut c, SEC / 2);
    assert_eq!((answer.flags, answer.ack), (TcpFlags::ACK, 301));
    recv(&mut c, SEC / 2 + 1, &peer.ack(301, iss + 1));
    assert_eq!(c.state(), State::Established);
}

#[test]
fn synack_is_retransmitted_on_timeout_and_handshake_gives_up() {
    let config = Config {
        max_syn_retransmissions: 2,
        ..immediate()
    };
    let mut c = Connection::listen(config, LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().syn(300, None));
    drain_one(&mut c, 0);
    let mut now = 0;
    for (i, rto) in [SEC, 2 * SEC].into_iter().enumerate() {
        now += rto;
        assert_eq!(c.poll_timeout(), Some(now), "retransmission {i}");
        c.handle_timeout(now);
        let again = drain_one(&mut c, now);
        assert_eq!(again.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(again.seq, 7000);
        assert_eq!(again.reason, SendReason::RetransmitTimeout);
    }
    now += 4 * SEC;
    assert_eq!(c.poll_timeout(), Some(now));
    c.handle_timeout(now);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        vec![Event::Error(crate::conn::ConnError::TimedOut)]
    );
}

#[test]
fn simultaneous_open_goes_through_syn_received() {
    let (a_iss, b_iss) = (100, 300);
    let mut a = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(a_iss), 0).unwrap();
    let mut b = Connection::connect(immediate(), REMOTE, LOCAL, SeqNum(b_iss), 0).unwrap();
    let syn_a = drain_one(&mut a, 0);
    let syn_b = drain_one(&mut b, 0);
    // The SYNs cross (RFC 9293 3.5, figure 7, lines 2-4).
    deliver(&mut b, 0, LOCAL, &syn_a);
    deliver(&mut a, 0, REMOTE, &syn_b);
    for c in [&mut a, &mut b] {
        assert_eq!(c.state(), State::SynReceived);
        assert_eq!(c.applied_rules()[0], rules::SYN_SENT_RECV_SYN);
    }
    // Each answers with a SYN-ACK carrying its original ISS (line 5).
    let synack_a = drain_one(&mut a, 0);
    let synack_b = drain_one(&mut b, 0);
    assert_eq!(synack_a.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((synack_a.seq, synack_a.ack), (a_iss, b_iss + 1));
    assert_eq!((synack_b.seq, synack_b.ack), (b_iss, a_iss + 1));
    // The SYN-ACKs cross and both ends are established (lines 6-7), nothing more to say.
    deliver(&mut b, 0, LOCAL, &synack_a);
    deliver(&mut a, 0, REMOTE, &synack_b);
    for c in [&mut a, &mut b] {
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.applied_rules()[0], rules::SYN_RECEIVED_RECV_SYNACK);
    }
    assert!(drain(&mut a, 0).is_empty());
    assert!(drain(&mut b, 0).is_empty());
    assert_eq!(
        (a.tcb().snd_una.0, a.tcb().rcv_nxt.0),
        (a_iss + 1, b_iss + 1)
    );
    assert_eq!(
        (b.tcb().snd_una.0, b.tcb().rcv_nxt.0),
        (b_iss + 1, a_iss + 1)
    );
    // And data flows.
    a.send(b"ping").unwrap();
    let d = drain_one(&mut a, 0);
    deliver(&mut b, 0, LOCAL, &d);
    let mut got = Vec::new();
    b.recv_to_vec(10, &mut got);
    assert_eq!(got, b"ping");
}

#[test]
fn simultaneous_open_with_one_synack_lost_still_completes() {
    let mut a = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(100), 0).unwrap();
    let mut b = Connection::connect(immediate(), REMOTE, LOCAL, SeqNum(300), 0).unwrap();
    let syn_a = drain_one(&mut a, 0);
    let syn_b = drain_one(&mut b, 0);
    deliver(&mut b, 0, LOCAL, &syn_a);
    deliver(&mut a, 0, REMOTE, &syn_b);
    let synack_a = drain_one(&mut a, 0);
    let _lost = drain_one(&mut b, 0);
    deliver(&mut b, 0, LOCAL, &synack_a);
    assert_eq!(b.state(), State::Established);
    assert_eq!(a.state(), State::SynReceived);
    // a's timer resends its SYN-ACK; b, established, answers with an ACK that completes a.
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t);
    let again = drain_one(&mut a, t);
    deliver(&mut b, t, LOCAL, &again);
    let ack = drain_one(&mut b, t);
    assert_eq!(ack.flags, TcpFlags::ACK);
    deliver(&mut a, t, REMOTE, &ack);
    assert_eq!(a.state(), State::Established);
}

#[test]
fn bad_ack_in_syn_sent_is_reset_and_ignored() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain(&mut c, 0);
    recv(&mut c, 0, &Peer::default().syn_ack(IRS, ISS + 7, None));
    assert_eq!(c.state(), State::SynSent);
    let rst = drain_one(&mut c, 0);
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(
        rst.seq,
        ISS + 7,
        "RFC 9293 3.10.7.3: <SEQ=SEG.ACK><CTL=RST>"
    );
}

#[test]
fn syn_is_retransmitted_for_at_least_three_minutes_by_default() {
    // RFC 9293 3.8.3, MUST-23.
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain_one(&mut c, 0);
    let mut last_syn = 0;
    while let Some(t) = c.poll_timeout() {
        c.handle_timeout(t);
        for s in drain(&mut c, t) {
            assert_eq!((s.flags, s.seq), (TcpFlags::SYN, ISS));
            last_syn = t;
        }
    }
    assert!(last_syn >= 180 * SEC, "last SYN at {last_syn} us");
    assert_eq!(c.error(), Some(crate::conn::ConnError::TimedOut));
}

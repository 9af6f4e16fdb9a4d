//! Closing (RFC 9293 3.6): active, passive, simultaneous; TIME-WAIT; FIN accounting.

use super::*;
use crate::conn::rules;

const MSL: u64 = 30 * SEC;

#[test]
fn active_close_fin_wait_1_fin_wait_2_time_wait_closed() {
    let mut c = established();
    let peer = Peer::default();
    c.close(10).unwrap();
    assert_eq!(c.state(), State::FinWait1);
    let fin = drain_one(&mut c, 10);
    assert_eq!(fin.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!((fin.seq, fin.ack), (ISS + 1, IRS + 1));
    assert_eq!(fin.reason, SendReason::Fin);
    assert!(!c.all_acked(), "the FIN is outstanding");
    assert!(c.poll_timeout().is_some(), "and timed");
    assert_eq!(c.send(b"late"), Err(crate::conn::Error::BrokenPipe));
    // Our FIN acknowledged.
    recv(&mut c, 20, &peer.ack(IRS + 1, ISS + 2));
    assert_eq!(c.state(), State::FinWait2);
    assert!(c.all_acked());
    assert_eq!(c.poll_timeout(), None);
    assert!(drain(&mut c, 20).is_empty());
    // Half-close: data still comes in.
    recv(&mut c, 25, &peer.data(IRS + 1, ISS + 2, b"more"));
    assert_eq!(drain_one(&mut c, 25).ack, IRS + 5);
    // The peer's FIN.
    recv(&mut c, 30, &peer.fin(IRS + 5, ISS + 2));
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(
        c.applied_rules(),
        [rules::ACK_UNCHANGED, rules::FIN_WAIT_2_RECV_FIN]
    );
    let ack = drain_one(&mut c, 30);
    assert_eq!(
        (ack.flags, ack.seq, ack.ack),
        (TcpFlags::ACK, ISS + 2, IRS + 6)
    );
    assert_eq!(c.poll_timeout(), Some(30 + 2 * MSL));
    // A retransmitted FIN is acknowledged again and restarts the wait (3.10.7.4 eighth).
    recv(&mut c, 40, &peer.fin(IRS + 5, ISS + 2));
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(drain_one(&mut c, 40).ack, IRS + 6);
    assert_eq!(c.poll_timeout(), Some(40 + 2 * MSL));
    c.handle_timeout(40 + 2 * MSL - 1);
    assert_eq!(c.state(), State::TimeWait);
    c.handle_timeout(40 + 2 * MSL);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.applied_rules(), &[rules::TIME_WAIT_TIMEOUT]);
    let ev = events(&mut c);
    assert_eq!(ev, vec![Event::Readable, Event::PeerClosed, Event::Closed]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 10, &peer.fin(IRS + 1, ISS + 1));
    assert_eq!(c.state(), State::CloseWait);
    assert!(c.at_eof());
    assert_eq!(events(&mut c), vec![Event::PeerClosed]);
    assert_eq!(drain_one(&mut c, 10).ack, IRS + 2);
    // We may still send.
    c.send(b"bye").unwrap();
    c.close(11).unwrap();
    assert_eq!(c.state(), State::LastAck);
    let fin = drain_one(&mut c, 11);
    assert_eq!(fin.flags, TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN);
    assert_eq!((fin.seq, fin.payload.as_slice()), (ISS + 1, &b"bye"[..]));
    // The data acknowledged but not the FIN: still LAST-ACK.
    recv(&mut c, 20, &peer.ack(IRS + 2, ISS + 4));
    assert_eq!(c.state(), State::LastAck);
    assert_eq!(c.send_queue_len(), 0);
    recv(&mut c, 21, &peer.ack(IRS + 2, ISS + 5));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        c.applied_rules(),
        [rules::ACK_NEW, rules::LAST_ACK_FIN_ACKED]
    );
    assert_eq!(events(&mut c), vec![Event::Closed]);
    assert_eq!(c.poll_timeout(), None, "no TIME-WAIT on the passive side");
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut c = established();
    let peer = Peer::default();
    c.close(1).unwrap();
    let fin = drain_one(&mut c, 1);
    assert_eq!(fin.seq, ISS + 1);
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    recv(&mut c, 2, &peer.fin(IRS + 1, ISS + 1));
    assert_eq!(c.state(), State::Closing);
    assert_eq!(drain_one(&mut c, 2).ack, IRS + 2);
    recv(&mut c, 3, &peer.ack(IRS + 2, ISS + 2));
    assert_eq!(c.state(), State::TimeWait);
    assert!(c.applied_rules().contains(&rules::CLOSING_FIN_ACKED));
    c.handle_timeout(3 + 2 * MSL);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn simultaneous_close_back_to_back() {
    let mut p = Pair::new(immediate(), 100, immediate(), 200);
    p.exchange();
    p.a.close(0).unwrap();
    p.b.close(0).unwrap();
    p.exchange();
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.b.state(), State::TimeWait);
    assert!(p.trace.iter().any(|(_, s)| s.has(TcpFlags::FIN)));
    assert!(p.fire_next_timer());
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.b.state(), State::Closed);
}

#[test]
fn fin_acknowledged_with_the_data_in_one_ack() {
    let mut c = established();
    c.send(&[3; 100]).unwrap();
    c.close(1).unwrap();
    let seg = drain_one(&mut c, 1);
    assert!(seg.has(TcpFlags::FIN), "the FIN rides on the last data");
    assert_eq!(seg.seg_len(), 101);
    // Half the data.
    recv(&mut c, 2, &Peer::default().ack(IRS + 1, ISS + 51));
    assert_eq!(c.send_queue_len(), 50);
    assert_eq!(c.state(), State::FinWait1);
    // Data and FIN at once: the buffer holds only data, the FIN is sequence space alone.
    recv(&mut c, 3, &Peer::default().ack(IRS + 1, ISS + 102));
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(c.state(), State::FinWait2);
    assert!(c.all_acked());
    assert_eq!(c.tcb().snd_una.0, ISS + 102);
}

#[test]
fn lost_fin_is_retransmitted_on_timeout() {
    let mut c = established();
    c.close(0).unwrap();
    let fin = drain_one(&mut c, 0);
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    let again = drain_one(&mut c, t);
    assert_eq!((again.flags, again.seq), (fin.flags, fin.seq));
    assert_eq!(again.reason, SendReason::RetransmitTimeout);
    assert_eq!(
        c.tcb().snd_max.0,
        ISS + 2,
        "the FIN occupies one number, once"
    );
}

#[test]
fn close_in_syn_received_sends_fin_after_the_handshake() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(7000)).unwrap();
    recv(&mut c, 0, &Peer::default().syn(300, None));
    drain(&mut c, 0);
    c.close(1).unwrap();
    assert_eq!(c.state(), State::SynReceived);
    assert!(
        drain(&mut c, 1).is_empty(),
        "no FIN before our SYN is acknowledged"
    );
    recv(&mut c, 2, &Peer::default().ack(301, 7001));
    assert_eq!(c.state(), State::FinWait1);
    let fin = drain_one(&mut c, 2);
    assert_eq!((fin.flags, fin.seq), (TcpFlags::FIN | TcpFlags::ACK, 7001));
}

#[test]
fn close_in_syn_sent_keeps_queued_data_and_sends_fin_after_it() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    c.send(b"request").unwrap();
    c.close(0).unwrap();
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(c.send(b"more"), Err(crate::conn::Error::BrokenPipe));
    assert_eq!(drain_one(&mut c, 0).flags, TcpFlags::SYN);
    recv(&mut c, 1, &Peer::default().syn_ack(IRS, ISS + 1, None));
    assert_eq!(c.state(), State::FinWait1);
    let seg = drain_one(&mut c, 1);
    assert_eq!(seg.payload, b"request");
    assert!(seg.has(TcpFlags::FIN | TcpFlags::ACK));
    assert_eq!((seg.seq, seg.ack), (ISS + 1, IRS + 1));
}

#[test]
fn close_in_syn_sent_without_data_deletes_the_connection() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain(&mut c, 0);
    c.close(1).unwrap();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.applied_rules(), &[rules::SYN_SENT_CLOSE]);
    assert_eq!(events(&mut c), vec![Event::Closed]);
    assert_eq!(c.poll_timeout(), None);
}

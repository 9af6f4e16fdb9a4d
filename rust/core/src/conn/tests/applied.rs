//! The list of rule ids one input applies (`applied_rules`): every rule once, in the order
//! of RFC 9293 3.10.7.4's checks, as the spec in `models/` lists them. The conformance tests
//! compare these lists with the spec step by step, so they are pinned here exactly.

use super::*;
use crate::conn::rules;
use crate::conn::RuleId;

/// The rule the log's last `Received` entry names: the first of the list.
fn logged_rule(c: &Connection) -> RuleId {
    c.log()
        .entries()
        .filter_map(|e| match e.kind {
            LogKind::Received { rule, .. } => Some(rule),
            _ => None,
        })
        .last()
        .expect("a segment was received")
}

#[test]
fn three_way_handshake_active_side() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    assert_eq!(c.applied_rules(), [rules::CLOSED_CONNECT]);
    drain_one(&mut c, 0);
    recv(
        &mut c,
        10,
        &Peer::default().syn_ack(IRS, ISS + 1, Some(1460)),
    );
    assert_eq!(c.applied_rules(), [rules::SYN_SENT_RECV_SYNACK]);
    assert_eq!(logged_rule(&c), rules::SYN_SENT_RECV_SYNACK);
}

#[test]
fn three_way_handshake_passive_side() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(ISS)).unwrap();
    assert_eq!(c.applied_rules(), [rules::CLOSED_LISTEN]);
    let peer = Peer::default();
    recv(&mut c, 0, &peer.syn(IRS, Some(1460)));
    assert_eq!(c.applied_rules(), [rules::LISTEN_RECV_SYN]);
    drain_one(&mut c, 0);
    // The third ACK acknowledges our SYN (the handshake rule) and, as an ACK field, nothing
    // beyond it with no data outstanding: not a duplicate ACK in RFC 5681's sense.
    recv(&mut c, 10, &peer.ack(IRS + 1, ISS + 1));
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        c.applied_rules(),
        [rules::SYN_RECEIVED_RECV_ACK, rules::ACK_UNCHANGED]
    );
    assert_eq!(logged_rule(&c), rules::SYN_RECEIVED_RECV_ACK);
}

#[test]
fn third_ack_after_a_queued_close_goes_on_to_fin_wait_1() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(ISS)).unwrap();
    let peer = Peer::default();
    recv(&mut c, 0, &peer.syn(IRS, Some(1460)));
    drain(&mut c, 0);
    c.close(1).unwrap();
    assert_eq!(c.applied_rules(), [rules::SYN_RECEIVED_CLOSE]);
    recv(&mut c, 10, &peer.ack(IRS + 1, ISS + 1));
    assert_eq!(c.state(), State::FinWait1);
    assert_eq!(
        c.applied_rules(),
        [
            rules::SYN_RECEIVED_RECV_ACK,
            rules::ESTABLISHED_QUEUED_CLOSE,
            rules::ACK_UNCHANGED
        ]
    );
}

#[test]
fn data_and_fin_acknowledging_nothing_new() {
    let mut c = established();
    let data = pattern(100, 1);
    let seg = Peer::default().seg(TcpFlags::ACK | TcpFlags::FIN, IRS + 1, ISS + 1, &data);
    recv(&mut c, 10, &seg);
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(
        c.applied_rules(),
        [
            rules::ACK_UNCHANGED,
            rules::DATA_IN_ORDER,
            rules::ESTABLISHED_RECV_FIN
        ]
    );
    assert_eq!(logged_rule(&c), rules::ACK_UNCHANGED);
}

#[test]
fn data_and_fin_acknowledging_our_data() {
    let mut c = established();
    assert_eq!(c.send(&pattern(50, 2)), Ok(50));
    assert!(c.applied_rules().is_empty(), "SEND reports no rule");
    drain(&mut c, 1);
    let data = pattern(100, 1);
    let seg = Peer::default().seg(TcpFlags::ACK | TcpFlags::FIN, IRS + 1, ISS + 51, &data);
    recv(&mut c, 10, &seg);
    assert_eq!(c.tcb().snd_una.0, ISS + 51);
    assert_eq!(
        c.applied_rules(),
        [
            rules::ACK_NEW,
            rules::DATA_IN_ORDER,
            rules::ESTABLISHED_RECV_FIN
        ]
    );
}

#[test]
fn unacceptable_segment_with_a_new_ack_reports_both() {
    let mut c = established();
    let peer = Peer::default();
    let data = pattern(100, 3);
    recv(&mut c, 1, &peer.data(IRS + 1, ISS + 1, &data));
    assert_eq!(
        c.applied_rules(),
        [rules::ACK_UNCHANGED, rules::DATA_IN_ORDER]
    );
    assert_eq!(c.send(&pattern(40, 4)), Ok(40));
    drain(&mut c, 1);
    // The peer repeats its data (all below RCV.NXT: unacceptable) with an ACK of ours.
    recv(&mut c, 2, &peer.data(IRS + 1, ISS + 41, &data));
    assert_eq!(c.tcb().snd_una.0, ISS + 41, "the ACK field was taken");
    assert_eq!(c.applied_rules(), [rules::SEG_UNACCEPTABLE, rules::ACK_NEW]);
    assert_eq!(logged_rule(&c), rules::SEG_UNACCEPTABLE);
    let ack = drain_one(&mut c, 2);
    assert_eq!(ack.ack, IRS + 101, "and answered as table 6 asks");
}

#[test]
fn unacceptable_segment_acknowledging_our_fin_reports_the_fin_rule_after_the_ack() {
    let mut c = established();
    let peer = Peer::default();
    let data = pattern(100, 3);
    recv(&mut c, 1, &peer.data(IRS + 1, ISS + 1, &data));
    c.close(1).unwrap();
    assert_eq!(c.applied_rules(), [rules::ESTABLISHED_CLOSE]);
    let fin = drain_one(&mut c, 1);
    assert!(fin.has(TcpFlags::FIN));
    c.close(1).unwrap();
    assert!(c.applied_rules().is_empty(), "a second CLOSE does nothing");
    recv(&mut c, 2, &peer.data(IRS + 1, ISS + 2, &data));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(
        c.applied_rules(),
        [
            rules::SEG_UNACCEPTABLE,
            rules::ACK_NEW,
            rules::FIN_WAIT_1_FIN_ACKED
        ]
    );
}

#[test]
fn stale_ack_with_a_new_ack_reports_both() {
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 1, &peer.data(IRS + 1, ISS + 1, &pattern(100, 5)));
    assert_eq!(c.send(&pattern(40, 6)), Ok(40));
    drain(&mut c, 1);
    // A pure ACK the peer sent before the data that overtook it.
    recv(&mut c, 2, &peer.ack(IRS + 1, ISS + 41));
    assert_eq!(c.applied_rules(), [rules::SEG_STALE_ACK, rules::ACK_NEW]);
    assert_eq!(logged_rule(&c), rules::SEG_STALE_ACK);
}

#[test]
fn bare_fin_beyond_a_gap_is_held_then_taken_after_the_data() {
    let mut c = established();
    let peer = Peer::default();
    let data = pattern(100, 7);
    recv(&mut c, 1, &peer.fin(IRS + 101, ISS + 1));
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        c.applied_rules(),
        [rules::ACK_UNCHANGED, rules::FIN_OUT_OF_ORDER]
    );
    let dup = drain_one(&mut c, 1);
    assert_eq!((dup.ack, dup.reason), (IRS + 1, SendReason::DupAck));
    // The gap fills: the data, then the held FIN, in one input.
    recv(&mut c, 2, &peer.data(IRS + 1, ISS + 1, &data));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(c.tcb().rcv_nxt.0, IRS + 102);
    assert_eq!(
        c.applied_rules(),
        [
            rules::ACK_UNCHANGED,
            rules::DATA_IN_ORDER,
            rules::ESTABLISHED_RECV_FIN
        ]
    );
}

#[test]
fn a_timeout_reports_exactly_one_rule() {
    let mut c = established();
    assert_eq!(c.send(&pattern(100, 8)), Ok(100));
    drain(&mut c, 0);
    let Some(t) = c.poll_timeout() else {
        panic!("data outstanding arms the RTO");
    };
    c.handle_timeout(t);
    assert_eq!(c.applied_rules(), [rules::TIMER_RETRANSMIT]);
    c.handle_timeout(t);
    assert!(c.applied_rules().is_empty(), "nothing due: nothing applied");
}

#[test]
fn a_retransmission_timeout_that_starts_persisting_reports_the_probe_only() {
    let mut c = established();
    assert_eq!(c.send(&pattern(100, 9)), Ok(100));
    drain(&mut c, 0);
    // The peer takes nothing and closes its window.
    recv(&mut c, 1, &Peer { window: 0 }.ack(IRS + 1, ISS + 1));
    let Some(t) = c.poll_timeout() else {
        panic!("data outstanding arms the RTO");
    };
    c.handle_timeout(t);
    assert_eq!(c.applied_rules(), [rules::TIMER_PROBE]);
}

#[test]
fn spec_vars_name_every_variable_once() {
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 1, &peer.fin(IRS + 101, ISS + 1));
    recv(&mut c, 2, &peer.data(IRS + 51, ISS + 1, &pattern(20, 1)));
    let vars = c.spec_vars();
    let get = |k: &str| {
        let mut hits = vars.iter().filter(|(n, _)| *n == k);
        let v = hits.next().map(|(_, v)| *v);
        assert!(hits.next().is_none(), "{k} twice");
        v.unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(get("rcv_nxt"), u64::from(IRS + 1));
    assert_eq!(get("held"), 1);
    assert_eq!(get("held_end"), u64::from(IRS + 71));
    assert_eq!(get("peer_fin_held"), 1);
    assert_eq!(get("peer_fin_seq"), u64::from(IRS + 101));
    assert_eq!(get("rcv_wnd"), 65535);
    assert_eq!(get("snd_una"), u64::from(ISS + 1));
    assert_eq!(get("fin_sent"), 0);
    assert_eq!(get("max_retries"), 15);
    assert_eq!(get("last_oow_ack_us"), u64::MAX);
}

/// Conformance seed 3 found it: a (forged) bare FIN held beyond a gap, then the real FIN in
/// order at RCV.NXT. The FIN taken ends the stream and voids the held one, as the spec's
/// `established.recv_fin` says (`peer_fin_held = false`); the core kept it.
#[test]
fn a_fin_taken_in_order_voids_a_fin_held_beyond_it() {
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 1, &peer.fin(IRS + 50, ISS + 1));
    assert_eq!(spec_var(&c, "peer_fin_held"), 1);
    drain(&mut c, 1);
    recv(&mut c, 2, &peer.fin(IRS + 1, ISS + 1));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(c.tcb().rcv_nxt.0, IRS + 2);
    assert_eq!(spec_var(&c, "peer_fin_held"), 0);
}

/// A FIN after text beyond the gap does not move a FIN already held (`fin.none` keeps the
/// first), while a bare one replaces it (`fin.out_of_order`).
#[test]
fn a_second_fin_beyond_the_gap_moves_the_held_one_only_when_bare() {
    let mut c = established();
    let peer = Peer::default();
    recv(&mut c, 1, &peer.fin(IRS + 50, ISS + 1));
    let mut with_text = peer.data(IRS + 20, ISS + 1, &[7; 10]);
    with_text.flags |= TcpFlags::FIN;
    recv(&mut c, 2, &with_text);
    assert_eq!(spec_var(&c, "peer_fin_seq"), u64::from(IRS + 50));
    recv(&mut c, 3, &peer.fin(IRS + 40, ISS + 1));
    assert_eq!(spec_var(&c, "peer_fin_seq"), u64::from(IRS + 40));
}

fn spec_var(c: &Connection, name: &str) -> u64 {
    c.spec_vars()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no spec variable {name}"))
}

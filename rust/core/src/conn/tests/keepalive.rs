//! TCP keep-alives (RFC 9293 3.8.4, RFC 1122 4.2.3.6) as packet scripts: the probe's exact
//! time and numbers, what resets it, giving up, and when none may be sent.

use super::script::Script;
use super::*;
use crate::conn::{ConnError, Keepalive};
use crate::endpoint::EndpointConfig;
use crate::sim::{LinkConfig, Simulator};

/// 10 s idle, a probe a second after that, three probes.
const KA: Keepalive = Keepalive {
    idle_us: 10 * SEC,
    interval_us: SEC,
    count: 3,
};

fn with_keepalive() -> Config {
    Config {
        keepalive: Some(KA),
        ..immediate()
    }
}

/// Our SYN at 0, the peer's SYN-ACK at 0.01 (the last segment heard; without timestamps,
/// so the probes' exact form is the point here: `timestamps.rs` has them with the option),
/// our ACK.
fn established(config: Config) -> Script {
    let mut s = Script::connect(config, 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460>
        +0     > . 1001:1001(0) ack 5001 win 65535
        ",
    );
    s
}

#[test]
fn an_idle_connection_is_probed_after_the_idle_time_from_snd_nxt_minus_one() {
    let mut s = established(with_keepalive());
    assert_eq!(s.conn.poll_timeout(), Some(10_010_000));
    s.run(
        "
        # RFC 9293 3.8.4: SEG.SEQ = SND.NXT - 1, no data (SHLD-12), our RCV.NXT as the ACK.
        10.01  > . 1000:1000(0) ack 5001 win 65535
        # The peer finds it unacceptable and answers with an ACK: alive. The idle time
        # starts again from its answer.
        +0.05  < . 5001:5001(0) ack 1001 win 65535
        20.06  > . 1000:1000(0) ack 5001 win 65535
        ",
    );
    assert_eq!(s.conn.counters().keepalive_probes, 2);
    let log_reasons: Vec<_> = s
        .conn
        .log()
        .entries()
        .filter_map(|e| match e.kind {
            LogKind::Sent { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(log_reasons.last(), Some(&SendReason::KeepAlive));
    assert_eq!(s.conn.state(), State::Established);
    s.finish();
}

#[test]
fn an_answer_resets_the_count_of_unanswered_probes() {
    let mut s = established(with_keepalive());
    s.run(
        "
        10.01  > . 1000:1000(0) ack 5001 win 65535
        11.01  > . 1000:1000(0) ack 5001 win 65535
        12.01  > . 1000:1000(0) ack 5001 win 65535
        # The third probe is answered just before the connection would give up: the count
        # starts over, and the next probe waits a whole idle time again.
        12.5   < . 5001:5001(0) ack 1001 win 65535
        22.5   > . 1000:1000(0) ack 5001 win 65535
        23.5   > . 1000:1000(0) ack 5001 win 65535
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    assert_eq!(s.conn.error(), None);
    s.finish();
}

#[test]
fn data_from_the_peer_is_an_answer_too() {
    let mut s = established(with_keepalive());
    s.run(
        "
        10.01  > . 1000:1000(0) ack 5001 win 65535
        +0.2   < P. 5001:5011(10) ack 1001 win 65535
        +0     > . 1001:1001(0) ack 5011 win 65525
        20.21  > . 1000:1000(0) ack 5011 win 65525
        ",
    );
    s.finish();
}

#[test]
fn count_unanswered_probes_fail_the_connection_with_timed_out_and_no_more_are_sent() {
    let mut s = established(with_keepalive());
    s.run(
        "
        10.01  > . 1000:1000(0) ack 5001 win 65535
        11.01  > . 1000:1000(0) ack 5001 win 65535
        12.01  > . 1000:1000(0) ack 5001 win 65535
        ",
    );
    // The last probe gets its interval too: idle + count * interval after the SYN-ACK.
    s.run("13.009999 read");
    assert_eq!(s.conn.state(), State::Established);
    s.run("13.01 read");
    assert_eq!(s.conn.state(), State::Closed);
    assert_eq!(s.conn.error(), Some(ConnError::TimedOut));
    assert_eq!(s.conn.applied_rules(), &["keepalive.give_up"]);
    let mut events = Vec::new();
    while let Some(e) = s.conn.poll_event() {
        events.push(e);
    }
    assert!(
        events.contains(&Event::Error(ConnError::TimedOut)),
        "{events:?}"
    );
    assert_eq!(
        s.conn.poll_timeout(),
        None,
        "no timer runs on a closed connection"
    );
    s.run("1000 read");
    assert_eq!(s.conn.counters().keepalive_probes, 3);
    assert!(s
        .conn
        .log()
        .entries()
        .any(|e| matches!(e.kind, LogKind::State { rule, .. } if rule == "keepalive.give_up")));
    s.finish();
}

#[test]
fn keepalives_are_off_by_default() {
    // RFC 9293 3.8.4, MUST-25.
    assert_eq!(Config::default().keepalive, None);
    let mut s = established(immediate());
    assert_eq!(s.conn.poll_timeout(), None);
    // A day of silence: nothing is sent, nothing fails.
    s.run("86400 read");
    assert_eq!(s.conn.state(), State::Established);
    assert_eq!(s.conn.counters().keepalive_probes, 0);
    s.finish();
}

#[test]
fn no_probe_while_data_is_outstanding_the_retransmission_timer_watches_the_peer() {
    let mut s = established(with_keepalive());
    s.run(
        "
        # Data sent at 9 s and not acknowledged: the RTO (1 s, doubling) runs, and the
        # keep-alive timer does not (RFC 9293 3.8.4, MUST-26), though 10.01 s pass.
        9      send 100
        +0     > P. 1001:1101(100) ack 5001 win 65535
        10     > P. 1001:1101(100) ack 5001 win 65535
        12     > P. 1001:1101(100) ack 5001 win 65535
        16     > P. 1001:1101(100) ack 5001 win 65535
        # The ACK makes the connection idle again, from now.
        16.5   < . 5001:5001(0) ack 1101 win 65535
        26.5   > . 1100:1100(0) ack 5001 win 65535
        ",
    );
    s.finish();
}

#[test]
fn no_probe_while_data_waits_for_a_shut_window() {
    let mut s = established(with_keepalive());
    s.run(
        "
        +0.01  < . 5001:5001(0) ack 1001 win 0
        +0     send 10
        # The persist timer probes the window (RFC 9293 3.8.6.1); no keep-alive among them.
        +1     > . 1001:1002(1) ack 5001 win 65535
        +2     > . 1001:1002(1) ack 5001 win 65535
        +4     > . 1001:1002(1) ack 5001 win 65535
        +8     > . 1001:1002(1) ack 5001 win 65535
        ",
    );
    s.finish();
}

#[test]
fn fin_wait_2_is_probed_from_our_fin_and_time_wait_is_not() {
    let mut s = established(with_keepalive());
    s.run(
        "
        1      close
        +0     > F. 1001:1001(0) ack 5001 win 65535
        +0.01  < . 5001:5001(0) ack 1002 win 65535
        # FIN-WAIT-2: our FIN (1001) is SND.NXT - 1.
        11.01  > . 1001:1001(0) ack 5001 win 65535
        +0.01  < F. 5001:5001(0) ack 1002 win 65535
        # The FIN took a sequence number, and the window's right edge stays put.
        +0     > . 1002:1002(0) ack 5002 win 65534
        ",
    );
    assert_eq!(s.conn.state(), State::TimeWait);
    // TIME-WAIT has its own timer (2 MSL), and nothing else runs.
    let msl2 = 2 * Config::default().msl_us;
    assert_eq!(s.conn.poll_timeout(), Some(11_020_000 + msl2));
    s.finish();
}

#[test]
fn keepalives_can_be_turned_on_and_off_on_a_live_connection() {
    let mut s = established(immediate());
    assert_eq!(s.conn.poll_timeout(), None);
    // MUST-24: per connection, at any time. The idle time counts from the last segment
    // heard (the SYN-ACK at 0.01 s).
    s.conn.set_keepalive(Some(KA)).unwrap();
    assert_eq!(s.conn.keepalive(), Some(KA));
    s.run("10.01  > . 1000:1000(0) ack 5001 win 65535");
    s.conn.set_keepalive(None).unwrap();
    assert_eq!(s.conn.poll_timeout(), None);
    s.run("100 read");
    s.finish();
}

#[test]
fn settings_are_validated() {
    let bad = |k: Keepalive| {
        Config {
            keepalive: Some(k),
            ..Config::default()
        }
        .validate()
        .is_err()
    };
    assert!(bad(Keepalive { idle_us: 0, ..KA }));
    assert!(bad(Keepalive {
        interval_us: 0,
        ..KA
    }));
    assert!(bad(Keepalive { count: 0, ..KA }));
    assert!(!bad(KA));
    let d = Keepalive::default();
    assert!(
        d.idle_us >= 7200 * SEC,
        "RFC 9293 3.8.4, MUST-28: at least two hours"
    );
    let mut s = established(immediate());
    assert!(s
        .conn
        .set_keepalive(Some(Keepalive { count: 0, ..KA }))
        .is_err());
    assert_eq!(s.conn.keepalive(), None);
    s.finish();
}

/// Over the simulator: the endpoint's timer schedule learns the keep-alive deadline, and a
/// peer whose packets no longer arrive is given up at idle + count * interval after it was
/// last heard.
#[test]
fn an_endpoint_gives_up_on_a_vanished_peer() {
    let config = |keepalive| EndpointConfig {
        conn: Config {
            keepalive,
            ..EndpointConfig::default().conn
        },
        ..EndpointConfig::default()
    };
    let link = LinkConfig {
        delay_us: 10_000,
        ..LinkConfig::default()
    };
    let mut sim = Simulator::new(3);
    let a = sim.add_host("a", LOCAL.ip(), config(Some(KA))).unwrap();
    let b = sim.add_host("b", REMOTE.ip(), config(None)).unwrap();
    sim.add_link(a, b, link.clone()).unwrap();
    sim.add_link(b, a, link.clone()).unwrap();
    sim.listen(b, 80).unwrap();
    let ca = sim.connect(a, SocketAddr::new(REMOTE.ip(), 80)).unwrap();
    sim.run_until(100_000);
    let cb = sim
        .accept(b, 80)
        .unwrap()
        .expect("b accepted the connection");
    assert_eq!(sim.connection(a, ca).unwrap().state(), State::Established);
    // The SYN-ACK arrived at 20 ms: the last a heard of b.
    let ep = sim.endpoint(a).unwrap();
    assert_eq!(ep.poll_timeout(), Some(20_000 + KA.idle_us));

    // Probes are answered while b is there: a minute on, a is still established.
    sim.run_until(60 * SEC);
    let c = sim.connection(a, ca).unwrap();
    assert_eq!(c.state(), State::Established);
    assert!(c.counters().keepalive_probes >= 5);
    assert_eq!(sim.connection(b, cb).unwrap().state(), State::Established);

    // Now b's packets are all lost. a last heard of b when the answer to its latest probe
    // arrived; it gives up idle + count * interval after that.
    let last_heard = sim
        .connection(a, ca)
        .unwrap()
        .log()
        .entries()
        .filter(|e| matches!(e.kind, LogKind::Received { .. }))
        .map(|e| e.time)
        .last()
        .unwrap();
    let give_up = last_heard + KA.idle_us + u64::from(KA.count) * KA.interval_us;
    assert!(give_up > 60 * SEC);
    let lost = LinkConfig { loss: 1.0, ..link };
    sim.add_link(b, a, lost).unwrap();
    sim.run_until(give_up - 1);
    assert_eq!(sim.connection(a, ca).unwrap().state(), State::Established);
    sim.run_until(give_up);
    let c = sim.connection(a, ca).unwrap();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(ConnError::TimedOut));
    // b keeps its half: it has keep-alives off, and nothing tells it.
    assert_eq!(sim.connection(b, cb).unwrap().state(), State::Established);
}

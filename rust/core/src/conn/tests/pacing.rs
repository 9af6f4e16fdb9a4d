//! When segments go: Nagle's algorithm (RFC 9293 3.7.4) and its `nodelay` switch, sender
//! and receiver SWS avoidance (3.8.6.2.1, 3.8.6.2.2) and delayed ACKs (3.8.6.3, RFC 5681
//! 4.2), as packet scripts: a segment in, the exact segments out, at the exact time.

use super::script::Script;
use super::*;

/// The default settings (Nagle on, delayed ACKs of 40 ms) with a receive buffer of
/// `recv_buffer` bytes and no window scaling, so the window fields read as bytes, nor any
/// other option on the SYN; no tail-loss probes, whose timer would come before the one
/// these scripts wait for.
fn config(nodelay: bool, delayed_ack_us: u64, recv_buffer: usize) -> Config {
    Config {
        nodelay,
        delayed_ack_us,
        recv_buffer,
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
        tail_loss_probe: false,
        ..Config::default()
    }
}

/// Connected at 0.01 s: our ISS 1000, the peer's 5000, MSS 1000 both ways, the peer's
/// window 20000.
fn connected(config: Config) -> Script {
    let win = config.recv_buffer.min(65535);
    let mut s = Script::connect(config, 1000);
    s.run(&format!(
        "
        0      > S 1000:1000(0) win {win} <mss 1460>
        +0.01  < S. 5000:5000(0) ack 1001 win 20000 <mss 1000>
        +0     > . 1001:1001(0) ack 5001 win {win}
        "
    ));
    s
}

#[test]
fn nagle_holds_small_writes_while_data_is_unacknowledged() {
    let mut s = connected(config(false, 0, 65535));
    s.run(
        "
        # Nothing outstanding: the first small write goes at once.
        +0.1   send 10
        +0     > P. 1001:1011(10) ack 5001 win 65535
        # While those 10 bytes are unacknowledged, small writes wait and coalesce.
        +0.01  send 20
        +0.01  send 30
        +0.01  send 40
        # The ACK releases all of them as one segment.
        +0.05  < . 5001:5001(0) ack 1011 win 20000
        +0     > P. 1011:1101(90) ack 5001 win 65535
        # A full segment goes regardless of what is outstanding; the rest waits.
        +0.01  send 1500
        +0     > . 1101:2101(1000) ack 5001 win 65535
        +0.05  < . 5001:5001(0) ack 1101 win 20000
        +0.05  < . 5001:5001(0) ack 2101 win 20000
        +0     > P. 2101:2601(500) ack 5001 win 65535
        +0.05  < . 5001:5001(0) ack 2601 win 20000
        ",
    );
    s.finish();
}

#[test]
fn nodelay_sends_each_small_write_at_once() {
    let mut s = connected(config(true, 0, 65535));
    s.run(
        "
        +0.1   send 10
        +0     > P. 1001:1011(10) ack 5001 win 65535
        +0.01  send 20
        +0     > P. 1011:1031(20) ack 5001 win 65535
        +0.01  send 30
        +0     > P. 1031:1061(30) ack 5001 win 65535
        +0.05  < . 5001:5001(0) ack 1061 win 20000
        ",
    );
    s.finish();
}

#[test]
fn closing_sends_the_last_short_segment_with_its_fin_despite_nagle() {
    let mut s = connected(config(false, 0, 65535));
    s.run(
        "
        +0.1   send 10
        +0     > P. 1001:1011(10) ack 5001 win 65535
        +0.01  send 20
        # Held by Nagle, until CLOSE: nothing will come to fill the segment.
        +0.01  close
        +0     > FP. 1011:1031(20) ack 5001 win 65535
        +0.05  < . 5001:5001(0) ack 1032 win 20000
        ",
    );
    assert_eq!(s.conn.state(), State::FinWait2);
    s.finish();
}

#[test]
fn sender_sws_avoidance_waits_for_the_override_timeout() {
    let mut s = connected(config(true, 0, 65535));
    s.run(
        "
        # The peer shrinks its window to 300 bytes of the 20000 it offered: 300 is less
        # than an MSS and than half the largest window, so 2000 bytes queued do not go as
        # a 300-byte sliver (RFC 9293 3.8.6.2.1)...
        +0.1   < . 5001:5001(0) ack 1001 win 300
        +0     send 2000
        # ... until the override timeout (the persist timer, the 1 s initial RTO).
        +1     > . 1001:1301(300) ack 5001 win 65535
        # A window of half the largest (10000) may be used at once, MSS by MSS.
        +0.05  < . 5001:5001(0) ack 1301 win 10000
        +0     > . 1301:2301(1000) ack 5001 win 65535
        +0     > P. 2301:3001(700) ack 5001 win 65535
        +0.05  < . 5001:5001(0) ack 3001 win 20000
        ",
    );
    assert_eq!(
        s.conn.counters().window_probes,
        0,
        "the override is no probe"
    );
    s.finish();
}

#[test]
fn a_zero_window_is_still_probed() {
    let mut s = connected(config(false, 0, 65535));
    s.run(
        "
        +0.1   < . 5001:5001(0) ack 1001 win 0
        +0     send 10
        +1     > . 1001:1002(1) ack 5001 win 65535
        +0.01  < . 5001:5001(0) ack 1001 win 0
        ",
    );
    assert_eq!(s.conn.counters().window_probes, 1);
}

#[test]
fn one_full_segment_waits_for_the_delayed_ack_timer() {
    let mut s = connected(config(false, 40_000, 65535));
    s.run(
        "
        +0.1   < P. 5001:6001(1000) ack 1001 win 20000
        # Nothing now: the ACK waits 40 ms for more text or for data of ours.
        +0.04  > . 1001:1001(0) ack 6001 win 64535
        ",
    );
    assert_eq!(s.conn.counters().delayed_acks, 1);
    assert_eq!(s.conn.applied_rules(), &["timer.delayed_ack"]);
    s.finish();
}

#[test]
fn every_second_full_segment_is_acknowledged_at_once() {
    let mut s = connected(config(false, 40_000, 65535));
    s.run(
        "
        +0.1   < . 5001:6001(1000) ack 1001 win 20000
        +0.01  < . 6001:7001(1000) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 7001 win 63535
        # The timer stopped with that ACK: a third segment starts it again, from its time.
        +0.01  < P. 7001:8001(1000) ack 1001 win 20000
        +0.04  > . 1001:1001(0) ack 8001 win 62535
        ",
    );
    assert_eq!(s.conn.counters().delayed_acks, 1);
    s.finish();
}

#[test]
fn out_of_order_text_is_answered_at_once_and_so_is_the_text_that_fills_the_gap() {
    let mut s = connected(config(false, 40_000, 65535));
    s.run(
        "
        # Beyond a gap: the duplicate ACK goes at once (RFC 5681 4.2).
        +0.1   < . 6001:7001(1000) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 5001 win 65535
        # Filling the gap: at once too.
        +0.01  < . 5001:6001(1000) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 7001 win 63535
        # A duplicate: at once.
        +0.01  < . 5001:6001(1000) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 7001 win 63535
        # A FIN: at once (it takes a sequence number; the right edge stays put).
        +0.01  < F. 7001:7001(0) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 7002 win 63534
        ",
    );
    assert_eq!(s.conn.counters().delayed_acks, 0);
    s.finish();
}

#[test]
fn a_delayed_ack_rides_on_our_data() {
    let mut s = connected(config(false, 40_000, 65535));
    s.run(
        "
        +0.1   < P. 5001:5101(100) ack 1001 win 20000
        # The answer is written within the delay: the ACK rides on it, nothing else goes.
        +0.01  send 50
        +0     > P. 1001:1051(50) ack 5101 win 65435
        +0.05  < . 5101:5101(0) ack 1051 win 20000
        ",
    );
    assert_eq!(s.conn.counters().delayed_acks, 0);
    assert_eq!(s.conn.poll_timeout(), None, "no timer left running");
    s.finish();
}

#[test]
fn delayed_ack_zero_acknowledges_every_segment_at_once() {
    let mut s = connected(config(false, 0, 65535));
    s.run(
        "
        +0.1   < P. 5001:5101(100) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 5101 win 65435
        ",
    );
    s.finish();
}

#[test]
fn receiver_sws_avoidance_opens_the_window_only_by_worthwhile_steps() {
    // A 4000-byte buffer: the window moves in steps of min(4000 / 2, MSS 1000) = 1000.
    let mut s = connected(config(false, 0, 4000));
    s.run(
        "
        +0.1   < P. 5001:8001(3000) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 8001 win 1000
        # Reading 400 bytes frees 400: no window update, and the next ACK keeps the edge.
        +0.01  read 400
        +0.01  < P. 8001:8101(100) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 8101 win 900
        # 700 more read: 1100 free, 1000 more than the edge allows, an update goes.
        +0.01  read 700
        +0     > . 1001:1001(0) ack 8101 win 2000
        # The rest read: the edge moves by 2000 at once.
        +0.01  read
        +0     > . 1001:1001(0) ack 8101 win 4000
        ",
    );
    s.finish();
}

#[test]
fn a_window_update_after_a_read_rides_on_the_pending_delayed_ack() {
    let mut s = connected(config(false, 40_000, 65535));
    s.run(
        "
        +0.1   < P. 5001:6001(1000) ack 1001 win 20000
        # The read frees 1000 bytes: worth an update (3.8.6.2.2), but it would not double
        # the window the peer knows, so it waits for the delayed ACK and goes with it.
        +0.01  read
        +0.03  > . 1001:1001(0) ack 6001 win 65535
        ",
    );
    s.finish();
}

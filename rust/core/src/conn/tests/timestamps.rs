//! TCP Timestamps (RFC 7323 3-5) as packet scripts: the negotiation on the SYNs, the option
//! on every later segment and what it echoes (4.3), PAWS (5.3, 5.5), RTT samples from the
//! echo (4.1), and the payload the option takes from each segment.
//!
//! Our clock is `now` in milliseconds (offset 0 for a bare connection), so a segment sent
//! at 0.02 s carries TSval 20.

use super::script::Script;
use super::*;
use crate::conn::{rules, ConnError, Keepalive, MIN_MSS, TS_RECENT_MAX_AGE_US};

/// Our SYN offers timestamps (with wscale and sackOK, the defaults); the peer's SYN-ACK
/// answers with TSval 700 at 0.01 s; our ACK echoes it. MSS 1460 both ways, so with the
/// option 1448 bytes of payload per segment.
fn negotiated(config: Config) -> Script {
    let mut s = Script::connect(config, 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460,TS val 700 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 10 ecr 700>
        ",
    );
    let t = *s.conn.tcb();
    assert!(t.ts_ok && !t.wscale_ok && !t.sack_ok);
    assert_eq!((t.ts_recent, t.last_ack_sent), (700, SeqNum(5001)));
    // RFC 9293 3.7.1: Eff.snd.MSS counts the 12 bytes of options every segment carries.
    assert_eq!(t.snd_mss, 1448);
    s
}

fn spec_var(c: &Connection, name: &str) -> u64 {
    c.spec_vars()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no spec variable {name}"))
        .1
}

#[test]
fn every_segment_carries_the_option_echoing_ts_recent() {
    let mut s = negotiated(immediate());
    s.run(
        "
        # Data: full segments are 1448 bytes, 12 less than the MSS.
        +0.01  send 3000
        +0     > . 1001:2449(1448) ack 5001 win 65535 <TS val 20 ecr 700>
        +0     > . 2449:3897(1448) ack 5001 win 65535 <TS val 20 ecr 700>
        +0     > P. 3897:4001(104) ack 5001 win 65535 <TS val 20 ecr 700>
        # A pure ACK from the peer numbered at Last.ACK.sent: TS.Recent takes its TSval.
        +0.01  < . 5001:5001(0) ack 4001 win 65535 <TS val 710 ecr 20>
        # Our pure ACK of its data echoes the data's TSval.
        +0.01  < P. 5001:5101(100) ack 4001 win 65535 <TS val 720 ecr 20>
        +0     > . 4001:4001(0) ack 5101 win 65435 <TS val 40 ecr 720>
        # Out of order (beyond Last.ACK.sent): the duplicate ACK echoes the last segment
        # that advanced RCV.NXT (RFC 7323 4.3 case B) ...
        +0.01  < P. 5201:5301(100) ack 4001 win 65535 <TS val 730 ecr 40>
        +0     > . 4001:4001(0) ack 5101 win 65435 <TS val 50 ecr 720>
        # ... and the segment that fills the hole is echoed (case C).
        +0.01  < P. 5101:5201(100) ack 4001 win 65535 <TS val 740 ecr 50>
        +0     > . 4001:4001(0) ack 5301 win 65235 <TS val 60 ecr 740>
        # FIN.
        +0.01  close
        +0     > F. 4001:4001(0) ack 5301 win 65235 <TS val 70 ecr 740>
        ",
    );
    assert_eq!(s.conn.counters().dup_acks_sent, 1);
    let c = &s.conn;
    assert_eq!(spec_var(c, "ts_ok"), 1);
    assert_eq!(spec_var(c, "timestamps"), 1);
    assert_eq!(spec_var(c, "ts_recent"), 740);
    assert_eq!(spec_var(c, "last_ack_sent"), 5301);
    assert_eq!(spec_var(c, "ts_recent_age_us"), 60_000);
    s.finish();
}

#[test]
fn probes_keepalives_challenge_acks_carry_it_and_a_rst_does_not() {
    let config = Config {
        keepalive: Some(Keepalive {
            idle_us: 10 * SEC,
            interval_us: SEC,
            count: 3,
        }),
        ..immediate()
    };
    let mut s = negotiated(config);
    s.run(
        "
        # A zero-window probe, when the persist timer expires (the 1 s minimum RTO).
        +0.1   < . 5001:5001(0) ack 1001 win 0 <TS val 800 ecr 10>
        +0     send 10
        +1     > . 1001:1002(1) ack 5001 win 65535 <TS val 1110 ecr 800>
        +0.01  < . 5001:5001(0) ack 1002 win 65535 <TS val 810 ecr 1110>
        +0     > P. 1002:1011(9) ack 5001 win 65535 <TS val 1120 ecr 810>
        +0.01  < . 5001:5001(0) ack 1011 win 65535 <TS val 820 ecr 1120>
        # A keep-alive probe, 10 s after the last segment heard: SND.NXT - 1.
        11.13  > . 1010:1010(0) ack 5001 win 65535 <TS val 11130 ecr 820>
        +0.05  < . 5001:5001(0) ack 1011 win 65535 <TS val 10820 ecr 11130>
        # A SYN on the synchronized connection: the challenge ACK (RFC 5961 4.2). The SYN
        # does not move TS.Recent (only a segment whose ACK proved valid does).
        +0.01  < S 5001:5001(0) win 65535 <TS val 10830 ecr 0>
        +0     > . 1011:1011(0) ack 5001 win 65535 <TS val 11190 ecr 10820>
        ",
    );
    assert_eq!(s.conn.counters().window_probes, 1);
    assert_eq!(s.conn.counters().keepalive_probes, 1);
    assert_eq!(s.conn.counters().challenge_acks_sent, 1);
    // The keep-alive probe's ACK field counts as sent (RFC 7323 4.3's Last.ACK.sent).
    assert_eq!(s.conn.tcb().last_ack_sent, SeqNum(5001));
    // RFC 7323 5.2's SHOULD for a RST is not followed (see `ts_option`): no option.
    s.run(
        "
        +0.01  abort
        +0     > R 1011:1011(0) win 65535
        ",
    );
    s.finish();
}

#[test]
fn passive_open_answers_with_the_option_and_times_a_retransmitted_synack_by_its_echo() {
    let mut s = Script::listen(immediate(), 1000);
    s.run(
        "
        0      < S 5000:5000(0) win 20000 <mss 1460,sackOK,TS val 300 ecr 0>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,sackOK,TS val 0 ecr 300>
        # Lost: the retransmission carries the clock of its own time.
        +1     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,sackOK,TS val 1000 ecr 300>
        +0.01  < . 5001:5001(0) ack 1001 win 20000 <TS val 1310 ecr 1000>
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    let t = *s.conn.tcb();
    assert!(t.ts_ok && t.sack_ok);
    assert_eq!((t.ts_recent, t.snd_mss), (1310, 1448));
    // Karn's rule cannot time a retransmitted SYN-ACK; its echo can (RFC 7323 4): 10 ms.
    assert_eq!(s.conn.srtt_us(), Some(10_000));
    s.run(
        "
        +0.01  < P. 5001:5101(100) ack 1001 win 20000 <TS val 1320 ecr 1000>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 1020 ecr 1320>
        ",
    );
    s.finish();
}

#[test]
fn our_retransmitted_syn_carries_a_fresh_tsval_and_its_echo_times_the_handshake() {
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        1      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 1000 ecr 0>
        +0.05  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460,TS val 700 ecr 1000>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 1050 ecr 700>
        ",
    );
    assert_eq!(s.conn.srtt_us(), Some(50_000));
    s.finish();

    // Without the option nothing can time it (Karn's rule, RFC 6298 3).
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        1      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 1000 ecr 0>
        +0.05  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460>
        +0     > . 1001:1001(0) ack 5001 win 65535
        ",
    );
    assert_eq!(s.conn.srtt_us(), None);
    s.finish();
}

#[test]
fn simultaneous_open_negotiates_from_the_crossing_syns() {
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S 5000:5000(0) win 4000 <mss 1460,TS val 50 ecr 0>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,TS val 10 ecr 50>
        +0.01  < S. 5000:5000(0) ack 1001 win 4000 <mss 1460,TS val 60 ecr 10>
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    assert!(s.conn.ts_ok());
    s.run(
        "
        +0.01  < P. 5001:5101(100) ack 1001 win 4000 <TS val 70 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 30 ecr 70>
        ",
    );
    s.finish();
}

#[test]
fn offered_by_one_side_only_no_segment_after_the_syns_carries_it() {
    // Our SYN offers it, the SYN-ACK does not: off, and segments carry 1460 bytes.
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460>
        +0     > . 1001:1001(0) ack 5001 win 65535
        +0.01  send 1500
        +0     > . 1001:2461(1460) ack 5001 win 65535
        +0     > P. 2461:2501(40) ack 5001 win 65535
        # The option, not negotiated, is ignored (RFC 7323 3.2): processed normally.
        +0.01  < P. 5001:5101(100) ack 2501 win 65535 <TS val 1 ecr 20>
        +0     > . 2501:2501(0) ack 5101 win 65435
        ",
    );
    assert!(!s.conn.ts_ok());
    assert_eq!(s.conn.tcb().snd_mss, 1460);
    assert_eq!(spec_var(&s.conn, "ts_recent_age_us"), u64::MAX);
    s.finish();

    // Off here: our SYN does not offer it, so a SYN-ACK carrying it changes nothing.
    let off = Config {
        timestamps: false,
        ..immediate()
    };
    let mut s = Script::connect(off.clone(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460,TS val 700 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535
        +0.01  < P. 5001:5101(100) ack 1001 win 65535
        +0     > . 1001:1001(0) ack 5101 win 65435
        ",
    );
    assert!(!s.conn.ts_ok());
    assert_eq!(spec_var(&s.conn, "timestamps"), 0);
    s.finish();

    // Passive and off: a SYN offering it gets a SYN-ACK without it.
    let mut s = Script::listen(off, 1000);
    s.run(
        "
        0      < S 5000:5000(0) win 20000 <mss 1460,TS val 300 ecr 0>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460>
        +0.01  < . 5001:5001(0) ack 1001 win 20000 <TS val 310 ecr 0>
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    assert!(!s.conn.ts_ok());
    s.finish();
}

#[test]
fn paws_drops_an_old_segment_and_answers_it_with_an_ack() {
    let mut s = negotiated(immediate());
    s.run(
        "
        # In the window, but TSval 699 < TS.Recent 700 (RFC 7323 5.3 R1).
        +0.01  < P. 5001:5101(100) ack 1001 win 65535 <TS val 699 ecr 10>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 20 ecr 700>
        ",
    );
    assert_eq!(s.conn.applied_rules(), &[rules::SEG_PAWS_REJECT]);
    assert_eq!(s.conn.recv_queue_len(), 0, "the text is not taken");
    assert_eq!(s.conn.counters().paws_rejected, 1);
    assert_eq!(s.conn.tcb().ts_recent, 700);
    s.run(
        "
        # An equal TSval is not older: taken.
        +0.01  < P. 5001:5101(100) ack 1001 win 65535 <TS val 700 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 30 ecr 700>
        +0     read 100
        # A bare ACK with an old TSval is answered, but the same again within 500 ms is
        # not (the throttle of unacceptable bare ACKs).
        +0.01  < . 5101:5101(0) ack 1001 win 65535 <TS val 600 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 40 ecr 700>
        +0.1   < . 5101:5101(0) ack 1001 win 65535 <TS val 600 ecr 10>
        +0.5   < . 5101:5101(0) ack 1001 win 65535 <TS val 600 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 640 ecr 700>
        ",
    );
    assert_eq!(s.conn.counters().paws_rejected, 4);
    // Nothing of a rejected segment is processed: not its ACK field either.
    s.run(
        "
        +0.01  send 10
        +0     > P. 1001:1011(10) ack 5101 win 65435 <TS val 650 ecr 700>
        +0.01  < P. 5101:5201(100) ack 1011 win 9 <TS val 650 ecr 650>
        +0     > . 1011:1011(0) ack 5101 win 65435 <TS val 660 ecr 700>
        ",
    );
    let t = *s.conn.tcb();
    assert_eq!((t.snd_una, t.snd_wnd), (SeqNum(1001), 65535));
    // A RST is exempt (RFC 7323 5.2): an old TSval still resets.
    s.run("+0.01  < R 5101:5101(0) win 0 <TS val 1 ecr 0>");
    assert_eq!(s.conn.state(), State::Closed);
    assert_eq!(s.conn.error(), Some(ConnError::Reset));
    s.finish();
}

#[test]
fn a_segment_without_the_option_is_dropped_silently_but_a_rst_is_not() {
    let mut s = negotiated(immediate());
    s.run(
        "
        +0.01  < P. 5001:5101(100) ack 1001 win 65535
        +0.01  < . 5001:5001(0) ack 1001 win 65535
        ",
    );
    assert_eq!(s.conn.applied_rules(), &[rules::SEG_TS_MISSING]);
    assert_eq!(s.conn.counters().ts_missing_dropped, 2);
    assert_eq!(s.conn.recv_queue_len(), 0);
    assert_eq!(s.conn.state(), State::Established, "MUST NOT abort (3.2)");
    s.run("+0.01  < R 5001:5001(0) win 0");
    assert_eq!(s.conn.error(), Some(ConnError::Reset));
    s.finish();
}

#[test]
fn ts_recent_moves_only_when_seg_seq_is_at_most_last_ack_sent() {
    let config = Config {
        delayed_ack_us: 40_000,
        ..immediate()
    };
    let mut s = negotiated(config);
    s.run(
        "
        # Two segments under one delayed ACK: the ACK echoes the first (RFC 7323 4.3 case
        # A), whose SEG.SEQ was Last.ACK.sent; the second's lies beyond it.
        +0.01  < P. 5001:5101(100) ack 1001 win 65535 <TS val 800 ecr 10>
        +0.01  < P. 5101:5201(100) ack 1001 win 65535 <TS val 810 ecr 10>
        +0.03  > . 1001:1001(0) ack 5201 win 65335 <TS val 60 ecr 800>
        # Now Last.ACK.sent is 5201: the next segment's TSval is recorded.
        +0.01  < P. 5201:5301(100) ack 1001 win 65535 <TS val 820 ecr 60>
        +0.04  > . 1001:1001(0) ack 5301 win 65235 <TS val 110 ecr 820>
        ",
    );
    assert_eq!(s.conn.tcb().ts_recent, 820);
    s.finish();
}

#[test]
fn the_peers_tsvals_wrap_around_2_32() {
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460,TS val 4294967280 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 10 ecr 4294967280>
        # 0x10 is 32 ticks after 0xFFFFFFF0 (RFC 7323 5.2: compared mod 2^32).
        +0.01  < P. 5001:5101(100) ack 1001 win 65535 <TS val 16 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 20 ecr 16>
        # ... and 0xFFFFFFFA is now 22 ticks in the past.
        +0.01  < P. 5101:5201(100) ack 1001 win 65535 <TS val 4294967290 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 30 ecr 16>
        ",
    );
    assert_eq!(s.conn.counters().paws_rejected, 1);
    s.finish();
}

#[test]
fn our_clock_wraps_around_2_32_from_its_offset() {
    let mut conn = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(1000), 0).unwrap();
    conn.set_ts_offset(0xFFFF_FFF0);
    assert_eq!(conn.ts_offset(), 0xFFFF_FFF0);
    let mut s = Script::new(conn);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 4294967280 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460,TS val 700 ecr 4294967280>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 4294967290 ecr 700>
        +0.01  send 10
        +0     > P. 1001:1011(10) ack 5001 win 65535 <TS val 4 ecr 700>
        +0.03  < . 5001:5001(0) ack 1011 win 65535 <TS val 730 ecr 4>
        ",
    );
    // Karn timed both: 10 ms, then 30 ms (the echo would have said the same across the wrap).
    assert_eq!(s.conn.srtt_us(), Some(12_500));
    s.finish();
}

#[test]
fn ts_recent_older_than_24_days_does_not_reject() {
    let mut s = negotiated(immediate());
    s.run(
        "
        # TS.Recent was set at 0.01 s. Exactly 24 days later it is not yet outdated ...
        +2073600  < P. 5001:5101(100) ack 1001 win 65535 <TS val 5 ecr 10>
        +0        > . 1001:1001(0) ack 5001 win 65535 <TS val 2073600010 ecr 700>
        # ... a microsecond more and it is (RFC 7323 5.5): the segment is taken, and R3
        # records its TSval though it is smaller.
        +0.000001 < P. 5001:5101(100) ack 1001 win 65535 <TS val 5 ecr 10>
        +0        > . 1001:1001(0) ack 5101 win 65435 <TS val 2073600010 ecr 5>
        ",
    );
    assert_eq!(s.conn.counters().paws_rejected, 1);
    assert_eq!(s.conn.tcb().ts_recent, 5);
    assert_eq!(
        spec_var(&s.conn, "ts_recent_age_us"),
        10_000 + TS_RECENT_MAX_AGE_US + 1
    );
    s.finish();
}

#[test]
fn the_echo_times_a_retransmitted_segment() {
    let mut s = negotiated(immediate());
    // The SYN-ACK's 10 ms (Karn).
    assert_eq!(s.conn.srtt_us(), Some(10_000));
    s.run(
        "
        +0.01  send 100
        +0     > P. 1001:1101(100) ack 5001 win 65535 <TS val 20 ecr 700>
        +1     > P. 1001:1101(100) ack 5001 win 65535 <TS val 1020 ecr 700>
        +0.03  < . 5001:5001(0) ack 1101 win 65535 <TS val 730 ecr 1020>
        ",
    );
    // 30 ms from the echo of the retransmission: SRTT = 7/8 10 ms + 1/8 30 ms.
    assert_eq!(s.conn.srtt_us(), Some(12_500));
    s.finish();

    // The same without timestamps: Karn's rule leaves SRTT alone.
    let mut s = Script::connect(immediate(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 0,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 65535 <mss 1460>
        +0     > . 1001:1001(0) ack 5001 win 65535
        +0.01  send 100
        +0     > P. 1001:1101(100) ack 5001 win 65535
        +1     > P. 1001:1101(100) ack 5001 win 65535
        +0.03  < . 5001:5001(0) ack 1101 win 65535
        ",
    );
    assert_eq!(s.conn.srtt_us(), Some(10_000));
    s.finish();
}

#[test]
fn an_echo_from_before_a_retransmission_timeout_is_not_a_sample() {
    let mut s = negotiated(immediate());
    s.run(
        "
        +0.01  send 100
        +0     > P. 1001:1101(100) ack 5001 win 65535 <TS val 20 ecr 700>
        +1     > P. 1001:1101(100) ack 5001 win 65535 <TS val 1020 ecr 700>
        # The ACK of the first copy, delayed (or the answer to the second copy from a peer
        # that had the first): its echo predates the timeout, so it would measure the
        # timeout as round-trip time (RFC 7323 4.3 (C)).
        +0.03  < . 5001:5001(0) ack 1101 win 65535 <TS val 730 ecr 20>
        ",
    );
    assert_eq!(s.conn.tcb().snd_una, SeqNum(1101));
    assert_eq!(s.conn.srtt_us(), Some(10_000));
    // Later segments, sent after the timeout, are timed by their echoes again.
    s.run(
        "
        +0.01  send 100
        +0     > P. 1101:1201(100) ack 5001 win 65535 <TS val 1060 ecr 730>
        # No sample since the timeout, but new data was acknowledged: the RTO is the
        # estimate's 1 s again, not the backed-off 2 s.
        +1     > P. 1101:1201(100) ack 5001 win 65535 <TS val 2060 ecr 730>
        +0.02  < . 5001:5001(0) ack 1201 win 65535 <TS val 740 ecr 2060>
        ",
    );
    // 7/8 of 10 ms + 1/8 of 20 ms.
    assert_eq!(s.conn.srtt_us(), Some(11_250));
    s.finish();
}

#[test]
fn echo_samples_round_up_to_a_tick_and_impossible_echoes_are_ignored() {
    // Each time one segment, sent at 0.02 s with TSval 20 and again at 1.02 s with TSval
    // 1020, acknowledged at `at` with echo `ecr`. Karn's rule cannot time it.
    let srtt_after = |at: &str, ecr: u32| {
        let mut s = negotiated(immediate());
        s.run(&format!(
            "
            +0.01  send 100
            +0     > P. 1001:1101(100) ack 5001 win 65535 <TS val 20 ecr 700>
            +1     > P. 1001:1101(100) ack 5001 win 65535 <TS val 1020 ecr 700>
            {at}  < . 5001:5001(0) ack 1101 win 65535 <TS val 730 ecr {ecr}>
            "
        ));
        assert_eq!(s.conn.tcb().snd_una, SeqNum(1101));
        s.finish();
        s.conn.srtt_us()
    };
    // Within the tick of the retransmission: 0 ticks count as one, 1 ms; SRTT = (7 * 10 ms
    // + 1 ms) / 8, to the microsecond.
    assert_eq!(srtt_after("+0.0005", 1020), Some(8_875));
    // 1.9 ticks are one tick: the clock's resolution.
    assert_eq!(srtt_after("+0.0019", 1020), Some(8_875));
    // An echo from the future measures nothing; nor does 0 (RFC 7323 3.2: what a segment
    // without ACK carries), nor one 2^31 ticks or more in the past: the SYN-ACK's 10 ms
    // stands.
    assert_eq!(srtt_after("+0.01", 5000), Some(10_000));
    assert_eq!(srtt_after("+0.01", 0), Some(10_000));
    assert_eq!(srtt_after("+0.01", 1030 + (1 << 31)), Some(10_000));
}

#[test]
fn the_option_comes_off_the_mss_but_not_below_the_floor() {
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(ISS)).unwrap();
    let mut syn = Peer::default().syn(IRS, Some(70));
    syn.options.timestamps = Some((1, 0));
    recv(&mut c, 0, &syn);
    assert!(c.ts_ok());
    assert_eq!(c.tcb().snd_mss, MIN_MSS, "70 - 12 is below the floor");
    let mut syn = Peer::default().syn(IRS, Some(536));
    syn.options.timestamps = Some((1, 0));
    let mut c = Connection::listen(immediate(), LOCAL, SeqNum(ISS)).unwrap();
    recv(&mut c, 0, &syn);
    assert_eq!(c.tcb().snd_mss, 524);
    // The MSS we announce is not reduced (RFC 6691 2: it excludes the options).
    assert_eq!(drain_one(&mut c, 0).mss, Some(1460));
}

#[test]
fn a_pair_negotiates_and_moves_data_byte_exact_with_the_option() {
    let mut p = Pair::new(immediate(), 100, immediate(), 900);
    p.exchange();
    assert!(p.a.ts_ok() && p.b.ts_ok());
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(p.a.send(&data).unwrap(), data.len());
    p.exchange();
    let mut got = Vec::new();
    p.b.recv_to_vec(usize::MAX, &mut got);
    assert_eq!(got, data);
    assert!(p
        .trace
        .iter()
        .all(|(_, s)| s.payload.len() <= 1448 && s.dst.port() != 0));
    assert_eq!(
        p.a.counters().paws_rejected + p.b.counters().paws_rejected,
        0
    );
}

/// A blind segment that RFC 5961 drops (an ACK of data never sent, or an in-window SYN
/// answered by a challenge ACK) must not move TS.Recent: one forged TSval far ahead would
/// make PAWS refuse every real segment of the peer for 24 days. TS.Recent moves only once
/// the ACK field proved valid (found by review; Linux fixed the same in 2013).
#[test]
fn a_segment_dropped_by_the_ack_or_syn_checks_does_not_move_ts_recent() {
    let mut s = negotiated(immediate());
    s.run(
        "
        # Forged: text overlapping RCV.NXT, an ACK of data never sent, TSval far ahead.
        +0.01  < P. 4000:5101(1101) ack 999999 win 65535 <TS val 2147484000 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 20 ecr 700>
        # Forged: an in-window SYN, challenged.
        +0.01  < S 5001:5001(0) win 65535 <TS val 2147484000 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 30 ecr 700>
        # The real peer's next segment is taken, and its TSval is echoed.
        +0.01  < P. 5001:5101(100) ack 1001 win 65535 <TS val 720 ecr 10>
        +0     > . 1001:1001(0) ack 5101 win 65435 <TS val 40 ecr 720>
        ",
    );
    assert_eq!(s.conn.recv_queue_len(), 100);
    assert_eq!(s.conn.counters().paws_rejected, 0);
    s.finish();
}

/// Our SYN-ACK was lost and the peer retries its SYN without options (some stacks drop
/// them on SYN retries): the answer follows the retried SYN, timestamps are off, and the
/// peer's option-less ACK and data complete the handshake (found by review).
#[test]
fn a_syn_retried_without_options_renegotiates_and_the_handshake_completes() {
    let mut s = Script::listen(immediate(), 1000);
    s.run(
        "
        0      < S 5000:5000(0) win 20000 <mss 1460,sackOK,TS val 300 ecr 0>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,sackOK,TS val 0 ecr 300>
        +0.5   < S 5000:5000(0) win 20000 <mss 1460>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460>
        +0.01  < . 5001:5001(0) ack 1001 win 20000
        +0.01  < P. 5001:5101(100) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 5101 win 65435
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    assert!(!s.conn.ts_ok());
    assert_eq!(s.conn.counters().ts_missing_dropped, 0);
    assert_eq!(s.conn.recv_queue_len(), 100);
    s.finish();
}

/// Last.ACK.sent starts at RCV.NXT when the SYN is taken (RFC 7323 Appendix D), so an
/// out-of-order segment handled before our first ACK goes out does not set TS.Recent
/// (4.3 case B), whatever the IRS (here in the upper half of the sequence space, where a
/// Last.ACK.sent of 0 would compare as "after" it; found by review).
#[test]
fn an_out_of_order_segment_before_our_first_ack_does_not_set_ts_recent() {
    let mut c = Connection::connect(immediate(), LOCAL, REMOTE, SeqNum(ISS), 0).unwrap();
    drain(&mut c, 0);
    let p = Peer::default();
    let irs: u32 = 0x9000_0000;
    let mut sa = p.syn_ack(irs, ISS + 1, Some(1460));
    sa.options.timestamps = Some((700, 0));
    recv(&mut c, 10_000, &sa);
    assert_eq!(c.tcb().last_ack_sent, SeqNum(irs + 1));
    let payload = [0u8; 100];
    let mut ooo = p.data(irs + 4001, ISS + 1, &payload);
    ooo.options.timestamps = Some((900, 0));
    recv(&mut c, 10_000, &ooo);
    assert_eq!(c.tcb().ts_recent, 700, "not from beyond the hole");
    let sent = drain(&mut c, 10_000);
    assert_eq!(sent[0].timestamps, Some((10, 700)));
}

/// A segment PAWS drops (or one missing the option) says nothing about the peer now: the
/// keep-alive timer runs on and, with the peer otherwise silent, gives up.
#[test]
fn segments_paws_drops_do_not_count_as_hearing_from_the_peer() {
    let ka = Keepalive {
        idle_us: 10 * SEC,
        interval_us: SEC,
        count: 2,
    };
    let mut s = negotiated(Config {
        keepalive: Some(ka),
        ..immediate()
    });
    s.run(
        "
        +5     < . 5001:5001(0) ack 1001 win 65535 <TS val 600 ecr 10>
        +0     > . 1001:1001(0) ack 5001 win 65535 <TS val 5010 ecr 700>
        +0.5   < . 5001:5001(0) ack 1001 win 65535
        ",
    );
    assert_eq!(s.conn.counters().paws_rejected, 1);
    assert_eq!(s.conn.counters().ts_missing_dropped, 1);
    // Idle since the handshake's ACK (at 0.01 s): the first probe is due at 10.01 s.
    assert_eq!(s.conn.poll_timeout(), Some(10 * SEC + 10_000));
}

//! The options the SYNs negotiate: window scale (RFC 7323 2) and SACK-permitted (RFC 2018
//! 2), as packet scripts: the exact segments on the wire, and the windows the core uses.

use super::script::Script;
use super::*;
use crate::endpoint::EndpointConfig;
use crate::sim::{LinkConfig, Simulator};

/// A 1 MiB receive buffer: the smallest shift that fits it into 16 bits is 5.
fn big() -> Config {
    Config {
        recv_buffer: 1 << 20,
        ..immediate()
    }
}

#[test]
fn our_shift_is_the_smallest_that_fits_the_buffer_or_the_configured_floor() {
    let shift = |recv_buffer, window_scale| {
        Config {
            recv_buffer,
            window_scale,
            ..Config::default()
        }
        .window_shift()
    };
    assert_eq!(shift(65535, Some(0)), Some(0));
    assert_eq!(shift(65536, Some(0)), Some(1));
    assert_eq!(shift(1 << 20, Some(0)), Some(5));
    assert_eq!(
        shift(4096, Some(7)),
        Some(7),
        "a floor above what the buffer needs"
    );
    assert_eq!(
        shift(1 << 20, Some(2)),
        Some(5),
        "the buffer needs more than the floor"
    );
    assert_eq!(
        shift(1 << 31, Some(0)),
        Some(14),
        "RFC 7323 2.3: never above 14"
    );
    assert_eq!(shift(1 << 20, None), None, "off");
    let bad = Config {
        window_scale: Some(15),
        ..Config::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn both_sides_scale_windows_both_ways_but_never_a_syn_window() {
    let mut s = Script::connect(big(), 1000);
    s.run(
        "
        # Our SYN offers shift 5; its window is the free space, unscaled (RFC 7323 2.2).
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 5,sackOK,TS val 0 ecr 0>
        # The SYN-ACK's window is not scaled either, though it carries shift 7.
        +0.01  < S. 5000:5000(0) ack 1001 win 30000 <mss 1460,wscale 7,sackOK>
        # 1 MiB free, in units of 32 bytes.
        +0     > . 1001:1001(0) ack 5001 win 32768
        ",
    );
    let t = *s.conn.tcb();
    assert!(t.wscale_ok && t.sack_ok);
    assert_eq!((t.snd_wscale, t.rcv_wscale), (7, 5));
    assert_eq!(t.snd_wnd, 30000, "the SYN-ACK's window, unscaled");
    assert_eq!(t.rcv_wnd, 1 << 20, "what we advertised, in bytes");

    // From now on the peer's window counts units of 128 bytes: 10 of them are 1280 bytes,
    // and that is all we send of 3000. Sender SWS avoidance (RFC 9293 3.8.6.2.1): less than
    // a segment and less than half the largest window offered (30000), it waits for the
    // override timeout, the persist timer (the 1 s RTO).
    s.run(
        "
        +0.01  < . 5001:5001(0) ack 1001 win 10
        +0     send 3000
        +1     > . 1001:2281(1280) ack 5001 win 32768
        ",
    );
    assert_eq!(s.conn.tcb().snd_wnd, 1280);
    assert_eq!(s.conn.tcb().max_snd_wnd, 30000);

    // 1000 bytes arrive. The free space, 2^20 - 1000, is 32736.75 units: rounded down, the
    // window's right edge would fall 24 bytes short of where our last ACK put it (RCV.NXT
    // + 2^20), so it is rounded up (RFC 7323 2.4; RFC 9293 3.8.6.2.2: do not shrink).
    s.run(
        "
        +0.01  < P. 5001:6001(1000) ack 2281 win 10
        # The next 1280 bytes wait for the override again: the ACK goes alone.
        +0     > . 2281:2281(0) ack 6001 win 32737
        ",
    );
    assert_eq!(s.conn.tcb().rcv_wnd, 32737 * 32);
    // The edge stays honoured: a segment that reaches it is in the window (RFC 7323 2.4,
    // rule 1), though it ends 8 bytes past the buffer.
    assert_eq!(s.conn.rcv_wnd(), 32737 * 32);
    s.run(
        "
        # Reading it all opens the window by less than an MSS: no update (RFC 9293 3.8.6.2.2).
        +0.01  read 1000
        +0.01  < . 6001:6001(0) ack 2281 win 2
        ",
    );
    assert_eq!(s.conn.tcb().snd_wnd, 256);
    // The read freed 1000 bytes, less than an MSS: the edge has not moved (3.8.6.2.2).
    s.run("+1  > . 2281:2537(256) ack 6001 win 32737");
    s.finish();
}

#[test]
fn a_peer_without_window_scale_turns_it_off_both_ways() {
    let mut s = Script::connect(big(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 5,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 30000 <mss 1460>
        # Unscaled, so at most 65535 of the 1 MiB free.
        +0     > . 1001:1001(0) ack 5001 win 65535
        +0.01  < . 5001:5001(0) ack 1001 win 10
        +0     send 3000
        # 10 bytes of a window that was 30000: they wait for SWS avoidance's override.
        +1     > . 1001:1011(10) ack 5001 win 65535
        ",
    );
    let t = *s.conn.tcb();
    assert!(!t.wscale_ok && !t.sack_ok);
    assert_eq!((t.snd_wscale, t.rcv_wscale, t.snd_wnd), (0, 0, 10));
    assert_eq!(s.conn.rcv_wnd(), 65535);
    s.finish();
}

#[test]
fn a_synack_offering_what_our_syn_did_not_changes_nothing() {
    // RFC 7323 2.2: both SYNs must carry the option; RFC 2018 2 likewise; RFC 7323 3.2 for
    // timestamps ("both <SYN> and <SYN,ACK> contain TSopt").
    let config = Config {
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
        ..big()
    };
    let mut s = Script::connect(config, 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460>
        +0.01  < S. 5000:5000(0) ack 1001 win 300 <mss 1460,wscale 7,sackOK,TS val 9 ecr 0>
        +0     > . 1001:1001(0) ack 5001 win 65535
        +0.01  < . 5001:5001(0) ack 1001 win 300
        ",
    );
    let t = *s.conn.tcb();
    assert!(!t.wscale_ok && !t.sack_ok && !t.ts_ok);
    assert_eq!(t.snd_wnd, 300);
    s.finish();
}

#[test]
fn passive_open_answers_a_syn_without_options_without_them() {
    let mut s = Script::listen(big(), 1000);
    s.run(
        "
        0      < S 5000:5000(0) win 20000 <mss 1460>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460>
        +0.01  < . 5001:5001(0) ack 1001 win 20000
        +0.01  < P. 5001:5101(100) ack 1001 win 20000
        # The right edge stays where the SYN-ACK put it (RFC 9293 3.8.6.2.2).
        +0     > . 1001:1001(0) ack 5101 win 65435
        ",
    );
    let t = *s.conn.tcb();
    assert_eq!(s.conn.state(), State::Established);
    assert!(!t.wscale_ok && !t.sack_ok);
    assert_eq!(t.snd_wnd, 20000);
    s.finish();
}

#[test]
fn passive_open_answers_the_options_of_the_syn() {
    let mut s = Script::listen(big(), 1000);
    s.run(
        "
        0      < S 5000:5000(0) win 20000 <mss 1460,nop,wscale 2,nop,nop,sackOK>
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,wscale 5,sackOK>
        +0.01  < . 5001:5001(0) ack 1001 win 20000
        ",
    );
    let t = *s.conn.tcb();
    assert!(t.wscale_ok && t.sack_ok);
    assert_eq!(
        t.snd_wnd, 80000,
        "the third ACK is scaled: 20000 units of 4"
    );
    s.run(
        "
        # The SYN-ACK's edge (65535 unscaled) is well inside what the free space allows.
        +0.01  < P. 5001:5101(100) ack 1001 win 20000
        +0     > . 1001:1001(0) ack 5101 win 32764
        ",
    );
    s.finish();

    // Each option answered only if we offer it too.
    for (config, answer) in [
        (
            Config {
                window_scale: None,
                ..big()
            },
            "> S. 1000:1000(0) ack 5001 win 65535 <mss 1460,sackOK>",
        ),
        (
            Config {
                sack_permitted: false,
                ..big()
            },
            "> S. 1000:1000(0) ack 5001 win 65535 <mss 1460,wscale 5>",
        ),
    ] {
        let mut s = Script::listen(config, 1000);
        s.run("0  < S 5000:5000(0) win 20000 <mss 1460,wscale 2,sackOK>");
        s.run(&format!("0  {answer}"));
        s.finish();
    }
}

#[test]
fn a_shift_above_14_is_taken_as_14() {
    // Through the parser (which clamps) ...
    let mut s = Script::connect(big(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 5,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 30000 <mss 1460,wscale 15>
        +0     > . 1001:1001(0) ack 5001 win 32768
        +0.01  < . 5001:5001(0) ack 1001 win 3
        ",
    );
    assert_eq!(s.conn.tcb().snd_wscale, 14);
    assert_eq!(s.conn.tcb().snd_wnd, 3 << 14);
    s.finish();

    // ... and when a segment reaches the connection without going through it.
    let mut c = Connection::listen(big(), LOCAL, SeqNum(ISS)).unwrap();
    let mut syn = Peer::default().syn(IRS, Some(1460));
    syn.options.window_scale = Some(255);
    c.handle_segment(0, REMOTE.ip(), &syn);
    assert_eq!(c.tcb().snd_wscale, 14, "RFC 7323 2.3: MUST use 14");
}

#[test]
fn our_windows_count_units_of_our_shift_however_small_the_buffer() {
    // A shift above what the buffer needs: 4096 bytes free are 512 units of 8.
    let config = Config {
        recv_buffer: 4096,
        window_scale: Some(3),
        ..immediate()
    };
    let mut s = Script::connect(config, 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 4096 <mss 1460,wscale 3,sackOK,TS val 0 ecr 0>
        +0.01  < S. 5000:5000(0) ack 1001 win 1000 <mss 1460,wscale 0,sackOK>
        +0     > . 1001:1001(0) ack 5001 win 512
        # 4093 free after 3 bytes: 511.6 units, rounded up to keep the edge.
        +0.01  < P. 5001:5004(3) ack 1001 win 1000
        +0     > . 1001:1001(0) ack 5004 win 512
        # 4000 more: 93 free, 11.6 units, yet the edge the last ACK put at 9100 is 12 on.
        +0.01  < P. 5004:9004(4000) ack 1001 win 1000
        +0     > . 1001:1001(0) ack 9004 win 12
        # Up to that edge: 96 bytes, 3 past the buffer, are taken; the window closes.
        +0.01  < P. 9004:9100(96) ack 1001 win 1000
        +0     > . 1001:1001(0) ack 9100 win 0
        +0.01  read 4099
        +0     > . 1001:1001(0) ack 9100 win 512
        ",
    );
    assert_eq!(s.conn.recv_queue_len(), 0);
    s.finish();
}

#[test]
fn simultaneous_open_negotiates_from_the_crossing_syns() {
    let mut s = Script::connect(big(), 1000);
    s.run(
        "
        0      > S 1000:1000(0) win 65535 <mss 1460,wscale 5,sackOK,TS val 0 ecr 0>
        +0.01  < S 5000:5000(0) win 4000 <mss 1460,wscale 3,sackOK>
        # The peer's SYN offered both: our SYN-ACK answers with both.
        +0     > S. 1000:1000(0) ack 5001 win 65535 <mss 1460,wscale 5,sackOK>
        +0.01  < S. 5000:5000(0) ack 1001 win 4000 <mss 1460,wscale 3,sackOK>
        ",
    );
    assert_eq!(s.conn.state(), State::Established);
    let t = *s.conn.tcb();
    assert!(t.wscale_ok && t.sack_ok);
    assert_eq!(t.snd_wnd, 4000, "a SYN-ACK's window is never scaled");
    s.run("+0.01  < . 5001:5001(0) ack 1001 win 4000");
    assert_eq!(s.conn.tcb().snd_wnd, 32000);
    s.finish();
}

/// A 4 MiB transfer from a to b over a 100 ms round trip, with `window_scale` on both
/// hosts; returns the largest flight the sender had and the largest window it was offered.
fn long_fat_transfer(window_scale: Option<u8>) -> (u32, u32) {
    let conn = Config {
        recv_buffer: 1 << 20,
        send_buffer: 1 << 20,
        window_scale,
        ..EndpointConfig::default().conn
    };
    let config = EndpointConfig {
        conn,
        ..EndpointConfig::default()
    };
    let link = LinkConfig {
        delay_us: 50_000,
        ..LinkConfig::default()
    };
    let mut sim = Simulator::new(7);
    let (a_ip, b_ip) = (LOCAL.ip(), REMOTE.ip());
    let a = sim.add_host("a", a_ip, config.clone()).unwrap();
    let b = sim.add_host("b", b_ip, config).unwrap();
    sim.add_link(a, b, link.clone()).unwrap();
    sim.add_link(b, a, link).unwrap();
    sim.listen(b, 80).unwrap();
    let ca = sim.connect(a, SocketAddr::new(b_ip, 80)).unwrap();
    let data = pattern(4 << 20, 9);
    let (mut queued, mut got) = (0, Vec::new());
    let (mut flight, mut offered) = (0, 0);
    let mut cb = None;
    while sim.now() < 600 * SEC && got.len() < data.len() {
        if queued < data.len() {
            let room = sim.connection(a, ca).unwrap().send_capacity();
            let n = room.min(data.len() - queued);
            if n > 0 {
                sim.send(a, ca, &data[queued..queued + n]).unwrap();
                queued += n;
            }
        }
        if cb.is_none() {
            cb = sim.accept(b, 80).unwrap();
        }
        if !sim.step() {
            break;
        }
        let t = *sim.connection(a, ca).unwrap().tcb();
        flight = flight.max(t.snd_max.distance_from(t.snd_una));
        offered = offered.max(t.snd_wnd);
        if let Some(id) = cb {
            got.extend(sim.recv(b, id, usize::MAX).unwrap());
        }
    }
    assert!(
        got == data,
        "{} of {} bytes, not byte-exact",
        got.len(),
        data.len()
    );
    let t = *sim.connection(a, ca).unwrap().tcb();
    assert_eq!(t.wscale_ok, window_scale.is_some());
    (flight, offered)
}

#[test]
fn scaled_windows_carry_more_than_64_kib_in_flight_byte_exact() {
    let (flight, offered) = long_fat_transfer(Some(0));
    assert!(offered > 65535, "the receiver offered {offered}");
    assert!(flight > 65535, "at most {flight} bytes in flight");
    // The same without scaling: the 16-bit window caps the flight.
    let (flight, offered) = long_fat_transfer(None);
    assert!(offered <= 65535 && flight <= 65535, "{offered} {flight}");
}

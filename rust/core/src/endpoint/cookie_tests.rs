//! SYN cookies, in the style of a packet script: one segment in, the exact segments expected
//! out. The server is 192.0.2.10:80 with a backlog of 2 unless a test says otherwise;
//! clients send from 192.0.2.20.

use super::cookie::{period, SynCookies};
use super::*;
use crate::conn::rules;
use crate::seq::SeqNum;
use crate::wire::TcpOptions;
use std::net::{Ipv4Addr, Ipv6Addr};

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));
const KEY: [u8; 16] = [5; 16];
/// The whole default receive buffer, as a fresh connection advertises it.
const WIN: u16 = 65535;
const PORT: u16 = 80;

fn listening(backlog: usize, syn_cookies: bool) -> (Endpoint, SocketAddr) {
    listening_with(backlog, syn_cookies, |_| {})
}

/// `listening` with the connection settings adjusted by `adjust`.
fn listening_with(
    backlog: usize,
    syn_cookies: bool,
    adjust: impl FnOnce(&mut crate::conn::Config),
) -> (Endpoint, SocketAddr) {
    // The scripts expect each data segment acknowledged at once, each write sent at once.
    let mut conn = crate::conn::Config {
        delayed_ack_us: 0,
        nodelay: true,
        ..crate::conn::Config::default()
    };
    adjust(&mut conn);
    let config = EndpointConfig {
        backlog,
        syn_cookies,
        conn,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(config, KEY).unwrap();
    let addr = SocketAddr::new(SERVER, PORT);
    ep.listen(addr).unwrap();
    (ep, addr)
}

/// A segment as it travels, with the fields a script compares (options included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    src: SocketAddr,
    dst: SocketAddr,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    window: u16,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
    payload: Vec<u8>,
}

/// A segment from the client's port `port` to the server.
fn from(port: u16, flags: TcpFlags, seq: u32, ack: u32) -> Seg {
    Seg {
        src: SocketAddr::new(CLIENT, port),
        dst: SocketAddr::new(SERVER, PORT),
        flags,
        seq,
        ack,
        window: 4000,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        payload: Vec::new(),
    }
}

impl Seg {
    fn mss(mut self, mss: u16) -> Self {
        self.mss = Some(mss);
        self
    }

    fn data(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    fn ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.timestamps = Some((tsval, tsecr));
        self
    }

    /// The segment `self` answers with, from the server, in the script's notation.
    fn reply(&self, flags: TcpFlags, seq: u32, ack: u32, window: u16) -> Seg {
        Seg {
            src: self.dst,
            dst: self.src,
            flags,
            seq,
            ack,
            window,
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamps: None,
            payload: Vec::new(),
        }
    }

    fn packet(&self) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: SeqNum(self.seq),
            ack: SeqNum(self.ack),
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: TcpOptions {
                mss: self.mss,
                window_scale: self.window_scale,
                sack_permitted: self.sack_permitted,
                timestamps: self.timestamps,
                ..TcpOptions::default()
            },
            payload: &self.payload,
        };
        let mut pkt = Vec::new();
        wire::build_tcp_packet(self.src.ip(), self.dst.ip(), &repr, &mut pkt).unwrap();
        pkt
    }

    fn parse(pkt: &[u8]) -> Seg {
        let (src, dst, s) = wire::parse_tcp_packet(pkt).unwrap();
        Seg {
            src: SocketAddr::new(src, s.src_port),
            dst: SocketAddr::new(dst, s.dst_port),
            flags: s.flags,
            seq: s.seq.0,
            ack: s.ack.0,
            window: s.window,
            mss: s.options.mss,
            window_scale: s.options.window_scale,
            sack_permitted: s.options.sack_permitted,
            timestamps: s.options.timestamps,
            payload: s.payload.to_vec(),
        }
    }
}

/// Feed `seg` to `ep` at `now`; return everything `ep` sends then.
fn step(ep: &mut Endpoint, now: u64, seg: &Seg) -> Vec<Seg> {
    ep.handle_packet(now, &seg.packet()).unwrap();
    out(ep, now)
}

fn out(ep: &mut Endpoint, now: u64) -> Vec<Seg> {
    let mut pkts = Vec::new();
    ep.poll_transmit(now, &mut pkts);
    pkts.iter().map(|p| Seg::parse(p)).collect()
}

/// The cookie the server's key makes for `syn` at `now`.
fn cookie_for(now: u64, syn: &Seg) -> u32 {
    let peer_mss = syn.mss.unwrap_or(536);
    SynCookies::new(&KEY)
        .make(now, syn.dst, syn.src, SeqNum(syn.seq), peer_mss)
        .unwrap()
        .0
         .0
}

/// Two half-open connections from ports 1000 and 1001: the backlog of 2 is full.
fn fill_backlog(ep: &mut Endpoint) {
    for port in [1000, 1001] {
        let syn = from(port, TcpFlags::SYN, 10, 0).mss(1460);
        let got = step(ep, 0, &syn);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    }
    assert_eq!(ep.len(), 2);
}

/// The cookie SYN-ACK for `syn`: what a fresh connection in SYN-RECEIVED sends, our MSS
/// and the whole window, with the cookie as ISS and no other option.
fn cookie_synack(now: u64, syn: &Seg) -> Seg {
    let mut s = syn.reply(
        TcpFlags::SYN | TcpFlags::ACK,
        cookie_for(now, syn),
        syn.seq.wrapping_add(1),
        WIN,
    );
    s.mss = Some(1460);
    s
}

#[test]
fn a_full_backlog_answers_with_a_cookie_and_keeps_nothing() {
    let (mut ep, _) = listening(2, true);
    fill_backlog(&mut ep);
    // The peer offers window scaling and SACK; the cookie SYN-ACK offers neither.
    let mut syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1400);
    syn.window_scale = Some(7);
    syn.sack_permitted = true;
    assert_eq!(step(&mut ep, 10, &syn), vec![cookie_synack(10, &syn)]);
    assert_eq!(ep.len(), 2, "no TCB for the cookie SYN");
    assert_eq!(ep.counters().syn_cookies_sent, 1);
    assert_eq!(ep.counters().syns_dropped_backlog, 0);
    // A repeated SYN gets the same SYN-ACK again (same counter period): still no state.
    assert_eq!(step(&mut ep, 20, &syn), vec![cookie_synack(10, &syn)]);
    assert_eq!(ep.len(), 2);
}

#[test]
fn the_cookie_synack_is_the_ordinary_one_but_for_its_isn() {
    // Same SYN to an endpoint with room: the SYN-ACKs differ in the ISS only.
    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1460);
    let (mut roomy, _) = listening(2, true);
    let ordinary = step(&mut roomy, 0, &syn);
    let (mut full, _) = listening(2, true);
    fill_backlog(&mut full);
    let cookie = step(&mut full, 0, &syn);
    assert_eq!(ordinary.len(), 1);
    assert_eq!(cookie.len(), 1);
    assert_eq!(
        Seg {
            seq: cookie[0].seq,
            ..ordinary[0].clone()
        },
        cookie[0]
    );
}

#[test]
fn the_returning_ack_completes_the_connection_and_data_flows() {
    let (mut ep, addr) = listening(2, true);
    fill_backlog(&mut ep);
    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1400);
    let cookie = step(&mut ep, 10, &syn)[0].seq;
    // The handshake's ACK carries the first bytes: they are acknowledged at once, and the
    // connection waits in the accept queue.
    let ack = from(
        2000,
        TcpFlags::ACK | TcpFlags::PSH,
        7_001,
        cookie.wrapping_add(1),
    )
    .data(b"hello")
    .window(3000);
    let got = step(&mut ep, 50, &ack);
    assert_eq!(
        got,
        vec![ack.reply(TcpFlags::ACK, cookie.wrapping_add(1), 7_006, WIN - 5)]
    );
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
    assert_eq!(ep.len(), 3);
    let id = ep.accept(addr).expect("the cookie connection is accepted");
    // The two half-open ones are not.
    assert_eq!(ep.accept(addr), None);
    let c = ep.connection(id).unwrap();
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.remote(), Some(ack.src));
    let t = *c.tcb();
    assert_eq!((t.iss, t.irs), (SeqNum(cookie), SeqNum(7_000)));
    assert_eq!((t.snd_una, t.rcv_nxt), (SeqNum(cookie) + 1, SeqNum(7_006)));
    // The peer's 1400 rounded down to the table's 1300; the ACK's window.
    assert_eq!(t.snd_mss, 1300);
    assert_eq!(t.snd_wnd, 3000);
    // The spec's rules, as for any passive open.
    let rules_seen: Vec<_> = c
        .log()
        .entries()
        .filter_map(|e| match e.kind {
            crate::conn::LogKind::State { rule, .. } => Some(rule),
            _ => None,
        })
        .collect();
    assert_eq!(
        rules_seen,
        vec![
            rules::CLOSED_LISTEN,
            rules::LISTEN_RECV_SYN,
            rules::SYN_RECEIVED_RECV_ACK
        ]
    );
    assert_eq!(
        c.applied_rules().first(),
        Some(&rules::SYN_RECEIVED_RECV_ACK)
    );
    // Nothing outstanding, so no timer.
    assert_eq!(c.poll_timeout(), None);
    // The re-created SYN-ACK is dated at the ACK's arrival: it is not timed (a sample of 0,
    // see `cookie::Endpoint::rebuild`), and without timestamps nothing else measures the
    // handshake, so the RTO is still the initial one (RFC 6298 2.1).
    assert_eq!(c.srtt_us(), None);
    assert_eq!(c.rto_us(), c.config().rto.initial_rto_us);

    let c = ep.connection_mut(id).unwrap();
    let mut got = Vec::new();
    c.recv_to_vec(100, &mut got);
    assert_eq!(got, b"hello");
    // Server to client: 3000 bytes in segments of the cookie's MSS, within the peer's
    // window of 3000.
    let reply: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.send(&reply).unwrap(), 3000);
    let s0 = cookie.wrapping_add(1);
    // Reading "hello" freed 5 bytes, too few to move the window's right edge (receiver
    // SWS avoidance, RFC 9293 3.8.6.2.2): the window stays 5 short of the buffer.
    let data = |seq: u32, range: std::ops::Range<usize>, flags| {
        let mut s = ack.reply(TcpFlags::ACK | flags, seq, 7_006, WIN - 5);
        s.payload = reply[range].to_vec();
        s
    };
    assert_eq!(
        out(&mut ep, 60),
        vec![
            data(s0, 0..1300, TcpFlags::empty()),
            data(s0.wrapping_add(1300), 1300..2600, TcpFlags::empty()),
            data(s0.wrapping_add(2600), 2600..3000, TcpFlags::PSH),
        ]
    );
    // Client to server, then the client's FIN: byte-exact, acknowledged.
    let more = from(
        2000,
        TcpFlags::ACK | TcpFlags::PSH,
        7_006,
        s0.wrapping_add(3000),
    )
    .data(b" world")
    .window(3000);
    assert_eq!(
        step(&mut ep, 70, &more),
        // " world" fills 6 more bytes of a window already 5 short (see above).
        vec![more.reply(TcpFlags::ACK, s0.wrapping_add(3000), 7_012, WIN - 11)]
    );
    let fin = from(
        2000,
        TcpFlags::ACK | TcpFlags::FIN,
        7_012,
        s0.wrapping_add(3000),
    );
    assert_eq!(
        step(&mut ep, 80, &fin),
        // The FIN takes a sequence number; the edge stays put, so the window is one less.
        vec![fin.reply(TcpFlags::ACK, s0.wrapping_add(3000), 7_013, WIN - 12)]
    );
    let c = ep.connection_mut(id).unwrap();
    let mut got = Vec::new();
    c.recv_to_vec(100, &mut got);
    assert_eq!(got, b" world");
    assert!(c.at_eof());
    assert_eq!(c.state(), State::CloseWait);
    assert!(c.all_acked());
}

#[test]
fn forged_stale_and_misdirected_acks_are_reset() {
    let (mut ep, _) = listening(2, true);
    fill_backlog(&mut ep);
    // Before any cookie went out a stray ACK is an ordinary one: reset, not counted.
    let stray = from(2000, TcpFlags::ACK, 7_001, 12_345);
    assert_eq!(
        step(&mut ep, 0, &stray),
        vec![stray.reply(TcpFlags::RST, 12_345, 0, 0)]
    );
    assert_eq!(ep.counters().syn_cookies_rejected, 0);

    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1460);
    let cookie = step(&mut ep, 0, &syn)[0].seq;
    let good_ack = cookie.wrapping_add(1);
    let bad = [
        // Forged: one off, and a flipped MSS index bit.
        from(2000, TcpFlags::ACK, 7_001, good_ack.wrapping_add(1)),
        from(2000, TcpFlags::ACK, 7_001, good_ack ^ 2),
        // Another 4-tuple (source port).
        from(2001, TcpFlags::ACK, 7_001, good_ack),
        // Not numbered right after the SYN's ISN.
        from(2000, TcpFlags::ACK, 7_002, good_ack),
    ];
    for (i, seg) in bad.iter().enumerate() {
        assert_eq!(
            step(&mut ep, 1, seg),
            vec![seg.reply(TcpFlags::RST, seg.ack, 0, 0)],
            "case {i}"
        );
    }
    // Stale: two periods later (the listener keeps sending cookies, so ACKs are checked).
    let later = 2 * COOKIE_PERIOD_US;
    let other = from(3000, TcpFlags::SYN, 1, 0).mss(1460);
    assert_eq!(step(&mut ep, later, &other).len(), 1);
    let stale = from(2000, TcpFlags::ACK, 7_001, good_ack);
    assert_eq!(
        step(&mut ep, later, &stale),
        vec![stale.reply(TcpFlags::RST, good_ack, 0, 0)]
    );
    assert_eq!(ep.counters().syn_cookies_rejected, 5);
    assert_eq!(ep.counters().syn_cookies_accepted, 0);
    assert_eq!(ep.len(), 2);
    // One period later, from a listener that sent its last cookie then, it still checks.
    let (mut ep, addr) = listening(2, true);
    fill_backlog(&mut ep);
    step(&mut ep, 0, &syn);
    let ack = from(2000, TcpFlags::ACK, 7_001, good_ack);
    assert!(step(&mut ep, COOKIE_PERIOD_US + 5, &ack).is_empty());
    assert!(ep.accept(addr).is_some());
}

#[test]
fn ack_checking_stops_once_no_cookie_can_be_valid() {
    let (mut ep, _) = listening(2, true);
    fill_backlog(&mut ep);
    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1460);
    let cookie = step(&mut ep, 0, &syn)[0].seq;
    let ack = from(2000, TcpFlags::ACK, 7_001, cookie.wrapping_add(1));
    let t = 2 * COOKIE_PERIOD_US;
    assert_eq!(period(t), 2);
    assert_eq!(
        step(&mut ep, t, &ack),
        vec![ack.reply(TcpFlags::RST, ack.ack, 0, 0)]
    );
    // Not a rejected cookie: no cookie was checked at all.
    assert_eq!(ep.counters().syn_cookies_rejected, 0);
}

#[test]
fn without_cookies_a_full_backlog_drops_the_syn() {
    let (mut ep, _) = listening(2, false);
    fill_backlog(&mut ep);
    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1460);
    assert!(step(&mut ep, 0, &syn).is_empty());
    assert_eq!(ep.counters().syns_dropped_backlog, 1);
    assert_eq!(ep.counters().syn_cookies_sent, 0);
    // And an ACK with what would have been the cookie is a stray ACK: reset.
    let ack = from(
        2000,
        TcpFlags::ACK,
        7_001,
        cookie_for(0, &syn).wrapping_add(1),
    );
    assert_eq!(
        step(&mut ep, 1, &ack),
        vec![ack.reply(TcpFlags::RST, ack.ack, 0, 0)]
    );
    assert_eq!(ep.len(), 2);
    assert_eq!(ep.counters().syn_cookies_rejected, 0);
}

#[test]
fn a_full_accept_queue_drops_syns_and_cookie_acks() {
    let (mut ep, addr) = listening(1, true);
    // One half-open connection fills the backlog; the next SYN gets a cookie.
    let first = from(1000, TcpFlags::SYN, 10, 0).mss(1460);
    let iss = step(&mut ep, 0, &first)[0].seq;
    let syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1460);
    let cookie = step(&mut ep, 0, &syn)[0].seq;
    // The first completes and waits for accept: the accept queue is full.
    let first_ack = from(1000, TcpFlags::ACK, 11, iss.wrapping_add(1));
    assert!(step(&mut ep, 1, &first_ack).is_empty());
    // Now a valid cookie ACK is dropped without an answer (the peer repeats it with its
    // data), and so is a new SYN: a cookie would meet the same fate.
    let ack = from(
        2000,
        TcpFlags::ACK | TcpFlags::PSH,
        7_001,
        cookie.wrapping_add(1),
    )
    .data(b"x");
    assert!(step(&mut ep, 2, &ack).is_empty());
    assert_eq!(
        ep.counters().dropped.get("syn-cookie-accept-queue-full"),
        Some(&1)
    );
    assert!(step(&mut ep, 2, &from(3000, TcpFlags::SYN, 1, 0)).is_empty());
    assert_eq!(ep.counters().syns_dropped_backlog, 1);
    assert_eq!(ep.counters().syn_cookies_sent, 1);
    // Once the user accepts, the repeated segment completes the handshake.
    assert!(ep.accept(addr).is_some());
    assert_eq!(
        step(&mut ep, 3, &ack),
        vec![ack.reply(TcpFlags::ACK, cookie.wrapping_add(1), 7_002, WIN - 1)]
    );
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
    assert!(ep.accept(addr).is_some());
}

#[test]
fn the_cookie_carries_the_mss_table_value() {
    let cases: [(Option<u16>, u16); 5] = [
        (Some(1460), 1460),
        (Some(1439), 1300),
        (Some(9000), 1460),
        (Some(600), 536),
        // No option: RFC 9293 3.7.1's default for IPv4.
        (None, 536),
    ];
    for (i, (offered, want)) in cases.into_iter().enumerate() {
        let (mut ep, addr) = listening(2, true);
        fill_backlog(&mut ep);
        let mut syn = from(2000 + i as u16, TcpFlags::SYN, 7_000, 0);
        syn.mss = offered;
        let cookie = step(&mut ep, 0, &syn)[0].seq;
        let ack = from(syn.src.port(), TcpFlags::ACK, 7_001, cookie.wrapping_add(1));
        assert!(step(&mut ep, 1, &ack).is_empty());
        let id = ep.accept(addr).unwrap();
        assert_eq!(
            ep.connection(id).unwrap().tcb().snd_mss,
            u32::from(want),
            "{offered:?}"
        );
    }
    // Below the table's least value a cookie would overstate the peer's MSS: the SYN is
    // dropped instead (RFC 9293 3.7.1, MUST-16).
    let (mut ep, _) = listening(2, true);
    fill_backlog(&mut ep);
    assert!(step(&mut ep, 0, &from(2000, TcpFlags::SYN, 1, 0).mss(500)).is_empty());
    assert_eq!(
        ep.counters().dropped.get("syn-cookie-mss-below-table"),
        Some(&1)
    );
}

#[test]
fn cookies_work_over_ipv6() {
    let server = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10));
    let client = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 20));
    let config = EndpointConfig {
        backlog: 0,
        ..EndpointConfig::default()
    };
    // A backlog of 0 holds no connection at all: nothing, not even a cookie, gets in.
    let mut none = Endpoint::new(config, KEY).unwrap();
    let addr = SocketAddr::new(server, PORT);
    none.listen(addr).unwrap();
    let mut syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1440);
    (syn.src, syn.dst) = (SocketAddr::new(client, 2000), addr);
    assert!(step(&mut none, 0, &syn).is_empty());

    let (mut ep, _) = listening(1, true);
    ep.listen(addr).unwrap();
    let mut first = syn.clone();
    first.src.set_port(1000);
    assert_eq!(step(&mut ep, 0, &first).len(), 1);
    let synack = step(&mut ep, 0, &syn);
    // IPv6: our MSS is 20 bytes less (RFC 9293 3.7.1), and the cookie names 1440.
    assert_eq!(synack.len(), 1);
    assert_eq!(synack[0].mss, Some(1440));
    assert_eq!(ep.counters().syn_cookies_sent, 1);
    let mut ack = syn.reply(TcpFlags::ACK, 7_001, synack[0].seq.wrapping_add(1), 0);
    (ack.src, ack.dst) = (syn.src, syn.dst);
    ack.window = 4000;
    assert!(step(&mut ep, 1, &ack).is_empty());
    let id = ep.accept(addr).unwrap();
    assert_eq!(ep.connection(id).unwrap().tcb().snd_mss, 1440);
}

#[test]
fn two_endpoints_complete_a_handshake_through_a_cookie() {
    let (mut server, addr) = listening(1, true);
    // A half-open connection from nowhere fills the backlog.
    assert_eq!(
        step(&mut server, 0, &from(1000, TcpFlags::SYN, 1, 0)).len(),
        1
    );
    let mut client = Endpoint::new(EndpointConfig::default(), [9; 16]).unwrap();
    let cid = client.connect(0, CLIENT, addr).unwrap();
    let upload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let download: Vec<u8> = (0..80_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let (mut up_at, mut down_at) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let mut sid = None;
    let mut now = 0;
    for _ in 0..10_000 {
        let mut to_server = Vec::new();
        client.poll_transmit(now, &mut to_server);
        let mut to_client = Vec::new();
        server.poll_transmit(now, &mut to_client);
        for p in to_server {
            server.handle_packet(now, &p).unwrap();
        }
        for p in to_client {
            client.handle_packet(now, &p).unwrap();
        }
        if sid.is_none() {
            sid = server.accept(addr);
        }
        if let Some(id) = sid {
            let s = server.connection_mut(id).unwrap();
            down_at += s.send(&download[down_at..]).unwrap_or(0);
            if down_at == download.len() {
                let _ = s.close(now);
            }
            s.recv_to_vec(usize::MAX, &mut got_up);
        }
        let c = client.connection_mut(cid).unwrap();
        if c.state() != State::SynSent {
            up_at += c.send(&upload[up_at..]).unwrap_or(0);
            if up_at == upload.len() {
                let _ = c.close(now);
            }
        }
        c.recv_to_vec(usize::MAX, &mut got_down);
        now += 1_000;
        server.handle_timeout(now);
        client.handle_timeout(now);
        let done = |ep: &Endpoint, id| {
            ep.connection(id)
                .is_some_and(|c| matches!(c.state(), State::TimeWait | State::Closed))
        };
        if done(&client, cid) && sid.is_some_and(|id| done(&server, id)) {
            break;
        }
    }
    assert_eq!(server.counters().syn_cookies_sent, 1);
    assert_eq!(server.counters().syn_cookies_accepted, 1);
    let sid = sid.expect("accepted");
    assert_eq!(got_up, upload);
    assert_eq!(got_down, download);
    // Both closed cleanly (their FINs may cross, leaving both in TIME-WAIT).
    for (ep, id) in [(&server, sid), (&client, cid)] {
        let state = ep.connection(id).unwrap().state();
        assert!(
            matches!(state, State::TimeWait | State::Closed),
            "{state:?}"
        );
    }
    assert_eq!(server.connection(sid).unwrap().error(), None);
    assert_eq!(client.connection(cid).unwrap().error(), None);
    // The half-open connection that filled the backlog was never accepted.
    assert_eq!(server.accept(addr), None);
    // Both use timestamps by default, so the cookie kept every option (`cookie_ts`).
    for (ep, id) in [(&server, sid), (&client, cid)] {
        let t = *ep.connection(id).unwrap().tcb();
        assert!(t.ts_ok && t.wscale_ok && t.sack_ok, "{t:?}");
    }
}

/// The clock offset the server's key gives the connection of `seg` (either direction).
fn ts_offset_of(seg: &Seg) -> u32 {
    let (local, remote) = if seg.dst.port() == PORT {
        (seg.dst, seg.src)
    } else {
        (seg.src, seg.dst)
    };
    crate::isn::TsOffsetGenerator::new(&KEY).offset(local, remote)
}

/// A SYN offering everything: MSS 1400, window scale 7, SACK, and timestamps (TSval 5000).
fn full_syn() -> Seg {
    let mut syn = from(2000, TcpFlags::SYN, 7_000, 0).mss(1400).ts(5_000, 0);
    syn.window_scale = Some(7);
    syn.sack_permitted = true;
    syn
}

const T0: u64 = 10_000_000;

#[test]
fn with_timestamps_a_cookie_keeps_window_scale_sack_and_timestamps() {
    let (mut ep, addr) = listening(2, true);
    fill_backlog(&mut ep);
    let syn = full_syn();
    let got = step(&mut ep, T0, &syn);
    // The ordinary SYN-ACK's options: our shift (0 fits the 65535-byte buffer), SACK, and
    // a TSval echoing the SYN's, whose low six bits say "shift 7, SACK" (7 | 16), the rest
    // the clock of the connection to be (10 s: 10000 ticks past its offset) rounded down.
    let offset = ts_offset_of(&syn);
    let clock = offset.wrapping_add(10_000);
    let tsval = {
        let t = (clock & !63) | 23;
        if (clock.wrapping_sub(t) as i32) < 0 {
            t.wrapping_sub(64)
        } else {
            t
        }
    };
    let mut want = cookie_synack(T0, &syn);
    want.window_scale = Some(0);
    want.sack_permitted = true;
    want.timestamps = Some((tsval, 5_000));
    assert_eq!(got, vec![want]);
    assert_eq!(ep.len(), 2, "still no TCB");

    // The ACK 20 ms later echoes it, with data: the connection is built with all three.
    let cookie = got[0].seq;
    let ack = from(
        2000,
        TcpFlags::ACK | TcpFlags::PSH,
        7_001,
        cookie.wrapping_add(1),
    )
    .data(b"hello")
    .window(100)
    .ts(5_020, tsval);
    let t1 = T0 + 20_000;
    let mut reply = ack.reply(TcpFlags::ACK, cookie.wrapping_add(1), 7_006, WIN - 5);
    reply.timestamps = Some((clock.wrapping_add(20), 5_020));
    assert_eq!(step(&mut ep, t1, &ack), vec![reply]);
    let id = ep.accept(addr).expect("accepted");
    let c = ep.connection(id).unwrap();
    let t = *c.tcb();
    assert!(t.wscale_ok && t.sack_ok && t.ts_ok);
    assert_eq!((t.snd_wscale, t.rcv_wscale), (7, 0));
    assert_eq!(t.snd_wnd, 100 << 7, "the ACK's window is scaled");
    assert_eq!(t.ts_recent, 5_020);
    assert_eq!(t.snd_mss, 1300 - 12, "the table's MSS less the option");
    assert_eq!(c.ts_offset(), offset);
    // The echo timed the handshake: 20 ms and the rounding of the cookie's TSval.
    let rtt = u64::from(clock.wrapping_add(20).wrapping_sub(tsval)) * 1000;
    assert!((20_000..84_000).contains(&rtt));
    assert_eq!(c.srtt_us(), Some(rtt));
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
}

#[test]
fn a_cookie_ack_without_timestamps_gets_none_of_the_options() {
    let (mut ep, addr) = listening(2, true);
    fill_backlog(&mut ep);
    let got = step(&mut ep, T0, &full_syn());
    assert!(got[0].timestamps.is_some() && got[0].window_scale.is_some());
    let ack = from(2000, TcpFlags::ACK, 7_001, got[0].seq.wrapping_add(1)).window(100);
    assert!(step(&mut ep, T0 + 20_000, &ack).is_empty());
    let id = ep.accept(addr).expect("accepted");
    let c = ep.connection(id).unwrap();
    let t = *c.tcb();
    assert!(!t.wscale_ok && !t.sack_ok && !t.ts_ok);
    assert_eq!((t.snd_wnd, t.snd_mss), (100, 1300));
    assert_eq!(c.srtt_us(), None, "nothing timed the handshake");
}

#[test]
fn a_cookie_echo_that_cannot_be_ours_is_reset() {
    let (mut ep, _) = listening(2, true);
    fill_backlog(&mut ep);
    let got = step(&mut ep, T0, &full_syn());
    let (tsval, _) = got[0].timestamps.unwrap();
    let ack = |tsecr| from(2000, TcpFlags::ACK, 7_001, got[0].seq.wrapping_add(1)).ts(5_020, tsecr);
    // The spare bit set; an echo from the future.
    for tsecr in [tsval | 32, tsval.wrapping_add(1000)] {
        let a = ack(tsecr);
        assert_eq!(
            step(&mut ep, T0 + 20_000, &a),
            vec![a.reply(TcpFlags::RST, a.ack, 0, 0)]
        );
    }
    assert_eq!(ep.counters().syn_cookies_rejected, 2);
    assert_eq!(ep.counters().syn_cookies_accepted, 0);
}

#[test]
fn with_timestamps_off_the_cookie_synack_offers_only_the_mss() {
    let (mut ep, addr) = listening_with(2, true, |c| c.timestamps = false);
    fill_backlog(&mut ep);
    let syn = full_syn();
    assert_eq!(step(&mut ep, T0, &syn), vec![cookie_synack(T0, &syn)]);
    // An ACK with the option anyway: it is ignored (RFC 7323 3.2), the connection plain.
    let ack = from(
        2000,
        TcpFlags::ACK,
        7_001,
        cookie_for(T0, &syn).wrapping_add(1),
    )
    .ts(1, 2);
    assert!(step(&mut ep, T0 + 20_000, &ack).is_empty());
    let id = ep.accept(addr).expect("accepted");
    let t = *ep.connection(id).unwrap().tcb();
    assert!(!t.wscale_ok && !t.sack_ok && !t.ts_ok);
}

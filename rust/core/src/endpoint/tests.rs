//! Endpoint tests: demultiplexing, listeners, RSTs for strangers, two endpoints talking.

use super::*;
use crate::seq::SeqNum;
use crate::wire::TcpOptions;
use std::net::{Ipv4Addr, Ipv6Addr};

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));

fn endpoint(key: u8) -> Endpoint {
    Endpoint::new(EndpointConfig::default(), [key; 16]).unwrap()
}

fn packet(flags: TcpFlags, seq: u32, ack: u32, dst_port: u16) -> Vec<u8> {
    packet_from(40_000, flags, seq, ack, dst_port)
}

/// A segment from the client's `src_port`, in an IPv4 packet to the server.
fn packet_from(src_port: u16, flags: TcpFlags, seq: u32, ack: u32, dst_port: u16) -> Vec<u8> {
    ip_packet(CLIENT, SERVER, (src_port, dst_port), flags, seq, ack, &[])
}

/// A segment between `ports` of any two addresses, in an IP packet.
fn ip_packet(
    src: IpAddr,
    dst: IpAddr,
    (src_port, dst_port): (u16, u16),
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let seg = TcpRepr {
        src_port,
        dst_port,
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
    };
    let mut pkt = Vec::new();
    wire::build_tcp_packet(src, dst, &seg, &mut pkt).unwrap();
    pkt
}

/// Every packet `ep` wants to send, parsed: (src, dst, segment fields).
fn sent(ep: &mut Endpoint, now: u64) -> Vec<(IpAddr, IpAddr, u16, u16, TcpFlags, u32, u32)> {
    let mut out = Vec::new();
    ep.poll_transmit(now, &mut out);
    out.iter()
        .map(|p| {
            let (src, dst, s) = wire::parse_tcp_packet(p).unwrap();
            (src, dst, s.src_port, s.dst_port, s.flags, s.seq.0, s.ack.0)
        })
        .collect()
}

#[test]
fn unknown_four_tuple_gets_a_rst() {
    let mut ep = endpoint(1);
    // An ACK for no connection: <SEQ=SEG.ACK><CTL=RST>, back to where it came from.
    ep.handle_packet(0, &packet(TcpFlags::ACK, 500, 9_000, 80))
        .unwrap();
    assert_eq!(
        sent(&mut ep, 0),
        vec![(SERVER, CLIENT, 80, 40_000, TcpFlags::RST, 9_000, 0)]
    );
    // A SYN to a port nobody listens on: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>.
    ep.handle_packet(0, &packet(TcpFlags::SYN, 500, 0, 81))
        .unwrap();
    assert_eq!(
        sent(&mut ep, 0),
        vec![(
            SERVER,
            CLIENT,
            81,
            40_000,
            TcpFlags::RST | TcpFlags::ACK,
            0,
            501
        )]
    );
    // A RST is never answered.
    ep.handle_packet(0, &packet(TcpFlags::RST, 500, 0, 80))
        .unwrap();
    assert!(sent(&mut ep, 0).is_empty());
    assert_eq!(ep.counters().resets_sent, 2);
    assert!(ep.is_empty(), "no connection was created");
}

/// One byte of text from port 40000 to port 80 between any two addresses.
fn packet_between(src: IpAddr, dst: IpAddr, flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    ip_packet(src, dst, (40_000, 80), flags, seq, ack, b"x")
}

#[test]
fn a_listener_drops_segments_with_neither_syn_nor_ack() {
    // RFC 9293 3.10.7.2 "fourth": text or FIN without ACK or SYN is dropped in LISTEN.
    let mut ep = endpoint(1);
    ep.listen(SocketAddr::new(SERVER, 80)).unwrap();
    for flags in [TcpFlags::FIN, TcpFlags::PSH, TcpFlags::empty()] {
        ep.handle_packet(0, &packet_between(CLIENT, SERVER, flags, 100, 0))
            .unwrap();
    }
    assert!(sent(&mut ep, 0).is_empty());
    assert!(ep.is_empty());
    assert_eq!(ep.counters().dropped.get("listen-no-syn-no-ack"), Some(&3));
    // Without a listener the same segment is reset (3.10.7.1).
    let mut other = endpoint(2);
    other
        .handle_packet(0, &packet_between(CLIENT, SERVER, TcpFlags::FIN, 100, 0))
        .unwrap();
    assert_eq!(sent(&mut other, 0).len(), 1);
}

#[test]
fn broadcast_multicast_and_unspecified_addresses_get_no_answer() {
    // TCP is unicast (RFC 9293 3.9.2.3, MUST-57; RFC 1122 4.2.3.10, MUST-63).
    let mut ep = endpoint(1);
    ep.listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80))
        .unwrap();
    ep.listen(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 80))
        .unwrap();
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
    let cases = [
        (CLIENT, IpAddr::V4(Ipv4Addr::BROADCAST), TcpFlags::SYN),
        (
            CLIENT,
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
            TcpFlags::SYN,
        ),
        (
            CLIENT,
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
            TcpFlags::ACK,
        ),
        (
            IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3)),
            SERVER,
            TcpFlags::SYN,
        ),
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), SERVER, TcpFlags::SYN),
        (
            v6,
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
            TcpFlags::SYN,
        ),
        (
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
            v6,
            TcpFlags::ACK,
        ),
    ];
    for (src, dst, flags) in cases {
        ep.handle_packet(0, &packet_between(src, dst, flags, 100, 5))
            .unwrap();
        assert!(
            sent(&mut ep, 0).is_empty(),
            "{src} -> {dst} {flags:?} was answered"
        );
    }
    assert!(ep.is_empty(), "no connection was created");
    let dropped: u64 = ep.counters().dropped.values().sum();
    assert_eq!(dropped, cases.len() as u64);
    // A unicast SYN to the same listener still opens a connection.
    ep.handle_packet(0, &packet_between(CLIENT, SERVER, TcpFlags::SYN, 100, 0))
        .unwrap();
    assert_eq!(ep.len(), 1);
}

#[test]
fn listener_accepts_and_ignores_stray_segments() {
    let mut ep = endpoint(1);
    let local = SocketAddr::new(SERVER, 80);
    ep.listen(local).unwrap();
    assert_eq!(
        ep.listen(local),
        Err(Error::InvalidState("address already in use"))
    );
    // A stray ACK to the listening port is reset (3.10.7.2), and no connection appears.
    ep.handle_packet(0, &packet(TcpFlags::ACK, 1, 2, 80))
        .unwrap();
    let rst = sent(&mut ep, 0);
    assert_eq!(rst.len(), 1);
    assert_eq!((rst[0].4, rst[0].5), (TcpFlags::RST, 2));
    assert!(ep.is_empty());
    // A SYN creates a connection in SYN-RECEIVED, not yet acceptable.
    ep.handle_packet(0, &packet(TcpFlags::SYN, 700, 0, 80))
        .unwrap();
    assert_eq!(ep.len(), 1);
    assert_eq!(ep.accept(local), None);
    let synack = sent(&mut ep, 0);
    assert_eq!(synack.len(), 1);
    let (_, _, sport, dport, flags, iss, ack) = synack[0];
    assert_eq!(
        (sport, dport, flags, ack),
        (80, 40_000, TcpFlags::SYN | TcpFlags::ACK, 701)
    );
    // The handshake's ACK: now it is accepted, once.
    ep.handle_packet(1, &packet(TcpFlags::ACK, 701, iss.wrapping_add(1), 80))
        .unwrap();
    let id = ep
        .accept(local)
        .expect("established connection is accepted");
    assert_eq!(ep.accept(local), None);
    let c = ep.connection(id).unwrap();
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.remote(), Some(SocketAddr::new(CLIENT, 40_000)));
    assert_eq!(c.local(), local);
}

#[test]
fn handshakes_that_die_before_accept_are_dropped() {
    let mut ep = endpoint(1);
    let local = SocketAddr::new(SERVER, 80);
    ep.listen(local).unwrap();
    // Reset in SYN-RECEIVED.
    ep.handle_packet(0, &packet(TcpFlags::SYN, 700, 0, 80))
        .unwrap();
    assert_eq!(ep.len(), 1);
    sent(&mut ep, 0);
    ep.handle_packet(1, &packet(TcpFlags::RST, 701, 0, 80))
        .unwrap();
    assert!(ep.is_empty(), "the half-open connection is gone");
    assert_eq!(ep.accept(local), None);
    // Timed out in SYN-RECEIVED: nobody answers our SYN-ACKs.
    ep.handle_packet(2, &packet(TcpFlags::SYN, 900, 0, 80))
        .unwrap();
    assert_eq!(sent(&mut ep, 2).len(), 1, "the SYN-ACK");
    let mut now = 2;
    while let Some(t) = ep.poll_timeout() {
        now = t;
        ep.handle_timeout(now);
        sent(&mut ep, now);
    }
    assert!(ep.is_empty());
    assert_eq!(ep.accept(local), None);
    // The listener still works.
    ep.handle_packet(now, &packet(TcpFlags::SYN, 5, 0, 80))
        .unwrap();
    let iss = sent(&mut ep, now)[0].5;
    ep.handle_packet(now, &packet(TcpFlags::ACK, 6, iss.wrapping_add(1), 80))
        .unwrap();
    assert!(ep.accept(local).is_some());
}

#[test]
fn connect_from_a_bound_port() {
    let mut ep = endpoint(1);
    let local = SocketAddr::new(CLIENT, 5000);
    let remote = SocketAddr::new(SERVER, 80);
    let id = ep.connect_from(0, local, remote).unwrap();
    assert_eq!(ep.connection(id).unwrap().local(), local);
    let syn = sent(&mut ep, 0);
    assert_eq!(syn.len(), 1);
    assert_eq!(
        (syn[0].0, syn[0].2, syn[0].4),
        (CLIENT, 5000, TcpFlags::SYN)
    );
    // The same 4-tuple twice is refused; another remote port is a different tuple.
    assert_eq!(
        ep.connect_from(0, local, remote),
        Err(Error::InvalidState("address already in use"))
    );
    assert!(ep
        .connect_from(0, local, SocketAddr::new(SERVER, 81))
        .is_ok());
    // Port 0 picks an ephemeral port; an unspecified address cannot be a source.
    let eph = ep
        .connect_from(0, SocketAddr::new(CLIENT, 0), remote)
        .unwrap();
    assert_eq!(ep.connection(eph).unwrap().local().port(), 49152);
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5001);
    assert!(matches!(
        ep.connect_from(0, any, remote),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(ep.len(), 3);
}

#[test]
fn two_endpoints_connect_and_close() {
    let mut server = endpoint(1);
    let mut client = endpoint(2);
    let addr = SocketAddr::new(SERVER, 80);
    server.listen(addr).unwrap();
    let cid = client.connect(0, CLIENT, addr).unwrap();
    let mut now = 0;
    let mut sid = None;
    for _ in 0..100 {
        let mut to_server = Vec::new();
        client.poll_transmit(now, &mut to_server);
        let mut to_client = Vec::new();
        server.poll_transmit(now, &mut to_client);
        if to_server.is_empty() && to_client.is_empty() {
            match [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            {
                Some(t) => {
                    now = t;
                    client.handle_timeout(now);
                    server.handle_timeout(now);
                    continue;
                }
                None => break,
            }
        }
        for p in to_server {
            server.handle_packet(now, &p).unwrap();
        }
        for p in to_client {
            client.handle_packet(now, &p).unwrap();
        }
        if sid.is_none() {
            if let Some(id) = server.accept(addr) {
                sid = Some(id);
                let c = server.connection_mut(id).unwrap();
                c.send(b"hello").unwrap();
                c.close(now).unwrap();
                client.connection_mut(cid).unwrap().close(now).unwrap();
            }
        }
    }
    let sid = sid.expect("accepted");
    let mut got = Vec::new();
    client
        .connection_mut(cid)
        .unwrap()
        .recv_to_vec(100, &mut got);
    assert_eq!(got, b"hello");
    assert_eq!(client.connection(cid).unwrap().state(), State::Closed);
    assert_eq!(server.connection(sid).unwrap().state(), State::Closed);
    // The 4-tuples are free again: a segment for the old connection gets a RST.
    let stale = {
        let port = client.connection(cid).unwrap().local().port();
        packet_from(port, TcpFlags::ACK, 1, 1, 80)
    };
    server.handle_packet(now, &stale).unwrap();
    let rst = sent(&mut server, now);
    assert_eq!(rst.len(), 1);
    assert_eq!(rst[0].4, TcpFlags::RST);
}

#[test]
fn an_active_open_needs_unicast_addresses_on_both_ends() {
    // RFC 9293 3.9.1.1 (MUST-46): no OPEN to a broadcast or multicast address; and none from
    // an unspecified address, which could get no answer.
    let mut ep = endpoint(1);
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let v6 = |first| IpAddr::V6(Ipv6Addr::new(first, 0xdb8, 0, 0, 0, 0, 0, 1));
    let bad = [
        (CLIENT, v4(255, 255, 255, 255)),
        (CLIENT, v4(224, 0, 0, 1)),
        (CLIENT, v4(0, 0, 0, 0)),
        (v4(0, 0, 0, 0), SERVER),
        (
            v6(0x2001),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
        ),
    ];
    for (local, remote) in bad {
        let to = SocketAddr::new(remote, 80);
        assert!(ep.connect(0, local, to).is_err(), "{local} -> {remote}");
        assert!(ep
            .connect_from(0, SocketAddr::new(local, 4000), to)
            .is_err());
    }
    assert!(ep.is_empty());
    assert!(sent(&mut ep, 0).is_empty(), "no SYN left");
    assert!(ep.connect(0, CLIENT, SocketAddr::new(SERVER, 80)).is_ok());
}

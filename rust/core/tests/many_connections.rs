//! 10,000 simultaneous connections from one client endpoint to one listening port of a
//! server endpoint, each carrying its own byte pattern both ways, all delivered exactly.
//!
//! The two endpoints exchange packets directly in memory, in explicit virtual time, with no
//! threads and no clock. Like a real stack, each side answers every packet as it arrives
//! (`handle_packet`, then `poll_transmit`, `poll_event`, `poll_timeout`), and connections
//! open one after another, so there are some 190,000 such steps while up to 10,000
//! connections exist. The endpoint visits only the connections a step concerns: an
//! endpoint that walked all of them per poll makes this test take many minutes.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrotcp_core::conn::Event;
use ferrotcp_core::endpoint::{ConnId, Endpoint, EndpointConfig};
use ferrotcp_core::State;

const CONNS: usize = 10_000;
/// Bytes each way per connection; 3 segments of the default MSS and a bit.
const SIZE: usize = 4_500;
/// One-way delay: a 10 ms round trip, far below the 1 s minimum RTO, so nothing is
/// retransmitted in this loss-free run.
const DELAY_US: u64 = 5_000;
/// Connections open one every 20 us, so all are open after 200 ms and hundreds are
/// handshaking or transferring at any moment.
const OPEN_GAP_US: u64 = 20;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// The bytes connection `index` sends in direction `dir` (0 up, 1 down): a pattern that
/// differs between any two connections and directions, and along the stream (so a segment
/// delivered twice, out of place or to the wrong connection shows).
fn pattern(index: usize, dir: u8, len: usize) -> Vec<u8> {
    let seed = (index as u64) << 1 | u64::from(dir);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64, eight bytes a step: cheap in a debug build, and no two seeds share
        // a stream.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What one side of one connection has read so far, and whether the peer's FIN came.
#[derive(Default)]
struct Received {
    bytes: Vec<u8>,
    eof: bool,
}

/// Read what `id` has and note end of stream; only called for connections with events.
fn read(ep: &mut Endpoint, id: ConnId, into: &mut BTreeMap<ConnId, Received>) {
    let r = into.entry(id).or_default();
    if let Some(c) = ep.connection_mut(id) {
        c.recv_to_vec(usize::MAX, &mut r.bytes);
        r.eof |= c.at_eof();
    }
}

/// Take every event of `ep` and read from the connections that reported data or EOF;
/// returns whether any connection completed its handshake.
fn drain_events(ep: &mut Endpoint, into: &mut BTreeMap<ConnId, Received>) -> bool {
    let mut ids = Vec::new();
    let mut connected = false;
    while let Some((id, e)) = ep.poll_event() {
        connected |= e == Event::Connected;
        if matches!(e, Event::Readable | Event::PeerClosed | Event::Closed) {
            ids.push(id);
        }
    }
    ids.dedup();
    for id in ids {
        read(ep, id, into);
    }
    connected
}

/// Packets in flight one way; the delay is constant, so arrival order is sending order.
type Wire = VecDeque<(u64, Vec<u8>)>;

/// Send what `ep` has now onto `wire`.
fn transmit(ep: &mut Endpoint, now: u64, wire: &mut Wire, scratch: &mut Vec<Vec<u8>>) {
    ep.poll_transmit(now, scratch);
    wire.extend(scratch.drain(..).map(|p| (now + DELAY_US, p)));
}

/// The server's side of a new connection: its own pattern back, then close.
fn serve(
    server: &mut Endpoint,
    addr: SocketAddr,
    now: u64,
    ports: &BTreeMap<u16, usize>,
) -> Vec<(ConnId, usize)> {
    let mut new = Vec::new();
    while let Some(id) = server.accept(addr) {
        let c = server.connection_mut(id).unwrap();
        let i = ports[&c.remote().unwrap().port()];
        assert_eq!(c.send(&pattern(i, 1, SIZE)).unwrap(), SIZE);
        c.close(now).unwrap();
        new.push((id, i));
    }
    new
}

#[test]
fn ten_thousand_connections_on_one_endpoint() {
    let config = EndpointConfig {
        // Far more handshakes overlap than the default backlog of 128 admits.
        backlog: CONNS,
        ..EndpointConfig::default()
    };
    let mut client = Endpoint::new(config.clone(), [1; 16]).unwrap();
    let mut server = Endpoint::new(config, [2; 16]).unwrap();
    let addr = SocketAddr::new(SERVER, 80);
    server.listen(addr).unwrap();

    let mut index_of: BTreeMap<ConnId, usize> = BTreeMap::new();
    let mut by_port: BTreeMap<u16, usize> = BTreeMap::new();
    let mut accepted: BTreeMap<ConnId, usize> = BTreeMap::new();
    let (mut at_client, mut at_server) = (BTreeMap::new(), BTreeMap::new());
    let (mut up, mut down): (Wire, Wire) = (VecDeque::new(), VecDeque::new());
    let mut scratch = Vec::new();
    let mut now = 0;
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 1_000_000, "no progress");
        let open_at = (index_of.len() < CONNS).then(|| index_of.len() as u64 * OPEN_GAP_US);
        let next = [
            open_at,
            up.front().map(|p| p.0),
            down.front().map(|p| p.0),
            client.poll_timeout(),
            server.poll_timeout(),
        ];
        let Some(t) = next.into_iter().flatten().min() else {
            break;
        };
        now = now.max(t);
        if open_at == Some(now) {
            // Open the next connection with its data and FIN (sent after the handshake).
            let i = index_of.len();
            let id = client.connect(now, CLIENT, addr).unwrap();
            let c = client.connection_mut(id).unwrap();
            assert_eq!(c.send(&pattern(i, 0, SIZE)).unwrap(), SIZE);
            c.close(now).unwrap();
            index_of.insert(id, i);
            by_port.insert(c.local().port(), i);
            transmit(&mut client, now, &mut up, &mut scratch);
        } else if up.front().is_some_and(|p| p.0 == now) {
            let (_, p) = up.pop_front().unwrap();
            server.handle_packet(now, &p).unwrap();
            if drain_events(&mut server, &mut at_server) {
                for (id, i) in serve(&mut server, addr, now, &by_port) {
                    assert!(accepted.insert(id, i).is_none());
                }
            }
            transmit(&mut server, now, &mut down, &mut scratch);
        } else if down.front().is_some_and(|p| p.0 == now) {
            let (_, p) = down.pop_front().unwrap();
            client.handle_packet(now, &p).unwrap();
            drain_events(&mut client, &mut at_client);
            transmit(&mut client, now, &mut up, &mut scratch);
        } else {
            // A timer (TIME-WAIT, at the end).
            client.handle_timeout(now);
            server.handle_timeout(now);
            drain_events(&mut client, &mut at_client);
            drain_events(&mut server, &mut at_server);
            transmit(&mut client, now, &mut up, &mut scratch);
            transmit(&mut server, now, &mut down, &mut scratch);
        }
    }

    assert_eq!(index_of.len(), CONNS);
    assert_eq!(accepted.len(), CONNS, "every connection was accepted");
    assert_eq!(server.len(), CONNS);
    for (&id, &i) in &accepted {
        let r = &at_server[&id];
        assert!(
            r.bytes == pattern(i, 0, SIZE),
            "connection {i}: upload differs"
        );
        assert!(r.eof, "connection {i}: no FIN at the server");
        assert_eq!(server.connection(id).unwrap().state(), State::Closed);
    }
    for (&id, &i) in &index_of {
        let r = &at_client[&id];
        assert!(
            r.bytes == pattern(i, 1, SIZE),
            "connection {i}: download differs"
        );
        assert!(r.eof, "connection {i}: no FIN at the client");
        let c = client.connection(id).unwrap();
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.error(), None);
        assert_eq!(c.counters().retransmits_timeout, 0);
    }
    // TIME-WAIT (2 MSL) was the last thing to happen, and every timer has fired or stopped.
    assert!(now >= 2 * EndpointConfig::default().conn.msl_us);
    assert_eq!((client.poll_timeout(), server.poll_timeout()), (None, None));
    // Every packet was one step of its own (opens, arrivals, timer expiries).
    assert!(steps > 100_000, "{steps} steps");
}

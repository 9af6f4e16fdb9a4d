//! An endpoint: many connections on one host, demultiplexed by 4-tuple; listening ports with
//! a bounded accept queue; RST for segments that belong to no connection (RFC 9293 3.10.7.1).
//! It speaks whole IP packets, so the same code serves the simulator and real transports.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::conn::{self, Config, Connection, Error, State};
use crate::isn::IsnGenerator;
use crate::wire::{self, TcpFlags, TcpRepr, WireError};

/// Identifies a connection within its endpoint.
pub type ConnId = u64;

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub conn: Config,
    /// Connections per listening port that completed (or are completing) the handshake and
    /// have not been accepted yet; SYNs beyond it are dropped.
    pub backlog: usize,
    /// First and last port used for active opens.
    pub ephemeral_ports: (u16, u16),
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            conn: Config::default(),
            backlog: 128,
            ephemeral_ports: (49152, 65535),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Listener {
    /// Passive connections not yet handed to the user, oldest first.
    pending: VecDeque<ConnId>,
}

/// Endpoint-wide counters (per-connection ones live in each connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Packets dropped as malformed, by reason (`WireError::as_str`).
    pub malformed: BTreeMap<&'static str, u64>,
    pub resets_sent: u64,
    pub syns_dropped_backlog: u64,
    /// Well-formed packets dropped without an answer, by reason (see `handle_packet`).
    pub dropped: BTreeMap<&'static str, u64>,
}

pub struct Endpoint {
    config: EndpointConfig,
    isn: IsnGenerator,
    conns: BTreeMap<ConnId, Connection>,
    by_tuple: HashMap<(SocketAddr, SocketAddr), ConnId>,
    /// Which listener a passive connection came from, until it is accepted.
    origin: HashMap<ConnId, SocketAddr>,
    listeners: BTreeMap<SocketAddr, Listener>,
    next_id: ConnId,
    next_port: u16,
    outbox: VecDeque<Vec<u8>>,
    counters: EndpointCounters,
}

impl Endpoint {
    /// `isn_key` is the secret of RFC 6528's hash; callers draw it at random (the simulator
    /// from its seed).
    pub fn new(config: EndpointConfig, isn_key: [u8; 16]) -> Result<Self, Error> {
        config.conn.validate()?;
        if config.ephemeral_ports.0 == 0 || config.ephemeral_ports.0 > config.ephemeral_ports.1 {
            return Err(Error::InvalidInput("bad ephemeral port range"));
        }
        Ok(Endpoint {
            next_port: config.ephemeral_ports.0,
            config,
            isn: IsnGenerator::new(isn_key),
            conns: BTreeMap::new(),
            by_tuple: HashMap::new(),
            origin: HashMap::new(),
            listeners: BTreeMap::new(),
            next_id: 1,
            outbox: VecDeque::new(),
            counters: EndpointCounters::default(),
        })
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    pub fn counters(&self) -> &EndpointCounters {
        &self.counters
    }

    /// Accept connections on `local` (an unspecified IP listens on every address).
    pub fn listen(&mut self, local: SocketAddr) -> Result<(), Error> {
        if local.port() == 0 {
            return Err(Error::InvalidInput("cannot listen on port 0"));
        }
        if self.listeners.contains_key(&local) {
            return Err(Error::InvalidState("address already in use"));
        }
        self.listeners.insert(local, Listener::default());
        Ok(())
    }

    /// Stop listening; connections not yet accepted are aborted.
    pub fn unlisten(&mut self, now: u64, local: SocketAddr) {
        if let Some(l) = self.listeners.remove(&local) {
            for id in l.pending {
                self.origin.remove(&id);
                if let Some(c) = self.conns.get_mut(&id) {
                    c.abort(now);
                }
            }
        }
    }

    /// Active open from `local_ip` (an ephemeral port is chosen) to `remote`.
    pub fn connect(
        &mut self,
        now: u64,
        local_ip: IpAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        let local = self.free_port(local_ip, remote)?;
        let iss = self.isn.isn(now, local, remote);
        let conn = Connection::connect(self.config.conn.clone(), local, remote, iss, now)?;
        Ok(self.insert(local, remote, conn))
    }

    /// Active open from a chosen local address, as after the socket API's `bind`; port 0
    /// picks an ephemeral port like `connect`.
    pub fn connect_from(
        &mut self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        if local.ip().is_unspecified() {
            // Segments would leave with source 0.0.0.0 and no answer could come back.
            return Err(Error::InvalidInput(
                "connect needs a specific local address",
            ));
        }
        if local.port() == 0 {
            return self.connect(now, local.ip(), remote);
        }
        if self.by_tuple.contains_key(&(local, remote)) {
            return Err(Error::InvalidState("address already in use"));
        }
        let iss = self.isn.isn(now, local, remote);
        let conn = Connection::connect(self.config.conn.clone(), local, remote, iss, now)?;
        Ok(self.insert(local, remote, conn))
    }

    fn free_port(&mut self, ip: IpAddr, remote: SocketAddr) -> Result<SocketAddr, Error> {
        let (lo, hi) = self.config.ephemeral_ports;
        let span = u32::from(hi - lo) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port >= hi { lo } else { port + 1 };
            let local = SocketAddr::new(ip, port);
            if !self.by_tuple.contains_key(&(local, remote)) {
                return Ok(local);
            }
        }
        Err(Error::InvalidState("no free ephemeral port"))
    }

    fn insert(&mut self, local: SocketAddr, remote: SocketAddr, conn: Connection) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, conn);
        self.by_tuple.insert((local, remote), id);
        id
    }

    /// The oldest established connection on listening address `local`, if any.
    pub fn accept(&mut self, local: SocketAddr) -> Option<ConnId> {
        let l = self.listeners.get_mut(&local)?;
        let pos = l.pending.iter().position(|id| {
            self.conns
                .get(id)
                .is_some_and(|c| c.state() != State::SynReceived && c.state() != State::Listen)
        })?;
        let id = l.pending.remove(pos)?;
        self.origin.remove(&id);
        Some(id)
    }

    pub fn connection(&self, id: ConnId) -> Option<&Connection> {
        self.conns.get(&id)
    }

    pub fn connection_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.conns.get_mut(&id)
    }

    pub fn connection_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Remove every index entry that still points at connection `id` (its 4-tuple, its
    /// place in a listener's accept queue); the connection object itself is gone already.
    fn unlink(&mut self, id: ConnId, c: &Connection) {
        if let Some(r) = c.remote() {
            if self.by_tuple.get(&(c.local(), r)) == Some(&id) {
                self.by_tuple.remove(&(c.local(), r));
            }
        }
        if let Some(l) = self.origin.remove(&id) {
            if let Some(listener) = self.listeners.get_mut(&l) {
                listener.pending.retain(|x| *x != id);
            }
        }
    }

    /// Forget a connection (the user is done with it). One still open is aborted first.
    pub fn release(&mut self, now: u64, id: ConnId) {
        if let Some(mut c) = self.conns.remove(&id) {
            if c.state() != State::Closed {
                c.abort(now);
                self.drain_connection(now, &mut c);
            }
            self.unlink(id, &c);
        }
    }

    /// One IP packet arrived.
    pub fn handle_packet(&mut self, now: u64, packet: &[u8]) -> Result<(), WireError> {
        self.counters.packets_received += 1;
        let (src, dst, seg) = match wire::parse_tcp_packet(packet) {
            Ok(x) => x,
            Err(e) => {
                *self.counters.malformed.entry(e.as_str()).or_insert(0) += 1;
                return Err(e);
            }
        };
        if let Some(reason) = unanswerable(src, dst) {
            *self.counters.dropped.entry(reason).or_insert(0) += 1;
            return Ok(());
        }
        let remote = SocketAddr::new(src, seg.src_port);
        let local = SocketAddr::new(dst, seg.dst_port);
        if let Some(&id) = self.by_tuple.get(&(local, remote)) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.handle_segment(now, src, &seg);
                if matches!(c.state(), State::Closed | State::Listen) {
                    // The tuple is free again; the object stays until released.
                    self.by_tuple.remove(&(local, remote));
                    if c.state() == State::Listen {
                        c.abort(now);
                    }
                }
            }
            self.reap_if_unaccepted(now, id);
            return Ok(());
        }
        let syn_only = seg.flags.contains(TcpFlags::SYN)
            && !seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.contains(TcpFlags::RST);
        let listener = [local, SocketAddr::new(unspecified(dst), local.port())]
            .into_iter()
            .find(|a| self.listeners.contains_key(a));
        match listener {
            Some(l) if syn_only => self.passive_open(now, l, local, remote, src, &seg),
            Some(_) if seg.flags.contains(TcpFlags::RST) => {}
            // RFC 9293 3.10.7.2: in LISTEN only an ACK is answered (with a RST); other
            // segments without SYN are dropped, as the LISTEN connection does
            // (`listen.recv_other`).
            Some(_) if !seg.flags.contains(TcpFlags::ACK) => {
                *self
                    .counters
                    .dropped
                    .entry("listen-no-syn-no-ack")
                    .or_insert(0) += 1;
            }
            _ => self.reply_rst(dst, src, &seg),
        }
        Ok(())
    }

    fn passive_open(
        &mut self,
        now: u64,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        src: IpAddr,
        seg: &TcpRepr<'_>,
    ) {
        let queued = self.listeners.get(&listener).map_or(0, |l| l.pending.len());
        if queued >= self.config.backlog {
            self.counters.syns_dropped_backlog += 1;
            return;
        }
        let iss = self.isn.isn(now, local, remote);
        let Ok(mut conn) = Connection::listen(self.config.conn.clone(), local, iss) else {
            return;
        };
        conn.handle_segment(now, src, seg);
        let id = self.insert(local, remote, conn);
        self.origin.insert(id, listener);
        if let Some(l) = self.listeners.get_mut(&listener) {
            l.pending.push_back(id);
        }
    }

    fn reply_rst(&mut self, local_ip: IpAddr, remote_ip: IpAddr, seg: &TcpRepr<'_>) {
        if let Some(rst) = conn::rst_reply(seg) {
            let mut pkt = Vec::new();
            if wire::build_tcp_packet(local_ip, remote_ip, &rst, &mut pkt).is_ok() {
                self.counters.resets_sent += 1;
                self.outbox.push_back(pkt);
            }
        }
    }

    /// Append every IP packet the endpoint wants to send now to `out`.
    pub fn poll_transmit(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        let before = out.len();
        out.extend(self.outbox.drain(..));
        for c in self.conns.values_mut() {
            drain_into(now, c, out);
        }
        self.counters.packets_sent += (out.len() - before) as u64;
    }

    /// Packets of one connection only (e.g. right after a user call on it).
    pub fn poll_transmit_conn(&mut self, now: u64, id: ConnId, out: &mut Vec<Vec<u8>>) {
        let before = out.len();
        if let Some(c) = self.conns.get_mut(&id) {
            drain_into(now, c, out);
        }
        self.counters.packets_sent += (out.len() - before) as u64;
    }

    fn drain_connection(&mut self, now: u64, c: &mut Connection) {
        let mut out = Vec::new();
        drain_into(now, c, &mut out);
        self.counters.packets_sent += out.len() as u64;
        self.outbox.extend(out);
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.conns
            .values()
            .filter_map(Connection::poll_timeout)
            .min()
    }

    pub fn handle_timeout(&mut self, now: u64) {
        let mut freed = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                if c.state() == State::Closed {
                    freed.push(id);
                }
            }
        }
        for id in freed {
            if let Some(c) = self.conns.get(&id) {
                if let Some(r) = c.remote() {
                    if self.by_tuple.get(&(c.local(), r)) == Some(&id) {
                        self.by_tuple.remove(&(c.local(), r));
                    }
                }
            }
            self.reap_if_unaccepted(now, id);
        }
    }

    /// A passive connection that died before anyone accepted it (reset or timed out in
    /// SYN-RECEIVED, or reset right after the handshake): nobody holds its id, so `release`
    /// would never come. Drop it now, rather than hand a dead connection to `accept` and keep
    /// it (and its backlog slot) forever. Whatever it still has to send goes out first.
    fn reap_if_unaccepted(&mut self, now: u64, id: ConnId) {
        if !self.origin.contains_key(&id)
            || !self
                .conns
                .get(&id)
                .is_some_and(|c| c.state() == State::Closed)
        {
            return;
        }
        if let Some(mut c) = self.conns.remove(&id) {
            self.drain_connection(now, &mut c);
            self.unlink(id, &c);
        }
    }
}

fn drain_into(now: u64, c: &mut Connection, out: &mut Vec<Vec<u8>>) {
    let local = c.local().ip();
    while let Some(r) = c.poll_transmit(now, |dst, repr| {
        let mut pkt = Vec::new();
        wire::build_tcp_packet(local, dst.ip(), repr, &mut pkt).map(|_| pkt)
    }) {
        if let Ok(pkt) = r {
            out.push(pkt);
        }
    }
}

/// Why a packet between these addresses must not open or answer anything, if it must not:
/// TCP is unicast only (RFC 9293 3.9.2.3, MUST-57: a SYN to a broadcast or multicast address
/// is ignored; RFC 1122 4.2.3.10 and MUST-63: nor is a segment from one, or from no address,
/// answered, since the answer could not reach a single host).
fn unanswerable(src: IpAddr, dst: IpAddr) -> Option<&'static str> {
    let group = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    };
    if group(dst) {
        Some("to-broadcast-or-multicast")
    } else if group(src) || src.is_unspecified() {
        Some("from-broadcast-multicast-or-unspecified")
    } else {
        None
    }
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
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
}

//! An endpoint: many connections on one host, demultiplexed by 4-tuple; listening ports with
//! a bounded accept queue; RST for segments that belong to no connection (RFC 9293 3.10.7.1);
//! SYN cookies when a listener's backlog is full (see `cookie`).
//! It speaks whole IP packets, so the same code serves the simulator and real transports.
//! Periodic calls visit only the connections that may need it (see `schedule`), so their
//! cost does not grow with the number of idle connections.

mod cookie;
mod cookie_ts;
mod schedule;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::conn::{self, Config, Connection, Error, Event, State};
use crate::isn::{IsnGenerator, TsOffsetGenerator};
use crate::wire::{self, TcpFlags, TcpRepr, WireError};
use cookie::SynCookies;
pub use cookie::{COOKIE_MSS_V4, COOKIE_MSS_V6, COOKIE_PERIOD_US};
use schedule::Schedule;

/// Identifies a connection within its endpoint.
pub type ConnId = u64;

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub conn: Config,
    /// Connections per listening port that completed (or are completing) the handshake and
    /// have not been accepted yet; SYNs beyond it are dropped, or answered with a SYN cookie
    /// (see `syn_cookies`). It also bounds the completed ones alone (the accept queue): while
    /// that many wait for `accept`, SYNs and cookie ACKs are dropped. Cookie connections join
    /// the queue behind half-open ones that fill it, so a listener holds at most twice this.
    pub backlog: usize,
    /// Answer SYNs with SYN cookies when the backlog is full (RFC 4987 3.6), like Linux's
    /// `tcp_syncookies=1`: never while there is room. A connection completed from a cookie
    /// keeps no TCB in between, and has the peer's MSS rounded down to a table value
    /// (`COOKIE_MSS_V4`, `COOKIE_MSS_V6`). When both sides use timestamps (RFC 7323) it
    /// keeps them, window scaling and SACK, which ride in the cookie SYN-ACK's TSval (see
    /// `cookie_ts`); otherwise it has none of the three, as Linux's cookies without
    /// timestamps. Off: SYNs beyond the backlog are dropped.
    pub syn_cookies: bool,
    /// First and last port used for active opens.
    pub ephemeral_ports: (u16, u16),
}

/// Event-log entries kept per connection of an endpoint by default. An entry is 48 bytes: a
/// lone `Connection` keeps up to `Config::default().log_limit` (100,000, about 5 MB) for
/// study, but an endpoint may hold thousands of long-lived connections, and 10,000 full logs
/// would take some 50 GB. 1024 entries (about 50 kB) still trace a handshake and the first
/// few hundred segments. Callers that want more set `conn.log_limit`; what is logged, and
/// the count of entries dropped past the limit, are the same either way.
pub const ENDPOINT_LOG_LIMIT: usize = 1024;

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            conn: Config {
                log_limit: ENDPOINT_LOG_LIMIT,
                ..Config::default()
            },
            backlog: 128,
            syn_cookies: true,
            ephemeral_ports: (49152, 65535),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Listener {
    /// Passive connections not yet handed to the user, oldest first.
    pending: VecDeque<ConnId>,
    /// The counter period (`cookie::period`) in which this listener last sent a SYN cookie:
    /// ACKs are checked as cookies only while one may still be valid (RFC 4987 Appendix A's
    /// "last overflow time").
    cookie_period: Option<u64>,
}

/// Endpoint-wide counters (per-connection ones live in each connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Packets dropped as malformed, by reason (`WireError::as_str`).
    pub malformed: BTreeMap<&'static str, u64>,
    pub resets_sent: u64,
    /// SYNs dropped for a full backlog (with SYN cookies, only when the accept queue is full).
    pub syns_dropped_backlog: u64,
    /// SYN-ACKs sent with a cookie and no TCB kept.
    pub syn_cookies_sent: u64,
    /// ACKs that returned a valid cookie and became connections.
    pub syn_cookies_accepted: u64,
    /// ACKs to a listener that had sent cookies recently whose cookie did not check (forged,
    /// stale, for another 4-tuple or ISN); answered with a RST like any stray ACK.
    pub syn_cookies_rejected: u64,
    /// Well-formed packets dropped without an answer, by reason (see `handle_packet`).
    pub dropped: BTreeMap<&'static str, u64>,
}

pub struct Endpoint {
    config: EndpointConfig,
    isn: IsnGenerator,
    /// Each connection's timestamp clock offset (RFC 7323 5.4, 7.1).
    ts_offsets: TsOffsetGenerator,
    cookies: SynCookies,
    conns: BTreeMap<ConnId, Connection>,
    by_tuple: HashMap<(SocketAddr, SocketAddr), ConnId>,
    /// Which listener a passive connection came from, until it is accepted.
    origin: HashMap<ConnId, SocketAddr>,
    listeners: BTreeMap<SocketAddr, Listener>,
    next_id: ConnId,
    next_port: u16,
    outbox: VecDeque<Vec<u8>>,
    counters: EndpointCounters,
    schedule: Schedule,
}

impl Endpoint {
    /// `isn_key` is the secret of RFC 6528's hash; callers draw it at random (the simulator
    /// from its seed). The SYN cookies' key and the timestamp offsets' are derived from it.
    pub fn new(config: EndpointConfig, isn_key: [u8; 16]) -> Result<Self, Error> {
        config.conn.validate()?;
        if config.ephemeral_ports.0 == 0 || config.ephemeral_ports.0 > config.ephemeral_ports.1 {
            return Err(Error::InvalidInput("bad ephemeral port range"));
        }
        Ok(Endpoint {
            next_port: config.ephemeral_ports.0,
            config,
            isn: IsnGenerator::new(isn_key),
            ts_offsets: TsOffsetGenerator::new(&isn_key),
            cookies: SynCookies::new(&isn_key),
            conns: BTreeMap::new(),
            by_tuple: HashMap::new(),
            origin: HashMap::new(),
            listeners: BTreeMap::new(),
            next_id: 1,
            outbox: VecDeque::new(),
            counters: EndpointCounters::default(),
            schedule: Schedule::default(),
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
                    self.schedule.called(id, c.poll_timeout());
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
        unicast_pair(local_ip, remote.ip())?;
        let local = self.free_port(local_ip, remote)?;
        self.open_active(now, local, remote)
    }

    /// Active open from a chosen local address, as after the socket API's `bind`; port 0
    /// picks an ephemeral port like `connect`.
    pub fn connect_from(
        &mut self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        unicast_pair(local.ip(), remote.ip())?;
        if local.port() == 0 {
            return self.connect(now, local.ip(), remote);
        }
        if self.by_tuple.contains_key(&(local, remote)) {
            return Err(Error::InvalidState("address already in use"));
        }
        self.open_active(now, local, remote)
    }

    /// The connection of an active open on a free 4-tuple: its ISN (RFC 6528) and its
    /// timestamp clock offset (RFC 7323 5.4) both keyed by the tuple.
    fn open_active(
        &mut self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        let iss = self.isn.isn(now, local, remote);
        let mut conn = Connection::connect(self.config.conn.clone(), local, remote, iss, now)?;
        conn.set_ts_offset(self.ts_offsets.offset(local, remote));
        Ok(self.insert(local, remote, conn))
    }

    /// A connection in LISTEN for the peer `remote` (its SYN about to be handled, or rebuilt
    /// from a SYN cookie): `iss`, and the tuple's timestamp clock offset (RFC 7323 5.4), the
    /// same offset a cookie's SYN-ACK was sent with.
    fn open_passive(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        iss: crate::seq::SeqNum,
    ) -> Option<Connection> {
        let mut conn = Connection::listen(self.config.conn.clone(), local, iss).ok()?;
        conn.set_ts_offset(self.ts_offsets.offset(local, remote));
        Some(conn)
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
        self.schedule.called(id, conn.poll_timeout());
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

    /// The connection, for user calls (`send`, `recv`, `close`, ...). Whatever the caller
    /// does may give it something to send, move its timer or raise events, so the endpoint
    /// looks at it again on the next poll.
    pub fn connection_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        let c = self.conns.get_mut(&id)?;
        self.schedule.lent(id);
        Some(c)
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
        self.schedule.forget(id);
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
                self.schedule.called(id, c.poll_timeout());
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
            // An ACK for no connection may complete a handshake answered with a SYN cookie.
            Some(l)
                if !seg.flags.contains(TcpFlags::SYN)
                    && self.accept_syn_cookie(now, l, local, remote, &seg) => {}
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
        let (half_open, complete) = self.queue_lengths(listener);
        if half_open + complete >= self.config.backlog {
            // A cookie is no use while the accept queue is full: the ACK that returns it
            // would be dropped too (Linux drops such SYNs as well).
            if self.config.syn_cookies && complete < self.config.backlog {
                self.send_syn_cookie(now, listener, local, remote, seg);
            } else {
                self.counters.syns_dropped_backlog += 1;
            }
            return;
        }
        let iss = self.isn.isn(now, local, remote);
        let Some(mut conn) = self.open_passive(local, remote, iss) else {
            return;
        };
        conn.handle_segment(now, src, seg);
        let id = self.insert(local, remote, conn);
        self.origin.insert(id, listener);
        if let Some(l) = self.listeners.get_mut(&listener) {
            l.pending.push_back(id);
        }
    }

    /// A listener's queue: (half-open connections, ones that completed the handshake and
    /// wait for `accept`).
    fn queue_lengths(&self, listener: SocketAddr) -> (usize, usize) {
        let Some(l) = self.listeners.get(&listener) else {
            return (0, 0);
        };
        let half_open = l
            .pending
            .iter()
            .filter(|id| {
                self.conns
                    .get(id)
                    .is_some_and(|c| matches!(c.state(), State::SynReceived | State::Listen))
            })
            .count();
        (half_open, l.pending.len().saturating_sub(half_open))
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
        // Only connections called since they were last drained can have anything: one that
        // answered `None` keeps answering `None` until something calls into it again.
        for id in self.schedule.take_sendable() {
            if let Some(c) = self.conns.get_mut(&id) {
                drain_into(now, c, out);
                // Sending arms the retransmission timer.
                self.schedule.drained(id, c.poll_timeout());
            }
        }
        self.counters.packets_sent += (out.len() - before) as u64;
    }

    /// Packets of one connection only (e.g. right after a user call on it).
    pub fn poll_transmit_conn(&mut self, now: u64, id: ConnId, out: &mut Vec<Vec<u8>>) {
        let before = out.len();
        if let Some(c) = self.conns.get_mut(&id) {
            drain_into(now, c, out);
            self.schedule.drained(id, c.poll_timeout());
        }
        self.counters.packets_sent += (out.len() - before) as u64;
    }

    /// The next event of any connection, lowest id first, with the connection's id. Only
    /// connections called since their events were last taken are visited.
    pub fn poll_event(&mut self) -> Option<(ConnId, Event)> {
        while let Some(id) = self.schedule.first_evented() {
            if let Some(e) = self.conns.get_mut(&id).and_then(Connection::poll_event) {
                return Some((id, e));
            }
            self.schedule.events_drained(id);
        }
        None
    }

    fn drain_connection(&mut self, now: u64, c: &mut Connection) {
        let mut out = Vec::new();
        drain_into(now, c, &mut out);
        self.counters.packets_sent += out.len() as u64;
        self.outbox.extend(out);
    }

    /// The earliest timer deadline of any connection: the first known deadline, or that of a
    /// connection lent to the user since (read from the connection itself).
    pub fn poll_timeout(&self) -> Option<u64> {
        let lent = self
            .schedule
            .stale()
            .filter_map(|id| self.conns.get(&id)?.poll_timeout())
            .min();
        match (self.schedule.earliest_known(), lent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-read the deadlines of connections lent to the user.
    fn settle_timers(&mut self) {
        for id in self.schedule.take_stale() {
            match self.conns.get(&id) {
                Some(c) => self.schedule.reread(id, c.poll_timeout()),
                None => self.schedule.forget(id),
            }
        }
    }

    pub fn handle_timeout(&mut self, now: u64) {
        self.settle_timers();
        let mut freed = Vec::new();
        // Exactly the connections whose `poll_timeout` is due, in id order as a walk over
        // all of them would find them.
        for id in self.schedule.take_due(now) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.handle_timeout(now);
                self.schedule.called(id, c.poll_timeout());
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

/// An active open is between two unicast addresses: RFC 9293 3.9.1.1 (MUST-46) rejects an
/// OPEN to a broadcast or multicast address, and segments from (or to) no address could get
/// no answer.
fn unicast_pair(local: IpAddr, remote: IpAddr) -> Result<(), Error> {
    if unanswerable(local, remote).is_some() || remote.is_unspecified() {
        return Err(Error::InvalidInput(
            "connect needs a unicast remote address and a specific local one",
        ));
    }
    Ok(())
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod cookie_tests;
#[cfg(test)]
mod tests;

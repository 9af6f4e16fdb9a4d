//! A deterministic network simulator: hosts (each an [`Endpoint`]) joined by one-way links
//! with seeded faults, run in virtual time. Applications are simple byte pumps living here
//! in Rust, so a bulk transfer runs without a round trip to Python per segment.

mod capture;
mod link;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

pub use capture::{Captured, CAPTURE_LIMIT};
pub use link::{LinkConfig, LinkCounters};

use crate::conn::{Connection, Error};
use crate::endpoint::{ConnId, Endpoint, EndpointConfig};
use crate::rng::Rng;
use crate::wire::IpRepr;
use capture::Capture;
use link::{Delivery, Link};

pub type HostId = usize;

/// The application side of a simulated socket: bytes waiting to enter the connection's send
/// buffer, and bytes read out of it.
#[derive(Debug, Default)]
struct App {
    to_send: VecDeque<u8>,
    received: VecDeque<u8>,
    close_when_sent: bool,
    close_done: bool,
}

struct Host {
    name: String,
    addr: IpAddr,
    endpoint: Endpoint,
    apps: BTreeMap<ConnId, App>,
    /// Packets sent and received, when capturing.
    capture: Option<Capture>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    Arrive { host: HostId, packet: Vec<u8> },
    Release { from: HostId, to: HostId, id: u64 },
}

/// Simulator-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    pub steps: u64,
    pub packets: u64,
    /// Packets for an address no host has, or with no link to it.
    pub unroutable: u64,
    /// Packets a host rejected as malformed (a corrupted checksum, for instance).
    pub malformed: u64,
}

pub struct Simulator {
    now: u64,
    seed: u64,
    rng: Rng,
    hosts: Vec<Host>,
    by_addr: HashMap<IpAddr, HostId>,
    links: BTreeMap<(HostId, HostId), Link>,
    /// Ordered by (time, insertion order): ties keep the order they were scheduled in.
    queue: BinaryHeap<Reverse<(u64, u64, SimEvent)>>,
    order: u64,
    counters: SimCounters,
    outbox: Vec<Vec<u8>>,
    deliveries: Vec<Delivery>,
    /// A user call since the last service may have made something sendable right now.
    dirty: bool,
}

impl Simulator {
    pub fn new(seed: u64) -> Self {
        Simulator {
            now: 0,
            seed,
            rng: Rng::new(seed),
            hosts: Vec::new(),
            by_addr: HashMap::new(),
            links: BTreeMap::new(),
            queue: BinaryHeap::new(),
            order: 0,
            counters: SimCounters::default(),
            outbox: Vec::new(),
            deliveries: Vec::new(),
            dirty: false,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time in microseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn counters(&self) -> SimCounters {
        self.counters
    }

    pub fn add_host(
        &mut self,
        name: &str,
        addr: IpAddr,
        config: EndpointConfig,
    ) -> Result<HostId, Error> {
        if self.by_addr.contains_key(&addr) {
            return Err(Error::InvalidInput("another host has this address"));
        }
        let mut key = [0u8; 16];
        self.rng.fill_bytes(&mut key);
        let endpoint = Endpoint::new(config, key)?;
        let id = self.hosts.len();
        self.hosts.push(Host {
            name: name.to_owned(),
            addr,
            endpoint,
            apps: BTreeMap::new(),
            capture: None,
        });
        self.by_addr.insert(addr, id);
        Ok(id)
    }

    fn host(&self, h: HostId) -> Result<&Host, Error> {
        self.hosts.get(h).ok_or(Error::InvalidInput("no such host"))
    }

    fn host_mut(&mut self, h: HostId) -> Result<&mut Host, Error> {
        self.hosts
            .get_mut(h)
            .ok_or(Error::InvalidInput("no such host"))
    }

    pub fn host_name(&self, h: HostId) -> Result<&str, Error> {
        Ok(&self.host(h)?.name)
    }

    pub fn host_addr(&self, h: HostId) -> Result<IpAddr, Error> {
        Ok(self.host(h)?.addr)
    }

    pub fn endpoint(&self, h: HostId) -> Result<&Endpoint, Error> {
        Ok(&self.host(h)?.endpoint)
    }

    /// A one-way link from `from` to `to` (replacing any existing one).
    /// Start (or stop, dropping what was not taken) recording every packet host `h` sends
    /// and receives, with its virtual time (for a pcap file: what the host's own interface
    /// would show, so a packet a link loses is still in the sender's capture).
    pub fn set_capture(&mut self, h: HostId, on: bool) -> Result<(), Error> {
        let host = self.host_mut(h)?;
        host.capture = on.then(|| host.capture.take().unwrap_or_default());
        Ok(())
    }

    /// The packets host `h` sent and received since the last call, with their times, and
    /// how many a full capture turned away in all.
    pub fn take_captured(&mut self, h: HostId) -> Result<(Vec<Captured>, u64), Error> {
        let host = self.host_mut(h)?;
        Ok(host
            .capture
            .as_mut()
            .map_or((Vec::new(), 0), |c| (c.take(), c.dropped)))
    }

    pub fn add_link(&mut self, from: HostId, to: HostId, config: LinkConfig) -> Result<(), Error> {
        self.host(from)?;
        self.host(to)?;
        config.validate().map_err(Error::InvalidInput)?;
        let rng = self.rng.fork();
        self.links.insert((from, to), Link::new(config, rng));
        Ok(())
    }

    pub fn link_counters(&self, from: HostId, to: HostId) -> Option<LinkCounters> {
        self.links.get(&(from, to)).map(|l| l.counters)
    }

    pub fn listen(&mut self, h: HostId, port: u16) -> Result<(), Error> {
        let host = self.host_mut(h)?;
        let local = SocketAddr::new(host.addr, port);
        host.endpoint.listen(local)
    }

    pub fn connect(&mut self, h: HostId, remote: SocketAddr) -> Result<ConnId, Error> {
        self.dirty = true;
        let now = self.now;
        let host = self.host_mut(h)?;
        let id = host.endpoint.connect(now, host.addr, remote)?;
        host.apps.insert(id, App::default());
        Ok(id)
    }

    pub fn accept(&mut self, h: HostId, port: u16) -> Result<Option<ConnId>, Error> {
        self.dirty = true;
        let host = self.host_mut(h)?;
        let local = SocketAddr::new(host.addr, port);
        let id = host.endpoint.accept(local);
        if let Some(id) = id {
            let mut app = App::default();
            if let Some(c) = host.endpoint.connection_mut(id) {
                // Data that arrived before accept() is the app's too.
                let mut v = Vec::new();
                c.recv_to_vec(usize::MAX, &mut v);
                app.received.extend(v);
            }
            host.apps.insert(id, app);
        }
        Ok(id)
    }

    fn app_mut(&mut self, h: HostId, c: ConnId) -> Result<&mut App, Error> {
        self.host_mut(h)?
            .apps
            .get_mut(&c)
            .ok_or(Error::InvalidInput("no such connection on this host"))
    }

    pub fn connection(&self, h: HostId, c: ConnId) -> Result<&Connection, Error> {
        self.host(h)?
            .endpoint
            .connection(c)
            .ok_or(Error::InvalidInput("no such connection on this host"))
    }

    pub fn connection_mut(&mut self, h: HostId, c: ConnId) -> Result<&mut Connection, Error> {
        self.host_mut(h)?
            .endpoint
            .connection_mut(c)
            .ok_or(Error::InvalidInput("no such connection on this host"))
    }

    /// Queue `data` for sending; it enters the connection as its send buffer frees up.
    pub fn send(&mut self, h: HostId, c: ConnId, data: &[u8]) -> Result<(), Error> {
        self.dirty = true;
        let conn = self.connection(h, c)?;
        if conn.error().is_some() || !(conn.state().can_send_data()) {
            return Err(match conn.state() {
                crate::State::Closed
                    if conn.error().is_none() && conn.tcb().snd_max == conn.tcb().iss =>
                {
                    Error::NotConnected
                }
                _ => Error::BrokenPipe,
            });
        }
        let app = self.app_mut(h, c)?;
        if app.close_when_sent {
            return Err(Error::BrokenPipe);
        }
        app.to_send.extend(data);
        Ok(())
    }

    /// Close the sending side once everything queued has entered the connection.
    pub fn close(&mut self, h: HostId, c: ConnId) -> Result<(), Error> {
        self.dirty = true;
        self.connection(h, c)?;
        self.app_mut(h, c)?.close_when_sent = true;
        Ok(())
    }

    pub fn abort(&mut self, h: HostId, c: ConnId) -> Result<(), Error> {
        self.dirty = true;
        let now = self.now;
        self.app_mut(h, c)?.to_send.clear();
        self.connection_mut(h, c)?.abort(now);
        Ok(())
    }

    /// Turn keep-alives on or off for a connection (see `Connection::set_keepalive`); its
    /// timer is read again before the simulation goes on.
    pub fn set_keepalive(
        &mut self,
        h: HostId,
        c: ConnId,
        keepalive: Option<crate::conn::Keepalive>,
    ) -> Result<(), Error> {
        self.dirty = true;
        self.connection_mut(h, c)?.set_keepalive(keepalive)
    }

    /// Bytes received and not yet taken by `recv`.
    pub fn received_len(&self, h: HostId, c: ConnId) -> Result<usize, Error> {
        self.host(h)?
            .apps
            .get(&c)
            .map(|a| a.received.len())
            .ok_or(Error::InvalidInput("no such connection on this host"))
    }

    /// Bytes queued by `send` that have not entered the connection yet.
    pub fn unsent_len(&self, h: HostId, c: ConnId) -> Result<usize, Error> {
        self.host(h)?
            .apps
            .get(&c)
            .map(|a| a.to_send.len())
            .ok_or(Error::InvalidInput("no such connection on this host"))
    }

    pub fn recv(&mut self, h: HostId, c: ConnId, max: usize) -> Result<Vec<u8>, Error> {
        self.dirty = true;
        let app = self.app_mut(h, c)?;
        let n = max.min(app.received.len());
        Ok(app.received.drain(..n).collect())
    }

    /// The time of the next thing that will happen, if anything will.
    pub fn next_event_time(&self) -> Option<u64> {
        if self.dirty {
            return Some(self.now);
        }
        let packet = self.queue.peek().map(|Reverse((t, _, _))| *t);
        let timer = self
            .hosts
            .iter()
            .filter_map(|h| h.endpoint.poll_timeout())
            .min();
        match (packet, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advance to the next event time and process everything due then. `false` when idle.
    pub fn step(&mut self) -> bool {
        // User calls since the last step may have something to send right now.
        self.service_hosts();
        let Some(t) = self.next_event_time() else {
            return false;
        };
        self.now = self.now.max(t);
        self.counters.steps += 1;
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((t, _, _))| *t <= self.now)
        {
            let Some(Reverse((_, _, ev))) = self.queue.pop() else {
                break;
            };
            match ev {
                SimEvent::Arrive { host, packet } => {
                    let now = self.now;
                    if let Some(h) = self.hosts.get_mut(host) {
                        if let Some(c) = h.capture.as_mut() {
                            c.record(now, &packet);
                        }
                        if h.endpoint.handle_packet(now, &packet).is_err() {
                            self.counters.malformed += 1;
                        }
                        // Answer each packet before the next one of the same instant is
                        // read, as a real stack does: a burst gets one ACK per segment.
                        self.service_host(host);
                    }
                }
                SimEvent::Release { from, to, id } => {
                    let now = self.now;
                    let mut out = std::mem::take(&mut self.deliveries);
                    if let Some(l) = self.links.get_mut(&(from, to)) {
                        l.release(now, id, &mut out);
                    }
                    self.schedule(to, from, &mut out);
                    self.deliveries = out;
                }
            }
        }
        let now = self.now;
        for h in &mut self.hosts {
            if h.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                h.endpoint.handle_timeout(now);
            }
        }
        self.service_hosts();
        true
    }

    /// Run until virtual time `deadline` (or until nothing is left to happen).
    pub fn run_until(&mut self, deadline: u64) {
        while self.next_event_time().is_some_and(|t| t <= deadline) {
            self.step();
        }
        self.service_hosts();
        self.now = self.now.max(deadline);
    }

    /// Run for at most `max_steps` steps or until `done` holds; returns whether it held.
    pub fn run_while(&mut self, max_steps: u64, mut done: impl FnMut(&Simulator) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Move bytes between apps and connections, then send what the endpoints want to send.
    fn service_hosts(&mut self) {
        self.dirty = false;
        for hid in 0..self.hosts.len() {
            self.service_host(hid);
        }
    }

    fn service_host(&mut self, hid: HostId) {
        let now = self.now;
        let Some(host) = self.hosts.get_mut(hid) else {
            return;
        };
        for (&cid, app) in host.apps.iter_mut() {
            if let Some(conn) = host.endpoint.connection_mut(cid) {
                pump(now, conn, app);
            }
        }
        let mut out = std::mem::take(&mut self.outbox);
        host.endpoint.poll_transmit(now, &mut out);
        for packet in out.drain(..) {
            self.route(hid, packet);
        }
        self.outbox = out;
    }

    fn route(&mut self, from: HostId, packet: Vec<u8>) {
        self.counters.packets += 1;
        let now = self.now;
        if let Some(c) = self.hosts.get_mut(from).and_then(|h| h.capture.as_mut()) {
            c.record(now, &packet);
        }
        let dst = IpRepr::parse(&packet).ok().map(|(ip, _)| ip.dst_addr());
        let Some(&to) = dst.and_then(|d| self.by_addr.get(&d)) else {
            self.counters.unroutable += 1;
            return;
        };
        let now = self.now;
        let mut out = std::mem::take(&mut self.deliveries);
        match self.links.get_mut(&(from, to)) {
            Some(link) => link.transmit(now, packet, &mut out),
            None => self.counters.unroutable += 1,
        }
        self.schedule(to, from, &mut out);
        self.deliveries = out;
    }

    fn schedule(&mut self, to: HostId, from: HostId, out: &mut Vec<Delivery>) {
        for d in out.drain(..) {
            let (time, ev) = match d {
                Delivery::Arrive { time, packet } => (time, SimEvent::Arrive { host: to, packet }),
                Delivery::Release { time, id } => (time, SimEvent::Release { from, to, id }),
            };
            self.order += 1;
            self.queue.push(Reverse((time, self.order, ev)));
        }
    }
}

fn pump(now: u64, conn: &mut Connection, app: &mut App) {
    while !app.to_send.is_empty() {
        let (a, _) = app.to_send.as_slices();
        match conn.send(a) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                app.to_send.drain(..n);
            }
        }
    }
    // CLOSE in SYN-SENT deletes the connection (RFC 9293 3.10.4); the app means "FIN after
    // my data", so it waits for the handshake.
    if app.close_when_sent
        && app.to_send.is_empty()
        && !app.close_done
        && conn.state() != crate::State::SynSent
    {
        app.close_done = true;
        let _ = conn.close(now);
    }
    let n = conn.recv_queue_len();
    if n > 0 {
        let mut v = Vec::with_capacity(n);
        conn.recv_to_vec(n, &mut v);
        app.received.extend(v);
    }
}

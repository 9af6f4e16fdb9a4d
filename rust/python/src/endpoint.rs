//! The sans-I/O `Endpoint` for real transports: whole IP packets cross in batches (a list in,
//! a list out, one call each way per wake-up), the GIL is released around the batch work, and
//! connections are named by the integer ids the core hands out.

use std::collections::VecDeque;

use ferrotcp_core::endpoint::{ConnId, Endpoint, EndpointConfig};
use ferrotcp_core::Connection;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::connection::event_tuple;
use crate::convert::{self, parse_sockaddr, sockaddr_tuple};
use crate::errors::{conn_error, to_py};

/// Events kept for `events()` between two calls; a caller that never asks must not make the
/// endpoint grow without bound, so older ones beyond this are counted and dropped.
const EVENT_LIMIT: usize = 65_536;

type EventRow = (ConnId, &'static str, Option<&'static str>);

#[pyclass(name = "Endpoint", module = "ferrotcp._core")]
pub struct PyEndpoint {
    inner: Endpoint,
    events: VecDeque<EventRow>,
    events_dropped: u64,
}

fn isn_key(py: Python<'_>, key: Option<&[u8]>) -> PyResult<[u8; 16]> {
    let bytes: Vec<u8> = match key {
        Some(k) => k.to_vec(),
        // RFC 6528 wants the key secret: draw it from the OS, not from a clock or a counter.
        None => py.import("os")?.call_method1("urandom", (16,))?.extract()?,
    };
    bytes
        .try_into()
        .map_err(|_| PyValueError::new_err("isn_key must be exactly 16 bytes"))
}

impl PyEndpoint {
    fn conn(&self, id: ConnId) -> PyResult<&Connection> {
        self.inner
            .connection(id)
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {id}")))
    }

    fn conn_mut(&mut self, id: ConnId) -> PyResult<&mut Connection> {
        self.inner
            .connection_mut(id)
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {id}")))
    }
}

/// Move pending events into the endpoint's bounded queue. The core visits only connections
/// that something called since, so this costs nothing per idle connection.
fn collect_events(ep: &mut Endpoint, out: &mut VecDeque<EventRow>, dropped: &mut u64) {
    while let Some((id, e)) = ep.poll_event() {
        if out.len() >= EVENT_LIMIT {
            out.pop_front();
            *dropped += 1;
        }
        let (name, detail) = event_tuple(e);
        out.push_back((id, name, detail));
    }
}

#[pymethods]
impl PyEndpoint {
    /// A TCP endpoint: many connections, demultiplexed by 4-tuple. `isn_key` (16 bytes) is
    /// RFC 6528's secret (random when omitted; the SYN cookies' key is derived from it);
    /// `backlog` bounds each listener's connections not yet accepted; `syn_cookies` answers
    /// SYNs beyond it with SYN cookies (RFC 4987 3.6) instead of dropping them. Connection
    /// settings as keywords (`mss`, ...).
    #[new]
    #[pyo3(signature = (
        isn_key=None, backlog=128, ephemeral_ports=(49152, 65535), syn_cookies=true, **config
    ))]
    fn new(
        py: Python<'_>,
        isn_key: Option<&[u8]>,
        backlog: usize,
        ephemeral_ports: (u16, u16),
        syn_cookies: bool,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        // Starts from the endpoint's defaults (a shorter event log per connection than a
        // lone `Connection` keeps: an endpoint may hold thousands).
        let cfg = EndpointConfig {
            conn: convert::conn_config_from(EndpointConfig::default().conn, config)?,
            backlog,
            syn_cookies,
            ephemeral_ports,
        };
        let key = self::isn_key(py, isn_key)?;
        Ok(PyEndpoint {
            inner: Endpoint::new(cfg, key).map_err(to_py)?,
            events: VecDeque::new(),
            events_dropped: 0,
        })
    }

    /// Feed a batch of IP packets that arrived at `now`. Returns how many were accepted;
    /// malformed ones are counted (see `counters()["malformed"]`), never raised.
    fn receive(&mut self, py: Python<'_>, now: u64, packets: Vec<Vec<u8>>) -> usize {
        let (ep, events, dropped) = (&mut self.inner, &mut self.events, &mut self.events_dropped);
        py.detach(|| {
            let ok = packets
                .iter()
                .filter(|p| ep.handle_packet(now, p).is_ok())
                .count();
            collect_events(ep, events, dropped);
            ok
        })
    }

    /// Every IP packet the endpoint wants to send at `now`.
    fn datagrams_to_send<'py>(
        &mut self,
        py: Python<'py>,
        now: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let ep = &mut self.inner;
        let out = py.detach(|| {
            let mut out = Vec::new();
            ep.poll_transmit(now, &mut out);
            out
        });
        PyList::new(py, out.iter().map(|p| PyBytes::new(py, p)))
    }

    /// Microseconds at which `handle_timeout` must be called, or None.
    fn next_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }

    fn handle_timeout(&mut self, py: Python<'_>, now: u64) {
        let (ep, events, dropped) = (&mut self.inner, &mut self.events, &mut self.events_dropped);
        py.detach(|| {
            ep.handle_timeout(now);
            collect_events(ep, events, dropped);
        });
    }

    /// Events since the last call, oldest first: `(conn, name, detail)` as in
    /// `Connection.next_event`.
    fn events(&mut self) -> Vec<EventRow> {
        collect_events(&mut self.inner, &mut self.events, &mut self.events_dropped);
        self.events.drain(..).collect()
    }

    /// Accept connections on `local` (`(host, port)`; an unspecified host means any).
    fn listen(&mut self, local: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.listen(parse_sockaddr(local)?).map_err(to_py)
    }

    /// Stop listening on `local`; handshakes not yet accepted are reset.
    fn unlisten(&mut self, now: u64, local: &Bound<'_, PyAny>) -> PyResult<()> {
        let addr = parse_sockaddr(local)?;
        self.inner.unlisten(now, addr);
        collect_events(&mut self.inner, &mut self.events, &mut self.events_dropped);
        Ok(())
    }

    /// The oldest established connection on listening address `local`, or None.
    fn accept(&mut self, local: &Bound<'_, PyAny>) -> PyResult<Option<ConnId>> {
        Ok(self.inner.accept(parse_sockaddr(local)?))
    }

    /// Active open from `local` (port 0: an ephemeral port) to `remote`; returns its id.
    fn connect(
        &mut self,
        now: u64,
        local: &Bound<'_, PyAny>,
        remote: &Bound<'_, PyAny>,
    ) -> PyResult<ConnId> {
        let (l, r) = (parse_sockaddr(local)?, parse_sockaddr(remote)?);
        self.inner.connect_from(now, l, r).map_err(to_py)
    }

    /// Queue data; returns how many bytes the send buffer took.
    fn send(&mut self, conn: ConnId, data: &[u8]) -> PyResult<usize> {
        self.conn_mut(conn)?.send(data).map_err(to_py)
    }

    /// Turn Nagle's algorithm off (True) or on for one connection (TCP_NODELAY).
    fn set_nodelay(&mut self, conn: ConnId, on: bool) -> PyResult<()> {
        self.conn_mut(conn)?.set_nodelay(on);
        Ok(())
    }

    fn nodelay(&self, conn: ConnId) -> PyResult<bool> {
        Ok(self.conn(conn)?.config().nodelay)
    }

    /// Switch one connection's congestion control ("cubic", "newreno"; TCP_CONGESTION).
    fn set_congestion_control(&mut self, conn: ConnId, name: &str) -> PyResult<()> {
        let alg = convert::congestion_algorithm(name)?;
        self.conn_mut(conn)?.set_congestion_control(alg);
        Ok(())
    }

    fn congestion_control(&self, conn: ConnId) -> PyResult<&'static str> {
        Ok(self.conn(conn)?.congestion_control_name())
    }

    /// The algorithm new connections get (the `congestion_control` setting).
    fn default_congestion_control(&self) -> &'static str {
        self.inner.config().conn.congestion_control.name()
    }

    /// Up to `max` in-order received bytes (all of them when `max` is negative).
    #[pyo3(signature = (conn, max=-1))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        conn: ConnId,
        max: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut v = Vec::new();
        self.conn_mut(conn)?.recv_to_vec(max, &mut v);
        Ok(PyBytes::new(py, &v))
    }

    /// Close our sending side (FIN after queued data); receiving continues.
    fn close(&mut self, now: u64, conn: ConnId) -> PyResult<()> {
        self.conn_mut(conn)?.close(now).map_err(to_py)?;
        collect_events(&mut self.inner, &mut self.events, &mut self.events_dropped);
        Ok(())
    }

    /// Turn TCP keep-alives (RFC 9293 3.8.4) on or off for `conn`; parameters not given keep
    /// their current values (see `Connection.set_keepalive`).
    #[pyo3(signature = (conn, enabled, idle_us=None, interval_us=None, count=None))]
    fn set_keepalive(
        &mut self,
        conn: ConnId,
        enabled: bool,
        idle_us: Option<u64>,
        interval_us: Option<u64>,
        count: Option<u32>,
    ) -> PyResult<()> {
        let c = self.conn_mut(conn)?;
        let k = convert::keepalive_settings(c.keepalive(), enabled, idle_us, interval_us, count)?;
        c.set_keepalive(k).map_err(to_py)
    }

    /// `(idle_us, interval_us, count)` of `conn`'s keep-alives, or None when they are off.
    fn keepalive(&self, conn: ConnId) -> PyResult<Option<(u64, u64, u32)>> {
        Ok(convert::keepalive_tuple(self.conn(conn)?.keepalive()))
    }

    /// Reset the connection (RST if synchronized).
    fn abort(&mut self, now: u64, conn: ConnId) -> PyResult<()> {
        self.conn_mut(conn)?.abort(now);
        collect_events(&mut self.inner, &mut self.events, &mut self.events_dropped);
        Ok(())
    }

    /// Forget the connection (aborting it first if it is still open); its id becomes unknown.
    fn release(&mut self, now: u64, conn: ConnId) {
        self.inner.release(now, conn);
    }

    fn connection_ids(&self) -> Vec<ConnId> {
        self.inner.connection_ids().collect()
    }

    fn state(&self, conn: ConnId) -> PyResult<&'static str> {
        Ok(self.conn(conn)?.state().as_str())
    }

    /// The failure of a connection as its exception (None if it has not failed).
    fn error(&self, py: Python<'_>, conn: ConnId) -> PyResult<Option<PyErr>> {
        Ok(self.conn(conn)?.error().map(|e| conn_error(py, e)))
    }

    fn local(&self, conn: ConnId) -> PyResult<(String, u16)> {
        Ok(sockaddr_tuple(self.conn(conn)?.local()))
    }

    fn remote(&self, conn: ConnId) -> PyResult<Option<(String, u16)>> {
        Ok(self.conn(conn)?.remote().map(sockaddr_tuple))
    }

    /// In-order bytes waiting for `recv`.
    fn recv_available(&self, conn: ConnId) -> PyResult<usize> {
        Ok(self.conn(conn)?.recv_queue_len())
    }

    /// Room left in the send buffer.
    fn send_capacity(&self, conn: ConnId) -> PyResult<usize> {
        Ok(self.conn(conn)?.send_capacity())
    }

    /// The peer's FIN arrived and every byte before it has been read.
    fn at_eof(&self, conn: ConnId) -> PyResult<bool> {
        Ok(self.conn(conn)?.at_eof())
    }

    /// Everything queued (and our FIN, if sent) has been acknowledged.
    fn all_acked(&self, conn: ConnId) -> PyResult<bool> {
        Ok(self.conn(conn)?.all_acked())
    }

    /// The TCB variables of RFC 9293 3.3.1.
    fn tcb<'py>(&self, py: Python<'py>, conn: ConnId) -> PyResult<Bound<'py, PyDict>> {
        convert::pairs_dict(py, &convert::tcb_pairs(self.conn(conn)?.tcb()))
    }

    /// Per-connection counters, with `cwnd`, `ssthresh`, `in_recovery`, `rto_us`, `srtt_us`
    /// (0 before a sample) and the `congestion_control` algorithm's name.
    fn counters<'py>(&self, py: Python<'py>, conn: ConnId) -> PyResult<Bound<'py, PyDict>> {
        let c = self.conn(conn)?;
        let extra = [
            ("rto_us", c.rto_us()),
            ("srtt_us", c.srtt_us().unwrap_or(0)),
        ];
        convert::conn_counters_dict(py, &c.counters(), &extra)
    }

    /// The connection's event log: state changes, segments sent and received.
    fn log<'py>(&self, py: Python<'py>, conn: ConnId) -> PyResult<Bound<'py, PyList>> {
        convert::log_list(py, self.conn(conn)?.log())
    }

    /// Endpoint counters, with malformed and dropped packets by reason and events dropped
    /// unread.
    fn endpoint_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let extra = [("events_dropped", self.events_dropped)];
        convert::endpoint_counters_dict(py, self.inner.counters(), &extra)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("<ferrotcp.Endpoint {} connections>", self.inner.len())
    }
}

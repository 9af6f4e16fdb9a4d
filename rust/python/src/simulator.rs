//! The simulated network. Long runs release the GIL and never call back into Python per
//! packet: conditions to run until are evaluated in Rust.

use ferrotcp_core::endpoint::{ConnId, EndpointConfig};
use ferrotcp_core::sim::{HostId, Simulator};
use ferrotcp_core::State;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::convert::{self, parse_ip, parse_sockaddr, sockaddr_tuple};
use crate::errors::{conn_error, to_py};

/// Step budget for one `run_*` call, so a run that cannot reach its condition still ends.
const MAX_STEPS: u64 = 50_000_000;

fn state_by_name(name: &str) -> PyResult<State> {
    State::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
        .ok_or_else(|| PyValueError::new_err(format!("unknown TCP state {name:?}")))
}

#[pyclass(name = "Simulator", module = "ferrotcp._core")]
pub struct PySimulator {
    inner: Simulator,
}

#[pymethods]
impl PySimulator {
    #[new]
    #[pyo3(signature = (seed=0))]
    fn new(seed: u64) -> Self {
        PySimulator {
            inner: Simulator::new(seed),
        }
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed()
    }

    /// Virtual time in microseconds.
    #[getter]
    fn now(&self) -> u64 {
        self.inner.now()
    }

    /// Add a host with address `addr`; connection settings as keywords (`mss`, ...).
    /// `backlog` and `syn_cookies` as for `Endpoint`.
    #[pyo3(signature = (name, addr, backlog=128, syn_cookies=true, **config))]
    fn add_host(
        &mut self,
        name: &str,
        addr: &str,
        backlog: usize,
        syn_cookies: bool,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<HostId> {
        let ep = EndpointConfig {
            conn: convert::conn_config(config)?,
            backlog,
            syn_cookies,
            ..EndpointConfig::default()
        };
        self.inner
            .add_host(name, parse_ip(addr)?, ep)
            .map_err(to_py)
    }

    /// A one-way link; faults and delays as keywords (`loss`, `reorder`, `delay_us`, ...).
    #[pyo3(signature = (src, dst, **config))]
    fn add_link(
        &mut self,
        src: HostId,
        dst: HostId,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let c = convert::link_config(config)?;
        self.inner.add_link(src, dst, c).map_err(to_py)
    }

    fn host_addr(&self, host: HostId) -> PyResult<String> {
        Ok(self.inner.host_addr(host).map_err(to_py)?.to_string())
    }

    fn listen(&mut self, host: HostId, port: u16) -> PyResult<()> {
        self.inner.listen(host, port).map_err(to_py)
    }

    /// Record (or stop recording) every packet the host sends and receives.
    fn set_capture(&mut self, host: HostId, on: bool) -> PyResult<()> {
        self.inner.set_capture(host, on).map_err(to_py)
    }

    /// The packets captured since the last call, as ``(time_us, packet)``, and how many a
    /// full capture turned away in all.
    fn take_captured<'py>(
        &mut self,
        py: Python<'py>,
        host: HostId,
    ) -> PyResult<(Bound<'py, PyList>, u64)> {
        let (packets, dropped) = self.inner.take_captured(host).map_err(to_py)?;
        let items = packets
            .iter()
            .map(|(t, p)| (*t, PyBytes::new(py, p)))
            .collect::<Vec<_>>();
        Ok((PyList::new(py, items)?, dropped))
    }

    fn connect(&mut self, host: HostId, remote: &Bound<'_, PyAny>) -> PyResult<ConnId> {
        let r = parse_sockaddr(remote)?;
        self.inner.connect(host, r).map_err(to_py)
    }

    fn accept(&mut self, host: HostId, port: u16) -> PyResult<Option<ConnId>> {
        self.inner.accept(host, port).map_err(to_py)
    }

    /// Queue bytes for sending (the simulator feeds the send buffer as it drains).
    fn send(&mut self, host: HostId, conn: ConnId, data: &[u8]) -> PyResult<()> {
        self.raise_if_failed(host, conn)?;
        self.inner.send(host, conn, data).map_err(to_py)
    }

    fn close(&mut self, host: HostId, conn: ConnId) -> PyResult<()> {
        self.inner.close(host, conn).map_err(to_py)
    }

    fn abort(&mut self, host: HostId, conn: ConnId) -> PyResult<()> {
        self.inner.abort(host, conn).map_err(to_py)
    }

    /// Turn TCP keep-alives (RFC 9293 3.8.4) on or off for a connection; parameters not
    /// given keep their current values (see `Connection.set_keepalive`).
    #[pyo3(signature = (host, conn, enabled, idle_us=None, interval_us=None, count=None))]
    fn set_keepalive(
        &mut self,
        host: HostId,
        conn: ConnId,
        enabled: bool,
        idle_us: Option<u64>,
        interval_us: Option<u64>,
        count: Option<u32>,
    ) -> PyResult<()> {
        let current = self
            .inner
            .connection(host, conn)
            .map_err(to_py)?
            .keepalive();
        let k = convert::keepalive_settings(current, enabled, idle_us, interval_us, count)?;
        self.inner.set_keepalive(host, conn, k).map_err(to_py)
    }

    /// `(idle_us, interval_us, count)` of a connection's keep-alives, or None when off.
    fn keepalive(&self, host: HostId, conn: ConnId) -> PyResult<Option<(u64, u64, u32)>> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        Ok(convert::keepalive_tuple(c.keepalive()))
    }

    /// Received bytes (all when `max` is negative).
    #[pyo3(signature = (host, conn, max=-1))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        host: HostId,
        conn: ConnId,
        max: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let v = self.inner.recv(host, conn, max).map_err(to_py)?;
        Ok(PyBytes::new(py, &v))
    }

    fn received_len(&self, host: HostId, conn: ConnId) -> PyResult<usize> {
        self.inner.received_len(host, conn).map_err(to_py)
    }

    fn unsent_len(&self, host: HostId, conn: ConnId) -> PyResult<usize> {
        self.inner.unsent_len(host, conn).map_err(to_py)
    }

    /// Process the next instant at which anything happens; False when nothing is left.
    fn step(&mut self) -> bool {
        self.inner.step()
    }

    /// Run until virtual time `deadline_us`.
    fn run_until(&mut self, py: Python<'_>, deadline_us: u64) {
        let sim = &mut self.inner;
        py.detach(|| sim.run_until(deadline_us));
    }

    /// Run until nothing is left to happen or `deadline_us`; True if it went quiet.
    fn run_until_idle(&mut self, py: Python<'_>, deadline_us: u64) -> bool {
        self.run_until_condition(py, deadline_us, |s| s.next_event_time().is_none())
    }

    /// Run until the connection is in `state` (e.g. "ESTABLISHED"); False at the deadline.
    fn run_until_state(
        &mut self,
        py: Python<'_>,
        host: HostId,
        conn: ConnId,
        state: &str,
        deadline_us: u64,
    ) -> PyResult<bool> {
        let want = state_by_name(state)?;
        self.inner.connection(host, conn).map_err(to_py)?;
        Ok(self.run_until_condition(py, deadline_us, move |s| {
            s.connection(host, conn).is_ok_and(|c| c.state() == want)
        }))
    }

    /// Run until `nbytes` have been received on the connection (or nothing more can happen).
    fn run_until_received(
        &mut self,
        py: Python<'_>,
        host: HostId,
        conn: ConnId,
        nbytes: usize,
        deadline_us: u64,
    ) -> PyResult<bool> {
        self.inner.received_len(host, conn).map_err(to_py)?;
        Ok(self.run_until_condition(py, deadline_us, move |s| {
            s.received_len(host, conn).is_ok_and(|n| n >= nbytes)
        }))
    }

    /// Run until a connection can be accepted on `port`; returns its id or None.
    fn run_until_accept(
        &mut self,
        py: Python<'_>,
        host: HostId,
        port: u16,
        deadline_us: u64,
    ) -> PyResult<Option<ConnId>> {
        if let Some(id) = self.inner.accept(host, port).map_err(to_py)? {
            return Ok(Some(id));
        }
        let sim = &mut self.inner;
        py.detach(|| -> PyResult<Option<ConnId>> {
            for _ in 0..MAX_STEPS {
                if sim.next_event_time().is_none_or(|t| t > deadline_us) || !sim.step() {
                    return Ok(None);
                }
                if let Some(id) = sim.accept(host, port).map_err(to_py)? {
                    return Ok(Some(id));
                }
            }
            Ok(None)
        })
    }

    fn state(&self, host: HostId, conn: ConnId) -> PyResult<&'static str> {
        Ok(self
            .inner
            .connection(host, conn)
            .map_err(to_py)?
            .state()
            .as_str())
    }

    /// The failure of a connection as its exception (None if it has not failed).
    fn error(&self, host: HostId, conn: ConnId) -> PyResult<Option<PyErr>> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        Ok(c.error().map(|e| Python::attach(|py| conn_error(py, e))))
    }

    fn local(&self, host: HostId, conn: ConnId) -> PyResult<(String, u16)> {
        Ok(sockaddr_tuple(
            self.inner.connection(host, conn).map_err(to_py)?.local(),
        ))
    }

    fn remote(&self, host: HostId, conn: ConnId) -> PyResult<Option<(String, u16)>> {
        Ok(self
            .inner
            .connection(host, conn)
            .map_err(to_py)?
            .remote()
            .map(sockaddr_tuple))
    }

    fn tcb<'py>(
        &self,
        py: Python<'py>,
        host: HostId,
        conn: ConnId,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        convert::pairs_dict(py, &convert::tcb_pairs(c.tcb()))
    }

    fn counters<'py>(
        &self,
        py: Python<'py>,
        host: HostId,
        conn: ConnId,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        let extra = [
            ("rto_us", c.rto_us()),
            ("srtt_us", c.srtt_us().unwrap_or(0)),
        ];
        convert::conn_counters_dict(py, &c.counters(), &extra)
    }

    fn log<'py>(
        &self,
        py: Python<'py>,
        host: HostId,
        conn: ConnId,
    ) -> PyResult<Bound<'py, PyList>> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        convert::log_list(py, c.log())
    }

    fn link_counters<'py>(
        &self,
        py: Python<'py>,
        src: HostId,
        dst: HostId,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = self
            .inner
            .link_counters(src, dst)
            .ok_or_else(|| PyValueError::new_err("no link between those hosts"))?;
        convert::pairs_dict(py, &convert::link_counter_pairs(&c))
    }

    fn counters_total<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::pairs_dict(py, &convert::sim_counter_pairs(&self.inner.counters()))
    }

    /// Endpoint counters of a host, with malformed packets by reason.
    fn host_counters<'py>(&self, py: Python<'py>, host: HostId) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.endpoint(host).map_err(to_py)?.counters();
        convert::endpoint_counters_dict(py, c, &[])
    }
}

impl PySimulator {
    /// Step without the GIL until `done` holds, virtual time passes `deadline_us`, or nothing
    /// is left to happen; returns whether `done` holds.
    fn run_until_condition(
        &mut self,
        py: Python<'_>,
        deadline_us: u64,
        done: impl Fn(&Simulator) -> bool + Send + Sync,
    ) -> bool {
        let sim = &mut self.inner;
        py.detach(|| {
            sim.run_while(MAX_STEPS, |s| {
                done(s) || s.next_event_time().is_none_or(|t| t > deadline_us)
            });
            done(sim)
        })
    }

    fn raise_if_failed(&self, host: HostId, conn: ConnId) -> PyResult<()> {
        let c = self.inner.connection(host, conn).map_err(to_py)?;
        match c.error() {
            // Writing after the peer reset us is EPIPE, as with the socket module.
            Some(_) => Err(to_py(ferrotcp_core::conn::Error::BrokenPipe)),
            None => Ok(()),
        }
    }
}

//! The sans-I/O `Connection` for people who bring their own I/O (and for the conformance
//! suite): TCP segments (bytes) in with a time, segments out, state and TCB readable.

use std::net::IpAddr;

use ferrotcp_core::conn::{Connection, Event};
use ferrotcp_core::SeqNum;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::convert::{self, parse_ip, parse_sockaddr, sockaddr_tuple, TsOffset};
use crate::errors::to_py;

/// Name and detail of an event, as returned by `next_event`.
pub fn event_tuple(e: Event) -> (&'static str, Option<&'static str>) {
    match e {
        Event::Connected => ("connected", None),
        Event::Readable => ("readable", None),
        Event::PeerClosed => ("peer-closed", None),
        Event::Closed => ("closed", None),
        Event::Error(c) => (
            "error",
            Some(match c {
                ferrotcp_core::conn::ConnError::Refused => "refused",
                ferrotcp_core::conn::ConnError::Reset => "reset",
                ferrotcp_core::conn::ConnError::TimedOut => "timed-out",
            }),
        ),
    }
}

fn random_iss() -> u32 {
    // Only when the caller gives no ISN: draw one from the OS-seeded hasher so two
    // connections made in a row differ (RFC 9293 3.4.1 wants unpredictable ISNs).
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6665_7272_6f74_6370);
    h.finish() as u32
}

#[pyclass(name = "Connection", module = "ferrotcp._core")]
pub struct PyConnection {
    inner: Connection,
}

#[pymethods]
impl PyConnection {
    /// Active open from `local` to `remote` (both `(host, port)`); the SYN is ready at once.
    /// `ts_offset` is added to the timestamp clock (RFC 7323 5.4): TSval = ts_offset +
    /// now / 1000, mod 2^32.
    #[staticmethod]
    #[pyo3(
        signature = (local, remote, now=0, iss=None, ts_offset=TsOffset(0), **config),
        text_signature = "(local, remote, now=0, iss=None, ts_offset=0, **config)"
    )]
    fn connect(
        local: &Bound<'_, PyAny>,
        remote: &Bound<'_, PyAny>,
        now: u64,
        iss: Option<u32>,
        ts_offset: TsOffset,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cfg = convert::conn_config(config)?;
        let iss = SeqNum(iss.unwrap_or_else(random_iss));
        let mut inner = Connection::connect(
            cfg,
            parse_sockaddr(local)?,
            parse_sockaddr(remote)?,
            iss,
            now,
        )
        .map_err(to_py)?;
        inner.set_ts_offset(ts_offset.0);
        Ok(PyConnection { inner })
    }

    /// Passive open on `local`: waits in LISTEN for one SYN. `ts_offset` as for `connect`.
    #[staticmethod]
    #[pyo3(
        signature = (local, iss=None, ts_offset=TsOffset(0), **config),
        text_signature = "(local, iss=None, ts_offset=0, **config)"
    )]
    fn listen(
        local: &Bound<'_, PyAny>,
        iss: Option<u32>,
        ts_offset: TsOffset,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cfg = convert::conn_config(config)?;
        let iss = SeqNum(iss.unwrap_or_else(random_iss));
        let mut inner = Connection::listen(cfg, parse_sockaddr(local)?, iss).map_err(to_py)?;
        inner.set_ts_offset(ts_offset.0);
        Ok(PyConnection { inner })
    }

    /// Feed TCP segments (header and payload, checksummed over the pseudo-header) that arrived
    /// at `now` from `remote_ip` (default: the connection's peer). Returns how many were
    /// dropped as malformed; remote misbehaviour never raises.
    #[pyo3(signature = (now, segments, remote_ip=None))]
    fn receive(
        &mut self,
        now: u64,
        segments: Vec<Vec<u8>>,
        remote_ip: Option<&str>,
    ) -> PyResult<usize> {
        let ip: IpAddr = match remote_ip {
            Some(s) => parse_ip(s)?,
            None => self.inner.remote().map(|r| r.ip()).ok_or_else(|| {
                PyValueError::new_err("a listening connection needs remote_ip for the checksum")
            })?,
        };
        let mut malformed = 0;
        for s in &segments {
            if self.inner.handle_bytes(now, ip, s).is_err() {
                malformed += 1;
            }
        }
        Ok(malformed)
    }

    /// Every segment the connection wants to send at `now`, as bytes.
    fn datagrams_to_send<'py>(
        &mut self,
        py: Python<'py>,
        now: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        while let Some((_, seg)) = self.inner.poll_transmit_bytes(now) {
            out.append(PyBytes::new(py, &seg))?;
        }
        Ok(out)
    }

    /// Microseconds at which `handle_timeout` must be called, or None.
    fn next_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }

    fn handle_timeout(&mut self, now: u64) {
        self.inner.handle_timeout(now);
    }

    /// Turn TCP keep-alives (RFC 9293 3.8.4) on or off. Parameters not given keep their
    /// current values (Linux's defaults the first time: 2 h idle, 75 s interval, 9 probes).
    #[pyo3(signature = (enabled, idle_us=None, interval_us=None, count=None))]
    fn set_keepalive(
        &mut self,
        enabled: bool,
        idle_us: Option<u64>,
        interval_us: Option<u64>,
        count: Option<u32>,
    ) -> PyResult<()> {
        let k = convert::keepalive_settings(
            self.inner.keepalive(),
            enabled,
            idle_us,
            interval_us,
            count,
        )?;
        self.inner.set_keepalive(k).map_err(to_py)
    }

    /// `(idle_us, interval_us, count)` of the keep-alives, or None when they are off.
    fn keepalive(&self) -> Option<(u64, u64, u32)> {
        convert::keepalive_tuple(self.inner.keepalive())
    }

    /// The next event as `(name, detail)`: `connected`, `readable`, `peer-closed`, `closed`,
    /// or `error` with `refused`, `reset` or `timed-out`.
    fn next_event(&mut self) -> Option<(&'static str, Option<&'static str>)> {
        self.inner.poll_event().map(event_tuple)
    }

    /// Queue data; returns how many bytes the send buffer took.
    fn send(&mut self, data: &[u8]) -> PyResult<usize> {
        self.inner.send(data).map_err(to_py)
    }

    /// Nagle's algorithm off (True) or on (RFC 9293 3.7.4; the socket API's TCP_NODELAY).
    #[getter]
    fn get_nodelay(&self) -> bool {
        self.inner.config().nodelay
    }

    #[setter]
    fn set_nodelay(&mut self, on: bool) {
        self.inner.set_nodelay(on);
    }

    /// The congestion control algorithm, "cubic" or "newreno" (TCP_CONGESTION); setting
    /// another name raises ValueError.
    #[getter]
    fn get_congestion_control(&self) -> &'static str {
        self.inner.congestion_control_name()
    }

    #[setter]
    fn set_congestion_control(&mut self, name: &str) -> PyResult<()> {
        let alg = convert::congestion_algorithm(name)?;
        self.inner.set_congestion_control(alg);
        Ok(())
    }

    /// Up to `max` in-order received bytes (all of them when `max` is negative).
    #[pyo3(signature = (max=-1))]
    fn recv<'py>(&mut self, py: Python<'py>, max: i64) -> Bound<'py, PyBytes> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut v = Vec::new();
        self.inner.recv_to_vec(max, &mut v);
        PyBytes::new(py, &v)
    }

    /// Close our sending side (FIN after queued data); receiving continues.
    #[pyo3(signature = (now=0))]
    fn close(&mut self, now: u64) -> PyResult<()> {
        self.inner.close(now).map_err(to_py)
    }

    /// Reset the connection (RST if synchronized) and forget it.
    #[pyo3(signature = (now=0))]
    fn abort(&mut self, now: u64) {
        self.inner.abort(now);
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    #[getter]
    fn local(&self) -> (String, u16) {
        sockaddr_tuple(self.inner.local())
    }

    #[getter]
    fn remote(&self) -> Option<(String, u16)> {
        self.inner.remote().map(sockaddr_tuple)
    }

    /// The TCB variables of RFC 9293 3.3.1 (`snd_una`, `snd_nxt`, `rcv_nxt`, ...), windows
    /// in bytes, what the SYNs negotiated (`wscale_ok`, `snd_wscale`, `rcv_wscale`,
    /// `sack_ok`, `ts_ok`: 0 or 1 for the flags), and RFC 7323 4.3's `ts_recent` and
    /// `last_ack_sent`.
    fn tcb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::pairs_dict(py, &convert::tcb_pairs(self.inner.tcb()))
    }

    #[getter]
    fn iss(&self) -> u32 {
        self.inner.tcb().iss.raw()
    }
    #[getter]
    fn irs(&self) -> u32 {
        self.inner.tcb().irs.raw()
    }
    #[getter]
    fn snd_una(&self) -> u32 {
        self.inner.tcb().snd_una.raw()
    }
    #[getter]
    fn snd_nxt(&self) -> u32 {
        self.inner.tcb().snd_nxt.raw()
    }
    #[getter]
    fn snd_wnd(&self) -> u32 {
        self.inner.tcb().snd_wnd
    }
    #[getter]
    fn rcv_nxt(&self) -> u32 {
        self.inner.tcb().rcv_nxt.raw()
    }
    #[getter]
    fn rcv_wnd(&self) -> u32 {
        self.inner.tcb().rcv_wnd
    }
    /// Both SYNs carried a Window Scale option (RFC 7323 2.2): windows are scaled.
    #[getter]
    fn wscale_ok(&self) -> bool {
        self.inner.tcb().wscale_ok
    }
    /// The peer's shift, applied to the windows it sends (RFC 7323 2.3 Snd.Wind.Shift).
    #[getter]
    fn snd_wscale(&self) -> u8 {
        self.inner.tcb().snd_wscale
    }
    /// Our shift, applied to the windows we send (RFC 7323 2.3 Rcv.Wind.Shift).
    #[getter]
    fn rcv_wscale(&self) -> u8 {
        self.inner.tcb().rcv_wscale
    }
    /// Both SYNs carried SACK-permitted (RFC 2018 2).
    #[getter]
    fn sack_ok(&self) -> bool {
        self.inner.tcb().sack_ok
    }
    /// Both SYNs carried the Timestamps option (RFC 7323 3.2): every later segment does.
    #[getter]
    fn ts_ok(&self) -> bool {
        self.inner.ts_ok()
    }
    /// TS.Recent (RFC 7323 4.3): the peer's TSval we echo, PAWS's reference (5.3).
    #[getter]
    fn ts_recent(&self) -> u32 {
        self.inner.ts_recent()
    }
    #[getter]
    fn cwnd(&self) -> u32 {
        self.inner.cwnd()
    }
    #[getter]
    fn srtt_us(&self) -> Option<u64> {
        self.inner.srtt_us()
    }
    #[getter]
    fn rto_us(&self) -> u64 {
        self.inner.rto_us()
    }

    /// Counters, with cwnd, ssthresh, in_recovery and the congestion control's name.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::conn_counters_dict(py, &self.inner.counters(), &[])
    }

    /// The event log: state changes, segments sent (with reason) and received (with fate).
    fn log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        convert::log_list(py, self.inner.log())
    }

    /// Rule ids applied by the last input (segment, timeout or user call).
    fn applied_rules(&self) -> Vec<&'static str> {
        self.inner.applied_rules().to_vec()
    }

    /// The SACK scoreboard (RFC 6675 3): the `(left, right)` sequence ranges the peer's
    /// SACK blocks say it holds above SND.UNA, ascending.
    fn sacked_ranges(&self) -> Vec<(u32, u32)> {
        self.inner
            .sacked_ranges()
            .map(|(l, r)| (l.raw(), r.raw()))
            .collect()
    }

    /// The variables of the spec in `models/tcp.toml`, by the spec's names.
    fn spec_vars<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::pairs_dict(py, &self.inner.spec_vars())
    }

    fn __repr__(&self) -> String {
        format!(
            "<ferrotcp.Connection {} {:?} -> {:?}>",
            self.inner.state(),
            self.inner.local(),
            self.inner.remote()
        )
    }
}

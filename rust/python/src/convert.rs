//! Conversions between Python values and core types: addresses, settings, counters, logs.

use std::net::{IpAddr, SocketAddr};

use ferrotcp_core::cc::CongestionAlgorithm;
use ferrotcp_core::conn::{Config, Counters, EventLog, Keepalive, LogEntry, LogKind, Tcb};
use ferrotcp_core::endpoint::EndpointCounters;
use ferrotcp_core::sim::LinkConfig;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList};

pub fn parse_ip(s: &str) -> PyResult<IpAddr> {
    s.parse()
        .map_err(|_| PyValueError::new_err(format!("not an IP address: {s:?}")))
}

/// `(host, port)` as in the `socket` module.
pub fn parse_sockaddr(addr: &Bound<'_, PyAny>) -> PyResult<SocketAddr> {
    let (host, port): (String, u16) = addr.extract().map_err(|_| {
        PyTypeError::new_err("address must be a (host, port) tuple with port in 0..65535")
    })?;
    Ok(SocketAddr::new(parse_ip(&host)?, port))
}

pub fn sockaddr_tuple(a: SocketAddr) -> (String, u16) {
    (a.ip().to_string(), a.port())
}

/// Apply `key=value` settings to a struct through a table of setters; unknown keys are an
/// error, so a typo is not silently ignored.
fn apply<T>(
    target: &mut T,
    kwargs: Option<&Bound<'_, PyDict>>,
    what: &str,
    set: impl Fn(&mut T, &str, &Bound<'_, PyAny>) -> PyResult<bool>,
) -> PyResult<()> {
    let Some(kw) = kwargs else { return Ok(()) };
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        if !set(target, &key, &v)? {
            return Err(PyTypeError::new_err(format!(
                "unknown {what} setting {key:?}"
            )));
        }
    }
    Ok(())
}

/// A congestion control algorithm by name ("cubic", "newreno"; "reno" too, as Linux calls
/// it); `ValueError` for any other name.
pub fn congestion_algorithm(name: &str) -> PyResult<CongestionAlgorithm> {
    CongestionAlgorithm::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown congestion control {name:?} (known: \"cubic\", \"newreno\")"
        ))
    })
}

pub fn conn_config(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    conn_config_from(Config::default(), kwargs)
}

/// The keep-alive keywords (RFC 9293 3.8.4): `keepalive` (bool) turns them on or off;
/// `keepalive_idle_us`, `keepalive_interval_us`, `keepalive_count` set their parameters
/// over `current` (or Linux's defaults). Parameters with keep-alives off are refused rather
/// than silently ignored. The keys are taken out of `kw`.
fn take_keepalive(
    current: Option<Keepalive>,
    kw: &Bound<'_, PyDict>,
) -> PyResult<Option<Keepalive>> {
    let take = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        let v = kw.get_item(key)?;
        if v.is_some() {
            kw.del_item(key)?;
        }
        Ok(v)
    };
    let on = match take("keepalive")? {
        Some(v) => v.extract::<bool>()?,
        None => current.is_some(),
    };
    let idle = take("keepalive_idle_us")?
        .map(|v| v.extract())
        .transpose()?;
    let interval = take("keepalive_interval_us")?
        .map(|v| v.extract())
        .transpose()?;
    let count = take("keepalive_count")?.map(|v| v.extract()).transpose()?;
    keepalive_settings(current, on, idle, interval, count)
}

/// Keep-alive settings: off, or `current`'s (else the defaults) with the given values over
/// them. Values given while turning keep-alives off are an error.
pub fn keepalive_settings(
    current: Option<Keepalive>,
    on: bool,
    idle_us: Option<u64>,
    interval_us: Option<u64>,
    count: Option<u32>,
) -> PyResult<Option<Keepalive>> {
    if !on {
        if idle_us.is_some() || interval_us.is_some() || count.is_some() {
            return Err(PyValueError::new_err(
                "keep-alive parameters given with keep-alives off: pass keepalive=True",
            ));
        }
        return Ok(None);
    }
    let mut k = current.unwrap_or_default();
    k.idle_us = idle_us.unwrap_or(k.idle_us);
    k.interval_us = interval_us.unwrap_or(k.interval_us);
    k.count = count.unwrap_or(k.count);
    k.validate().map_err(crate::errors::to_py)?;
    Ok(Some(k))
}

/// The offset of a connection's timestamp clock (RFC 7323 5.4): a Python int in
/// 0..2^32-1, the 32 bits of a TSval. Any other int is a `ValueError` (not the
/// `OverflowError` a plain `u32` argument would raise), anything else a `TypeError`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TsOffset(pub u32);

impl<'a, 'py> FromPyObject<'a, 'py> for TsOffset {
    type Error = PyErr;

    fn extract(v: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !v.is_instance_of::<PyInt>() || v.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("ts_offset must be an int"));
        }
        v.extract::<u32>()
            .map(TsOffset)
            .map_err(|_| PyValueError::new_err("ts_offset must be in 0..2**32-1"))
    }
}

/// `(idle_us, interval_us, count)`, or None when keep-alives are off.
pub fn keepalive_tuple(k: Option<Keepalive>) -> Option<(u64, u64, u32)> {
    k.map(|k| (k.idle_us, k.interval_us, k.count))
}

/// `base` with the keyword settings applied over it.
pub fn conn_config_from(base: Config, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut c = base;
    // A copy: the keep-alive keys are taken out of it before the table below sees the rest.
    let kwargs = kwargs.map(|kw| kw.copy()).transpose()?;
    if let Some(kw) = &kwargs {
        c.keepalive = take_keepalive(c.keepalive, kw)?;
    }
    let kwargs = kwargs.as_ref();
    apply(&mut c, kwargs, "connection", |c, k, v| {
        match k {
            "mss" => c.mss = v.extract()?,
            "send_buffer" => c.send_buffer = v.extract()?,
            "recv_buffer" => c.recv_buffer = v.extract()?,
            "initial_rto_us" => c.rto.initial_rto_us = v.extract()?,
            "min_rto_us" => c.rto.min_rto_us = v.extract()?,
            "max_rto_us" => c.rto.max_rto_us = v.extract()?,
            "max_retransmissions" => c.max_retransmissions = v.extract()?,
            "max_syn_retransmissions" => c.max_syn_retransmissions = v.extract()?,
            "msl_us" => c.msl_us = v.extract()?,
            "dupack_threshold" => c.dupack_threshold = v.extract()?,
            "initial_window_segments" => c.initial_window_segments = v.extract()?,
            "log_limit" => c.log_limit = v.extract()?,
            "oow_ack_interval_us" => c.oow_ack_interval_us = v.extract()?,
            "challenge_ack_limit" => c.challenge_ack_limit = v.extract()?,
            // None: no Window Scale option; n: at least shift n (RFC 7323 2).
            "window_scale" => c.window_scale = v.extract()?,
            "sack_permitted" => c.sack_permitted = v.extract()?,
            // Offer the Timestamps option (RFC 7323 3.2): RTT samples and PAWS.
            "timestamps" => c.timestamps = v.extract()?,
            // TCP_NODELAY: Nagle's algorithm off (RFC 9293 3.7.4, MUST-17).
            "nodelay" => c.nodelay = v.extract()?,
            // Delayed ACKs (RFC 9293 3.8.6.3): the longest wait, 0 for none.
            "delayed_ack_us" => c.delayed_ack_us = v.extract()?,
            // Tail-loss probes (RFC 8985 7), on by default.
            "tail_loss_probe" => c.tail_loss_probe = v.extract()?,
            // The congestion window algorithm: "cubic" (RFC 9438, the default) or "newreno".
            "congestion_control" => {
                c.congestion_control = congestion_algorithm(&v.extract::<String>()?)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    c.validate().map_err(crate::errors::to_py)?;
    Ok(c)
}

pub fn link_config(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<LinkConfig> {
    let mut c = LinkConfig::default();
    apply(&mut c, kwargs, "link", |c, k, v| {
        match k {
            "delay_us" => c.delay_us = v.extract()?,
            "jitter_us" => c.jitter_us = v.extract()?,
            "rate_bps" => c.rate_bps = v.extract()?,
            "queue_limit" => c.queue_limit = v.extract()?,
            "loss" => c.loss = v.extract()?,
            "reorder" => c.reorder = v.extract()?,
            "reorder_depth" => c.reorder_depth = v.extract()?,
            "reorder_timeout_us" => c.reorder_timeout_us = v.extract()?,
            "duplicate" => c.duplicate = v.extract()?,
            "corrupt" => c.corrupt = v.extract()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    c.validate().map_err(PyValueError::new_err)?;
    Ok(c)
}

/// One table serves every counter struct: name and value of each field.
macro_rules! field_pairs {
    ($v:expr, $($f:ident),* $(,)?) => {
        vec![$((stringify!($f), $v.$f as u64)),*]
    };
}

pub fn counters_pairs(c: &Counters) -> Vec<(&'static str, u64)> {
    field_pairs!(
        c,
        segments_sent,
        segments_received,
        bytes_sent,
        bytes_received,
        bytes_delivered,
        bytes_retransmitted,
        retransmits_timeout,
        retransmits_fast,
        retransmits_recovery,
        rto_expirations,
        out_of_order_segments,
        out_of_order_bytes,
        duplicate_segments,
        duplicate_bytes,
        dup_acks_sent,
        dup_acks_received,
        acks_sent,
        unacceptable_segments,
        challenge_acks_sent,
        challenge_acks_suppressed,
        resets_sent,
        resets_received,
        window_probes,
        keepalive_probes,
        delayed_acks,
        reassembly_dropped_bytes,
        ts_missing_dropped,
        paws_rejected,
        sack_blocks_sent,
        segments_with_sack_sent,
        sack_blocks_received,
        dsacks_received,
        sack_blocks_invalid,
        spurious_undone,
        sack_reneging,
        rack_lost_bytes,
        tail_loss_probes,
        acks_coalesced,
        log_dropped,
        cwnd,
        ssthresh,
    )
}

/// A connection's counters as a dict: `counters_pairs`, then `extra`, `in_recovery` (a
/// bool: RFC 6582 fast recovery under way) and the congestion control algorithm's name
/// under `congestion_control`.
pub fn conn_counters_dict<'py>(
    py: Python<'py>,
    c: &Counters,
    extra: &[(&str, u64)],
) -> PyResult<Bound<'py, PyDict>> {
    let d = pairs_dict(py, &counters_pairs(c))?;
    for (k, v) in extra {
        d.set_item(k, v)?;
    }
    d.set_item("in_recovery", c.in_recovery)?;
    d.set_item("congestion_control", c.congestion_control)?;
    Ok(d)
}

pub fn link_counter_pairs(c: &ferrotcp_core::sim::LinkCounters) -> Vec<(&'static str, u64)> {
    field_pairs!(
        c,
        sent,
        delivered,
        lost,
        queue_dropped,
        reordered,
        duplicated,
        corrupted
    )
}

pub fn sim_counter_pairs(c: &ferrotcp_core::sim::SimCounters) -> Vec<(&'static str, u64)> {
    field_pairs!(c, steps, packets, unroutable, malformed)
}

pub fn tcb_pairs(t: &Tcb) -> Vec<(&'static str, u64)> {
    vec![
        ("iss", u64::from(t.iss.raw())),
        ("irs", u64::from(t.irs.raw())),
        ("snd_una", u64::from(t.snd_una.raw())),
        ("snd_nxt", u64::from(t.snd_nxt.raw())),
        ("snd_max", u64::from(t.snd_max.raw())),
        ("snd_wnd", u64::from(t.snd_wnd)),
        ("snd_wl1", u64::from(t.snd_wl1.raw())),
        ("snd_wl2", u64::from(t.snd_wl2.raw())),
        ("max_snd_wnd", u64::from(t.max_snd_wnd)),
        ("rcv_nxt", u64::from(t.rcv_nxt.raw())),
        ("rcv_wnd", u64::from(t.rcv_wnd)),
        ("snd_mss", u64::from(t.snd_mss)),
        ("wscale_ok", u64::from(t.wscale_ok)),
        ("snd_wscale", u64::from(t.snd_wscale)),
        ("rcv_wscale", u64::from(t.rcv_wscale)),
        ("sack_ok", u64::from(t.sack_ok)),
        ("ts_ok", u64::from(t.ts_ok)),
        ("ts_recent", u64::from(t.ts_recent)),
        ("last_ack_sent", u64::from(t.last_ack_sent.raw())),
    ]
}

pub fn pairs_dict<'py>(py: Python<'py>, pairs: &[(&str, u64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// Endpoint counters as a dict (plus `extra` pairs), with the per-reason counts of malformed
/// and of dropped packets as nested dicts.
pub fn endpoint_counters_dict<'py>(
    py: Python<'py>,
    c: &EndpointCounters,
    extra: &[(&str, u64)],
) -> PyResult<Bound<'py, PyDict>> {
    let mut pairs = vec![
        ("packets_received", c.packets_received),
        ("packets_sent", c.packets_sent),
        ("resets_sent", c.resets_sent),
        ("syns_dropped_backlog", c.syns_dropped_backlog),
        ("syn_cookies_sent", c.syn_cookies_sent),
        ("syn_cookies_accepted", c.syn_cookies_accepted),
        ("syn_cookies_rejected", c.syn_cookies_rejected),
    ];
    pairs.extend_from_slice(extra);
    let d = pairs_dict(py, &pairs)?;
    for (name, by_reason) in [("malformed", &c.malformed), ("dropped", &c.dropped)] {
        let m = PyDict::new(py);
        for (k, v) in by_reason {
            m.set_item(k, v)?;
        }
        d.set_item(name, m)?;
    }
    Ok(d)
}

/// A log entry as a flat dict (`kind` is `state`, `sent`, `received` or `timer`).
pub fn log_entry<'py>(py: Python<'py>, e: &LogEntry) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("time", e.time)?;
    let seg_fields = |d: &Bound<'py, PyDict>, s: &ferrotcp_core::conn::SegmentSummary| {
        d.set_item("seq", s.seq.raw())?;
        d.set_item("ack", s.ack.raw())?;
        d.set_item("flags", s.flags.to_string())?;
        d.set_item("len", s.len)?;
        d.set_item("window", s.window)
    };
    match e.kind {
        LogKind::State { from, to, rule } => {
            d.set_item("kind", "state")?;
            d.set_item("from", from.as_str())?;
            d.set_item("to", to.as_str())?;
            d.set_item("rule", rule)?;
        }
        LogKind::Sent { seg, reason } => {
            d.set_item("kind", "sent")?;
            seg_fields(&d, &seg)?;
            d.set_item("reason", reason.as_str())?;
        }
        LogKind::Received {
            seg,
            disposition,
            rule,
        } => {
            d.set_item("kind", "received")?;
            seg_fields(&d, &seg)?;
            d.set_item("disposition", disposition.as_str())?;
            d.set_item("rule", rule)?;
        }
        LogKind::Timer { rule } => {
            d.set_item("kind", "timer")?;
            d.set_item("rule", rule)?;
        }
    }
    Ok(d)
}

pub fn log_list<'py>(py: Python<'py>, log: &EventLog) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for e in log.entries() {
        out.append(log_entry(py, e)?)?;
    }
    Ok(out)
}

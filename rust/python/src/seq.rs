//! Sequence-number comparisons of the core, exposed so that a property test can check them
//! against the spec's definitions (the macros `lt`, `le`, ... of `models/tcp.toml`).

use ferrotcp_core::seq::SeqNum;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn seq(v: i64) -> PyResult<SeqNum> {
    u32::try_from(v)
        .map(SeqNum)
        .map_err(|_| PyValueError::new_err(format!("{v} is not a 32-bit sequence number")))
}

/// `a < b` in sequence space (RFC 9293 3.4).
#[pyfunction]
pub fn seq_lt(a: i64, b: i64) -> PyResult<bool> {
    Ok(seq(a)?.lt(seq(b)?))
}

#[pyfunction]
pub fn seq_le(a: i64, b: i64) -> PyResult<bool> {
    Ok(seq(a)?.le(seq(b)?))
}

#[pyfunction]
pub fn seq_gt(a: i64, b: i64) -> PyResult<bool> {
    Ok(seq(a)?.gt(seq(b)?))
}

#[pyfunction]
pub fn seq_ge(a: i64, b: i64) -> PyResult<bool> {
    Ok(seq(a)?.ge(seq(b)?))
}

/// `start <= x < start + len` in sequence space.
#[pyfunction]
pub fn seq_in_window(x: i64, start: i64, len: i64) -> PyResult<bool> {
    let len = u32::try_from(len)
        .map_err(|_| PyValueError::new_err(format!("{len} is not a 32-bit length")))?;
    Ok(seq(x)?.in_window(seq(start)?, len))
}

/// `lo <= x <= hi` in sequence space.
#[pyfunction]
pub fn seq_between(x: i64, lo: i64, hi: i64) -> PyResult<bool> {
    Ok(seq(x)?.between_inclusive(seq(lo)?, seq(hi)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seq_lt, m)?)?;
    m.add_function(wrap_pyfunction!(seq_le, m)?)?;
    m.add_function(wrap_pyfunction!(seq_gt, m)?)?;
    m.add_function(wrap_pyfunction!(seq_ge, m)?)?;
    m.add_function(wrap_pyfunction!(seq_in_window, m)?)?;
    m.add_function(wrap_pyfunction!(seq_between, m)?)?;
    Ok(())
}

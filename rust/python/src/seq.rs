//! Sequence-number comparisons of the core, exposed so that a property test can check them
//! against the spec's definitions (the macros `lt`, `le`, ... of `models/tcp.toml`).

use ferrotcp_core::seq::SeqNum;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

/// A Python int in 0..2^32 as a 32-bit value. Taken as any object rather than `u32` so that
/// an int out of range is a `ValueError` whatever its size (PyO3 would raise `OverflowError`
/// for one beyond 64 bits), while a non-int stays a `TypeError`.
fn word(what: &str, v: &Bound<'_, PyAny>) -> PyResult<u32> {
    if !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{what} must be an int")));
    }
    v.extract::<u32>().map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a 32-bit number (0..2**32), got {v}"
        ))
    })
}

fn seq(what: &str, v: &Bound<'_, PyAny>) -> PyResult<SeqNum> {
    word(what, v).map(SeqNum)
}

/// `a < b` in sequence space (RFC 9293 3.4).
#[pyfunction]
pub fn seq_lt(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(seq("a", a)?.lt(seq("b", b)?))
}

/// `a <= b` in sequence space.
#[pyfunction]
pub fn seq_le(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(seq("a", a)?.le(seq("b", b)?))
}

/// `a > b` in sequence space.
#[pyfunction]
pub fn seq_gt(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(seq("a", a)?.gt(seq("b", b)?))
}

/// `a >= b` in sequence space.
#[pyfunction]
pub fn seq_ge(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(seq("a", a)?.ge(seq("b", b)?))
}

/// `start <= x < start + len` in sequence space.
#[pyfunction]
pub fn seq_in_window(
    x: &Bound<'_, PyAny>,
    start: &Bound<'_, PyAny>,
    len: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    Ok(seq("x", x)?.in_window(seq("start", start)?, word("len", len)?))
}

/// `lo <= x <= hi` in sequence space.
#[pyfunction]
pub fn seq_between(
    x: &Bound<'_, PyAny>,
    lo: &Bound<'_, PyAny>,
    hi: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    Ok(seq("x", x)?.between_inclusive(seq("lo", lo)?, seq("hi", hi)?))
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

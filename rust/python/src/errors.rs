//! Core errors as the `OSError` subclasses the `socket` module raises, with `errno` set.

use ferrotcp_core::conn::{ConnError, Error};
use pyo3::exceptions::{
    PyBrokenPipeError, PyConnectionRefusedError, PyConnectionResetError, PyOSError, PyTimeoutError,
    PyValueError,
};
use pyo3::prelude::*;

/// `errno.NAME` from the running interpreter, so the numbers match the platform.
fn errno(py: Python<'_>, name: &str) -> i32 {
    py.import("errno")
        .and_then(|m| m.getattr(name))
        .and_then(|v| v.extract::<i32>())
        .unwrap_or(0)
}

pub fn conn_error(py: Python<'_>, e: ConnError) -> PyErr {
    let msg = e.as_str();
    match e {
        ConnError::Refused => PyConnectionRefusedError::new_err((errno(py, "ECONNREFUSED"), msg)),
        ConnError::Reset => PyConnectionResetError::new_err((errno(py, "ECONNRESET"), msg)),
        ConnError::TimedOut => PyTimeoutError::new_err((errno(py, "ETIMEDOUT"), msg)),
    }
}

pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| match e {
        Error::Connection(c) => conn_error(py, c),
        Error::BrokenPipe => PyBrokenPipeError::new_err((errno(py, "EPIPE"), e.to_string())),
        Error::NotConnected => PyOSError::new_err((errno(py, "ENOTCONN"), e.to_string())),
        Error::InvalidState(s) if s.contains("in use") => {
            PyOSError::new_err((errno(py, "EADDRINUSE"), s))
        }
        Error::InvalidState(s) => PyOSError::new_err((errno(py, "EINVAL"), s)),
        Error::InvalidInput(s) => PyValueError::new_err(s),
        Error::Wire(w) => PyValueError::new_err(format!("malformed segment: {w}")),
    })
}

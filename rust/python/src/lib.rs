//! PyO3 bindings of ferrotcp-core, built by maturin as `ferrotcp._core`. This crate only
//! converts values, maps errors and releases the GIL: no protocol logic lives here.

mod connection;
mod convert;
mod endpoint;
mod errors;
mod seq;
mod simulator;

use pyo3::prelude::*;

/// Every rule id the core can report (see `models/`).
#[pyfunction]
fn rule_ids() -> Vec<&'static str> {
    ferrotcp_core::conn::rules::ALL.to_vec()
}

/// The name of the congestion control algorithm called `name` as ferrotcp spells it
/// ("cubic", "newreno"; "reno" is "newreno"); `ValueError` for an unknown one.
#[pyfunction]
fn congestion_control_name(name: &str) -> PyResult<&'static str> {
    convert::congestion_algorithm(name).map(|a| a.name())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<connection::PyConnection>()?;
    m.add_class::<endpoint::PyEndpoint>()?;
    m.add_class::<simulator::PySimulator>()?;
    m.add_function(wrap_pyfunction!(rule_ids, m)?)?;
    m.add_function(wrap_pyfunction!(congestion_control_name, m)?)?;
    seq::register(m)?;
    Ok(())
}

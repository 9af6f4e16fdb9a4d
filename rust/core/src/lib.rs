//! ferrotcp-core: a sans-I/O TCP (RFC 9293).
//!
//! Packets and time go in, packets and events come out. Nothing in this crate reads a clock
//! or touches a socket: every entry point takes `now` in microseconds from the caller.

pub mod cc;
pub mod conn;
pub mod endpoint;
pub mod isn;
pub mod rack;
pub mod reassembly;
pub mod rng;
pub mod rtt;
pub mod scoreboard;
pub mod seq;
pub mod sim;
pub mod wire;

pub use conn::{Config, Connection, Error, Event, State};
pub use seq::SeqNum;

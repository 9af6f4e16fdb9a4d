//! Per-connection settings (`Config`) and their validation.

use std::net::IpAddr;

use super::keepalive::Keepalive;
use super::{Error, MAX_DELAYED_ACK_US, MIN_MSS};
use crate::cc::CongestionAlgorithm;
use crate::rtt::RtoConfig;

/// Per-connection settings. `Default` gives RFC-conformant values.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The MSS we announce and the largest payload we send over IPv4 (RFC 9293 3.7.1): an
    /// MTU less 40 bytes of headers. IPv6 connections use 20 less (see `mss_for`).
    pub mss: u16,
    /// Bytes the user may queue for sending (back-pressure beyond it).
    pub send_buffer: usize,
    /// Bytes of received data we buffer; the advertised window is what is free of it.
    pub recv_buffer: usize,
    pub rto: RtoConfig,
    /// Retransmissions of one segment before giving up with `TimedOut` (RFC 9293 3.8.3, R2).
    pub max_retransmissions: u32,
    /// The same for SYN and SYN-ACK. RFC 9293 3.8.3 requires retransmitting a SYN for at
    /// least 3 minutes (MUST-23): with the default RTO (1 s doubling to a 60 s cap) that
    /// takes 8 retransmissions, the last at 183 s.
    pub max_syn_retransmissions: u32,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 3.4.2).
    pub msl_us: u64,
    /// Duplicate ACKs that trigger fast retransmit (RFC 5681 3.2).
    pub dupack_threshold: u32,
    /// Initial congestion window in segments.
    pub initial_window_segments: u32,
    /// Entries kept in the event log; later ones are counted, not stored.
    pub log_limit: usize,
    /// Least time between two ACKs answering unacceptable segments that carry nothing but
    /// an ACK (RFC 5961 7's throttling; Linux's `tcp_invalid_ratelimit`, 500 ms). Two
    /// peers that each find the other's ACKs unacceptable would otherwise answer each
    /// other forever.
    pub oow_ack_interval_us: u64,
    /// Challenge ACKs (RFC 5961 3.2, 4.2, 5.2) one connection sends per second at most
    /// (RFC 5961 7): a blind attacker's flood of RSTs or SYNs must not turn us into an ACK
    /// generator. 0: no limit.
    pub challenge_ack_limit: u32,
    /// Window scaling (RFC 7323 2). `None`: our SYN carries no Window Scale option, so
    /// windows stay 16-bit both ways. `Some(s)`: offer scaling with the shift that fits
    /// `recv_buffer` into the 16-bit window field (RFC 7323 2.1: the buffer determines the
    /// scale), but at least `s`; at most 14 (RFC 7323 2.3). See `Config::window_shift`.
    pub window_scale: Option<u8>,
    /// Send SACK-permitted on our SYN (RFC 2018 2): the peer may then send SACK blocks.
    pub sack_permitted: bool,
    /// Offer the Timestamps option on our SYN (RFC 7323 3.2): when the peer's SYN carries it
    /// too, every later segment does, for round-trip measurement (section 4) and PAWS
    /// (section 5). See `timestamps.rs`.
    pub timestamps: bool,
    /// TCP keep-alives (RFC 9293 3.8.4): `None`, the default, sends none (MUST-25).
    pub keepalive: Option<Keepalive>,
    /// Disable Nagle's algorithm (RFC 9293 3.7.4; RFC 1122 4.2.3.4 MUST-17 requires the
    /// switch, the socket API's TCP_NODELAY): send a short segment even while data is
    /// unacknowledged. Sender SWS avoidance (3.8.6.2.1) applies either way.
    pub nodelay: bool,
    /// How long an acknowledgement of in-order data may wait for more data or for a segment
    /// of ours to ride on (RFC 9293 3.8.6.3, RFC 5681 4.2: delayed ACKs); 0 acknowledges
    /// every segment at once. At most 500 ms (MUST-40); every second full-sized segment,
    /// and anything out of order, is acknowledged at once regardless.
    pub delayed_ack_us: u64,
    /// The congestion window algorithm (see `cc`): CUBIC (RFC 9438) by default, as on
    /// Linux, or NewReno (RFC 5681); loss recovery is RFC 6582's with either.
    pub congestion_control: CongestionAlgorithm,
    /// Tail-loss probes (RFC 8985 7, Linux's default): when data is outstanding and no ACK
    /// comes for about two round trips, send new data, or the last segment again, so that
    /// a loss at the tail of a flight draws the ACKs that repair it instead of waiting for
    /// the retransmission timeout.
    pub tail_loss_probe: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 65535,
            rto: RtoConfig::default(),
            max_retransmissions: 15,
            max_syn_retransmissions: 8,
            msl_us: 30_000_000,
            dupack_threshold: 3,
            initial_window_segments: 10,
            log_limit: 100_000,
            oow_ack_interval_us: 500_000,
            challenge_ack_limit: 10,
            // Both offered, as RFC 7323 2.2 advises ("a TCP that is prepared to scale
            // windows SHOULD send the option, even if its own scale factor is 1").
            window_scale: Some(0),
            sack_permitted: true,
            // On, as Linux (`tcp_timestamps=1`): RFC 7323 3.2 leaves it to the TCP ("MAY
            // send the TSopt in an initial <SYN>").
            timestamps: true,
            keepalive: None,
            // Nagle on, as RFC 9293 3.7.4 asks (SHLD-7) and as Linux does.
            nodelay: false,
            // Linux's minimum delayed-ACK time (TCP_DELACK_MIN), well inside RFC 9293's 0.5 s
            // and short enough that a Nagle sender waiting for it loses little.
            delayed_ack_us: 40_000,
            congestion_control: CongestionAlgorithm::Cubic,
            tail_loss_probe: true,
        }
    }
}

impl Config {
    /// The MSS of a connection from `local`: IPv6's fixed header is 20 bytes longer than
    /// IPv4's (RFC 8200), and the MSS counts what is left of the MTU after both headers
    /// (RFC 9293 3.7.1, MUST-16), so the same link fits 20 bytes less of text per segment.
    pub fn mss_for(&self, local: IpAddr) -> u16 {
        if local.is_ipv6() {
            // MIN_MSS (64) fits a u16; validate() keeps `mss` at or above it.
            self.mss.saturating_sub(20).max(MIN_MSS as u16)
        } else {
            self.mss
        }
    }

    /// Reject settings the machinery cannot work with.
    pub fn validate(&self) -> Result<(), Error> {
        if u32::from(self.mss) < MIN_MSS {
            return Err(Error::InvalidInput("mss must be at least 64"));
        }
        if self.send_buffer == 0 || self.recv_buffer == 0 {
            return Err(Error::InvalidInput("buffer sizes must be positive"));
        }
        if self.rto.min_rto_us == 0 || self.rto.min_rto_us > self.rto.max_rto_us {
            return Err(Error::InvalidInput("need 0 < min_rto <= max_rto"));
        }
        if self.delayed_ack_us >= MAX_DELAYED_ACK_US {
            return Err(Error::InvalidInput(
                "delayed_ack must be less than 500 ms (RFC 9293 3.8.6.3)",
            ));
        }
        if let Some(k) = &self.keepalive {
            k.validate()?;
        }
        if self.dupack_threshold == 0 {
            return Err(Error::InvalidInput("dupack_threshold must be positive"));
        }
        if self
            .window_scale
            .is_some_and(|s| s > crate::wire::MAX_WINDOW_SCALE)
        {
            return Err(Error::InvalidInput("window_scale must be at most 14"));
        }
        Ok(())
    }
}

//! Wire format: parsing and emitting IPv4/IPv6 headers and TCP segments.
//!
//! Everything here works on borrowed byte slices: parsing never allocates and never panics,
//! whatever bytes it is given (the input comes straight off the network), and emitting
//! writes directly into a caller-provided buffer.
//!
//! * [`checksum`]: the Internet checksum (RFC 1071) and the TCP pseudo-headers.
//! * [`tcp`]: the TCP header and options (RFC 9293 3.1, 3.2; RFC 7323; RFC 2018).
//! * [`ip`]: the IPv4 (RFC 791) and IPv6 (RFC 8200) headers, and whole-packet helpers.

use core::fmt;

pub mod checksum;
pub mod ip;
mod options;
pub mod tcp;

pub use ip::{build_tcp_packet, parse_tcp_packet, IpRepr, Ipv4Repr, Ipv6Repr, PROTO_TCP};
pub use tcp::{
    SackBlocks, TcpFlags, TcpOptions, TcpRepr, MAX_SACK_BLOCKS, MAX_WINDOW_SCALE, TCP_HEADER_LEN,
};

/// Why a packet could not be parsed or emitted.
///
/// Deliberately coarse and `Copy`: the hot path drops bad packets and bumps a counter keyed
/// by [`WireError::as_str`], so the error carries no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer ends before a fixed-size header does.
    Truncated,
    /// The IP version nibble is neither 4 nor 6.
    BadVersion,
    /// IPv4 IHL below 5 or pointing past the end of the buffer.
    BadHeaderLength,
    /// IP total/payload length smaller than the header or larger than the buffer.
    BadTotalLength,
    /// The IPv4 header checksum does not verify.
    BadIpChecksum,
    /// The IP packet does not carry TCP.
    WrongProtocol,
    /// TCP data offset below 5 or pointing past the end of the segment.
    BadDataOffset,
    /// The TCP checksum (with its pseudo-header) does not verify.
    BadChecksum,
    /// A TCP option with an illegal length.
    BadOptions,
    /// Source and destination addresses are of different IP versions.
    AddressFamilyMismatch,
    /// The output buffer is too short for what is being emitted.
    BufferTooSmall,
    /// The packet would not fit in the IP length fields.
    PayloadTooLarge,
    /// An IPv4 fragment (MF set or a non-zero offset): not reassembled (RFC 9293 3.9.1.1
    /// leaves reassembly to IP); counted apart, not as the bad checksum its partial
    /// payload would give.
    Fragment,
}

impl WireError {
    /// Every variant, in declaration order (for registering counters up front).
    pub const ALL: [WireError; 13] = [
        WireError::Truncated,
        WireError::BadVersion,
        WireError::BadHeaderLength,
        WireError::BadTotalLength,
        WireError::BadIpChecksum,
        WireError::WrongProtocol,
        WireError::BadDataOffset,
        WireError::BadChecksum,
        WireError::BadOptions,
        WireError::AddressFamilyMismatch,
        WireError::BufferTooSmall,
        WireError::PayloadTooLarge,
        WireError::Fragment,
    ];

    /// A stable kebab-case key, suitable as a counter or metric label. Never changes once
    /// published: dashboards depend on it.
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad-version",
            WireError::BadHeaderLength => "bad-header-length",
            WireError::BadTotalLength => "bad-total-length",
            WireError::BadIpChecksum => "bad-ip-checksum",
            WireError::WrongProtocol => "wrong-protocol",
            WireError::BadDataOffset => "bad-data-offset",
            WireError::BadChecksum => "bad-checksum",
            WireError::BadOptions => "bad-options",
            WireError::AddressFamilyMismatch => "address-family-mismatch",
            WireError::BufferTooSmall => "buffer-too-small",
            WireError::PayloadTooLarge => "payload-too-large",
            WireError::Fragment => "ip-fragment",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            WireError::Truncated => "packet is shorter than its fixed header",
            WireError::BadVersion => "IP version is neither 4 nor 6",
            WireError::BadHeaderLength => "IPv4 header length is invalid",
            WireError::BadTotalLength => "IP length field disagrees with the packet size",
            WireError::BadIpChecksum => "IPv4 header checksum does not verify",
            WireError::WrongProtocol => "IP packet does not carry TCP",
            WireError::BadDataOffset => "TCP data offset is invalid",
            WireError::BadChecksum => "TCP checksum does not verify",
            WireError::BadOptions => "TCP options are malformed",
            WireError::AddressFamilyMismatch => {
                "source and destination addresses are of different IP versions"
            }
            WireError::BufferTooSmall => "output buffer is too small",
            WireError::PayloadTooLarge => "payload is too large for the IP length field",
            WireError::Fragment => "IPv4 fragment (fragments are not reassembled)",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn error_keys_are_unique_kebab_case() {
        let keys: HashSet<&str> = WireError::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(keys.len(), WireError::ALL.len());
        for key in keys {
            assert!(!key.is_empty());
            assert!(
                key.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{key}"
            );
            assert!(!key.starts_with('-') && !key.ends_with('-'), "{key}");
        }
        assert_eq!(WireError::BadChecksum.as_str(), "bad-checksum");
        assert_eq!(WireError::PayloadTooLarge.as_str(), "payload-too-large");
    }

    #[test]
    fn all_lists_every_variant_once() {
        let set: HashSet<WireError> = WireError::ALL.iter().copied().collect();
        assert_eq!(set.len(), WireError::ALL.len());
        let msgs: HashSet<String> = WireError::ALL.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs.len(),
            WireError::ALL.len(),
            "Display messages should be distinct"
        );
        let err: Box<dyn std::error::Error> = Box::new(WireError::Truncated);
        assert!(!err.to_string().is_empty());
    }
}

//! SYN cookies with timestamps. A cookie (the SYN-ACK's sequence number, see `cookie`) has
//! room for the peer's MSS only. When the SYN carries the Timestamps option, the cookie
//! SYN-ACK carries one too, and the peer must echo its TSval in the TSecr of every segment
//! it sends back (RFC 7323 3.2, 4.3): so the low bits of that TSval can hold what the
//! cookie cannot, the peer's window scale and SACK-permitted, and the handshake keeps both
//! options (and timestamps) with no state kept in between. The layout is Linux's
//! (`cookie_init_timestamp`, `cookie_timestamp_decode`):
//!
//! ```text
//! TSval = clock with its low 6 bits replaced:  | spare (0) | SACK | shift (4 bits) |
//! ```
//!
//! where the shift is the peer's Window Scale (RFC 7323 2.3), or 15 when window scaling
//! is not in use on the connection, and SACK is set when both sides permit it (RFC 2018 2).
//! Linux uses the spare bit for ECN; we negotiate no ECN, so it must be 0.
//!
//! The clock is rounded down to the value with the right low bits, never up: the
//! connection rebuilt from the cookie stamps its segments with the clock itself, and its
//! first TSval must not be older than the cookie's, which the peer holds as TS.Recent, or
//! the peer's PAWS (5.3 R1) would drop it. The RTT sample taken from the ACK's echo (RFC
//! 7323 4) is thus up to 63 ticks long, as Linux's is; later samples correct it.
//!
//! Nothing authenticates those bits (nor does Linux): whoever can complete a cookie
//! handshake, seeing the SYN-ACK, chooses its options anyway.

use crate::conn::{ts_clock, Config, TS_TICK_US};
use crate::wire::{TcpRepr, MAX_WINDOW_SCALE};

use super::cookie::COOKIE_PERIOD_US;

/// Low bits of the cookie TSval that carry options.
const OPT_BITS: u32 = 6;
const OPT_MASK: u32 = (1 << OPT_BITS) - 1;
const WSCALE_MASK: u32 = 0xf;
/// The shift field's value for "no window scaling".
const NO_WSCALE: u32 = 0xf;
const SACK_BIT: u32 = 1 << 4;
const SPARE_BIT: u32 = 1 << 5;

/// The longest a valid cookie's TSval can have been out when its echo returns: the cookie
/// is valid for two counter periods (`cookie::check`), and the value was rounded down by
/// less than 2^6 ticks.
const MAX_ECHO_AGE_TICKS: u32 = (2 * COOKIE_PERIOD_US / TS_TICK_US) as u32 + (1 << OPT_BITS);

/// The options a cookie SYN-ACK agreed to and its TSval remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CookieOptions {
    /// The peer's Window Scale shift, when both SYNs carry the option (RFC 7323 2.2).
    pub(super) snd_wscale: Option<u8>,
    /// Both SYNs carry SACK-permitted (RFC 2018 2).
    pub(super) sack: bool,
}

impl CookieOptions {
    /// What a connection with `config` would negotiate from `syn`: the same rules as the
    /// connection's own (`learn_syn_scaling`).
    pub(super) fn negotiated(config: &Config, syn: &TcpRepr<'_>) -> Self {
        let snd_wscale = config
            .window_shift()
            .and(syn.options.window_scale)
            .map(|s| s.min(MAX_WINDOW_SCALE));
        CookieOptions {
            snd_wscale,
            sack: config.sack_permitted && syn.options.sack_permitted,
        }
    }

    /// The options in the low bits of a TSval.
    fn bits(self) -> u32 {
        let shift = self.snd_wscale.map_or(NO_WSCALE, u32::from);
        shift | if self.sack { SACK_BIT } else { 0 }
    }
}

/// The TSval of a cookie SYN-ACK sent at `now` by a connection whose clock offset is
/// `offset`: the clock, its low bits replaced by `opts`, at most the clock.
pub(super) fn encode(offset: u32, now: u64, opts: CookieOptions) -> u32 {
    let clock = ts_clock(offset, now);
    let ts = (clock & !OPT_MASK) | opts.bits();
    // Timestamp arithmetic, mod 2^32 (RFC 7323 5.2): `ts` is within 2^6 of the clock, so
    // the difference tells which is ahead.
    if (clock.wrapping_sub(ts) as i32) < 0 {
        ts.wrapping_sub(1 << OPT_BITS)
    } else {
        ts
    }
}

/// The options a returning TSecr carries, if it can be the TSval of a cookie SYN-ACK sent
/// under `config` with clock `offset` no longer ago than a cookie lives: it is not in the
/// future or too old, its spare bit is clear, and it names no option `config` would not
/// have offered (Linux refuses those too).
pub(super) fn decode(config: &Config, offset: u32, now: u64, tsecr: u32) -> Option<CookieOptions> {
    let age = ts_clock(offset, now).wrapping_sub(tsecr);
    if age > MAX_ECHO_AGE_TICKS || tsecr & SPARE_BIT != 0 {
        return None;
    }
    let shift = tsecr & WSCALE_MASK;
    let opts = CookieOptions {
        // At most 14 (RFC 7323 2.3) unless it is the "none" value 15: 4 bits hold no more.
        snd_wscale: (shift != NO_WSCALE).then_some(shift as u8),
        sack: tsecr & SACK_BIT != 0,
    };
    let offered = (opts.snd_wscale.is_none() || config.window_shift().is_some())
        && (!opts.sack || config.sack_permitted);
    offered.then_some(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: CookieOptions = CookieOptions {
        snd_wscale: Some(7),
        sack: true,
    };
    const NONE: CookieOptions = CookieOptions {
        snd_wscale: None,
        sack: false,
    };

    #[test]
    fn the_options_round_trip_through_the_low_bits() {
        let config = Config::default();
        for opts in [
            BOTH,
            NONE,
            CookieOptions {
                snd_wscale: Some(0),
                sack: false,
            },
            CookieOptions {
                snd_wscale: Some(14),
                sack: true,
            },
        ] {
            for (offset, now) in [(0, 5_000_000), (u32::MAX - 3, 2_000), (12_345, 999)] {
                let ts = encode(offset, now, opts);
                assert_eq!(decode(&config, offset, now, ts), Some(opts), "{opts:?}");
                // And a round trip later, while the cookie is valid.
                let later = now + 2 * COOKIE_PERIOD_US;
                assert_eq!(decode(&config, offset, later, ts), Some(opts));
            }
        }
    }

    #[test]
    fn the_tsval_is_the_clock_rounded_down_to_the_bits() {
        // Clock 1000 = 0b1111101000: low 6 bits 40. BOTH's bits are 7 | 16 = 23 < 40.
        assert_eq!(encode(0, 1_000_000, BOTH), 1000 - 40 + 23);
        // NONE's are 15; clock 1001 has 41: 1001 - 41 + 15.
        assert_eq!(encode(0, 1_001_000, NONE), 975);
        // Low bits 5 < 23: one step of 64 back.
        assert_eq!(encode(0, 5_000, BOTH), 23u32.wrapping_sub(64));
        // Never ahead of the clock, never 64 or more behind it.
        for now_ms in 0..200u64 {
            let clock = ts_clock(9, now_ms * 1000);
            let ts = encode(9, now_ms * 1000, BOTH);
            assert!(clock.wrapping_sub(ts) < 64, "{now_ms}");
            assert_eq!(ts & OPT_MASK, BOTH.bits());
        }
    }

    #[test]
    fn echoes_that_cannot_be_ours_are_refused() {
        let config = Config::default();
        let ts = encode(0, 10_000_000, BOTH);
        // From the future.
        assert_eq!(decode(&config, 0, 9_000_000, ts), None);
        // Older than any valid cookie.
        let stale = 10_000_000 + (u64::from(MAX_ECHO_AGE_TICKS) + 64) * TS_TICK_US;
        assert_eq!(decode(&config, 0, stale, ts), None);
        // The spare bit set.
        assert_eq!(decode(&config, 0, 10_000_000, ts | SPARE_BIT), None);
        // Options the configuration does not offer.
        let no_ws = Config {
            window_scale: None,
            ..Config::default()
        };
        assert_eq!(decode(&no_ws, 0, 10_000_000, ts), None);
        let no_sack = Config {
            sack_permitted: false,
            ..Config::default()
        };
        assert_eq!(decode(&no_sack, 0, 10_000_000, ts), None);
        let plain = encode(0, 10_000_000, NONE);
        assert_eq!(decode(&no_sack, 0, 10_000_000, plain), Some(NONE));
    }
}

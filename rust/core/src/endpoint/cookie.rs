//! SYN cookies (RFC 4987 3.6 and Appendix A). When a listener's backlog of half-open
//! connections is full, a SYN is answered with a SYN-ACK whose sequence number carries what
//! the handshake must remember, and no TCB is kept. The ACK that completes the handshake
//! echoes that number (SEG.ACK - 1); if it checks out, the connection is built then, as if
//! the SYN had been processed, and the ACK goes through the ordinary input path.
//!
//! # The cookie
//!
//! ```text
//! cookie = B(tuple)  +  (t mod 256) << 24  +  (M(tuple, t, irs, i) mod 2^22) << 2  +  i
//! ```
//! (mod 2^32), where `tuple` is the connection identifier encoded as for RFC 6528 ISNs, `t`
//! the counter `now / COOKIE_PERIOD_US`, `irs` the peer's ISN and `i` the index of the
//! peer's MSS in a table of four common values. `B` and `M` are SipHash-2-4 (see `isn`) under
//! a key derived from the endpoint's ISN key (`isn::derive_key`), each input beginning with
//! its own tag byte.
//!
//! - `B` hides the rest: to an off-path observer every cookie is as unpredictable as an RFC
//!   6528 ISN (its section 3), and the counter cannot be read off it.
//! - The counter in the top byte makes one 4-tuple's cookies climb by 2^24 every 64 s (some
//!   262,000 a second, close to RFC 9293 3.4.1's 4 µs clock), so, as RFC 4987 Appendix A
//!   says of Bernstein's layout, cookie ISNs still "increase slowly" from one incarnation of a
//!   connection to the next; it also tells the checker which counter was used.
//! - `M` authenticates the counter, the peer's ISN and the MSS index: a blind attacker's
//!   random ACK validates with probability 2 counters x 1/256 x 4 indexes / 2^24 = 2^-29.
//!   Cookies are checked at all only while a listener has sent some recently (Bernstein's
//!   "last overflow time", RFC 4987 Appendix A step 2), so outside a flood nobody can try.
//! - `i` is in the clear (and authenticated by `M`).
//!
//! # Validity
//!
//! A cookie made in counter period `t` (64 s each) is accepted in periods `t` and `t + 1`,
//! so for between 64 and 128 s. Nothing retransmits a cookie SYN-ACK (there is no state to
//! do it with), so the completing ACK is due one round trip later; the window also covers a
//! peer whose bare ACK was lost and who retransmits its first data segment (which carries the
//! same acknowledgement) for a minute or more. A longer window would give replays of a seen
//! cookie more time to be useful.
//!
//! # What a cookie cannot carry
//!
//! Only the peer's MSS (rounded down to a table value) survives in the cookie itself; there
//! is no room for the window scale or SACK-permitted options (RFC 4987 3.6). When the SYN
//! carries the Timestamps option they ride in the low bits of the SYN-ACK's TSval, which
//! the peer echoes (see `cookie_ts`), and the connection keeps all three. Otherwise the
//! SYN-ACK offers none of them and the connection has none (as Linux's cookies without
//! timestamps); so too when the ACK comes back without the option. Data on the SYN is not
//! kept (the ordinary path drops it too: it is unacknowledged, so the peer sends it again).
//! The completing segment must be numbered `irs + 1`: if the peer's bare ACK and its first
//! data segment are both lost, its later segments cannot name the ISN and are reset, the
//! same limit Linux's cookies have.

use std::net::{IpAddr, SocketAddr};

use super::cookie_ts::{self, CookieOptions};
use super::{Endpoint, State};
use crate::conn::Connection;
use crate::isn::{derive_key, encode_tuple, siphash24, MAX_TUPLE_LEN};
use crate::seq::SeqNum;
use crate::wire::{self, TcpFlags, TcpOptions, TcpRepr};

/// Length of one counter period: Bernstein's ("seconds since 1970, shifted right 6 bits",
/// RFC 4987 Appendix A) and about Linux's (60 s).
pub const COOKIE_PERIOD_US: u64 = 64_000_000;

/// MSS values a cookie can name (RFC 4987 3.6: "2 sequence number bits to represent 4
/// predefined common MSS values"), as Linux's tables: IPv4's default (RFC 9293 3.7.1), then
/// tunnels, PPPoE-ish and Ethernet paths.
pub const COOKIE_MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// IPv6: the minimum MTU's MSS (1280 - 60, RFC 8200), then 1480-, 1500- and 9000-byte MTUs
/// less 60 bytes of headers.
pub const COOKIE_MSS_V6: [u16; 4] = [1220, 1420, 1440, 8940];

/// Bits of `M` kept in a cookie: 24 below the counter, less 2 for the MSS index.
const MAC_BITS: u32 = 22;
const LOW_MASK: u32 = (1 << 24) - 1;

/// Tags that start the two hash inputs, so `B` and `M` never see the same message.
const TAG_BASE: u8 = b'B';
const TAG_MAC: u8 = b'M';

/// The key label for `isn::derive_key`.
const KEY_LABEL: &[u8] = b"ferrotcp syn cookie key";

/// Makes and checks cookies. Holds a secret derived from the ISN key.
pub(super) struct SynCookies {
    key: [u8; 16],
}

impl core::fmt::Debug for SynCookies {
    // Anyone with the key can forge cookies (and predict them): keep it out of logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SynCookies")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The counter period `now` falls in.
pub(super) fn period(now_us: u64) -> u64 {
    now_us / COOKIE_PERIOD_US
}

fn table(ip: IpAddr) -> &'static [u16; 4] {
    if ip.is_ipv4() {
        &COOKIE_MSS_V4
    } else {
        &COOKIE_MSS_V6
    }
}

/// The index of the largest table value not above `peer_mss`, if any is. A cookie must not
/// name more than the peer can take: RFC 9293 3.7.1 (MUST-16) keeps segments within its MSS.
fn mss_index(remote: IpAddr, peer_mss: u16) -> Option<u8> {
    let t = table(remote);
    (0u8..4)
        .rev()
        .find(|&i| t.get(usize::from(i)).is_some_and(|&m| m <= peer_mss))
}

/// Longest hash input: tag, tuple, counter, ISN, index.
const MAX_INPUT: usize = 1 + MAX_TUPLE_LEN + 8 + 4 + 1;

impl SynCookies {
    pub(super) fn new(isn_key: &[u8; 16]) -> Self {
        SynCookies {
            key: derive_key(isn_key, KEY_LABEL),
        }
    }

    /// SipHash of `tag`, the tuple, then `extra`, under the cookie key.
    fn hash(&self, tag: u8, local: SocketAddr, remote: SocketAddr, extra: &[u8]) -> u64 {
        let (tuple, n) = encode_tuple(local, remote);
        let mut buf = [0u8; MAX_INPUT];
        let bytes = core::iter::once(tag)
            .chain(tuple.into_iter().take(n))
            .chain(extra.iter().copied());
        let mut len = 0;
        for (dst, src) in buf.iter_mut().zip(bytes) {
            *dst = src;
            len += 1;
        }
        siphash24(&self.key, buf.get(..len).unwrap_or(&buf))
    }

    fn base(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        // Truncated to the 32 bits of sequence space, as RFC 6528's F.
        self.hash(TAG_BASE, local, remote, &[]) as u32
    }

    fn mac(&self, local: SocketAddr, remote: SocketAddr, t: u64, irs: SeqNum, i: u8) -> u32 {
        let mut extra = [0u8; 13];
        let fields = t
            .to_le_bytes()
            .into_iter()
            .chain(irs.0.to_be_bytes())
            .chain([i]);
        for (dst, src) in extra.iter_mut().zip(fields) {
            *dst = src;
        }
        (self.hash(TAG_MAC, local, remote, &extra) as u32) & ((1 << MAC_BITS) - 1)
    }

    /// The cookie for a SYN numbered `irs` from `remote` to `local` at `now`, and the MSS it
    /// stands for; `None` when the peer's MSS is below every table value.
    pub(super) fn make(
        &self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
        irs: SeqNum,
        peer_mss: u16,
    ) -> Option<(SeqNum, u16)> {
        let i = mss_index(remote.ip(), peer_mss)?;
        let mss = *table(remote.ip()).get(usize::from(i))?;
        let t = period(now);
        // Hash arithmetic, not sequence arithmetic: the sum is mod 2^32 by design.
        let low = (self.mac(local, remote, t, irs, i) << 2) | u32::from(i);
        let top = ((t & 0xff) as u32) << 24;
        let cookie = self.base(local, remote).wrapping_add(top).wrapping_add(low);
        Some((SeqNum(cookie), mss))
    }

    /// The MSS that `cookie` names, if it is one this key made at `now` or in the period
    /// before for this connection and peer ISN.
    pub(super) fn check(
        &self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
        irs: SeqNum,
        cookie: SeqNum,
    ) -> Option<u16> {
        let v = cookie.0.wrapping_sub(self.base(local, remote));
        let (top, low) = (v >> 24, v & LOW_MASK);
        let i = (low & 3) as u8;
        let cur = period(now);
        [Some(cur), cur.checked_sub(1)]
            .into_iter()
            .flatten()
            .filter(|t| (t & 0xff) as u32 == top)
            .find(|&t| self.mac(local, remote, t, irs, i) == low >> 2)?;
        table(remote.ip()).get(usize::from(i)).copied()
    }
}

/// The MSS a SYN announces, or the default a SYN without the option implies (RFC 9293
/// 3.7.1: 536 for IPv4, 1220 for IPv6).
fn announced_mss(remote: IpAddr, seg: &TcpRepr<'_>) -> u16 {
    seg.options
        .mss
        .unwrap_or(if remote.is_ipv4() { 536 } else { 1220 })
}

impl Endpoint {
    /// Answer a SYN with a cookie SYN-ACK and keep nothing but the time (the listener's
    /// "last overflow time" of RFC 4987 Appendix A). The SYN-ACK is the one a connection
    /// in SYN-RECEIVED would send (RFC 9293 3.10.7.2: `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`,
    /// our MSS, the unscaled window). Window scale and SACK-permitted only when timestamps
    /// can carry them (`cookie_ts`): the TSval, echoing the SYN's (RFC 7323 3.2), holds
    /// them.
    pub(super) fn send_syn_cookie(
        &mut self,
        now: u64,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        let made = self
            .cookies
            .make(now, local, remote, seg.seq, announced_mss(remote.ip(), seg));
        let Some((cookie, _)) = made else {
            *self
                .counters
                .dropped
                .entry("syn-cookie-mss-below-table")
                .or_insert(0) += 1;
            return;
        };
        let conn = &self.config.conn;
        let mut options = TcpOptions {
            mss: Some(conn.mss_for(local.ip())),
            ..TcpOptions::default()
        };
        if let Some((tsval, _)) = seg.options.timestamps.filter(|_| conn.timestamps) {
            let opts = CookieOptions::negotiated(conn, seg);
            // As a SYN-ACK answers (RFC 7323 2.2, RFC 2018 2): our shift if the SYN had one.
            options.window_scale = opts.snd_wscale.and(conn.window_shift());
            options.sack_permitted = opts.sack;
            // The clock of the connection the cookie will become (the offset is a function
            // of the 4-tuple alone), so its TSvals continue from this one.
            let offset = self.ts_offsets.offset(local, remote);
            options.timestamps = Some((cookie_ts::encode(offset, now, opts), tsval));
        }
        let synack = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: cookie,
            ack: seg.seq + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            // What a fresh connection advertises: its whole buffer, within the 16 bits
            // a SYN's window has (SYN windows are never scaled, RFC 7323 2.2).
            window: conn.recv_buffer.min(usize::from(u16::MAX)) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        let mut pkt = Vec::new();
        if wire::build_tcp_packet(local.ip(), remote.ip(), &synack, &mut pkt).is_ok() {
            self.outbox.push_back(pkt);
            self.counters.syn_cookies_sent += 1;
            if let Some(l) = self.listeners.get_mut(&listener) {
                l.cookie_period = Some(period(now));
            }
        }
    }

    /// An ACK for no connection reached listener `listener`: if it returns a cookie, build
    /// the connection and run the ACK through it. True when the segment was taken (or
    /// dropped for want of room); false leaves it to the ordinary answer, a RST (RFC 9293
    /// 3.10.7.2).
    pub(super) fn accept_syn_cookie(
        &mut self,
        now: u64,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let recent = self
            .listeners
            .get(&listener)
            .and_then(|l| l.cookie_period)
            .is_some_and(|p| period(now).saturating_sub(p) <= 1);
        if !self.config.syn_cookies || !recent {
            // No cookie of ours can still be valid: an ordinary stray ACK.
            return false;
        }
        let (cookie, irs) = (seg.ack - 1, seg.seq - 1);
        let Some(mss) = self.cookies.check(now, local, remote, irs, cookie) else {
            self.counters.syn_cookies_rejected += 1;
            return false;
        };
        let Ok(opts) = self.cookie_options(now, local, remote, seg) else {
            self.counters.syn_cookies_rejected += 1;
            return false;
        };
        if self.queue_lengths(listener).1 >= self.config.backlog {
            // The accept queue is full: drop, as for a SYN. A peer with data to send
            // repeats this acknowledgement on its retransmissions, which may find room.
            *self
                .counters
                .dropped
                .entry("syn-cookie-accept-queue-full")
                .or_insert(0) += 1;
            return true;
        }
        let Some(conn) = self.rebuild(now, local, remote.ip(), mss, opts, seg) else {
            self.counters.syn_cookies_rejected += 1;
            return false;
        };
        self.counters.syn_cookies_accepted += 1;
        let id = self.insert(local, remote, conn);
        self.origin.insert(id, listener);
        if let Some(l) = self.listeners.get_mut(&listener) {
            l.pending.push_back(id);
        }
        true
    }

    /// What the TSecr of a returning cookie ACK says was negotiated: `None` for no
    /// timestamps (the ACK carries none, or we do not use them: RFC 7323 3.2, a TSopt not
    /// negotiated "MUST be ignored"), then no window scaling or SACK either. `Err` when the
    /// echo cannot be a cookie SYN-ACK's TSval (`cookie_ts::decode`).
    fn cookie_options(
        &self,
        now: u64,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> Result<Option<(CookieOptions, u32)>, ()> {
        let conn = &self.config.conn;
        let Some((tsval, tsecr)) = seg.options.timestamps.filter(|_| conn.timestamps) else {
            return Ok(None);
        };
        let offset = self.ts_offsets.offset(local, remote);
        cookie_ts::decode(conn, offset, now, tsecr)
            .map(|opts| Some((opts, tsval)))
            .ok_or(())
    }

    /// The connection the cookie stands for, built by the ordinary public path so that the
    /// spec's rules apply and are logged as for any passive open: LISTEN with ISS = cookie,
    /// the SYN re-created from what the cookie carries (`listen.recv_syn`), our SYN-ACK
    /// taken out again (it went out when the SYN came; only its bookkeeping is wanted), then
    /// the real segment (`syn_received.recv_ack`, and its text and FIN if any). The log shows
    /// that SYN and SYN-ACK at the time of the ACK; the SYN-ACK is not timed (it would give
    /// an RTT sample of 0). With timestamps (`opts`: what the echo carried, and the ACK's
    /// TSval) the SYN offers what the cookie SYN-ACK accepted, so the connection negotiates
    /// window scaling, SACK and timestamps as the peer believes they are; TS.Recent starts
    /// from the ACK's TSval (its SYN's is gone, and is no newer), and the echo times the
    /// handshake.
    fn rebuild(
        &self,
        now: u64,
        local: SocketAddr,
        remote_ip: IpAddr,
        mss: u16,
        opts: Option<(CookieOptions, u32)>,
        seg: &TcpRepr<'_>,
    ) -> Option<Connection> {
        let (cookie, irs) = (seg.ack - 1, seg.seq - 1);
        let mut options = TcpOptions {
            mss: Some(mss),
            ..TcpOptions::default()
        };
        if let Some((o, tsval)) = opts {
            options.window_scale = o.snd_wscale;
            options.sack_permitted = o.sack;
            options.timestamps = Some((tsval, 0));
        }
        let remote = SocketAddr::new(remote_ip, seg.src_port);
        let mut conn = self.open_passive(local, remote, cookie)?;
        let syn = TcpRepr {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: irs,
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            // The SYN's own window is gone; the ACK's replaces it on establishing anyway
            // (RFC 9293 3.10.7.4, fifth: SND.WND is updated from the ACK).
            window: seg.window,
            urgent: 0,
            options,
            payload: &[],
        };
        conn.handle_segment(now, remote_ip, &syn);
        // At most the SYN-ACK; the bound only guards against looping on a surprise.
        for _ in 0..4 {
            if conn.poll_transmit(now, |_, _| ()).is_none() {
                break;
            }
        }
        // That SYN-ACK is dated now, not when the real one went: timing it would give an RTT
        // sample of 0 (Linux takes none from a cookie's handshake either).
        conn.cancel_rtt_timing();
        conn.handle_segment(now, remote_ip, seg);
        // Anything else (say a segment numbered right but with an ACK below the cookie,
        // impossible here) is not a completed handshake: no connection.
        (!matches!(
            conn.state(),
            State::Closed | State::Listen | State::SynReceived
        ))
        .then_some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10), 80)),
            SocketAddr::from((Ipv4Addr::new(192, 0, 2, 20), 40_000)),
        )
    }

    #[test]
    fn a_cookie_checks_in_its_period_and_the_next_only() {
        let c = SynCookies::new(&[3; 16]);
        let (l, r) = addrs();
        let irs = SeqNum(0xdead_beef);
        let t0 = 5 * COOKIE_PERIOD_US + 123;
        let (cookie, mss) = c.make(t0, l, r, irs, 1460).unwrap();
        assert_eq!(mss, 1460);
        // The same SYN in the same period gets the same cookie (a repeated SYN, a repeated
        // SYN-ACK).
        assert_eq!(
            c.make(t0 + 1_000_000, l, r, irs, 1460),
            Some((cookie, 1460))
        );
        for dt in [0, COOKIE_PERIOD_US, 2 * COOKIE_PERIOD_US - 124] {
            assert_eq!(c.check(t0 + dt, l, r, irs, cookie), Some(1460), "dt {dt}");
        }
        assert_eq!(c.check(t0 + 2 * COOKIE_PERIOD_US, l, r, irs, cookie), None);
        // Not before it was made either.
        assert_eq!(c.check(t0 - 200, l, r, irs, cookie), None);
    }

    #[test]
    fn a_cookie_is_bound_to_tuple_isn_and_key() {
        let c = SynCookies::new(&[3; 16]);
        let (l, r) = addrs();
        let irs = SeqNum(77);
        let (cookie, _) = c.make(0, l, r, irs, 1460).unwrap();
        let other_port = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 20), 40_001));
        assert_eq!(c.check(0, l, other_port, irs, cookie), None);
        assert_eq!(c.check(0, r, l, irs, cookie), None);
        assert_eq!(c.check(0, l, r, irs + 1, cookie), None);
        assert_eq!(c.check(0, l, r, irs, cookie + 1), None);
        assert_eq!(SynCookies::new(&[4; 16]).check(0, l, r, irs, cookie), None);
        // Flipping the clear MSS index bits does not change the named MSS.
        for bits in 1..4u32 {
            assert_eq!(c.check(0, l, r, irs, SeqNum(cookie.0 ^ bits)), None);
        }
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        let c = SynCookies::new(&[9; 16]);
        let (l, r) = addrs();
        for (peer, want) in [
            (1460, 1460),
            (9000, 1460),
            (1459, 1440),
            (1300, 1300),
            (536, 536),
        ] {
            let (cookie, mss) = c.make(0, l, r, SeqNum(1), peer).unwrap();
            assert_eq!(mss, want, "peer {peer}");
            assert_eq!(c.check(0, l, r, SeqNum(1), cookie), Some(want));
        }
        // Below the table: no cookie rather than segments larger than the peer takes.
        assert_eq!(c.make(0, l, r, SeqNum(1), 535), None);
        let v6 = |p| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, p));
        let (_, mss) = c.make(0, v6(80), v6(1000), SeqNum(1), 1440).unwrap();
        assert_eq!(mss, 1440);
        assert_eq!(c.make(0, v6(80), v6(1000), SeqNum(1), 1219), None);
    }

    #[test]
    fn cookies_of_one_tuple_climb_with_the_counter() {
        let c = SynCookies::new(&[1; 16]);
        let (l, r) = addrs();
        let a = c.make(0, l, r, SeqNum(5), 1460).unwrap().0;
        let b = c.make(COOKIE_PERIOD_US, l, r, SeqNum(5), 1460).unwrap().0;
        // One period adds 2^24 to the top; the low 24 bits differ by less than 2^24.
        let d = b.distance_from(a);
        assert!((1..1 << 25).contains(&d), "{d:#x}");
        assert!(b.gt(a));
    }

    #[test]
    fn debug_does_not_print_key() {
        let s = format!("{:?}", SynCookies::new(&[0xab; 16]));
        assert!(s.contains("redacted") && !s.contains('['), "{s}");
    }
}

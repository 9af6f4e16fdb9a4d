//! The options negotiated on the SYNs (window scale, RFC 7323 2; SACK-permitted, RFC 2018
//! 2) and the receive window: what we advertise (RFC 9293 3.8.6.2) and what we accept.
//!
//! Windows are kept in bytes everywhere in the connection (RFC 7323 2.3: "each TCP using
//! extended windows will maintain the window values locally as 32-bit numbers"); the shifts
//! apply only where a window meets the 16-bit header field, which is here.
//!
//! Scaling makes the advertised window a multiple of 2^rcv_wscale. Rounding the free
//! space down could move the right edge of the window left of where an earlier ACK put
//! it (RFC 7323 2.4 and its appendix F), which RFC 9293 3.8.6.2.2 asks a receiver not to do
//! (SHLD-14: "A TCP receiver SHOULD NOT shrink the window"). So the edge we advertised
//! furthest is remembered (`rcv_adv`), a window that would fall short of it is rounded up
//! to reach it, and the acceptance test honours it (RFC 7323 2.4, rule 1: "any segment that
//! would have been in window for any <ACK> sent by the receiver"). That edge can lie up to
//! 2^rcv_wscale - 1 bytes beyond the buffer; the buffers allow for it. Without scaling
//! (shift 0) nothing is rounded and the window is exactly the free space, as before.

use super::{Config, Connection};
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, MAX_WINDOW_SCALE};

/// The largest value of the 16-bit window field.
const FIELD_MAX: u32 = u16::MAX as u32;

impl Config {
    /// The shift we announce in our SYN's Window Scale option (RFC 7323 2.3's R), or `None`
    /// when we offer no scaling: the smallest shift that lets the 16-bit field cover
    /// `recv_buffer` (RFC 7323 2.1: "the maximum receive window, and therefore the scale
    /// factor, is determined by the maximum receive buffer space"), but at least
    /// `window_scale`, and at most 14 (RFC 7323 2.3).
    pub fn window_shift(&self) -> Option<u8> {
        let floor = self.window_scale?;
        let mut shift = 0u8;
        while shift < MAX_WINDOW_SCALE && (self.recv_buffer >> shift) > FIELD_MAX as usize {
            shift += 1;
        }
        Some(shift.max(floor).min(MAX_WINDOW_SCALE))
    }

    /// The unit of the windows we advertise when scaling is in effect: 2^shift bytes.
    pub(crate) fn window_granularity(&self) -> usize {
        1usize << self.window_shift().unwrap_or(0)
    }
}

impl Connection {
    /// Take the options of the peer's SYN (or SYN-ACK). RFC 7323 2.3: with a Window Scale
    /// option carrying S, Snd.Wind.Shift = S and Rcv.Wind.Shift = R (ours); otherwise both
    /// are zero. Scaling needs the option in both SYNs (2.2), so an option received while
    /// we offered none changes nothing. RFC 2018 2 likewise for SACK-permitted.
    pub(super) fn learn_syn_scaling(&mut self, seg: &TcpRepr<'_>) {
        match (self.config.window_shift(), seg.options.window_scale) {
            (Some(ours), Some(theirs)) => {
                self.tcb.wscale_ok = true;
                // The parser clamps already; a repr built in code is clamped here (RFC
                // 7323 2.3: a shift above 14 "MUST use 14 instead").
                self.tcb.snd_wscale = theirs.min(MAX_WINDOW_SCALE);
                self.tcb.rcv_wscale = ours;
            }
            _ => {
                self.tcb.wscale_ok = false;
                self.tcb.snd_wscale = 0;
                self.tcb.rcv_wscale = 0;
            }
        }
        self.tcb.sack_ok = self.config.sack_permitted && seg.options.sack_permitted;
    }

    /// The options a SYN of ours carries beside the MSS. Our initial SYN offers what the
    /// configuration allows; a SYN-ACK only answers what the peer's SYN offered (RFC 7323
    /// 2.2: Window Scale on a <SYN,ACK> "only if a Window Scale option was received in the
    /// initial <SYN>"; RFC 2018 2 the same for SACK-permitted).
    pub(super) fn syn_options(&self, options: &mut TcpOptions, ack: bool) {
        if ack {
            options.window_scale = self.tcb.wscale_ok.then_some(self.tcb.rcv_wscale);
            options.sack_permitted = self.tcb.sack_ok;
        } else {
            options.window_scale = self.config.window_shift();
            options.sack_permitted = self.config.sack_permitted;
        }
    }

    /// SEG.WND in bytes. RFC 7323 2.3: every incoming window but a SYN's is shifted left by
    /// Snd.Wind.Shift; 2.2: "The window field in a segment where the SYN bit is set ... MUST
    /// NOT be scaled." The shift is zero unless both SYNs carried the option.
    pub(super) fn seg_wnd(&self, seg: &TcpRepr<'_>) -> u32 {
        let field = u32::from(seg.window);
        if seg.flags.contains(TcpFlags::SYN) {
            field
        } else {
            field << self.tcb.snd_wscale
        }
    }

    /// The largest window the field can express with our shift: 65535 * 2^rcv_wscale,
    /// less than 2^30 (RFC 7323 2.3).
    fn max_rcv_wnd(&self) -> u32 {
        FIELD_MAX << self.tcb.rcv_wscale
    }

    /// What is free of the receive buffer, capped at what the field can express.
    fn free_window(&self) -> u32 {
        let free = self.config.recv_buffer.saturating_sub(self.recv_buf.len());
        u32::try_from(free)
            .unwrap_or(u32::MAX)
            .min(self.max_rcv_wnd())
    }

    /// The stream offset of RCV.NXT: `rcv_off` counts the bytes taken in order, and the
    /// peer's FIN takes one more sequence number.
    fn rcv_nxt_off(&self) -> u64 {
        self.rcv_off + u64::from(self.fin_received)
    }

    /// How far beyond RCV.NXT the furthest edge we advertised lies (0 once RCV.NXT got
    /// there). In stream offsets, which do not wrap: an edge left far behind by data the
    /// peer sent beyond it (into free space) can never look ahead again.
    pub(super) fn promised(&self) -> u32 {
        let ahead = self
            .rcv_adv
            .map_or(0, |edge| edge.saturating_sub(self.rcv_nxt_off()));
        // At most 65535 << 14 (< 2^30): `note_advertised` records no more.
        u32::try_from(ahead).unwrap_or(u32::MAX)
    }

    /// RCV.WND as the acceptance test (RFC 9293 3.10.7.4) and the spec's `rcv_wnd` see it:
    /// the free space of the receive buffer, or up to the edge we advertised if that lies
    /// further (RFC 7323 2.4, rule 1). The free space only grows as RCV.NXT advances over
    /// what it fills, so every edge advertised stays within it but for rounding.
    pub(crate) fn rcv_wnd(&self) -> u32 {
        self.free_window().max(self.promised())
    }

    /// The window a fresh advertisement would carry now, in bytes (the free space rounded
    /// down to the scale's unit): what reading must grow before a window update is worth
    /// sending (RFC 9293 3.8.6.2.2).
    pub(super) fn window_we_would_advertise(&self) -> u32 {
        let s = self.tcb.rcv_wscale;
        (self.free_window() >> s) << s
    }

    /// Receiver-side SWS avoidance (RFC 9293 3.8.6.2.2, MUST-39): keep the right edge
    /// RCV.NXT + RCV.WND where it is until the free space would move it by at least
    /// min(Fr * RCV.BUFF, Eff.snd.MSS), Fr = 1/2; then advertise all of it. Without this a
    /// reader that drains a few bytes at a time would open the window a few bytes at a
    /// time, and the sender would fill each opening with a tiny segment. True before the
    /// first advertisement (nothing to hold back yet).
    pub(super) fn window_update_due(&self) -> bool {
        let Some(adv) = self.rcv_adv else {
            return true;
        };
        let step = (self.config.recv_buffer / 2)
            .min(self.tcb.snd_mss as usize)
            .max(1) as u64;
        let open_edge = self.rcv_nxt_off() + u64::from(self.window_we_would_advertise());
        open_edge >= adv.saturating_add(step)
    }

    /// The window field of an outgoing segment. A SYN's is the free space, unscaled, at
    /// most 65535 (RFC 7323 2.2). Any other is RCV.WND >> Rcv.Wind.Shift (2.3): the free
    /// space when SWS avoidance lets the edge move (`window_update_due`), otherwise what
    /// keeps the edge already advertised, rounded up so that edge never moves left.
    pub(super) fn window_field(&self, syn: bool) -> u16 {
        if syn {
            return self.free_window().min(FIELD_MAX) as u16;
        }
        let s = self.tcb.rcv_wscale;
        let fit = if self.window_update_due() {
            self.free_window() >> s
        } else {
            0
        };
        let keep = self.promised().div_ceil(1u32 << s);
        // Both are at most 65535: the free window and every edge advertised are capped
        // at 65535 << s.
        fit.max(keep).min(FIELD_MAX) as u16
    }

    /// We sent an ACK-bearing segment with window field `field`: remember the window (in
    /// bytes) and how far its right edge reaches.
    pub(super) fn note_advertised(&mut self, field: u16, syn: bool) {
        let shift = if syn { 0 } else { self.tcb.rcv_wscale };
        let bytes = u32::from(field) << shift;
        self.tcb.rcv_wnd = bytes;
        let edge = self.rcv_nxt_off() + u64::from(bytes);
        self.rcv_adv = Some(self.rcv_adv.map_or(edge, |adv| adv.max(edge)));
    }

    /// How far below RCV.NXT a pure ACK still counts as recent: data can have overtaken it
    /// by at most the largest window we can advertise (the buffer, rounded up to the scale's
    /// unit, within what the field expresses with the shift we announce).
    pub(super) fn reach(&self) -> u32 {
        let g = self.config.window_granularity();
        let max = FIELD_MAX << self.config.window_shift().unwrap_or(0);
        let buf = self.config.recv_buffer.saturating_add(g - 1);
        u32::try_from(buf).unwrap_or(u32::MAX).min(max).max(1)
    }
}

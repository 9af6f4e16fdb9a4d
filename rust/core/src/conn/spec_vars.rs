//! The connection as the declarative spec in `models/tcp.toml` sees it: its variables by
//! the spec's names, read by the conformance tests to compare the core with the spec step
//! by step.

use super::timer_table::Timer;
use super::Connection;
use crate::seq::SeqNum;

impl Connection {
    /// The variables of the spec in `models/`, read by the conformance tests: every one
    /// the spec declares (booleans as 0 or 1, sequence numbers as their 32-bit value), plus
    /// the rate limiters' clocks and limits, from which the tests derive the spec's inputs
    /// `in.oow_ok` (whether an unacceptable bare ACK arriving now would be answered) and
    /// `in.challenge_ok` (whether a challenge ACK would be sent), since the core does not
    /// know "now" between inputs.
    pub fn spec_vars(&self) -> Vec<(&'static str, u64)> {
        let t = self.tcb;
        let b = u64::from;
        let seq = |s: SeqNum| u64::from(s.raw());
        // Stream offsets to sequence numbers: RCV.NXT sits at offset `rcv_off`, and the
        // sequence space wraps, so the distance is taken mod 2^32.
        let seq_at = |off: u64| seq(t.rcv_nxt + (off.wrapping_sub(self.rcv_off) as u32));
        let mut vars = vec![
            ("iss", seq(t.iss)),
            ("irs", seq(t.irs)),
            ("snd_una", seq(t.snd_una)),
            ("snd_nxt", seq(t.snd_nxt)),
            ("snd_max", seq(t.snd_max)),
            ("snd_wnd", u64::from(t.snd_wnd)),
            ("snd_wl1", seq(t.snd_wl1)),
            ("snd_wl2", seq(t.snd_wl2)),
            ("max_snd_wnd", u64::from(t.max_snd_wnd)),
            ("rcv_nxt", seq(t.rcv_nxt)),
            ("rcv_wnd", u64::from(self.rcv_wnd())),
            ("reach", u64::from(self.reach())),
            ("dupacks", u64::from(self.dupacks)),
            ("dupack_threshold", u64::from(self.config.dupack_threshold)),
            ("in_recovery", b(self.cc.in_recovery())),
            ("recover", seq(self.cc.recover())),
            ("fin_queued", b(self.fin_queued)),
            ("fin_sent", b(self.fin_seq.is_some())),
            ("fin_seq", self.fin_seq.map_or(0, seq)),
            ("fin_received", b(self.fin_received)),
            ("peer_fin_held", b(self.peer_fin_off.is_some())),
            ("peer_fin_seq", self.peer_fin_off.map_or(0, seq_at)),
            ("failed", b(self.error.is_some())),
            ("passive", b(self.passive)),
            ("held", b(!self.reasm.is_empty())),
            ("sack_ok", b(t.sack_ok)),
            ("tlp_armed", b(self.timers.is_armed(Timer::TailLossProbe))),
            (
                "tlp_deadline_us",
                self.timers.get(Timer::TailLossProbe).unwrap_or(u64::MAX),
            ),
            ("tail_loss_probe", b(self.config.tail_loss_probe)),
            ("sack_news_seen", self.recovery.sack_news_seen),
            (
                "held_end",
                self.reasm.held_end().map_or(seq(t.rcv_nxt), seq_at),
            ),
            ("queued", self.send_buf.len() as u64),
            ("persisting", b(self.persisting)),
            ("retries", u64::from(self.retries)),
            ("max_retries", u64::from(self.retry_limit())),
            ("rto_armed", b(self.timers.is_armed(Timer::Retransmit))),
            ("time_wait_armed", b(self.timers.is_armed(Timer::TimeWait))),
            ("keepalive_probes", u64::from(self.keepalive_state.probes)),
            // 0 while keep-alives are off, as the spec reads it.
            (
                "keepalive_count",
                self.config.keepalive.map_or(0, |k| u64::from(k.count)),
            ),
            // ... and when the keep-alive timer expires, for the spec's `in.keepalive_due`.
            (
                "keepalive_deadline_us",
                self.keepalive_deadline().unwrap_or(u64::MAX),
            ),
            ("last_oow_ack_us", self.last_oow_ack.unwrap_or(u64::MAX)),
            ("oow_ack_interval_us", self.config.oow_ack_interval_us),
            // ... and of the challenge-ACK limit, for the spec's `in.challenge_ok`.
            (
                "challenge_window_start_us",
                self.challenge_window.map_or(u64::MAX, |w| w.0),
            ),
            (
                "challenge_window_sent",
                self.challenge_window.map_or(0, |w| u64::from(w.1)),
            ),
            (
                "challenge_ack_limit",
                u64::from(self.config.challenge_ack_limit),
            ),
            // The spec speaks of windows in bytes; the tests scale the window fields of the
            // segments they hand it with these (RFC 7323 2.3).
            ("snd_wscale", u64::from(t.snd_wscale)),
            ("rcv_wscale", u64::from(t.rcv_wscale)),
        ];
        // The delayed ACK: the observed `ack_delayed`, and what `in.ack_delay_ok` and
        // `in.ack_timer` are derived from.
        vars.extend(self.delack_spec_vars());
        // Timestamps (RFC 7323): `ts_ok`, `ts_recent`, `last_ack_sent`, the `timestamps`
        // setting, and when TS.Recent was set (`ts_recent_age_us`, u64::MAX before), from
        // which the tests derive whether it has expired (5.5).
        vars.extend(self.ts_spec_vars());
        vars
    }
}

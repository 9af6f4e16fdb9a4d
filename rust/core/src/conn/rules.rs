//! Rule ids: every transition of the state machine names the rule it applies.
//!
//! The ids are the contract with the declarative spec in `models/`: a test checks that this
//! list and the spec's list are the same set, and the event log records the id of every rule
//! applied so conformance tests can compare step by step.

/// A rule id such as `syn_sent.recv_synack`.
pub type RuleId = &'static str;

macro_rules! rules {
    ($($name:ident = $id:literal;)*) => {
        $(pub const $name: RuleId = $id;)*
        /// Every rule id the core can report.
        pub const ALL: &[RuleId] = &[$($id),*];
    };
}

rules! {
    // User calls (RFC 9293 3.10.1-3.10.5).
    CLOSED_CONNECT = "closed.connect";
    CLOSED_LISTEN = "closed.listen";
    // A segment for no connection (3.10.7.1).
    CLOSED_RECV_RST = "closed.recv_rst";
    CLOSED_RECV_SEGMENT = "closed.recv_segment";
    LISTEN_CLOSE = "listen.close";
    SYN_SENT_CLOSE = "syn_sent.close";
    SYN_SENT_CLOSE_QUEUED = "syn_sent.close_queued";
    SYN_RECEIVED_CLOSE = "syn_received.close";
    ESTABLISHED_CLOSE = "established.close";
    CLOSE_WAIT_CLOSE = "close_wait.close";
    // A CLOSE queued before the handshake completed takes effect when it does.
    ESTABLISHED_QUEUED_CLOSE = "established.queued_close";
    ANY_ABORT = "any.abort";
    // LISTEN (3.10.7.2).
    LISTEN_RECV_RST = "listen.recv_rst";
    LISTEN_RECV_ACK = "listen.recv_ack";
    LISTEN_RECV_SYN = "listen.recv_syn";
    LISTEN_RECV_OTHER = "listen.recv_other";
    // SYN-SENT (3.10.7.3).
    SYN_SENT_RECV_BAD_ACK = "syn_sent.recv_bad_ack";
    SYN_SENT_RECV_RST = "syn_sent.recv_rst";
    SYN_SENT_RECV_RST_IGNORED = "syn_sent.recv_rst_ignored";
    SYN_SENT_RECV_SYNACK = "syn_sent.recv_synack";
    SYN_SENT_RECV_SYN = "syn_sent.recv_syn";
    SYN_SENT_RECV_OTHER = "syn_sent.recv_other";
    // Timestamps (RFC 7323 3.2, 5.3), ahead of the first check once negotiated: a segment
    // without the option is dropped; PAWS rejects one older than TS.Recent (R1).
    SEG_TS_MISSING = "seg.ts_missing";
    SEG_PAWS_REJECT = "seg.paws_reject";
    // Other states (3.10.7.4), first check: sequence number acceptance.
    SEG_UNACCEPTABLE = "seg.unacceptable";
    // An ACK-only segment overtaken by later data (3.10.7.4 with Appendix A.2).
    SEG_STALE_ACK = "seg.stale_ack";
    SEG_RST_RESET = "seg.rst_reset";
    SEG_RST_CLOSE = "seg.rst_close";
    SEG_RST_CHALLENGE = "seg.rst_challenge";
    SYN_RECEIVED_RECV_RST = "syn_received.recv_rst";
    SYN_RECEIVED_RECV_SYN = "syn_received.recv_syn";
    SYN_RECEIVED_RECV_SYN_DUP = "syn_received.recv_syn_dup";
    SEG_SYN_CHALLENGE = "seg.syn_challenge";
    SEG_NO_ACK = "seg.no_ack";
    SYN_RECEIVED_RECV_ACK = "syn_received.recv_ack";
    // Simultaneous open: the peer's SYN-ACK completes our handshake (3.5, figure 7).
    SYN_RECEIVED_RECV_SYNACK = "syn_received.recv_synack";
    SYN_RECEIVED_RECV_BAD_ACK = "syn_received.recv_bad_ack";
    ACK_UNSENT = "ack.unsent";
    ACK_TOO_OLD = "ack.too_old";
    ACK_NEW = "ack.new";
    ACK_DUPLICATE = "ack.duplicate";
    // Acknowledges nothing new and is not a duplicate ACK (it carries data or a window).
    ACK_UNCHANGED = "ack.unchanged";
    ACK_FAST_RETRANSMIT = "ack.fast_retransmit";
    FIN_WAIT_1_FIN_ACKED = "fin_wait_1.fin_acked";
    CLOSING_FIN_ACKED = "closing.fin_acked";
    LAST_ACK_FIN_ACKED = "last_ack.fin_acked";
    DATA_IN_ORDER = "data.in_order";
    DATA_OUT_OF_ORDER = "data.out_of_order";
    DATA_DUPLICATE = "data.duplicate";
    ESTABLISHED_RECV_FIN = "established.recv_fin";
    FIN_WAIT_1_RECV_FIN = "fin_wait_1.recv_fin";
    FIN_WAIT_2_RECV_FIN = "fin_wait_2.recv_fin";
    TIME_WAIT_RECV_FIN = "time_wait.recv_fin";
    // A bare FIN beyond a gap: held like out-of-order text.
    FIN_OUT_OF_ORDER = "fin.out_of_order";
    // Timers (3.8.1, RFC 6298 5; 3.10.8).
    TIMER_RETRANSMIT = "timer.retransmit";
    TIMER_GIVE_UP = "timer.give_up";
    TIMER_PROBE = "timer.probe";
    TIME_WAIT_TIMEOUT = "time_wait.timeout";
    // The delayed-ACK timer expired (RFC 9293 3.8.6.3).
    TIMER_DELAYED_ACK = "timer.delayed_ack";
    // The tail-loss probe timer expired (RFC 8985 7).
    TIMER_TLP = "timer.tlp";
    // Keep-alives (RFC 9293 3.8.4, RFC 1122 4.2.3.6).
    KEEPALIVE_PROBE = "keepalive.probe";
    KEEPALIVE_GIVE_UP = "keepalive.give_up";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let set: HashSet<_> = ALL.iter().collect();
        assert_eq!(set.len(), ALL.len(), "duplicate rule id");
        for id in ALL {
            let (scope, name) = id.split_once('.').expect("rule id has a scope");
            assert!(!scope.is_empty() && !name.is_empty(), "{id}");
            assert!(id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'));
        }
    }
}

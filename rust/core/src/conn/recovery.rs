//! The sender's knowledge of what the peer holds and what was lost (the SACK scoreboard,
//! RACK's record, RFC 6675's HighRxt, the undo watch): one owned part of the connection.

use super::undo::Undo;
use crate::rack::Rack;
use crate::scoreboard::Scoreboard;
use crate::seq::SeqNum;

/// The sender's knowledge of what the peer holds and what was lost, beside the send
/// buffer: one owned part, written by the ACK path (`ack.rs`), the output path (`output.rs`,
/// `sack_recovery.rs`), timeouts (`timers.rs`) and `undo.rs`.
#[derive(Debug)]
pub(super) struct Recovery {
    /// What the peer's SACK blocks say it holds above SND.UNA (RFC 6675 3).
    pub scoreboard: Scoreboard,
    /// RACK's record of the segments in flight (RFC 8985), kept while SACK is in use.
    pub rack: Rack,
    /// One past the highest byte retransmitted in this SACK recovery (RFC 6675's HighRxt).
    pub rxt_end: SeqNum,
    /// The window reduction being watched for proof that it was needless (`undo.rs`).
    pub undo: Undo,
    /// ACKs that carried SACK news (RFC 6675 2's duplicate acknowledgments, when they
    /// acknowledge nothing new); read by the conformance tests as `in.sack_news`.
    pub sack_news_seen: u64,
    /// A probe went and no ACK of new data has come since: no second one (7.3).
    pub tlp_out: bool,
    /// The probe timer expired: the output path sends the probe.
    pub tlp_pending: bool,
}

impl Recovery {
    pub fn new(iss: SeqNum) -> Self {
        Recovery {
            scoreboard: Scoreboard::new(iss),
            rack: Rack::default(),
            rxt_end: iss,
            undo: Undo::default(),
            sack_news_seen: 0,
            tlp_out: false,
            tlp_pending: false,
        }
    }
}

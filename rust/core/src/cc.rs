//! Congestion control: RFC 5681 slow start and congestion avoidance with RFC 6582 NewReno
//! fast recovery. All quantities are in bytes.

use crate::seq::SeqNum;

#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// RFC 6582 `recover`: the highest sequence number sent when recovery (or the last
    /// timeout) began. Inclusive, as in the RFC: one less than `snd_max` at that moment.
    recover: SeqNum,
    in_recovery: bool,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance (RFC 5681 3.1, eq. 3's
    /// byte-counting variant).
    ca_acked: u32,
}

/// What the sender must do after a duplicate ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupAckAction {
    None,
    /// Third duplicate ACK: retransmit the first unacknowledged segment now.
    FastRetransmit,
}

/// What the sender must do after an ACK that advanced `snd_una`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckAction {
    None,
    /// Partial ACK during recovery: retransmit the next unacknowledged segment (RFC 6582 3.2 step 5).
    RetransmitNext,
}

impl NewReno {
    /// `iw_segments` initial window in segments.
    ///
    /// RFC 6582 3.2 step 1 starts `recover` at the ISS. Taken literally that bars fast
    /// retransmit of the very first data segment: its duplicate ACKs carry ISS+1, and
    /// `ack - 1 > recover` fails. The check exists so that one loss event does not cause two
    /// reductions (section 4.1), and before any data there is no earlier event to protect
    /// against, so we start one below the ISS.
    pub fn new(mss: u32, iw_segments: u32, iss: SeqNum) -> Self {
        let mss = mss.max(1);
        NewReno {
            mss,
            cwnd: mss.saturating_mul(iw_segments.max(1)),
            // RFC 5681 3.1: initial ssthresh may be arbitrarily high.
            ssthresh: u32::MAX,
            recover: iss - 1,
            in_recovery: false,
            ca_acked: 0,
        }
    }

    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// RFC 6582's `recover`.
    pub fn recover(&self) -> SeqNum {
        self.recover
    }

    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    pub fn set_mss(&mut self, mss: u32, iw_segments: u32) {
        self.mss = mss.max(1);
        self.cwnd = self.mss.saturating_mul(iw_segments.max(1));
    }

    fn halve(&mut self, flight: u32) {
        // RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
        self.ssthresh = (flight / 2).max(2 * self.mss);
    }

    /// The `dupacks`-th duplicate ACK in a row arrived for `ack`; `snd_max` is one past the
    /// highest sequence number sent.
    pub fn on_dup_ack(
        &mut self,
        dupacks: u32,
        threshold: u32,
        ack: SeqNum,
        flight: u32,
        snd_max: SeqNum,
    ) -> DupAckAction {
        if self.in_recovery {
            // RFC 6582 3.2 step 3: inflate for each segment that left the network.
            self.cwnd = self.cwnd.saturating_add(self.mss);
            return DupAckAction::None;
        }
        // RFC 6582 3.2 step 1 (and 4.1): only enter recovery when the ACK covers more than
        // `recover`, so one loss event does not trigger several reductions.
        if dupacks == threshold && (ack - 1).gt(self.recover) {
            self.halve(flight);
            // "the highest sequence number transmitted": the last one, not one past it.
            // Storing `snd_max` here would make the full ACK (which equals `snd_max`) look
            // partial, so recovery would never end.
            self.recover = snd_max - 1;
            self.in_recovery = true;
            self.cwnd = self.ssthresh.saturating_add(3 * self.mss);
            return DupAckAction::FastRetransmit;
        }
        DupAckAction::None
    }

    /// An ACK advanced `snd_una` to `ack`, acknowledging `acked` new bytes; `flight` is what
    /// stays outstanding after it.
    pub fn on_new_ack(&mut self, ack: SeqNum, acked: u32, flight: u32) -> AckAction {
        if self.in_recovery {
            // "acknowledges all of the data up to and including recover": ack - 1 >= recover.
            if ack.gt(self.recover) {
                // Full ACK (step 4): deflate to min(ssthresh, FlightSize + SMSS).
                self.cwnd = self.ssthresh.min(flight.saturating_add(self.mss));
                self.in_recovery = false;
                self.ca_acked = 0;
                return AckAction::None;
            }
            // Partial ACK (step 5): deflate by the amount acknowledged, add back one SMSS.
            self.cwnd = self
                .cwnd
                .saturating_sub(acked)
                .saturating_add(self.mss)
                .max(self.mss);
            return AckAction::RetransmitNext;
        }
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 3.1 eq. 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(self.mss));
        } else {
            self.ca_acked = self.ca_acked.saturating_add(acked);
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
        AckAction::None
    }

    /// The retransmission timer expired (RFC 5681 eq. 4 and 5; RFC 6582 3.2 step 4:
    /// `recover` is set to the highest sequence number sent, `snd_max - 1`).
    pub fn on_timeout(&mut self, flight: u32, snd_max: SeqNum) {
        self.halve(flight);
        self.cwnd = self.mss;
        self.in_recovery = false;
        self.recover = snd_max - 1;
        self.ca_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance() {
        let mut cc = NewReno::new(1000, 2, SeqNum(0));
        assert_eq!(cc.cwnd(), 2000);
        cc.on_new_ack(SeqNum(1001), 1000, 1000);
        assert_eq!(cc.cwnd(), 3000);
        cc.on_timeout(3000, SeqNum(4001));
        assert_eq!(cc.cwnd(), 1000);
        assert_eq!(cc.ssthresh(), 2000);
        cc.on_new_ack(SeqNum(5001), 1000, 0);
        assert_eq!(cc.cwnd(), 2000);
        // Now in congestion avoidance: one MSS per cwnd of acknowledged bytes.
        cc.on_new_ack(SeqNum(6001), 1000, 0);
        assert_eq!(cc.cwnd(), 2000);
        cc.on_new_ack(SeqNum(7001), 1000, 0);
        assert_eq!(cc.cwnd(), 3000);
    }

    #[test]
    fn third_dup_ack_enters_recovery_once() {
        let mut cc = NewReno::new(1000, 10, SeqNum(0));
        let ack = SeqNum(1001);
        assert_eq!(
            cc.on_dup_ack(1, 3, ack, 10_000, SeqNum(11_001)),
            DupAckAction::None
        );
        assert_eq!(
            cc.on_dup_ack(2, 3, ack, 10_000, SeqNum(11_001)),
            DupAckAction::None
        );
        assert_eq!(
            cc.on_dup_ack(3, 3, ack, 10_000, SeqNum(11_001)),
            DupAckAction::FastRetransmit
        );
        assert!(cc.in_recovery());
        assert_eq!(cc.ssthresh(), 5000);
        assert_eq!(cc.cwnd(), 8000);
        assert_eq!(
            cc.on_dup_ack(4, 3, ack, 10_000, SeqNum(11_001)),
            DupAckAction::None
        );
        assert_eq!(cc.cwnd(), 9000);
        // Partial ACK keeps recovery and asks for the next retransmission.
        assert_eq!(
            cc.on_new_ack(SeqNum(3001), 2000, 8000),
            AckAction::RetransmitNext
        );
        assert!(cc.in_recovery());
        // Full ACK ends it.
        assert_eq!(cc.on_new_ack(SeqNum(11_001), 8000, 0), AckAction::None);
        assert!(!cc.in_recovery());
        assert_eq!(cc.cwnd(), 1000);
        // Dup ACKs for data below `recover` do not start a second recovery.
        let mut cc2 = NewReno::new(1000, 10, SeqNum(0));
        cc2.on_timeout(10_000, SeqNum(11_001));
        assert_eq!(
            cc2.on_dup_ack(3, 3, SeqNum(5001), 6000, SeqNum(11_001)),
            DupAckAction::None
        );
    }
}

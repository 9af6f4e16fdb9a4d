//! A one-way simulated link: delay, optional rate limit with a drop-tail queue, and seeded
//! faults (loss, reordering, duplication, corruption). Fault injection lives here because
//! the machine has no netem; the same profile serves every transport.

use std::collections::VecDeque;

use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay_us: u64,
    /// Extra random delay in `0..=jitter_us` per packet (may reorder by itself).
    pub jitter_us: u64,
    /// Bits per second; 0 means no rate limit (and no queue).
    pub rate_bps: u64,
    /// Packets waiting for the wire beyond which new ones are dropped (with a rate limit).
    pub queue_limit: usize,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is held back and overtaken by later ones.
    pub reorder: f64,
    /// A held packet is overtaken by 1..=reorder_depth later packets (at most one packet is
    /// held at a time, so no segment arrives more than `reorder_depth` places late).
    pub reorder_depth: u32,
    /// A held packet is released after this long even if nothing overtakes it.
    pub reorder_timeout_us: u64,
    /// Probability a packet arrives twice.
    pub duplicate: f64,
    /// Probability one bit of a packet is flipped (the checksum must catch it).
    pub corrupt: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay_us: 10_000,
            jitter_us: 0,
            rate_bps: 0,
            queue_limit: 1000,
            loss: 0.0,
            reorder: 0.0,
            reorder_depth: 3,
            reorder_timeout_us: 20_000,
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }
}

impl LinkConfig {
    pub fn validate(&self) -> Result<(), &'static str> {
        for p in [self.loss, self.reorder, self.duplicate, self.corrupt] {
            if !(0.0..=1.0).contains(&p) {
                return Err("probabilities must be between 0 and 1");
            }
        }
        if self.rate_bps > 0 && self.queue_limit == 0 {
            return Err("a rate-limited link needs a queue of at least one packet");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub queue_dropped: u64,
    pub reordered: u64,
    pub duplicated: u64,
    pub corrupted: u64,
}

/// What the link asks the simulator to schedule.
#[derive(Debug)]
pub(crate) enum Delivery {
    Arrive {
        time: u64,
        packet: Vec<u8>,
    },
    /// Release held packet `id` at `time` if it is still held.
    Release {
        time: u64,
        id: u64,
    },
}

#[derive(Debug)]
struct Held {
    id: u64,
    packet: Vec<u8>,
    remaining: u32,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) config: LinkConfig,
    rng: Rng,
    busy_until: u64,
    departures: VecDeque<u64>,
    held: Vec<Held>,
    next_held: u64,
    pub(crate) counters: LinkCounters,
}

impl Link {
    pub(crate) fn new(config: LinkConfig, rng: Rng) -> Self {
        Link {
            config,
            rng,
            busy_until: 0,
            departures: VecDeque::new(),
            held: Vec::new(),
            next_held: 0,
            counters: LinkCounters::default(),
        }
    }

    pub(crate) fn transmit(&mut self, now: u64, packet: Vec<u8>, out: &mut Vec<Delivery>) {
        self.counters.sent += 1;
        if self.rng.chance(self.config.loss) {
            self.counters.lost += 1;
            return;
        }
        let depart = if self.config.rate_bps > 0 {
            while self.departures.front().is_some_and(|&d| d <= now) {
                self.departures.pop_front();
            }
            if self.departures.len() >= self.config.queue_limit {
                self.counters.queue_dropped += 1;
                return;
            }
            let bits = packet.len() as u64 * 8;
            let serialization = (bits * 1_000_000).div_ceil(self.config.rate_bps);
            let d = now.max(self.busy_until) + serialization;
            self.busy_until = d;
            self.departures.push_back(d);
            d
        } else {
            now
        };
        let jitter = if self.config.jitter_us > 0 {
            self.rng.range_inclusive(0, self.config.jitter_us)
        } else {
            0
        };
        let arrival = depart + self.config.delay_us + jitter;
        let mut copies = vec![packet];
        if self.rng.chance(self.config.duplicate) {
            self.counters.duplicated += 1;
            copies.push(copies[0].clone());
        }
        for mut p in copies {
            if !p.is_empty() && self.rng.chance(self.config.corrupt) {
                let bit = self.rng.below(p.len() as u64 * 8);
                p[(bit / 8) as usize] ^= 1 << (bit % 8);
                self.counters.corrupted += 1;
            }
            // One held packet at a time: with two, the first could be overtaken by the second
            // as well as by `reorder_depth` others, and the depth would not be a bound.
            if self.config.reorder_depth > 0
                && self.rng.chance(self.config.reorder)
                && self.held.is_empty()
            {
                self.counters.reordered += 1;
                let id = self.next_held;
                self.next_held += 1;
                let remaining = self
                    .rng
                    .range_inclusive(1, u64::from(self.config.reorder_depth));
                self.held.push(Held {
                    id,
                    packet: p,
                    remaining: remaining as u32,
                });
                out.push(Delivery::Release {
                    time: arrival + self.config.reorder_timeout_us,
                    id,
                });
                continue;
            }
            self.deliver(arrival, p, out);
        }
    }

    /// Schedule `packet`, then any held packet it was the last to overtake (after it).
    fn deliver(&mut self, time: u64, packet: Vec<u8>, out: &mut Vec<Delivery>) {
        self.counters.delivered += 1;
        out.push(Delivery::Arrive { time, packet });
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].remaining -= 1;
            if self.held[i].remaining == 0 {
                let h = self.held.remove(i);
                self.counters.delivered += 1;
                out.push(Delivery::Arrive {
                    time,
                    packet: h.packet,
                });
            } else {
                i += 1;
            }
        }
    }

    /// The hold timeout of packet `id` passed: deliver it now if nothing overtook it enough.
    pub(crate) fn release(&mut self, now: u64, id: u64, out: &mut Vec<Delivery>) {
        if let Some(pos) = self.held.iter().position(|h| h.id == id) {
            let h = self.held.remove(pos);
            self.counters.delivered += 1;
            out.push(Delivery::Arrive {
                time: now,
                packet: h.packet,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send `n` numbered one-byte packets back to back and return the order they arrive in
    /// (packets released by timeout included, in release order).
    fn arrival_order(config: LinkConfig, seed: u64, n: u8) -> Vec<u8> {
        let mut link = Link::new(config, Rng::new(seed));
        let mut out = Vec::new();
        for i in 0..n {
            link.transmit(u64::from(i), vec![i], &mut out);
        }
        let mut order = Vec::new();
        let mut releases = Vec::new();
        for d in out.drain(..) {
            match d {
                Delivery::Arrive { packet, .. } => order.push(packet[0]),
                Delivery::Release { time, id } => releases.push((time, id)),
            }
        }
        for (time, id) in releases {
            link.release(time, id, &mut out);
        }
        for d in out {
            if let Delivery::Arrive { packet, .. } = d {
                order.push(packet[0]);
            }
        }
        order
    }

    #[test]
    fn reordering_never_exceeds_its_depth() {
        // Heavy reordering makes packets held behind other held packets common; each may
        // still be overtaken by at most `reorder_depth` later packets.
        for depth in 1..=3u32 {
            for seed in 0..200 {
                let config = LinkConfig {
                    delay_us: 0,
                    reorder: 0.4,
                    reorder_depth: depth,
                    ..LinkConfig::default()
                };
                let order = arrival_order(config, seed, 60);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(
                    sorted,
                    (0..60).collect::<Vec<u8>>(),
                    "every packet arrives once"
                );
                for (pos, &p) in order.iter().enumerate() {
                    let overtakers = order[..pos].iter().filter(|&&q| q > p).count();
                    assert!(
                        overtakers <= depth as usize,
                        "depth {depth} seed {seed}: packet {p} overtaken by {overtakers}: {order:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn reordering_happens() {
        let config = LinkConfig {
            delay_us: 0,
            reorder: 0.4,
            reorder_depth: 2,
            ..LinkConfig::default()
        };
        let order = arrival_order(config, 7, 60);
        assert!(order.windows(2).any(|w| w[0] > w[1]), "{order:?}");
    }
}

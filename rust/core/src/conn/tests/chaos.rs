//! Two connections over a randomly lossy, duplicating, reordering channel, with small
//! buffers and applications that read slowly and in bursts, so that windows close and open
//! again and the persist timer takes turns with retransmission. Byte-exact delivery both
//! ways and an orderly close are the only acceptable outcome. `FERROTCP_CHAOS_SEEDS` asks
//! for more seeds than the handful a plain `cargo test` runs; `FERROTCP_CHAOS_FROM` replays
//! from a given seed.

use super::*;
use crate::rng::Rng;

struct Chaos {
    rng: Rng,
    loss: f64,
    dup: f64,
    /// Each segment takes `delay` plus up to `jitter` microseconds (jitter reorders).
    delay: u64,
    jitter: u64,
    /// Chance per step that an application reads, and how much at most.
    read_chance: f64,
    read_max: usize,
}

/// A segment in flight: arrival time, order of sending (ties), destination side, segment.
type InFlight = (u64, u64, usize, Sent);

fn run(seed: u64, config: Config, len: usize) {
    let mut rng = Rng::new(seed);
    let mut chaos = Chaos {
        loss: [0.0, 0.02, 0.1][rng.below(3) as usize],
        dup: [0.0, 0.02][rng.below(2) as usize],
        delay: 1_000 + rng.below(20_000),
        jitter: [0, 5_000, 30_000][rng.below(3) as usize],
        read_chance: [0.01, 0.1, 1.0][rng.below(3) as usize],
        read_max: [100, 3000, usize::MAX][rng.below(3) as usize],
        rng,
    };
    let ctx = format!(
        "seed {seed}: loss {} dup {} delay {} jitter {} read {} x {}",
        chaos.loss, chaos.dup, chaos.delay, chaos.jitter, chaos.read_chance, chaos.read_max
    );
    let mut conns = [
        Connection::connect(config.clone(), LOCAL, REMOTE, SeqNum(seed as u32), 0).unwrap(),
        Connection::listen(config, REMOTE, SeqNum((seed as u32).wrapping_mul(7919))).unwrap(),
    ];
    let addrs = [LOCAL, REMOTE];
    let data = [pattern(len, 1), pattern(len, 2)];
    let mut offered = [0usize; 2];
    let mut got: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut wire: Vec<InFlight> = Vec::new();
    let mut order = 0u64;
    let mut now = 0u64;
    let mut burst = (0u64, 0usize);
    for _step in 0..2_000_000 {
        for side in 0..2 {
            let c = &mut conns[side];
            if c.state() != State::Listen && offered[side] < len {
                offered[side] += c.send(&data[side][offered[side]..]).unwrap_or(0);
                if offered[side] == len {
                    c.close(now).unwrap();
                }
            }
            if chaos.rng.chance(chaos.read_chance) {
                c.recv_to_vec(chaos.read_max, &mut got[side]);
            }
            for s in drain(c, now) {
                // No side may flood the channel: a burst at one instant is bounded by what
                // the windows allow, never by a loop of answers.
                if burst.0 == now {
                    burst.1 += 1;
                    assert!(burst.1 < 500, "{ctx}: ACK storm at {now}");
                } else {
                    burst = (now, 1);
                }
                if chaos.rng.chance(chaos.loss) {
                    continue;
                }
                let copies = if chaos.rng.chance(chaos.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let at = now + chaos.delay + chaos.rng.below(chaos.jitter + 1);
                    order += 1;
                    wire.push((at, order, 1 - side, s.clone()));
                }
            }
        }
        let done = conns.iter().all(|c| c.state() == State::Closed)
            && got[0].len() == len
            && got[1].len() == len;
        if done {
            break;
        }
        // Next thing to happen: an arrival, a timer, or (if an application still has bytes to
        // read) the next time it might read.
        let arrival = wire.iter().map(|w| (w.0, w.1)).min();
        let timer = conns.iter().filter_map(Connection::poll_timeout).min();
        let reading = conns.iter().any(|c| c.recv_queue_len() > 0);
        let next = [arrival.map(|a| a.0), timer, reading.then_some(now + 10_000)]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            break;
        };
        now = now.max(next);
        while let Some(pos) = wire
            .iter()
            .enumerate()
            .filter(|(_, w)| w.0 <= now)
            .min_by_key(|(_, w)| (w.0, w.1))
            .map(|(i, _)| i)
        {
            let (_, _, to, s) = wire.swap_remove(pos);
            deliver(&mut conns[to], now, addrs[1 - to], &s);
        }
        for c in conns.iter_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                assert!(c.applied_rules().len() <= 1, "{ctx}: one rule per expiry");
            }
        }
        assert!(now < 3_600 * SEC, "{ctx}: still running after an hour");
    }
    for side in 0..2 {
        conns[side].recv_to_vec(usize::MAX, &mut got[side]);
    }
    assert_eq!(got[1].len(), len, "{ctx}: a->b length");
    assert!(got[1] == data[0], "{ctx}: a->b bytes");
    assert_eq!(got[0].len(), len, "{ctx}: b->a length");
    assert!(got[0] == data[1], "{ctx}: b->a bytes");
    for c in &conns {
        assert_eq!(c.state(), State::Closed, "{ctx}");
        assert_eq!(c.error(), None, "{ctx}");
    }
}

/// The seeds to run: `FERROTCP_CHAOS_SEEDS` of them (a handful by default), from
/// `FERROTCP_CHAOS_FROM` (to replay a failure) or else from `base`.
fn seeds(base: u64) -> std::ops::Range<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let from = var("FERROTCP_CHAOS_FROM").unwrap_or(base);
    from..from + var("FERROTCP_CHAOS_SEEDS").unwrap_or(6)
}

#[test]
fn chaotic_channel_small_buffers_slow_readers() {
    let config = Config {
        recv_buffer: 4000,
        send_buffer: 6000,
        mss: 536,
        ..immediate()
    };
    for seed in seeds(0) {
        run(seed, config.clone(), 40_000);
    }
}

#[test]
fn chaotic_channel_default_buffers() {
    for seed in seeds(1_000) {
        run(seed, immediate(), 200_000);
    }
}

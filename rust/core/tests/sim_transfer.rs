//! End-to-end transfers over the simulator, both directions, with faults.
//!
//! Every profile moves 1 MiB each way over a handful of seeds in a plain `cargo test`; set
//! `FERROTCP_STRESS_SEEDS=200` (ideally with `--release`) to hunt for rare failures.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrotcp_core::conn::Counters;
use ferrotcp_core::endpoint::EndpointConfig;
use ferrotcp_core::rng::Rng;
use ferrotcp_core::sim::{LinkConfig, Simulator};
use ferrotcp_core::State;

const MIB: usize = 1 << 20;

struct Outcome {
    a_got: Vec<u8>,
    b_got: Vec<u8>,
    a_state: State,
    b_state: State,
    a_counters: Counters,
    b_counters: Counters,
    /// Virtual time when the simulation went idle (or was cut off).
    end_us: u64,
}

/// Open a connection from host a to host b, push `size` random bytes each way, close both
/// sides once their data is queued, and run until nothing is left to happen (or virtual
/// time passes `limit_us`, which only a stall reaches).
fn transfer(seed: u64, link: LinkConfig, size: usize) -> (Vec<u8>, Vec<u8>, Outcome) {
    let mut sim = Simulator::new(seed);
    let a_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let a = sim.add_host("a", a_ip, EndpointConfig::default()).unwrap();
    let b = sim.add_host("b", b_ip, EndpointConfig::default()).unwrap();
    sim.add_link(a, b, link.clone()).unwrap();
    sim.add_link(b, a, link).unwrap();
    sim.listen(b, 80).unwrap();
    let ca = sim.connect(a, SocketAddr::new(b_ip, 80)).unwrap();
    let mut rng = Rng::new(seed ^ 0xdead_beef);
    let mut data_a = vec![0u8; size];
    rng.fill_bytes(&mut data_a);
    let mut data_b = vec![0u8; size];
    rng.fill_bytes(&mut data_b);
    sim.send(a, ca, &data_a).unwrap();
    sim.close(a, ca).unwrap();
    let mut cb = None;
    let mut a_got = Vec::new();
    let mut b_got = Vec::new();
    // A generous bound that only a stall reaches. TIME-WAIT alone is 60 s, and at 20% loss
    // each way a run of lost retransmissions backs the RTO off to its 60 s ceiling (RFC 6298
    // 5.5; Karn's rule keeps it there until a segment that was sent once is acknowledged),
    // so the unluckiest seeds legitimately take tens of virtual minutes.
    let limit_us = 4 * 3_600_000_000;
    while sim.now() < limit_us {
        if cb.is_none() {
            if let Some(id) = sim.accept(b, 80).unwrap() {
                sim.send(b, id, &data_b).unwrap();
                sim.close(b, id).unwrap();
                cb = Some(id);
            }
        }
        if !sim.step() {
            break;
        }
        // Drain as we go so the apps' buffers do not hold a whole MiB needlessly.
        a_got.extend(sim.recv(a, ca, usize::MAX).unwrap());
        if let Some(id) = cb {
            b_got.extend(sim.recv(b, id, usize::MAX).unwrap());
        }
    }
    a_got.extend(sim.recv(a, ca, usize::MAX).unwrap());
    let Some(cb) = cb else {
        let c = sim.connection(a, ca).unwrap();
        panic!(
            "seed {seed}: the server never accepted; client {:?} {:?} at {} us\n{:?}",
            c.state(),
            c.error(),
            sim.now(),
            c.counters()
        );
    };
    b_got.extend(sim.recv(b, cb, usize::MAX).unwrap());
    let conn_a = sim.connection(a, ca).unwrap();
    let conn_b = sim.connection(b, cb).unwrap();
    let out = Outcome {
        a_got,
        b_got,
        a_state: conn_a.state(),
        b_state: conn_b.state(),
        a_counters: conn_a.counters(),
        b_counters: conn_b.counters(),
        end_us: sim.now(),
    };
    (data_a, data_b, out)
}

/// Byte-exact delivery both ways, both ends CLOSED without an error.
fn check(name: &str, seed: u64, da: &[u8], db: &[u8], out: &Outcome) {
    let ctx = format!(
        "profile {name} seed {seed} (end {} us, a {:?}, b {:?})\n a: {:?}\n b: {:?}",
        out.end_us, out.a_state, out.b_state, out.a_counters, out.b_counters
    );
    assert_eq!(out.b_got.len(), da.len(), "a->b length, {ctx}");
    assert!(out.b_got == da, "a->b bytes differ, {ctx}");
    assert_eq!(out.a_got.len(), db.len(), "b->a length, {ctx}");
    assert!(out.a_got == db, "b->a bytes differ, {ctx}");
    assert_eq!(out.a_state, State::Closed, "{ctx}");
    assert_eq!(out.b_state, State::Closed, "{ctx}");
}

fn retransmissions(c: &Counters) -> u64 {
    c.retransmits_timeout + c.retransmits_fast + c.retransmits_recovery
}

/// Seeds per profile: a handful by default (fast in debug builds), more on request.
fn seeds() -> u64 {
    std::env::var("FERROTCP_STRESS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 3 } else { 10 })
}

/// Run `seeds()` transfers of 1 MiB each way over `link`, checking each; `extra` adds
/// profile-specific assertions. Seeds start at `base` so profiles do not share them.
fn stress(name: &str, base: u64, link: LinkConfig, extra: impl Fn(u64, &Outcome)) {
    for seed in base..base + seeds() {
        let (da, db, out) = transfer(seed, link.clone(), MIB);
        check(name, seed, &da, &db, &out);
        extra(seed, &out);
    }
}

#[test]
fn clean_link_transfers_without_retransmission() {
    stress("clean", 0, LinkConfig::default(), |seed, out| {
        for c in [&out.a_counters, &out.b_counters] {
            assert_eq!(retransmissions(c), 0, "seed {seed}: {c:?}");
            assert_eq!(c.rto_expirations, 0, "seed {seed}: {c:?}");
            assert_eq!(c.out_of_order_segments, 0, "seed {seed}: {c:?}");
        }
    });
}

#[test]
fn mixed_faults_deliver_exact_bytes() {
    let link = LinkConfig {
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.01,
        corrupt: 0.01,
        ..LinkConfig::default()
    };
    stress("mixed", 10_000, link, |_, _| {});
}

#[test]
fn heavy_loss_delivers_exact_bytes() {
    let link = LinkConfig {
        loss: 0.20,
        ..LinkConfig::default()
    };
    stress("loss20", 20_000, link, |seed, out| {
        // So much loss must show up as retransmissions on both sides.
        assert!(retransmissions(&out.a_counters) > 0, "seed {seed}");
        assert!(retransmissions(&out.b_counters) > 0, "seed {seed}");
    });
}

#[test]
fn shallow_reordering_is_absorbed_without_retransmission() {
    let link = LinkConfig {
        reorder: 0.05,
        reorder_depth: 2,
        ..LinkConfig::default()
    };
    stress("reorder2", 30_000, link, |seed, out| {
        for c in [&out.a_counters, &out.b_counters] {
            // Held segments and the immediate duplicate ACKs they cause, but never three in
            // a row for one hole (depth 2 < dupack threshold 3), and nothing times out.
            assert!(c.out_of_order_segments > 0, "seed {seed}: {c:?}");
            assert!(c.dup_acks_sent > 0, "seed {seed}: {c:?}");
            assert_eq!(c.retransmits_timeout, 0, "seed {seed}: {c:?}");
            assert_eq!(c.retransmits_fast, 0, "seed {seed}: {c:?}");
            assert_eq!(c.rto_expirations, 0, "seed {seed}: {c:?}");
        }
    });
}

#[test]
fn duplication_delivers_exact_bytes() {
    let link = LinkConfig {
        duplicate: 0.05,
        ..LinkConfig::default()
    };
    stress("duplicate", 40_000, link, |seed, out| {
        for c in [&out.a_counters, &out.b_counters] {
            assert!(c.duplicate_segments > 0, "seed {seed}: {c:?}");
            // Copies of segments are never a reason to time out.
            assert_eq!(c.retransmits_timeout, 0, "seed {seed}: {c:?}");
        }
    });
}

#[test]
fn corruption_delivers_exact_bytes() {
    let link = LinkConfig {
        corrupt: 0.05,
        ..LinkConfig::default()
    };
    stress("corrupt", 50_000, link, |_, _| {});
}

#[test]
fn rate_limited_link_with_short_queue_delivers_exact_bytes() {
    let link = LinkConfig {
        rate_bps: 10_000_000,
        queue_limit: 50,
        ..LinkConfig::default()
    };
    stress("rate10m", 60_000, link, |seed, out| {
        // 2 MiB over 10 Mbit/s cannot take less than the serialization time of the larger
        // direction (1 MiB = ~0.84 s); a much shorter run means the rate limit was ignored.
        assert!(
            out.end_us > 800_000,
            "seed {seed}: ended at {} us",
            out.end_us
        );
    });
}

#[test]
fn small_transfers_closed_at_once_deliver_exact_bytes() {
    // The client queues its data and closes before the handshake completes (the whole
    // transfer fits the send buffer); the FIN must wait for the data, not discard it.
    let mixed = LinkConfig {
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.01,
        corrupt: 0.01,
        ..LinkConfig::default()
    };
    for (name, link) in [("clean", LinkConfig::default()), ("mixed", mixed)] {
        for size in [1, 1000, 100_000] {
            for seed in 70_000..70_000 + seeds() {
                let (da, db, out) = transfer(seed, link.clone(), size);
                check(&format!("{name}/{size}"), seed, &da, &db, &out);
            }
        }
    }
}

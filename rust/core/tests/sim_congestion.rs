//! Both congestion control algorithms over a lossy simulated link: byte-exact delivery, and
//! at every fast retransmit the reduction each algorithm prescribes (NewReno: half the
//! flight, RFC 5681 eq. 4; CUBIC: 0.7 of it, RFC 9438 4.6).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrotcp_core::cc::CongestionAlgorithm;
use ferrotcp_core::endpoint::EndpointConfig;
use ferrotcp_core::rng::Rng;
use ferrotcp_core::sim::{LinkConfig, Simulator};
use ferrotcp_core::{Config, State};

const SIZE: usize = 512 * 1024;

struct Run {
    got: Vec<u8>,
    sent: Vec<u8>,
    /// (ssthresh, flight just before the step) at each entry into recovery.
    entries: Vec<(u32, u32)>,
    mss: u32,
    state: State,
    name: &'static str,
}

fn run(alg: CongestionAlgorithm, seed: u64) -> Run {
    let mut sim = Simulator::new(seed);
    let a_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let config = EndpointConfig {
        conn: Config {
            congestion_control: alg,
            ..Config::default()
        },
        ..EndpointConfig::default()
    };
    let a = sim.add_host("a", a_ip, config.clone()).unwrap();
    let b = sim.add_host("b", b_ip, config).unwrap();
    // Serialized at 20 Mbit/s, so one segment arrives at a time.
    let link = LinkConfig {
        delay_us: 20_000,
        rate_bps: 20_000_000,
        loss: 0.02,
        ..LinkConfig::default()
    };
    sim.add_link(a, b, link.clone()).unwrap();
    sim.add_link(b, a, link).unwrap();
    sim.listen(b, 80).unwrap();
    let ca = sim.connect(a, SocketAddr::new(b_ip, 80)).unwrap();
    let mut sent = vec![0u8; SIZE];
    Rng::new(seed).fill_bytes(&mut sent);
    sim.send(a, ca, &sent).unwrap();
    sim.close(a, ca).unwrap();
    let mut cb = None;
    let mut got = Vec::new();
    let mut entries = Vec::new();
    let mut was_in_recovery = false;
    while sim.now() < 3_600_000_000 {
        let c = sim.connection(a, ca).unwrap();
        let t = *c.tcb();
        let flight = t.snd_max.distance_from(t.snd_una);
        if !sim.step() {
            break;
        }
        let c = sim.connection(a, ca).unwrap();
        let k = c.counters();
        if k.in_recovery && !was_in_recovery {
            entries.push((k.ssthresh, flight));
        }
        was_in_recovery = k.in_recovery;
        if cb.is_none() {
            if let Some(id) = sim.accept(b, 80).unwrap() {
                sim.close(b, id).unwrap();
                cb = Some(id);
            }
        }
        if let Some(id) = cb {
            got.extend(sim.recv(b, id, usize::MAX).unwrap());
        }
    }
    let c = sim.connection(a, ca).unwrap();
    Run {
        got,
        sent,
        entries,
        mss: c.tcb().snd_mss,
        state: c.state(),
        name: c.congestion_control_name(),
    }
}

#[test]
fn both_algorithms_complete_a_lossy_transfer_and_reduce_as_specified() {
    for (alg, num, den) in [
        (CongestionAlgorithm::NewReno, 1u64, 2u64),
        (CongestionAlgorithm::Cubic, 7, 10),
    ] {
        for seed in 1..=2 {
            let r = run(alg, seed);
            let ctx = format!("{alg:?} seed {seed}");
            assert_eq!(r.name, alg.name(), "{ctx}");
            assert_eq!(r.got.len(), r.sent.len(), "{ctx}");
            assert!(r.got == r.sent, "{ctx}: bytes differ");
            assert_eq!(r.state, State::Closed, "{ctx}");
            assert!(
                !r.entries.is_empty(),
                "{ctx}: no fast retransmit at 2% loss"
            );
            for &(ssthresh, flight) in &r.entries {
                let want = (u64::from(flight) * num / den).max(2 * u64::from(r.mss));
                assert_eq!(u64::from(ssthresh), want, "{ctx}: flight {flight}");
            }
        }
    }
}

"""Wireshark's judgement of our packets: tshark reads the pcap of lossy transfers and must
report no malformed packet, no bad IPv4 or TCP checksum and no error-level expert info.

Skipped (saying so) where tshark is not installed; ``.ci/run`` installs it. The checker is
itself checked: a capture with deliberately damaged packets must be rejected.

TCP reassembly is switched off (``tcp.desegment_tcp_streams:FALSE``): the payloads are
random bytes, not a protocol, and a capture taken before outbound faults holds both a lost
segment and its retransmission, which Wireshark's reassembly for a port it takes for HTTP
reports as "New fragment overlaps old data" (an error in its Malformed group) even though the
bytes are identical.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ferrotcp import Endpoint, PcapWriter
from tun_netns import missing, run_scenario
from udp_pair import digest, stack_pair, two_way

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (Debian: apt-get install -y tshark)"
)

#: Wireshark's expert groups and severities (epan/proto.h), as ``-T fields`` prints them.
PI_CHECKSUM = 0x01000000
PI_MALFORMED = 0x07000000
PI_ERROR = 0x00800000
#: ``*.checksum.status``: 0 bad, 1 good, 2 unverified.
CHECKSUM_BAD = "0"
FIELDS = ("frame.number", "ip.checksum.status", "tcp.checksum.status", "_ws.expert.group",
          "_ws.expert.severity", "_ws.expert.message")


@dataclass
class Verdict:
    frames: int = 0
    tcp_checked: int = 0
    problems: list[str] = field(default_factory=list)


def tshark_verdict(pcap: Path) -> Verdict:
    """Every frame's checksum statuses and expert infos, and what is wrong with them."""
    assert TSHARK is not None
    cmd = [TSHARK, "-r", str(pcap), "-n", "-o", "tcp.check_checksum:TRUE",
           "-o", "ip.check_checksum:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE",
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    v = Verdict()
    for line in proc.stdout.splitlines():
        num, ip_ck, tcp_ck, groups, severities, messages = line.split("|")
        v.frames += 1
        v.tcp_checked += tcp_ck == "1"
        if CHECKSUM_BAD in (ip_ck, tcp_ck):
            v.problems.append(f"frame {num}: bad checksum (ip {ip_ck!r}, tcp {tcp_ck!r})")
        experts = zip(groups.split(";"), severities.split(";"), messages.split(";"),
                      strict=False)
        for g, s, m in experts:
            if g and (int(g) in (PI_CHECKSUM, PI_MALFORMED) or int(s) >= PI_ERROR):
                v.problems.append(f"frame {num}: {m}")
    return v


def test_the_checker_rejects_damaged_packets(tmp_path: Path) -> None:
    a4, a6 = Endpoint(), Endpoint()
    a4.connect(0, ("192.0.2.1", 0), ("192.0.2.2", 80))
    a6.connect(0, ("2001:db8::1", 0), ("2001:db8::2", 80))
    (syn,), (syn6,) = a4.datagrams_to_send(0), a6.datagrams_to_send(0)

    def flipped(p: bytes, byte: int) -> bytes:
        b = bytearray(p)
        b[byte] ^= 1
        return bytes(b)

    damaged = [flipped(syn, 20 + 14), flipped(syn, 8), flipped(syn6, 40 + 14), syn[:30]]
    good, bad = tmp_path / "good.pcap", tmp_path / "bad.pcap"
    for path, packets in ((good, [syn, syn6]), (bad, damaged)):
        with PcapWriter(path) as w:
            for i, p in enumerate(packets):
                w.write(1_700_000_000_000_000_000 + i * 1000, p)
    ok = tshark_verdict(good)
    assert ok.problems == [] and ok.tcp_checked == 2, ok
    v = tshark_verdict(bad)
    assert [p.split(":")[0] for p in v.problems if "checksum" in p.lower()] == \
        ["frame 1", "frame 1", "frame 2", "frame 2", "frame 3", "frame 3"], v
    assert any(p.startswith("frame 4") and "Malformed" in p for p in v.problems), v


@pytest.mark.parametrize("seed", [21], ids=lambda s: f"seed={s}")
def test_tshark_finds_nothing_wrong_in_a_lossy_udp_transfer(tmp_path: Path, seed: int) -> None:
    faults = {"loss": 0.02, "reorder": 0.02, "duplicate": 0.01, "seed": seed}
    rng = random.Random(seed)
    up, down = rng.randbytes(1 << 20), rng.randbytes(1 << 20)
    cap, scap = tmp_path / "client.pcap", tmp_path / "server.pcap"
    with stack_pair(server_kw={"pcap": scap}, faults=faults, pcap=cap) as (server, client):
        r = two_way(server, client, up, down)
        assert digest(r.got_up) == digest(up) and digest(r.got_down) == digest(down), seed
        lost = client.counters()["faults_out"]["lost"]
    assert lost > 0, f"seed {seed}: the capture should hold retransmissions"
    for path in (cap, scap):
        v = tshark_verdict(path)
        assert v.problems == [], f"seed {seed}, {path.name}: {v.problems[:20]}"
        assert v.tcp_checked > 1000, v


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
@pytest.mark.parametrize("ip", [4, 6], ids=lambda v: f"ipv{v}")
def test_tshark_finds_nothing_wrong_in_a_lossy_tun_transfer(tmp_path: Path, ip: int) -> None:
    """Both peers' packets: ferrotcp's and the Linux kernel's, on the TUN device."""
    seed, size = 31, 2 * 1024 * 1024
    pcap = tmp_path / f"tun-ipv{ip}.pcap"
    spec = {"kind": "transfer", "ip": ip, "client": "kernel", "size": size, "seed": seed,
            "faults": {"loss": 0.02, "reorder": 0.02, "seed": seed}, "deadline": 120.0,
            "pcap": str(pcap), "kernel_rto_min_ms": 20}
    r = run_scenario(spec, timeout=200)
    assert r["ferrotcp_recv"] == [size, r["sent_by_kernel"]], r
    v = tshark_verdict(pcap)
    assert v.problems == [], f"seed {seed}: {v.problems[:20]}"
    assert v.tcp_checked > 1000, v

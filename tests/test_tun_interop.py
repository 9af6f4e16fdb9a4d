"""ferrotcp against the Linux kernel's own TCP, over a TUN device, in a network namespace per
test (root and /dev/net/tun required; skipped, saying what is missing, without them).

Each test runs ``tun_scenario.py`` in a fresh namespace: a ferrotcp TunStack on 192.0.2.2 and
2001:db8::2, the kernel's sockets on 192.0.2.1 and 2001:db8::1. Transfers are 16 MiB each way
at once, checked by SHA-256, clean and with 2% loss and 2% reordering applied in userspace to
both directions (seeded; the seed is in the test id and in every failure message). The HTTP
tests have ``http.client`` on the kernel's TCP fetch a file from a ferrotcp server: the
standard library's ``http.server`` on blocking sockets, and tests/httpapp.py (plain asyncio)
on ``ferrotcp.start_server``.
"""

from __future__ import annotations

import errno
import hashlib
import random
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import dpkt
import pytest
from ferrotcp.transports.netconf import setup_commands
from ferrotcp.transports.tun import TunTransport
from ferrotcp.tunstack import TunStack
from tun_netns import missing, run_scenario

MISSING = missing()
needs_tun = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

SIZE = 16 * 1024 * 1024
LOSSY = {"loss": 0.02, "reorder": 0.02}
#: Seconds a transfer may take before the scenario reports it stuck: far beyond what it
#: needs (measured on 2 cores: 0.6-2.5 s clean, 4-12 s lossy), short enough to keep a hang
#: from eating CI.
DEADLINE_CLEAN_S = 60.0
DEADLINE_LOSSY_S = 150.0
#: The kernel's minimum RTO on its routes to ferrotcp, in ms; None keeps Linux's default
#: (200 ms). The kernel recovers by fast retransmit, as long as the core sends one duplicate
#: ACK per out-of-order segment even when a batch holds many (it once sent one per batch,
#: and these transfers took 45 s each, waiting for the kernel's timeouts).
KERNEL_RTO_MIN_MS: int | None = None


def _transfer_spec(ip: int, client: str, seed: int | None) -> dict[str, Any]:
    faults = None if seed is None else {**LOSSY, "seed": seed}
    deadline = DEADLINE_CLEAN_S if seed is None else DEADLINE_LOSSY_S
    return {"kind": "transfer", "ip": ip, "client": client, "size": SIZE, "seed": seed or 0,
            "faults": faults, "kernel_rto_min_ms": KERNEL_RTO_MIN_MS, "deadline": deadline}


def sack_segments_by_sender(path: Path, ip: int) -> Counter[bytes]:
    """Segments carrying a SACK option (RFC 2018 3, kind 5) in a headers-only capture, by
    source address; read with dpkt, sharing nothing with ferrotcp."""
    found: Counter[bytes] = Counter()
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            pkt = dpkt.ip.IP(buf) if ip == 4 else dpkt.ip6.IP6(buf)
            header = bytes(buf[20:] if ip == 4 else buf[40:])
            tcp = dpkt.tcp.TCP(header[: (header[12] >> 4) * 4])
            if any(kind == dpkt.tcp.TCP_OPT_SACK for kind, _ in dpkt.tcp.parse_opts(tcp.opts)):
                found[pkt.src] += 1
    return found


@needs_tun
@pytest.mark.parametrize("seed", [None, 11], ids=["clean", "lossy-seed=11"])
@pytest.mark.parametrize("client", ["kernel", "ferrotcp"], ids=lambda c: f"{c}-client")
@pytest.mark.parametrize("ip", [4, 6], ids=lambda v: f"ipv{v}")
def test_transfer_with_the_kernel_is_byte_exact(
    ip: int, client: str, seed: int | None, tmp_path: Path
) -> None:
    spec = _transfer_spec(ip, client, seed)
    capture = tmp_path / "transfer.pcap"
    if seed is not None:
        # Headers only: SACK both ways is read back from what went over the wire.
        spec |= {"pcap": str(capture), "pcap_snaplen": 128}
    r = run_scenario(spec, timeout=spec["deadline"] + 90)
    where = f"{spec} -> {r}"
    errors = {k: v for k, v in r.items() if k.endswith("_error")}
    assert not errors and not r["stuck"], where
    assert r["ferrotcp_recv"] == [SIZE, r["sent_by_kernel"]], where
    assert r["kernel_recv"] == [SIZE, r["sent_by_ferrotcp"]], where
    # Linux offers timestamps (tcp_timestamps=1): both SYNs carry them (RFC 7323 3.2), and
    # every segment the kernel sends after them does too.
    assert r["negotiated"]["ts_ok"] == 1, where
    assert r["connection"]["ts_missing_dropped"] == 0, where
    if seed is not None:
        fin, fout = r["stack"]["faults_in"], r["stack"]["faults_out"]
        assert fin["lost"] > 0 and fin["reordered"] > 0, f"faults applied inbound: {where}"
        assert fout["lost"] > 0 and fout["reordered"] > 0, f"faults applied outbound: {where}"
        c = r["connection"]
        assert c["retransmits_fast"] + c["retransmits_timeout"] > 0, where
        assert c["out_of_order_segments"] > 0, where
        # SACK both ways (RFC 2018): Linux's ACKs name what it holds, and ours do.
        assert r["negotiated"]["sack_ok"] == 1, where
        assert c["sack_blocks_sent"] > 0 and c["sack_blocks_received"] > 0, where
        sackers = sack_segments_by_sender(capture, ip)
        family = socket.AF_INET if ip == 4 else socket.AF_INET6
        ours = socket.inet_pton(family, "192.0.2.2" if ip == 4 else "2001:db8::2")
        kernels = socket.inet_pton(family, "192.0.2.1" if ip == 4 else "2001:db8::1")
        assert sackers[ours] > 0 and sackers[kernels] > 0, f"{dict(sackers)}: {where}"
    print(f"{spec['kind']} ipv{ip} {client}-client seed={seed}: {2 * SIZE} bytes in "
          f"{r['elapsed_s']} s, {r['connection']}")


@needs_tun
@pytest.mark.parametrize("ip", [4, 6], ids=lambda v: f"ipv{v}")
def test_connecting_to_a_closed_port_is_refused(ip: int) -> None:
    r = run_scenario({"kind": "refused", "ip": ip}, timeout=60)
    refused = ["ConnectionRefusedError", errno.ECONNREFUSED]
    assert r["kernel_to_ferrotcp"] == refused, r
    assert r["ferrotcp_to_kernel"] == refused, r
    assert r["resets_sent"] >= 1, r


@needs_tun
@pytest.mark.parametrize("client", ["kernel", "ferrotcp"], ids=lambda c: f"{c}-client")
@pytest.mark.parametrize("ip", [4, 6], ids=lambda v: f"ipv{v}")
def test_a_kernel_reset_mid_transfer_is_connection_reset(ip: int, client: str) -> None:
    spec = {"kind": "reset", "ip": ip, "client": client, "size": SIZE, "seed": 3,
            "deadline": DEADLINE_CLEAN_S}
    r = run_scenario(spec, timeout=120)
    # The kernel as client reads, then resets ferrotcp's send; as server it sends, then
    # resets ferrotcp's recv.
    side = "ferrotcp_send" if client == "kernel" else "ferrotcp_recv"
    assert not r["stuck"], r
    assert r.get(f"{side}_error", "").startswith("ConnectionResetError"), r
    assert r["state_after"] == "CLOSED", r
    assert r["send_after"] == "BrokenPipeError", r
    assert r["rsts_received"] >= 1, r


@needs_tun
@pytest.mark.parametrize("server", ["http", "asyncio_http"],
                         ids=["http.server-blocking-socket", "asyncio-streams-httpapp"])
@pytest.mark.parametrize("ip", [4, 6], ids=lambda v: f"ipv{v}")
def test_http_client_fetches_a_file_from_a_ferrotcp_server(ip: int, server: str) -> None:
    """The kernel's TCP, driven by ``http.client``, fetches from a server on the TUN stack:
    the standard library's ``http.server`` handler on a blocking ferrotcp socket, or
    tests/httpapp.py (plain asyncio code) served through ``ferrotcp.start_server``."""
    size, seed = 3 * 1024 * 1024 + 77, 6
    r = run_scenario({"kind": server, "ip": ip, "size": size, "seed": seed}, timeout=120)
    body = hashlib.sha256(random.Random(seed).randbytes(size)).hexdigest()
    assert r["sent_sha256"] == body
    blob1, blob2, missing_ = r["responses"]
    for resp in (blob1, blob2):
        assert (resp["status"], resp["version"]) == (200, 11), r
        assert resp["length"] == str(size) and resp["read"] == size, r
        assert resp["sha256"] == body, r
    assert missing_["status"] == 404, r
    assert r["connections_accepted"] == 1, f"one keep-alive connection for all three: {r}"
    ours, kernel = ("192.0.2.2", "192.0.2.1") if ip == 4 else ("2001:db8::2", "2001:db8::1")
    assert r["peer"][0] == ours, r
    if server == "asyncio_http":  # what the asyncio server saw, from its end
        assert missing_["read"] == int(missing_["length"]), r
        assert r["requests_served"] == 3, r
        assert r["server_peers"] == [r["local"]] and r["local"][0] == kernel, r


# ----- without privileges: the setup the library would run, and argument checks -----


def test_setup_commands_add_addresses_routes_and_bring_the_link_up() -> None:
    cmds = [" ".join(c) for c in setup_commands(
        "ftcp0", ["192.0.2.1/24", "2001:db8::1/64"], ["192.0.2.2", "2001:db8::2", "198.51.100.7"],
        mtu=1400)]
    assert cmds == [
        "ip link set dev ftcp0 mtu 1400",
        "ip -4 addr add 192.0.2.1/24 dev ftcp0",
        "ip -6 addr add 2001:db8::1/64 dev ftcp0 nodad",
        "ip link set dev ftcp0 up",
        "ip -4 route add 198.51.100.7 dev ftcp0",  # the only one outside the prefixes
    ]


def test_tun_stack_rejects_addresses_of_the_wrong_family() -> None:
    with pytest.raises(ValueError, match="IPv6"):
        TunStack("2001:db8::2", None)
    with pytest.raises(ValueError, match="needs an IPv4 or an IPv6"):
        TunStack(None, None)
    with pytest.raises(ValueError, match="15 bytes"):
        TunTransport("a-name-far-too-long-for-linux")
    with pytest.raises(FileNotFoundError):
        TunTransport("ftcp%d", path="/nonexistent/tun")

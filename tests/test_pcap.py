"""pcap capture, read back with an independent parser (dpkt): every packet's IP header, TCP
checksum, addresses and timestamp, and the payload reassembled from the capture alone."""

from __future__ import annotations

import io
import random
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest
from ferrotcp import FaultProfile, PcapWriter
from ferrotcp.stack import udp_mss
from udp_pair import CLIENT, PORT, SERVER, digest, stack_pair, two_way


@dataclass
class Packet:
    ts: float
    src: bytes
    dst: bytes
    tcp: dpkt.tcp.TCP


def parse(buf: bytes, family: int) -> tuple[bytes, bytes, dpkt.tcp.TCP] | None:
    """The packet's addresses and TCP segment if every header field and both checksums are
    right, else None. Written against the RFCs with dpkt, sharing nothing with ferrotcp."""
    try:
        if family == 4:
            ip = dpkt.ip.IP(buf)
            ok = (ip.v == 4 and ip.hl == 5 and ip.len == len(buf) and ip.p == 6
                  and ip.ttl > 0 and dpkt.in_cksum(buf[:20]) == 0)
            segment = buf[20:]
            pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, 6, len(segment))
        else:
            ip = dpkt.ip6.IP6(buf)
            ok = ip.v == 6 and ip.plen == len(buf) - 40 and ip.nxt == 6 and ip.hlim > 0
            segment = buf[40:]
            pseudo = ip.src + ip.dst + struct.pack("!IxxxB", len(segment), 6)
        if not ok or dpkt.in_cksum(pseudo + segment) != 0:
            return None
        tcp = dpkt.tcp.TCP(segment)
        if tcp.off * 4 > len(segment):
            return None
        return ip.src, ip.dst, tcp
    except (dpkt.UnpackError, ValueError, struct.error):
        return None


def read(path: Path, family: int) -> tuple[list[Packet], int]:
    """The valid packets of a capture and how many were damaged."""
    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 101, "LINKTYPE_RAW"
        good, bad = [], 0
        for ts, buf in reader:
            parsed = parse(buf, family)
            if parsed is None:
                bad += 1
            else:
                good.append(Packet(ts, *parsed))
    return good, bad


def stream(packets: list[Packet], src: bytes) -> bytes:
    """The bytes ``src`` sent, put together from sequence numbers alone."""
    isn = next(p.tcp.seq for p in packets if p.src == src and p.tcp.flags & dpkt.tcp.TH_SYN)
    out = bytearray()
    for p in sorted((p for p in packets if p.src == src and p.tcp.data),
                    key=lambda p: (p.tcp.seq - isn - 1) % 2**32):
        off = (p.tcp.seq - isn - 1) % 2**32
        assert off <= len(out), "the capture has a hole"
        out[off:off + len(p.tcp.data)] = p.tcp.data
    return bytes(out)


def addr(ip: str) -> bytes:
    import ipaddress

    return ipaddress.ip_address(ip).packed


@pytest.mark.parametrize("client_ip,server_ip,family",
                         [(CLIENT, SERVER, 4), ("fd00::1", "fd00::2", 6)], ids=["ipv4", "ipv6"])
def test_capture_holds_every_packet_with_valid_headers(
    tmp_path: Path, client_ip: str, server_ip: str, family: int
) -> None:
    rng = random.Random(family)
    up, down = rng.randbytes(150_000), rng.randbytes(40_000)
    cap_c, cap_s = tmp_path / "client.pcap", tmp_path / "server.pcap"
    start = time.time()
    with stack_pair(client_ip, server_ip, server_kw={"pcap": cap_s}, pcap=cap_c) as (s, c):
        r = two_way(s, c, up, down)
        local_port = r.client.getsockname()[1]
    end = time.time()
    counters = c.counters()
    assert counters["pcap_packets"] == counters["packets_sent"] + counters["packets_received"]
    for path in (cap_c, cap_s):
        packets, bad = read(path, family)
        assert bad == 0, f"{path.name}: {bad} damaged packets"
        assert len(packets) > 100
        times = [p.ts for p in packets]
        assert times == sorted(times), "timestamps never go back"
        assert start - 1e-3 <= times[0] and times[-1] <= end + 1e-3, "wall-clock timestamps"
        ends = {addr(client_ip), addr(server_ip)}
        for p in packets:
            assert {p.src, p.dst} == ends
            ports = (p.tcp.sport, p.tcp.dport)
            assert ports in ((local_port, PORT), (PORT, local_port))
        syn = packets[0].tcp
        assert syn.flags == dpkt.tcp.TH_SYN
        assert (packets[0].src, syn.dport) == (addr(client_ip), PORT)
        opts = dict(dpkt.tcp.parse_opts(syn.opts))
        # A 1500-byte path less the outer IPv4 + UDP headers of the transport (udp_mss),
        # then the inner IP and TCP headers (IPv6's are 20 bytes longer).
        mss = udp_mss("127.0.0.1") - (0 if family == 4 else 20)
        assert mss == (1432 if family == 4 else 1412)
        assert struct.unpack("!H", opts[dpkt.tcp.TCP_OPT_MSS]) == (mss,)
        assert digest(stream(packets, addr(client_ip))) == digest(up)
        assert digest(stream(packets, addr(server_ip))) == digest(down)
        fins = [p for p in packets if p.tcp.flags & dpkt.tcp.TH_FIN]
        assert {p.src for p in fins} == ends, "both sides closed"


@pytest.mark.parametrize("seed", [4, 5], ids=lambda s: f"seed={s}")
def test_damaged_packets_in_the_capture_are_the_ones_the_core_dropped(
    tmp_path: Path, seed: int
) -> None:
    cap = tmp_path / "server.pcap"
    damage = FaultProfile(corrupt=0.05, seed=seed)
    up = random.Random(seed).randbytes(200_000)
    with stack_pair(server_kw={"pcap": cap, "faults_in": damage}) as (server, client):
        r = two_way(server, client, up, b"")
        assert digest(r.got_up) == digest(up), f"seed {seed}"
    packets, bad = read(cap, 4)
    counters = server.counters()
    assert counters["faults_in"]["corrupted"] > 0, f"seed {seed}"
    assert bad == sum(counters["malformed"].values()) > 0, f"seed {seed}: {counters}"
    assert all(p.src == addr(SERVER) for p in packets if p.dst != addr(SERVER))


def test_writer_format_and_snap_length() -> None:
    f = io.BytesIO()
    w = PcapWriter(f, snaplen=100)
    w.write(1_700_000_000_123_456_789, b"\x45" + bytes(299))
    w.write(1_700_000_001_000_000_000, b"\x60" + bytes(39))
    w.close()
    raw = f.getvalue()
    assert struct.unpack("<IHHiIII", raw[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 100, 101)
    assert struct.unpack("<IIII", raw[24:40]) == (1_700_000_000, 123_456, 100, 300)
    records = list(dpkt.pcap.Reader(io.BytesIO(raw)))
    assert [(round(ts, 6), len(b)) for ts, b in records] == [
        (1_700_000_000.123456, 100), (1_700_000_001.0, 40)]


@pytest.mark.parametrize(("a_ip", "b_ip", "family"), [("10.0.0.1", "10.0.0.2", 4),
                                                      ("2001:db8::1", "2001:db8::2", 6)])
def test_the_simulator_captures_real_packets_in_virtual_time(
    tmp_path: Path, a_ip: str, b_ip: str, family: int
) -> None:
    """Each simulated host's capture: its packets with real headers and checksums, stamped
    with virtual time, enough to rebuild both streams; the packets the links corrupt are the
    only damaged ones, in their receiver's capture."""
    from ferrotcp import Network

    seed = 41
    net = Network(seed=seed)
    a, b = net.add_host("a", a_ip), net.add_host("b", b_ip)
    net.link(a, b, delay_us=2_000, loss=0.03, reorder=0.03, duplicate=0.01, corrupt=0.01)
    cap_a, cap_b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.capture(cap_a)
    b.capture(cap_b)
    rng = random.Random(seed)
    up, down = rng.randbytes(300_000), rng.randbytes(200_000)
    b.listen(80)
    ca = a.connect((b_ip, 80))
    cb = b.accept(80)
    ca.send(up)
    cb.send(down)
    cb.wait_received(len(up))
    ca.wait_received(len(down))
    assert (cb.recv(), ca.recv()) == (up, down), f"seed {seed}"
    assert a.stop_capture() == 0 and b.stop_capture() == 0
    packets_a, bad_a = read(cap_a, family)
    packets_b, bad_b = read(cap_b, family)
    # A host's capture holds what it sent undamaged and what it received as it arrived: the
    # damaged packets in it are exactly the ones its core dropped as malformed.
    assert bad_a == sum(a.counters()["malformed"].values())
    assert bad_b == sum(b.counters()["malformed"].values())
    assert bad_a + bad_b > 0, f"seed {seed}: the link was to corrupt some packets"
    for packets in (packets_a, packets_b):
        assert {p.src for p in packets} == {addr(a_ip), addr(b_ip)}
        times = [p.ts for p in packets]
        assert times == sorted(times) and times[-1] < 3600, "virtual time from the epoch"
    # The sender's capture has every segment it sent, retransmissions included.
    assert digest(stream(packets_a, addr(a_ip))) == digest(up)
    assert digest(stream(packets_b, addr(b_ip))) == digest(down)

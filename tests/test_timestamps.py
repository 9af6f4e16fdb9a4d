"""TCP Timestamps (RFC 7323 3-5) through the Python API: the setting reaches the core, the
negotiation is visible, the option is on every segment of a faulty transfer that stays
byte-exact, and PAWS drops a hand-built old segment. The segment-by-segment cases are packet
scripts in rust/core/src/conn/tests/timestamps.rs."""

from __future__ import annotations

import io
import random
import struct

import dpkt
import pytest
from ferrotcp import Connection, Endpoint, Network

A, B = ("192.0.2.1", 5000), ("192.0.2.2", 80)
TS_KIND = 8


def tsopt(segment: bytes) -> tuple[int, int] | None:
    """(TSval, TSecr) of a TCP segment's Timestamps option, if it has one."""
    tcp = dpkt.tcp.TCP(segment)
    for kind, value in dpkt.tcp.parse_opts(tcp.opts):
        if kind == TS_KIND:
            return struct.unpack("!II", value)
    return None


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def with_tsval(segment: bytes, tsval: int, src: str, dst: str) -> bytes:
    """``segment`` (from ``src`` to ``dst``, IPv4) with its TSval replaced, checksum redone."""
    tcp = dpkt.tcp.TCP(segment)
    opts = bytearray(tcp.opts)
    i = 0
    while i < len(opts):
        if opts[i] in (0, 1):  # EOL, NOP
            i += 1
            continue
        if opts[i] == TS_KIND:
            opts[i + 2 : i + 6] = struct.pack("!I", tsval)
            break
        i += opts[i + 1]
    else:
        raise AssertionError("no Timestamps option")
    out = bytearray(segment)
    out[20 : 20 + len(opts)] = opts
    out[16:18] = b"\0\0"
    pseudo = (
        bytes(map(int, src.split(".")))
        + bytes(map(int, dst.split(".")))
        + struct.pack("!BBH", 0, 6, len(out))
    )
    out[16:18] = struct.pack("!H", checksum(pseudo + bytes(out)))
    return bytes(out)


def handshake(
    client: dict[str, object],
    server: dict[str, object],
    client_offset: int = 0,
    server_offset: int = 0,
) -> tuple[Connection, Connection]:
    """Client SYN at 0, server SYN-ACK at 0 received at 10 ms, client ACK at 10 ms received
    at 20 ms; each side's timestamp clock starts at its offset."""
    c = Connection.connect(A, B, now=0, iss=1000, ts_offset=client_offset, **client)
    s = Connection.listen(B, iss=5000, ts_offset=server_offset, **server)
    s.receive(0, c.datagrams_to_send(0), remote_ip=A[0])
    c.receive(10_000, s.datagrams_to_send(0))
    s.receive(20_000, c.datagrams_to_send(10_000))
    assert c.state == s.state == "ESTABLISHED"
    return c, s


def test_both_offering_negotiates_and_ts_recent_is_the_peers_clock() -> None:
    c, s = handshake({}, {}, client_offset=2**32 - 5, server_offset=7)
    assert c.ts_ok and s.ts_ok
    # The server's SYN-ACK went at 0 (TSval = its offset); the client's ACK at 10 ms from
    # an offset 5 below 2^32: its clock wrapped to 5.
    assert c.ts_recent == 7
    assert s.ts_recent == 5
    tcb = s.tcb()
    assert (tcb["ts_ok"], tcb["ts_recent"], tcb["last_ack_sent"]) == (1, 5, 1001)
    assert s.spec_vars()["ts_recent_age_us"] == 20_000
    # The options take 12 bytes of every segment (RFC 9293 3.7.1).
    assert tcb["snd_mss"] == 1448
    # The handshake was timed: the SYN-ACK's 10 ms.
    assert c.srtt_us == 10_000


@pytest.mark.parametrize(
    ("client", "server"), [({"timestamps": False}, {}), ({}, {"timestamps": False})]
)
def test_off_on_one_side_means_off_both_ways(
    client: dict[str, object], server: dict[str, object]
) -> None:
    c, s = handshake(client, server)
    assert not c.ts_ok and not s.ts_ok
    assert c.tcb()["snd_mss"] == s.tcb()["snd_mss"] == 1460
    c.send(b"x" * 100)
    (seg,) = c.datagrams_to_send(30_000)
    assert tsopt(seg) is None
    s.receive(40_000, [seg])
    assert s.recv() == b"x" * 100
    assert s.spec_vars()["ts_recent_age_us"] == 2**64 - 1


def test_paws_drops_a_hand_built_old_segment_and_answers_it() -> None:
    c, s = handshake({}, {}, client_offset=1_000_000)
    recent = s.ts_recent
    c.send(b"hello")
    (seg,) = c.datagrams_to_send(50_000)
    assert tsopt(seg) == (1_000_050, 0)
    # The same segment, stamped one tick before TS.Recent (RFC 7323 5.3 R1).
    old = with_tsval(seg, recent - 1, A[0], B[0])
    s.receive(60_000, [old])
    assert s.applied_rules() == ["seg.paws_reject"]
    assert s.counters()["paws_rejected"] == 1
    assert s.recv() == b""
    (answer,) = s.datagrams_to_send(60_000)
    assert tsopt(answer) == (60, recent)
    assert dpkt.tcp.TCP(answer).ack == s.rcv_nxt == 1001
    # The original is taken, and its TSval becomes TS.Recent (R3).
    s.receive(70_000, [seg])
    assert s.recv() == b"hello"
    assert s.ts_recent == 1_000_050
    assert s.counters()["ts_missing_dropped"] == 0


@pytest.mark.parametrize("bad", [-1, 2**32, 2**80])
def test_ts_offset_must_fit_32_bits(bad: int) -> None:
    with pytest.raises(ValueError):
        Connection.connect(A, B, ts_offset=bad)
    with pytest.raises(ValueError):
        Connection.listen(B, ts_offset=bad)


def test_ts_offset_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        Connection.connect(A, B, ts_offset="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Endpoint(timestamps="yes")


def capture_options(packets: bytes) -> list[tuple[str, int, tuple[int, int] | None]]:
    """(source address, TCP flags, Timestamps option) of each packet of a pcap capture."""
    out = []
    for _, buf in dpkt.pcap.Reader(io.BytesIO(packets)):
        ip = dpkt.ip.IP(buf)
        out.append((".".join(map(str, ip.src)), ip.data.flags, tsopt(bytes(ip.data))))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_a_faulty_transfer_with_timestamps_is_byte_exact(seed: int) -> None:
    net = Network(seed)
    c = net.add_host("client", A[0], timestamps=True)
    s = net.add_host("server", B[0], timestamps=True)
    net.link(c, s, delay_us=20_000, loss=0.03, reorder=0.05, duplicate=0.01)
    captures = {c.addr: io.BytesIO(), s.addr: io.BytesIO()}
    for host in (c, s):
        host.capture(captures[host.addr])
    s.listen(B[1])
    rng = random.Random(seed)
    up, down = rng.randbytes(300_000), rng.randbytes(200_000)
    client = c.connect(B)
    client.send(up)
    client.close()
    server = s.accept(B[1])
    server.send(down)
    server.close()
    budget = 3_600_000_000
    server.wait_received(len(up), budget)
    client.wait_received(len(down), budget)
    client.wait_closed(budget)
    server.wait_closed(budget)
    assert server.recv() == up
    assert client.recv() == down
    c.stop_capture()
    s.stop_capture()
    for conn in (client, server):
        assert conn.tcb()["ts_ok"] == 1
        # 40 ms of round trip, plus queueing and delayed ACKs: samples from the echoes
        # (1 ms ticks) keep SRTT near it.
        assert 40_000 <= conn.counters()["srtt_us"] <= 200_000, conn.counters()["srtt_us"]
    # On the wire, as each host sent it: every segment but a RST carries the option, and
    # the TSvals never go back (RFC 7323 5.4). The first is the random per-connection
    # offset, not the clock of a simulation that started at 0 (RFC 7323 7.1).
    for addr, capture in captures.items():
        sent = [
            (flags, ts) for src, flags, ts in capture_options(capture.getvalue()) if src == addr
        ]
        assert len(sent) > 100
        assert sent[0][1] is not None and sent[0][1][0] > 10_000, sent[0]
        last = None
        for flags, ts in sent:
            if flags & dpkt.tcp.TH_RST:
                assert ts is None
                continue
            assert ts is not None, flags
            if last is not None:
                assert (ts[0] - last) % 2**32 < 2**31, (addr, last, ts[0])
            last = ts[0]

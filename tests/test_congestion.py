"""Congestion control selection: CUBIC (RFC 9438, the default) or NewReno (RFC 5681), per
connection, in the simulator, the sans-I/O core and the sockets (TCP_CONGESTION)."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

import pytest
from conftest import run_transfer
from ferrotcp import Connection, Endpoint, Network, UdpStack
from ferrotcp.sockopts import TCP_CONGESTION
from udp_pair import PORT, SERVER, connected_pair, stack_pair

ALGORITHMS = ["cubic", "newreno"]


def lossy_transfer(seed: int, size: int, **config: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``size`` bytes each way over a link losing 2% of its packets, then a clean close,
    checked byte for byte; returns both connections' counters."""
    t = run_transfer(seed, size, host=config, loss=0.02, delay_us=10_000, rate_bps=50_000_000)
    assert t.got_up == t.up, f"seed {seed} {config}: client->server differs"
    assert t.got_down == t.down, f"seed {seed} {config}: server->client differs"
    return t.client.counters(), t.server.counters()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(3))
def test_lossy_simulated_transfer_is_byte_exact(algorithm: str, seed: int) -> None:
    cc, sc = lossy_transfer(seed, 256 * 1024, congestion_control=algorithm)
    for c in (cc, sc):
        assert c["congestion_control"] == algorithm
        assert c["in_recovery"] is False
        assert c["cwnd"] > 0 and c["ssthresh"] > 0
    assert cc["retransmits_fast"] + sc["retransmits_fast"] > 0, "2% loss: some fast retransmits"


def test_simulator_default_is_cubic_and_counters_show_the_window() -> None:
    net = Network(1)
    c = net.add_host("client", "192.0.2.1")
    s = net.add_host("server", SERVER, congestion_control="newreno")
    net.link(c, s)
    s.listen(PORT)
    client = c.connect((SERVER, PORT))
    server = s.accept(PORT)
    assert client.counters()["congestion_control"] == "cubic"
    assert server.counters()["congestion_control"] == "newreno"
    k = client.counters()
    # RFC 5681 3.1: ssthresh starts arbitrarily high; the initial window is 10 segments.
    assert k["ssthresh"] == 2**32 - 1
    assert k["cwnd"] == 10 * client.tcb()["snd_mss"]
    assert k["in_recovery"] is False


@pytest.mark.parametrize("bad", ["bbr", "", "CUBIC", "cubic\0"])
def test_a_bad_name_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="congestion control"):
        Network(1).add_host("a", "192.0.2.1", congestion_control=bad)
    with pytest.raises(ValueError, match="congestion control"):
        Endpoint(congestion_control=bad)
    with pytest.raises(ValueError, match="congestion control"):
        Connection.connect(("192.0.2.1", 1), ("192.0.2.2", 2), congestion_control=bad)
    conn = Connection.connect(("192.0.2.1", 1), ("192.0.2.2", 2))
    with pytest.raises(ValueError, match="congestion control"):
        conn.congestion_control = bad
    assert conn.congestion_control == "cubic"
    with pytest.raises(ValueError, match="congestion control"):
        UdpStack("10.0.0.9", congestion_control=bad)


def test_a_name_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        Endpoint(congestion_control=1)


def test_sans_io_connection_switches_algorithm() -> None:
    conn = Connection.connect(("192.0.2.1", 1), ("192.0.2.2", 2), congestion_control="newreno")
    assert conn.congestion_control == "newreno"
    assert conn.counters()["congestion_control"] == "newreno"
    cwnd = conn.cwnd
    conn.congestion_control = "cubic"
    assert conn.congestion_control == "cubic"
    assert conn.cwnd == cwnd, "the window carries over"
    conn.congestion_control = "reno"  # Linux's name for it
    assert conn.congestion_control == "newreno"


def _name(raw: bytes) -> bytes:
    assert len(raw) == 16, raw
    return raw.rstrip(b"\0")


def test_tcp_congestion_socket_option() -> None:
    if sys.platform == "linux":
        assert TCP_CONGESTION == socket.TCP_CONGESTION
    tcp = socket.IPPROTO_TCP
    with stack_pair() as (server, client):
        fresh = client.socket()
        assert _name(fresh.getsockopt(tcp, TCP_CONGESTION, 16)) == b"cubic"
        assert fresh.getsockopt(tcp, TCP_CONGESTION, 3) == b"cub"
        # Set before connect: the connection starts with it.
        fresh.setsockopt(tcp, TCP_CONGESTION, b"newreno")
        assert _name(fresh.getsockopt(tcp, TCP_CONGESTION, 16)) == b"newreno"
        ls, c, s = connected_pair(server, client)
        assert _name(c.getsockopt(tcp, TCP_CONGESTION, 16)) == b"cubic"
        assert s.counters()["congestion_control"] == "cubic"
        # On an open connection, as Linux allows; a trailing NUL is fine, as for Linux.
        c.setsockopt(tcp, TCP_CONGESTION, b"newreno\0")
        assert _name(c.getsockopt(tcp, TCP_CONGESTION, 16)) == b"newreno"
        assert c.counters()["congestion_control"] == "newreno"
        c.setsockopt(tcp, TCP_CONGESTION, bytearray(b"reno"))
        assert c.counters()["congestion_control"] == "newreno"
        # Without buflen the option is read as an int, as Linux reads it: the name's first
        # four bytes.
        assert c.getsockopt(tcp, TCP_CONGESTION) == int.from_bytes(b"newr", sys.byteorder,
                                                                    signed=True)
        for bad in (b"bbr", b"", b"\xff"):
            with pytest.raises(FileNotFoundError) as e:
                c.setsockopt(tcp, TCP_CONGESTION, bad)
            assert e.value.errno == errno.ENOENT
        with pytest.raises(OSError) as e:
            c.setsockopt(tcp, TCP_CONGESTION, 1)
        assert e.value.errno == errno.EINVAL
        assert c.counters()["congestion_control"] == "newreno", "a refused name changes nothing"
        with pytest.raises(OSError):
            c.getsockopt(tcp, TCP_CONGESTION, 0)
        # Accepted connections inherit the listener's choice, as on Linux.
        ls.setsockopt(tcp, TCP_CONGESTION, b"newreno")
        fresh.settimeout(c.gettimeout())
        fresh.connect((SERVER, PORT))
        peer, _ = ls.accept()
        assert _name(peer.getsockopt(tcp, TCP_CONGESTION, 16)) == b"newreno"
        assert fresh.counters()["congestion_control"] == "newreno"
        data = b"x" * 100_000
        fresh.sendall(data)
        got = b""
        peer.settimeout(c.gettimeout())
        while len(got) < len(data):
            got += peer.recv(65536)
        assert got == data
        # Integer options read with buflen come as their bytes, as from the socket module.
        assert peer.getsockopt(tcp, socket.TCP_NODELAY, 4) == bytes(4)
        for sock in (peer, fresh, c, s, ls):
            sock.close()


def test_stack_setting_is_the_sockets_default() -> None:
    with stack_pair(congestion_control="newreno") as (_, client):
        sock = client.socket()
        assert _name(sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)) == b"newreno"
        sock.close()

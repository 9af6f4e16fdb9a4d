"""TCP keep-alives (RFC 9293 3.8.4): off by default, and when on, a peer that vanished is
given up after idle + count * interval, in the simulator's virtual time; the socket options
that control them."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from ferrotcp.sim import Network, SimConnection
from udp_pair import PORT, connected_pair, stack_pair

SEC = 1_000_000
KEEPALIVE: dict[str, Any] = {
    "keepalive": True,
    "keepalive_idle_us": 10 * SEC,
    "keepalive_interval_us": 2 * SEC,
    "keepalive_count": 4,
}


def _pair(**client: Any) -> tuple[Network, SimConnection, SimConnection]:
    """A client (with ``client``'s settings) connected to a server, 10 ms apart."""
    net = Network(seed=5)
    a = net.add_host("a", "10.0.0.1", **client)
    b = net.add_host("b", "10.0.0.2")
    net.link(a, b, delay_us=10_000)
    b.listen(80)
    conn = a.connect(("10.0.0.2", 80))
    peer = b.accept(80)
    conn.wait_established()
    net.run_for(100_000)
    return net, conn, peer


def _last_heard(conn: SimConnection) -> int:
    return max(e["time"] for e in conn.log() if e["kind"] == "received")


def _vanish(net: Network, peer: SimConnection, conn: SimConnection) -> None:
    """Every packet from ``peer``'s host to ``conn``'s is lost from now on."""
    net.link(peer.host, conn.host, both_ways=False, loss=1.0)


def test_a_vanished_peer_is_given_up_after_idle_plus_count_intervals() -> None:
    net, conn, peer = _pair(**KEEPALIVE)
    assert conn.keepalive == (10 * SEC, 2 * SEC, 4)
    assert peer.keepalive is None, "off by default (MUST-25)"
    last = _last_heard(conn)
    _vanish(net, peer, conn)
    with pytest.raises(TimeoutError) as e:
        conn.wait_closed(timeout_us=60 * SEC)
    assert e.value.errno == errno.ETIMEDOUT
    assert net.now_us == last + 10 * SEC + 4 * 2 * SEC
    probes = [e for e in conn.log() if e["kind"] == "sent" and e["reason"] == "keepalive"]
    assert [p["time"] - last for p in probes] == [10 * SEC, 12 * SEC, 14 * SEC, 16 * SEC]
    assert conn.counters()["keepalive_probes"] == 4
    # The peer heard the probes (only its answers were lost) and stays: its keep-alives
    # are off.
    assert peer.state == "ESTABLISHED"


def test_an_answering_peer_keeps_the_connection_open() -> None:
    net, conn, peer = _pair(**KEEPALIVE)
    net.run_for(3600 * SEC)
    assert conn.state == peer.state == "ESTABLISHED"
    # One probe per idle time, each answered (RFC 1122 4.2.3.6).
    assert 300 <= conn.counters()["keepalive_probes"] <= 360


def test_without_keepalives_a_vanished_peer_goes_unnoticed() -> None:
    net, conn, peer = _pair()
    assert conn.keepalive is None
    _vanish(net, peer, conn)
    sent = conn.counters()["segments_sent"]
    net.run_for(24 * 3600 * SEC)
    assert conn.state == "ESTABLISHED"
    assert conn.counters()["segments_sent"] == sent, "nothing is sent on an idle connection"
    assert net.run_until_idle(timeout_us=SEC), "no timer runs"


def test_keepalives_turned_on_later_count_from_the_last_segment_heard() -> None:
    net, conn, peer = _pair()
    last = _last_heard(conn)
    _vanish(net, peer, conn)
    net.run_for(5 * SEC)
    conn.set_keepalive(True, idle_us=10 * SEC, interval_us=SEC, count=2)
    assert conn.keepalive == (10 * SEC, SEC, 2)
    with pytest.raises(TimeoutError):
        conn.wait_closed(timeout_us=60 * SEC)
    assert net.now_us == last + 12 * SEC
    with pytest.raises(ValueError):
        peer.set_keepalive(False, idle_us=SEC)
    with pytest.raises(ValueError):
        peer.set_keepalive(True, count=0)


def test_keepalive_socket_options_as_on_linux() -> None:
    with stack_pair() as (server, client):
        ls = server.socket()
        # Set on the listener: accepted connections inherit them.
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        c = client.socket()
        assert c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7200
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 75
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 9
        # Linux's ranges: 1..32767 s, 1..127 probes.
        for opt, bad in [(socket.TCP_KEEPIDLE, 0), (socket.TCP_KEEPINTVL, 32768),
                         (socket.TCP_KEEPCNT, 128)]:
            with pytest.raises(OSError) as e:
                c.setsockopt(socket.IPPROTO_TCP, opt, bad)
            assert e.value.errno == errno.EINVAL
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        c.close()
        ls.close()
        _, c, s = connected_pair(server, client)

        def keepalive(sock: Any, stack: Any) -> Any:
            conn = sock.connection_id
            return stack.call(lambda ep, now: ep.keepalive(conn))

        assert keepalive(c, client) is None
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        assert keepalive(c, client) == (60 * SEC, 75 * SEC, 9)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
        assert keepalive(c, client) is None
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_accepted_sockets_inherit_the_listeners_keepalive() -> None:
    with stack_pair() as (server, client):
        ls = server.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        ls.settimeout(20)
        ls.bind((server.address, PORT))
        ls.listen()
        c = client.socket()
        c.settimeout(20)
        c.connect((server.address, PORT))
        s, _ = ls.accept()
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
        conn = s.connection_id
        assert server.call(lambda ep, now: ep.keepalive(conn)) == (30 * SEC, 75 * SEC, 9)

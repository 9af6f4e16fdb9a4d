"""Errors reach Python as the exceptions Python programmers know."""

from __future__ import annotations

import errno

import pytest
from conftest import CLIENT, PORT, SERVER
from ferrotcp import Connection, Network


def pair(seed: int = 1) -> tuple[Network, object, object]:
    net = Network(seed)
    c, s = net.add_host("c", CLIENT), net.add_host("s", SERVER)
    net.link(c, s)
    return net, c, s


def test_connect_to_closed_port_is_refused() -> None:
    _, c, _ = pair()
    conn = c.connect((SERVER, 81))
    with pytest.raises(ConnectionRefusedError) as exc:
        conn.wait_established()
    assert exc.value.errno == errno.ECONNREFUSED
    assert conn.state == "CLOSED"


def test_send_after_close_is_broken_pipe() -> None:
    _, c, s = pair()
    s.listen(PORT)
    conn = c.connect((SERVER, PORT))
    conn.wait_established()
    conn.close()
    with pytest.raises(BrokenPipeError) as exc:
        conn.send(b"late")
    assert exc.value.errno == errno.EPIPE


def test_send_after_peer_reset_is_broken_pipe_and_reset_is_reported() -> None:
    _, c, s = pair()
    s.listen(PORT)
    conn = c.connect((SERVER, PORT))
    server = s.accept(PORT)
    server.abort()
    conn.send(b"after the reset")
    with pytest.raises(ConnectionResetError):
        conn.wait_received(1, timeout_us=5_000_000)
    with pytest.raises(BrokenPipeError):
        conn.send(b"again")


def test_unreachable_peer_times_out() -> None:
    net = Network(2)
    c = net.add_host("c", CLIENT, max_syn_retransmissions=2)
    s = net.add_host("s", SERVER)
    net.link(c, s, loss=1.0)
    conn = c.connect((SERVER, PORT))
    with pytest.raises(TimeoutError) as exc:
        conn.wait_established()
    assert exc.value.errno == errno.ETIMEDOUT


def test_bad_arguments_raise_clear_errors() -> None:
    net = Network(0)
    with pytest.raises(ValueError, match="not an IP address"):
        net.add_host("x", "not-an-ip")
    h = net.add_host("h", CLIENT)
    with pytest.raises(ValueError, match="another host"):
        net.add_host("dup", CLIENT)
    with pytest.raises(TypeError, match="unknown connection setting"):
        net.add_host("y", "192.0.2.9", msss=1000)
    with pytest.raises(ValueError, match="between 0 and 1"):
        net.link(h, h, loss=1.5)
    with pytest.raises(ValueError):
        Network(-1)
    with pytest.raises(TypeError):
        Connection.connect("192.0.2.1", ("192.0.2.2", 80))
    with pytest.raises(ValueError, match="one family"):
        Connection.connect(("192.0.2.1", 1), ("2001:db8::1", 80))
    conn = Connection.listen(("192.0.2.1", 80))
    with pytest.raises(OSError) as exc:
        conn.send(b"x")
    assert exc.value.errno == errno.ENOTCONN
    with pytest.raises(TimeoutError):
        h.accept(80, timeout_us=1000)

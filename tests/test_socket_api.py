"""The blocking socket API over UDP: it behaves, and fails, like the standard library's."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable

import pytest
from ferrotcp import FaultProfile, Stack, UdpStack
from udp_pair import CLIENT, PORT, SERVER, TIMEOUT, connected_pair, recv_all, stack_pair


def test_connect_to_a_closed_port_is_refused() -> None:
    with stack_pair() as (server, client):
        s = client.socket()
        s.settimeout(TIMEOUT)
        with pytest.raises(ConnectionRefusedError) as e:
            s.connect((SERVER, PORT + 1))
        assert e.value.errno == errno.ECONNREFUSED
        assert server.counters()["resets_sent"] == 1
        # The socket may try again, and this time someone listens.
        ls = server.socket()
        ls.bind(("", PORT + 1))
        ls.listen()
        s.connect((SERVER, PORT + 1))
        assert s.getpeername() == (SERVER, PORT + 1)


def test_peer_abort_resets_the_connection() -> None:
    with stack_pair() as (server, client):
        _, c, s = connected_pair(server, client)
        s.sendall(b"last words")
        assert c.recv(100) == b"last words"
        # Unread data on close means an abort (RST), as on Linux.
        c.sendall(b"unread")
        _wait_for(lambda: s.counters()["bytes_delivered"] == 6)
        s.close()
        with pytest.raises(ConnectionResetError) as e:
            c.recv(100)
        assert e.value.errno == errno.ECONNRESET
        # Reported once; then, as on Linux, EOF for recv and EPIPE for send.
        assert c.recv(100) == b""
        with pytest.raises(BrokenPipeError) as pipe:
            c.send(b"x")
        assert pipe.value.errno == errno.EPIPE


def test_send_after_peer_reset_reports_the_reset_first() -> None:
    with stack_pair() as (server, client):
        _, c, s = connected_pair(server, client)
        c.sendall(b"unread")
        _wait_for(lambda: s.counters()["bytes_delivered"] == 6)
        s.close()
        _wait_for(lambda: c.state == "CLOSED")
        with pytest.raises(ConnectionResetError):
            c.send(b"more")
        with pytest.raises(BrokenPipeError):
            c.sendall(b"more")


def test_recv_timeout_raises_timeout_error_and_the_connection_survives() -> None:
    with stack_pair() as (server, client):
        _, c, s = connected_pair(server, client)
        c.settimeout(0.05)
        assert c.gettimeout() == 0.05
        with pytest.raises(TimeoutError) as e:
            c.recv(10)
        assert e.value.errno == errno.ETIMEDOUT
        s.sendall(b"late")
        c.settimeout(TIMEOUT)
        assert c.recv(10) == b"late"


def test_non_blocking_calls_raise_blocking_io_error() -> None:
    with stack_pair() as (server, client):
        ls, c, s = connected_pair(server, client)
        ls.setblocking(False)
        c.setblocking(False)
        assert not c.getblocking() and c.gettimeout() == 0.0
        with pytest.raises(BlockingIOError):
            ls.accept()
        with pytest.raises(BlockingIOError) as e:
            c.recv(10)
        assert e.value.errno == errno.EAGAIN
        nb = client.socket()
        nb.setblocking(False)
        with pytest.raises(BlockingIOError) as e:
            nb.connect((SERVER, PORT))
        assert e.value.errno == errno.EINPROGRESS
        _wait_for(lambda: nb.state == "ESTABLISHED")
        assert nb.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_send_after_shutdown_is_a_broken_pipe_and_the_other_way_still_works() -> None:
    with stack_pair() as (server, client):
        _, c, s = connected_pair(server, client)
        c.sendall(b"request")
        c.shutdown(socket.SHUT_WR)
        with pytest.raises(BrokenPipeError) as e:
            c.send(b"more")
        assert e.value.errno == errno.EPIPE
        assert recv_all(s) == b"request", "the peer reads to EOF"
        s.sendall(b"response")
        s.close()
        assert recv_all(c) == b"response"
        c.close()
        with pytest.raises(OSError) as bad:
            c.recv(1)
        assert bad.value.errno == errno.EBADF


def test_addresses_options_and_context_manager() -> None:
    with stack_pair() as (server, client):
        ls, c, s = connected_pair(server, client)
        assert ls.getsockname() == (SERVER, PORT)
        assert c.getpeername() == s.getsockname() == (SERVER, PORT)
        assert s.getpeername() == c.getsockname()
        assert c.getsockname()[0] == CLIENT
        fresh = client.socket()
        assert fresh.getsockname() == ("0.0.0.0", 0)
        with pytest.raises(OSError) as e:
            fresh.getpeername()
        assert e.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as e:
            fresh.bind(("10.9.9.9", 0))
        assert e.value.errno == errno.EADDRNOTAVAIL
        with pytest.raises(OSError) as e:
            server.socket().bind(("", PORT))
        assert e.value.errno == errno.EADDRINUSE
        # Nagle's algorithm is on by default (RFC 9293 3.7.4); TCP_NODELAY turns it off.
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        for level, opt, value in [(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)]:
            with pytest.raises(OSError) as e:
                c.setsockopt(level, opt, value)
            assert e.value.errno == errno.ENOPROTOOPT
        with client.socket() as t:
            t.settimeout(TIMEOUT)
            t.bind((CLIENT, 5555))
            t.connect((SERVER, PORT))
            assert t.state == "ESTABLISHED"
            peer, addr = ls.accept()
            assert addr == t.getsockname() == (CLIENT, 5555)
            peer.close()
        assert t.state == "CLOSED"
        with pytest.raises(OSError) as e:
            t.send(b"x")
        assert e.value.errno == errno.EBADF


def test_recv_into_and_counters_and_trace() -> None:
    with stack_pair() as (server, client):
        _, c, s = connected_pair(server, client)
        c.sendall(b"x" * 5000)
        buf = bytearray(8000)
        got = 0
        while got < 5000:
            got += s.recv_into(memoryview(buf)[got:])
        assert bytes(buf[:5000]) == b"x" * 5000
        with pytest.raises(ValueError):
            s.recv_into(bytearray(4), 10)
        assert c.counters()["bytes_sent"] == 5000
        assert s.counters()["bytes_delivered"] == 5000
        lines = c.trace().splitlines()
        assert "state CLOSED -> SYN-SENT  [closed.connect]" in lines[0]
        assert "sent  SYN seq=" in lines[1] and "(syn)" in lines[1]
        assert any("recv  SYN-ACK" in line and "[syn_sent.recv_synack]" in line
                   for line in lines)
        assert sum("len=" in line for line in lines if " sent " in line) >= 4


def test_connect_times_out_into_a_black_hole() -> None:
    blackhole = FaultProfile(loss=1.0)
    with stack_pair(faults_out=blackhole) as (server, client):
        s = client.socket()
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.connect((SERVER, PORT))
        assert client.counters()["faults_out"]["lost"] >= 1


def test_many_clients_at_once() -> None:
    with stack_pair() as (server, client):
        ls = server.socket()
        ls.settimeout(TIMEOUT)
        ls.bind(("", PORT))
        ls.listen()

        def echo_server() -> None:
            for _ in range(8):
                conn, _ = ls.accept()
                conn.settimeout(TIMEOUT)
                conn.sendall(recv_all(conn)[::-1])
                conn.close()

        t = threading.Thread(target=echo_server)
        t.start()
        for i in range(8):
            with client.socket() as c:
                c.settimeout(TIMEOUT)
                c.connect((SERVER, PORT))
                c.sendall(bytes([i]) * 1000 + b"end")
                c.shutdown(socket.SHUT_WR)
                assert recv_all(c) == b"dne" + bytes([i]) * 1000
        t.join(TIMEOUT)
        assert not t.is_alive()


def test_a_closed_stack_refuses_work() -> None:
    stack = UdpStack(CLIENT)
    s = stack.socket()
    stack.close()
    with pytest.raises(OSError) as e:
        s.connect((SERVER, PORT))
    assert e.value.errno == errno.ENETDOWN
    s.close()  # closing a socket of a dead stack is quiet


class BrokenTransport:
    """Readable at once, then fails: the stack's thread dies on its first batch."""

    def __init__(self) -> None:
        self.a, self.b = socket.socketpair()
        self.b.send(b"x")

    def fileno(self) -> int:
        return self.a.fileno()

    def recv_batch(self, limit: int) -> list[bytes]:
        raise RuntimeError("the wire melted")

    def send_batch(self, packets: list[bytes]) -> None:
        pass

    def counters(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.a.close()
        self.b.close()


def test_a_failed_stack_thread_is_reported_not_hung_on() -> None:
    stack = Stack(BrokenTransport(), CLIENT)
    try:
        s = stack.socket()
        s.settimeout(TIMEOUT)
        with pytest.raises(OSError) as e:
            s.connect((SERVER, PORT))
        assert e.value.errno == errno.EIO and "the wire melted" in str(e.value)
    finally:
        stack.close()


def _wait_for(cond: Callable[[], bool], tries: int = 400) -> None:
    for _ in range(tries):
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError("condition never held")

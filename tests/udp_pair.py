"""Two ferrotcp stacks talking over UDP on 127.0.0.1, and a two-way transfer between them.

Every wait is bounded by a socket timeout, so a broken stack fails a test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ferrotcp import Socket, UdpStack

CLIENT = "10.0.0.1"
SERVER = "10.0.0.2"
PORT = 80
#: Fast timers: real time is precious in tests, and loopback RTTs are well under a millisecond.
# The delayed ACK stays below the minimum RTO, as 40 ms is below Linux's 200 ms: a lone
# segment's ACK must come back before the sender's timer takes it for lost.
FAST: dict[str, Any] = {"min_rto_us": 20_000, "initial_rto_us": 200_000, "delayed_ack_us": 5_000}
#: Seconds any single blocking call may take before the test fails.
TIMEOUT = 20.0


@contextlib.contextmanager
def stack_pair(
    client_addr: str = CLIENT,
    server_addr: str = SERVER,
    server_kw: dict[str, Any] | None = None,
    **client_kw: Any,
) -> Iterator[tuple[UdpStack, UdpStack]]:
    """A server stack and a client stack that has a route to it (the server learns its way
    back from what arrives)."""
    server = UdpStack(server_addr, **{**FAST, **(server_kw or {})})
    try:
        client = UdpStack(client_addr, routes={server_addr: server.udp_address},
                          **{**FAST, **client_kw})
        try:
            yield server, client
        finally:
            client.close(linger=1.0)
    finally:
        server.close(linger=1.0)


def connected_pair(server: UdpStack, client: UdpStack) -> tuple[Socket, Socket, Socket]:
    """Listener, client socket and accepted server socket, all with a timeout."""
    ls = server.socket()
    ls.settimeout(TIMEOUT)
    ls.bind((server.address, PORT))
    ls.listen()
    c = client.socket()
    c.settimeout(TIMEOUT)
    c.connect((server.address, PORT))
    s, _ = ls.accept()
    s.settimeout(TIMEOUT)
    return ls, c, s


def recv_all(sock: Socket) -> bytes:
    buf = bytearray()
    while chunk := sock.recv(65536):
        buf += chunk
    return bytes(buf)


def send_then_shutdown(sock: Socket, data: bytes, errors: list[BaseException]) -> None:
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except BaseException as e:  # surfaced by the caller, with the seed
        errors.append(e)


@dataclass
class Result:
    got_up: bytes
    got_down: bytes
    client: Socket
    server: Socket


def two_way(server: UdpStack, client: UdpStack, up: bytes, down: bytes) -> Result:
    """Send ``up`` and ``down`` at the same time, each side shutting down its sending side
    when done and reading until end of stream; returns what arrived."""
    ls, c, s = connected_pair(server, client)
    errors: list[BaseException] = []
    senders = [
        threading.Thread(target=send_then_shutdown, args=(c, up, errors)),
        threading.Thread(target=send_then_shutdown, args=(s, down, errors)),
    ]
    for t in senders:
        t.start()
    got: dict[str, bytes] = {}

    def reader(name: str, sock: Socket) -> None:
        try:
            got[name] = recv_all(sock)
        except BaseException as e:
            errors.append(e)

    r = threading.Thread(target=reader, args=("down", c))
    r.start()
    reader("up", s)
    r.join(TIMEOUT * 3)
    for t in senders:
        t.join(TIMEOUT * 3)
    if errors:
        raise errors[0]
    ls.close()
    return Result(got.get("up", b""), got.get("down", b""), c, s)


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()

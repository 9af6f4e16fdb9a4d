"""HTTP across ferrotcp, with the standard library's ``http.client`` on the kernel's TCP
fetching a file from a ferrotcp server (used by ``tun_scenario.py``). The server is either
``http.server``'s ``SimpleHTTPRequestHandler`` over ferrotcp's blocking :class:`Socket`
(:func:`fetch_over_http`) or ``httpapp``'s plain-asyncio file server started with
``ferrotcp.start_server`` (:func:`fetch_over_asyncio_http`).

The handler expects a socket with ``makefile``; ferrotcp's Socket has ``recv_into`` and
``sendall``, which is all a buffered reader and a writer need, so the adapters here are
small and the handler itself is unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.client
import http.server
import io
import random
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpapp
from ferrotcp.sockets import Socket
from ferrotcp.streams import start_server
from ferrotcp.tunstack import TunStack

#: What the client fetches, in order, on one connection: the file twice, then a missing path.
PATHS = ("/blob.bin", "/blob.bin", "/missing")


class _SocketReader(io.RawIOBase):
    """A raw readable stream over a ferrotcp socket, for ``io.BufferedReader``."""

    def __init__(self, sock: Socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._sock.recv_into(b)


class _SocketWriter(io.BufferedIOBase):
    """A writable stream whose every ``write`` is one ``sendall``."""

    def __init__(self, sock: Socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._sock.sendall(b)
        return len(memoryview(b))


class Handler(http.server.SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` on a ferrotcp socket, HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        sock: Socket = self.request
        self.connection = sock
        self.rfile = io.BufferedReader(_SocketReader(sock))
        self.wfile = _SocketWriter(sock)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the scenario's stdout for its JSON report


def serve(
    listener: Socket, directory: str, stop: threading.Event, peers: list[tuple[str, int]]
) -> None:
    """Accept connections until ``stop`` is set; one thread per connection."""
    while not stop.is_set():
        try:
            conn, peer = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return  # the listener was closed
        peers.append(peer)
        conn.settimeout(listener.gettimeout())

        def handle(conn: Socket = conn, peer: tuple[str, int] = peer) -> None:
            try:
                Handler(conn, peer, None, directory=directory)  # type: ignore[arg-type]
            except OSError:
                pass  # the client went away; the client side reports what it saw
            finally:
                conn.close()

        threading.Thread(target=handle, daemon=True).start()


def http_client_session(address: str, port: int, timeout: float) -> dict[str, Any]:
    """``http.client`` (the kernel's TCP) GETs :data:`PATHS` on one keep-alive connection;
    what it saw of each response, and the addresses of its connection."""
    client = http.client.HTTPConnection(address, port, timeout=timeout)
    responses = []
    peer = local = None
    try:
        for path in PATHS:
            client.request("GET", path)
            if client.sock is not None and peer is None:
                peer, local = client.sock.getpeername(), client.sock.getsockname()
            resp = client.getresponse()
            data = resp.read()
            responses.append({
                "path": path, "status": resp.status, "version": resp.version,
                "length": resp.getheader("Content-Length"), "read": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            })
    finally:
        client.close()
    return {
        "responses": responses,
        "peer": list(peer[:2]) if peer else None,
        "local": list(local[:2]) if local else None,
        "kernel_family": socket.AF_INET6 if local and ":" in local[0] else socket.AF_INET,
    }


def fetch_over_http(
    stack: TunStack, family: int, address: str, port: int, size: int, seed: int,
    timeout: float,
) -> dict[str, Any]:
    """Serve a ``size``-byte file from ``stack`` and fetch it with ``http.client`` (twice on
    one keep-alive connection, plus a missing path); what the client saw."""
    body = random.Random(seed).randbytes(size)
    out: dict[str, Any] = {"sent_sha256": hashlib.sha256(body).hexdigest()}
    with tempfile.TemporaryDirectory() as d:
        Path(d, "blob.bin").write_bytes(body)
        listener = stack.socket(family)
        listener.settimeout(1.0)  # how often the accept loop looks at ``stop``
        listener.bind(("", port))
        listener.listen()
        stop = threading.Event()
        peers: list[tuple[str, int]] = []
        server = threading.Thread(target=serve, args=(listener, d, stop, peers), daemon=True)
        server.start()
        try:
            out.update(http_client_session(address, port, timeout))
            out["connections_accepted"] = len(peers)
        finally:
            stop.set()
            listener.close()
            server.join(timeout + 2)
    return out


def fetch_over_asyncio_http(
    stack: TunStack, address: str, port: int, size: int, seed: int, timeout: float,
) -> dict[str, Any]:
    """Serve a ``size``-byte file with ``httpapp`` (plain asyncio code) on ``stack`` through
    ``ferrotcp.start_server``, and fetch it with blocking ``http.client`` on the kernel's TCP,
    as :func:`fetch_over_http` does; what the client and the server saw."""
    body = random.Random(seed).randbytes(size)
    out: dict[str, Any] = {"sent_sha256": hashlib.sha256(body).hexdigest()}

    async def session() -> None:
        start = functools.partial(start_server, stack=stack)
        # The address of the wanted family: a TUN stack listens on one family per socket.
        server, stats = await httpapp.serve(start, {"/blob.bin": body}, address, port)
        try:
            # The client blocks, so it runs on a thread while the loop serves; wait_for
            # bounds it beyond its own per-call socket timeout.
            client = asyncio.to_thread(http_client_session, address, port, timeout)
            out.update(await asyncio.wait_for(client, 2 * timeout))
        finally:
            server.close()
            # After the client's close the handler sees end of stream and closes its side:
            # the server is done only once that connection has ended too.
            await asyncio.wait_for(server.wait_closed(), timeout)
        out["connections_accepted"] = stats.connections
        out["requests_served"] = stats.requests
        out["server_peers"] = [list(p[:2]) for p in stats.peers]

    asyncio.run(session())
    return out

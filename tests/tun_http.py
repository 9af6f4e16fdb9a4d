"""The standard library's HTTP server and client across ferrotcp: ``http.server``'s
``SimpleHTTPRequestHandler`` serves a directory over ferrotcp's blocking :class:`Socket`, and
``http.client`` on the kernel's TCP fetches from it (used by ``tun_scenario.py``).

The handler expects a socket with ``makefile``; ferrotcp's Socket has ``recv_into`` and
``sendall``, which is all a buffered reader and a writer need, so the adapters here are
small and the handler itself is unchanged.
"""

from __future__ import annotations

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

from ferrotcp.sockets import Socket
from ferrotcp.tunstack import TunStack


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
            client = http.client.HTTPConnection(address, port, timeout=timeout)
            responses = []
            peer = local = None
            for path in ("/blob.bin", "/blob.bin", "/missing"):
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
            client.close()
            out["responses"] = responses
            out["connections_accepted"] = len(peers)
            out["peer"] = list(peer[:2]) if peer else None
            out["kernel_family"] = socket.AF_INET6 if local and ":" in local[0] else \
                socket.AF_INET
        finally:
            stop.set()
            listener.close()
            server.join(timeout + 2)
    return out

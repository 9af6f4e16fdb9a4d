"""A small HTTP/1.1 file server and client written only against the asyncio streams API.

Nothing here knows about ferrotcp: the functions take ``start_server`` / ``open_connection``
callables with asyncio's signatures, so the tests run this very module on the standard
library's sockets and then on ferrotcp. It uses persistent connections (keep-alive),
``Content-Length`` and chunked bodies, ``readline``, ``readuntil``, ``readexactly``, ``drain``
and the closing calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

StartServer = Callable[..., Awaitable[Any]]
OpenConnection = Callable[..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

#: Body pieces written between two drains, so big files exercise back-pressure.
PIECE = 16 * 1024
#: Paths served with ``Transfer-Encoding: chunked`` instead of a length.
CHUNKED_PREFIX = "/chunked/"


@dataclass
class ServerStats:
    connections: int = 0
    requests: int = 0
    peers: list[Any] = field(default_factory=list)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpError(Exception):
    """The peer broke the protocol."""


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]] | None:
    """The start line and headers, or None if the peer closed between messages."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise HttpError("connection closed inside a header") from None
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _write_body(writer: asyncio.StreamWriter, body: bytes, chunked: bool) -> None:
    view = memoryview(body)
    for i in range(0, len(body), PIECE):
        piece = view[i : i + PIECE]
        if chunked:
            writer.write(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")
        else:
            writer.write(piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def file_handler(
    files: Mapping[str, bytes], stats: ServerStats
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A ``client_connected_cb`` serving ``files`` (path -> content) to GET requests until
    the client sends ``Connection: close`` or closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.connections += 1
        stats.peers.append(writer.get_extra_info("peername"))
        try:
            while (msg := await _read_head(reader)) is not None:
                start, headers = msg
                method, path, _version = start.split(" ", 2)
                stats.requests += 1
                if int(headers.get("content-length", "0")):
                    await reader.readexactly(int(headers["content-length"]))
                body = files.get(path.removeprefix(CHUNKED_PREFIX[:-1]))
                chunked = path.startswith(CHUNKED_PREFIX)
                close = headers.get("connection", "").lower() == "close"
                status = b"200 OK" if body is not None else b"404 Not Found"
                body = body if body is not None else b"not found\n"
                framing = (b"Transfer-Encoding: chunked" if chunked
                           else b"Content-Length: %d" % len(body))
                writer.write(b"HTTP/1.1 " + status + b"\r\n" + framing + b"\r\n"
                             + (b"Connection: close\r\n" if close else b"") + b"\r\n")
                if method != "HEAD":
                    await _write_body(writer, body, chunked)
                if close:
                    break
        finally:
            writer.close()
            await writer.wait_closed()

    return handle


async def serve(
    start_server: StartServer, files: Mapping[str, bytes], host: str | None, port: int
) -> tuple[Any, ServerStats]:
    """Start the file server; returns the server object and its statistics."""
    stats = ServerStats()
    server = await start_server(file_handler(files, stats), host, port)
    return server, stats


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readline()
        if not size_line.endswith(b"\r\n"):
            raise HttpError("connection closed inside a chunked body")
        size = int(size_line.split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != b"\r\n":
            raise HttpError("a chunk without its CRLF")
        if size == 0:
            return bytes(body)
        body += chunk[:-2]


async def fetch_all(
    open_connection: OpenConnection, host: str, port: int, paths: list[str]
) -> list[Response]:
    """GET every path over one persistent connection (the last request asks the server to
    close), then check the server did close."""
    reader, writer = await open_connection(host, port)
    responses = []
    try:
        for i, path in enumerate(paths):
            last = i == len(paths) - 1
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode()
                         + (b"Connection: close\r\n" if last else b"") + b"\r\n")
            await writer.drain()
            msg = await _read_head(reader)
            if msg is None:
                raise HttpError("the server closed the connection early")
            start, headers = msg
            status = int(start.split(" ")[1])
            if headers.get("transfer-encoding") == "chunked":
                body = await _read_chunked(reader)
            else:
                body = await reader.readexactly(int(headers["content-length"]))
            responses.append(Response(status, headers, body))
        if await reader.read() != b"" or not reader.at_eof():
            raise HttpError("data after the last response")
    finally:
        writer.close()
        await writer.wait_closed()
    return responses

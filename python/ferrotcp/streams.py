"""asyncio streams on a ferrotcp stack: ``open_connection`` and ``start_server`` with the
signatures of ``asyncio``'s, returning the standard library's own ``asyncio.StreamReader`` and
``asyncio.StreamWriter`` (fed by :class:`~ferrotcp.aio_transport.StackTransport`), so code
written against asyncio streams runs on ferrotcp unchanged::

    reader, writer = await ferrotcp.open_connection("10.0.0.2", 80, stack=stack)
    writer.write(b"GET / HTTP/1.0\\r\\n\\r\\n")
    await writer.drain()
    print(await reader.read())

They fail as asyncio's do: ``ConnectionRefusedError`` from ``open_connection``,
``ConnectionResetError`` from reads after a reset, ``asyncio.IncompleteReadError`` from
``readexactly`` at end of stream, and so on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ferrotcp.aio_server import Server, create_server
from ferrotcp.aio_transport import create_connection

if TYPE_CHECKING:
    from ferrotcp.stack import Stack

#: asyncio's default buffer limit for stream readers (``asyncio.streams._DEFAULT_LIMIT``).
DEFAULT_LIMIT = 2**16

ClientConnected = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None
]


async def open_connection(
    host: str,
    port: int,
    *,
    stack: Stack,
    limit: int = DEFAULT_LIMIT,
    local_addr: tuple[str, int] | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``(host, port)`` (an IP literal) through ``stack``; a (reader, writer)
    pair, as ``asyncio.open_connection`` returns."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(
        lambda: protocol, host, port, stack=stack, local_addr=local_addr
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(
    client_connected_cb: ClientConnected,
    host: str | None = None,
    port: int = 0,
    *,
    stack: Stack,
    limit: int = DEFAULT_LIMIT,
    backlog: int = 100,
    start_serving: bool = True,
) -> Server:
    """Listen on ``(host, port)`` of ``stack`` (host None: the stack's address; port 0: a
    free one, see ``server.sockets[0].getsockname()``) and call
    ``client_connected_cb(reader, writer)`` for each connection (a coroutine function becomes
    a task), as ``asyncio.start_server`` does."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(
        factory, host, port, stack=stack, backlog=backlog, start_serving=start_serving
    )


__all__ = ["Server", "create_connection", "create_server", "open_connection", "start_server"]

"""``create_server`` on a ferrotcp stack: a listening socket whose connections become
:class:`~ferrotcp.aio_transport.StackTransport` objects, and a :class:`Server` with the methods of
the event loop's ``asyncio.Server``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from ferrotcp.aio_bridge import Action, bridge_for
from ferrotcp.aio_transport import StackTransport, socket_for
from ferrotcp.sockets import Socket

if TYPE_CHECKING:
    from ferrotcp._core import Endpoint
    from ferrotcp.stack import Stack

Addresses = tuple[tuple[str, int], tuple[str, int]]


class Server:
    """Accepts connections on a stack for an event loop, like ``asyncio.Server``: ``close``
    stops listening (connections already accepted go on), ``wait_closed`` waits for them to
    end too, ``serve_forever`` serves until cancelled; ``async with`` closes on exit."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stack: Stack,
        listener: Socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
    ) -> None:
        self._loop = loop
        self._stack = stack
        self._bridge = bridge_for(stack, loop)
        self._listener = listener
        self._addr = listener.getsockname()
        self._protocol_factory = protocol_factory
        self._serving = False
        self._closed = False
        self._transports: set[StackTransport] = set()
        self._closed_waiters: list[asyncio.Future[None]] = []
        self._serving_forever: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<ferrotcp.Server sockets={self.sockets!r}>"

    @property
    def sockets(self) -> tuple[Socket, ...]:
        """The listening socket (``getsockname()`` tells the port), until closed."""
        return () if self._closed else (self._listener,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        if not self._serving:
            self._serving = True
            self._bridge.add(self)

    async def serve_forever(self) -> None:
        """Serve until cancelled; then close and wait, as ``asyncio.Server`` does."""
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        await self.start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop listening. Connections already accepted stay open."""
        if self._closed:
            return
        self._closed = True
        self._serving = False
        self._bridge.discard(self)
        self._listener.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._check_done()

    def close_clients(self) -> None:
        for t in list(self._transports):
            t.close()

    def abort_clients(self) -> None:
        for t in list(self._transports):
            t.abort()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection it accepted has ended."""
        if self._closed and not self._transports:
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        self._closed_waiters.append(fut)
        await fut

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    # ----- the bridge's side -----

    def poll_locked(self, ep: Endpoint, now: int) -> Action:
        accepted: list[tuple[int, Addresses]] = []
        # Bounded: the backlog holds at most this many, and a flood waits for the next poll.
        for _ in range(128):
            conn = ep.accept(self._addr)
            if conn is None:
                break
            accepted.append((conn, (ep.local(conn), ep.remote(conn) or ("", 0))))
        if not accepted:
            return None
        return lambda: self._start(accepted)

    def _start(self, accepted: list[tuple[int, Addresses]]) -> None:
        for conn, addresses in accepted:
            # The package's own way to wrap an accepted connection (Socket.accept does it).
            sock = Socket(self._stack, _conn=conn)
            if self._closed:
                sock.close()
                continue
            try:
                protocol = self._protocol_factory()
            except Exception as e:
                sock.close()
                self._loop.call_exception_handler(
                    {"message": "ferrotcp: protocol factory failed", "exception": e}
                )
                continue
            t = StackTransport(self._bridge, sock, protocol, addresses, self._detach)
            self._transports.add(t)
            t.start()

    def _detach(self, transport: StackTransport) -> None:
        self._transports.discard(transport)
        self._check_done()

    def _check_done(self) -> None:
        if self._closed and not self._transports:
            waiters, self._closed_waiters = self._closed_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def fail(self, exc: OSError) -> None:
        # The stack is gone; the connections learn it through their own polls.
        self.close()


async def create_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | None = None,
    port: int = 0,
    *,
    stack: Stack,
    backlog: int = 100,
    start_serving: bool = True,
) -> Server:
    """Like ``loop.create_server``, on ``stack``: listen on ``(host, port)`` (host None or
    ``""``: the stack's address; port 0: a free one) and make a protocol for each
    connection. ``OSError(EADDRINUSE)`` if the port is taken."""
    loop = asyncio.get_running_loop()
    listener = socket_for(stack, host)
    try:
        listener.bind((host or "", port))
        listener.listen(backlog)
    except BaseException:
        listener.close()
        raise
    server = Server(loop, stack, listener, protocol_factory)
    if start_serving:
        await server.start_serving()
    return server


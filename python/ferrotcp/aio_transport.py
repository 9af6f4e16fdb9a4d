"""An asyncio transport for one ferrotcp connection, and ``create_connection``.

:class:`StackTransport` is an ``asyncio.Transport`` like the event loop's own socket transport,
so the standard library's ``StreamReaderProtocol``, ``StreamReader`` and ``StreamWriter`` (or any
``asyncio.Protocol``) work on it unchanged:

- reading: bytes the core has received go to ``data_received`` on the loop; ``pause_reading``
  leaves them in the core, whose receive window then closes (TCP's own back-pressure);
- writing: ``write`` queues into the core's send buffer at once and keeps the rest in the
  transport; above the high-water mark the protocol is paused (``drain`` waits) until the
  core has taken enough of it back;
- ending: ``write_eof`` sends FIN after the queued data; ``close`` does so once the buffer
  has drained and then releases the socket (a reset if received data was never read, as on
  Linux); a reset or a timeout arrives as ``connection_lost(ConnectionResetError(...))``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ferrotcp.aio_bridge import Action, Bridge, bridge_for
from ferrotcp.transports.udp import normalize_ip

if TYPE_CHECKING:
    from ferrotcp._core import Endpoint
    from ferrotcp.sockets import Socket
    from ferrotcp.stack import Stack

log = logging.getLogger("ferrotcp.asyncio")

_HANDSHAKE = ("SYN-SENT", "SYN-RECEIVED")
_CAN_SEND = ("ESTABLISHED", "CLOSE-WAIT")
#: The event loop's socket transport defaults (``asyncio.selector_events``).
HIGH_WATER = 64 * 1024
#: Most bytes handed to ``data_received`` in one call.
READ_CHUNK = 256 * 1024


class StackTransport(asyncio.Transport):
    """One connection of a stack, as an asyncio transport (see the module docstring)."""

    def __init__(
        self,
        bridge: Bridge,
        sock: Socket,
        protocol: asyncio.BaseProtocol,
        addresses: tuple[tuple[str, int], tuple[str, int]],
        on_lost: Callable[[StackTransport], None] | None = None,
    ) -> None:
        super().__init__({"sockname": addresses[0], "peername": addresses[1], "socket": sock})
        conn = sock.connection_id
        assert conn is not None, "the socket must be connected"
        self._bridge = bridge
        self._loop = bridge.loop
        self._sock = sock
        self._conn = conn
        self._protocol = protocol
        self._on_lost = on_lost
        self._buffer = bytearray()
        self._high, self._low = HIGH_WATER, HIGH_WATER // 4
        self._protocol_paused = False
        self._reading = True
        self._eof_received = False
        self._eof_requested = False  # write_eof() or close(): FIN once the buffer is empty
        self._fin_sent = False
        self._closing = False
        self._lost = False
        self._dropped_writes = 0

    def __repr__(self) -> str:
        peer = self.get_extra_info("peername")
        status = "closed" if self._lost else "closing" if self._closing else "open"
        return f"<ferrotcp.StackTransport {status} conn={self._conn} peer={peer}>"

    def start(self) -> None:
        """``connection_made``, then follow the stack."""
        self._protocol.connection_made(self)
        if not self._lost:
            self._bridge.add(self)

    # ----- the bridge's side (poll_locked runs under the stack's lock) -----

    def poll_locked(self, ep: Endpoint, now: int) -> Action:
        if self._lost:
            return None
        conn = self._conn
        data = b""
        if self._reading and not self._closing and not self._eof_received:
            n = ep.recv_available(conn)
            if n:
                data = ep.recv(conn, min(n, READ_CHUNK))
        eof = (not self._eof_received and not self._closing and ep.recv_available(conn) == 0
               and ep.at_eof(conn))
        err = ep.error(conn)
        if err is None:
            self._push_locked(ep, now)
        resume = self._protocol_paused and len(self._buffer) <= self._low
        finished = self._closing and err is None and not self._buffer
        if not (data or eof or err or resume or finished):
            return None
        return lambda: self._deliver(data, eof, err, resume, finished)

    def _push_locked(self, ep: Endpoint, now: int) -> None:
        """Move queued bytes into the core, then the FIN if one is due."""
        if ep.state(self._conn) not in _CAN_SEND:
            return
        if self._buffer:
            room = ep.send_capacity(self._conn)
            if room:
                taken = ep.send(self._conn, bytes(self._buffer[:room]))
                del self._buffer[:taken]
        if self._eof_requested and not self._buffer and not self._fin_sent and not self._closing:
            # After close() the socket sends the FIN (or a RST) as it is released.
            self._fin_sent = True
            ep.close(now, self._conn)

    def _deliver(
        self, data: bytes, eof: bool, err: OSError | None, resume: bool, finished: bool
    ) -> None:
        if self._lost:
            return
        proto = self._protocol
        if data:
            proto.data_received(data)  # type: ignore[attr-defined]
        if eof and not self._lost and not self._eof_received:
            self._eof_received = True
            if not proto.eof_received():  # type: ignore[attr-defined]
                self.close()
        if err is not None:
            self._lose(err)
            return
        if resume and self._protocol_paused and not self._lost:
            self._protocol_paused = False
            proto.resume_writing()
        if finished and not self._lost:
            self._lose(None)

    def fail(self, exc: OSError) -> None:
        self._buffer.clear()
        self._lose(exc)

    def _lose(self, exc: Exception | None) -> None:
        """Release the socket and tell the protocol, once."""
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._bridge.discard(self)
        self._sock.close()
        if self._on_lost is not None:
            self._on_lost(self)
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._protocol = asyncio.Protocol()  # break the cycle, as the loop's transports do

    # ----- asyncio.Transport -----

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """FIN after everything written, then ``connection_lost(None)`` on a later
        iteration of the loop."""
        if self._closing:
            return
        self._closing = True
        self._eof_requested = True
        if not self._buffer:
            self._loop.call_soon(self._lose, None)
        # Otherwise the bridge's polls drain the buffer and then finish the close.

    def abort(self) -> None:
        """Reset the connection now, dropping anything not yet sent."""
        if self._lost:
            return
        self._buffer.clear()
        conn = self._conn
        try:
            self._bridge.stack.call(lambda ep, now: _abort_if_open(ep, now, conn))
        except OSError:
            pass  # the stack is gone, and the connection with it
        self._closing = True
        self._loop.call_soon(self._lose, None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            if not self._lost:
                self._bridge.poll_soon()  # data may be waiting in the core already

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not "
                            f"{type(data).__name__!r}")
        if self._eof_requested and not self._closing:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._closing:
            # As the loop's transports do: writing to a closed connection is not an error
            # here (drain() reports the loss), only worth a warning after a few tries.
            self._dropped_writes += 1
            if self._dropped_writes >= 5:
                log.warning("ferrotcp: write() on a closed connection")
            return
        was_empty = not self._buffer
        self._buffer += data
        if was_empty:
            self._push_now()
        self._maybe_pause()

    def write_eof(self) -> None:
        if self._eof_requested or self._closing:
            return
        self._eof_requested = True
        if not self._buffer:
            self._push_now()

    def can_write_eof(self) -> bool:
        return True

    def _push_now(self) -> None:
        try:
            self._bridge.stack.call(self._push_locked)
        except OSError as e:
            self.fail(e)

    def _maybe_pause(self) -> None:
        if not self._protocol_paused and len(self._buffer) > self._high and not self._lost:
            self._protocol_paused = True
            self._protocol.pause_writing()


def _abort_if_open(ep: Endpoint, now: int, conn: int) -> None:
    if ep.state(conn) != "CLOSED":
        ep.abort(now, conn)


class _ConnectWaiter:
    """A connect in progress: resolves with the addresses once established."""

    def __init__(self, conn: int, future: asyncio.Future[tuple[Any, Any]]) -> None:
        self.conn = conn
        self.future = future

    def poll_locked(self, ep: Endpoint, now: int) -> Action:
        err = ep.error(self.conn)
        if err is not None:
            return lambda: self.fail(err)
        if ep.state(self.conn) in _HANDSHAKE:
            return None
        addresses = (ep.local(self.conn), ep.remote(self.conn))
        return lambda: self._done(addresses)

    def _done(self, addresses: tuple[Any, Any]) -> None:
        if not self.future.done():
            self.future.set_result(addresses)

    def fail(self, exc: OSError) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


async def create_connection(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str,
    port: int,
    *,
    stack: Stack,
    local_addr: tuple[str, int] | None = None,
) -> tuple[StackTransport, asyncio.BaseProtocol]:
    """Like ``loop.create_connection``, on ``stack``: open a TCP connection to ``(host,
    port)`` (an IP literal) and connect a new protocol to it. Raises what the loop's does:
    ``ConnectionRefusedError`` if the peer resets the SYN, ``TimeoutError`` when the SYN
    retransmissions run out; cancelling abandons the attempt."""
    loop = asyncio.get_running_loop()
    sock = socket_for(stack, _ip_literal(host))
    try:
        sock.setblocking(False)
        if local_addr is not None:
            sock.bind(local_addr)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass  # EINPROGRESS: the handshake goes on in the stack's thread
        conn = sock.connection_id
        assert conn is not None
        bridge = bridge_for(stack, loop)
        waiter = _ConnectWaiter(conn, loop.create_future())
        bridge.add(waiter)
        try:
            local, remote = await waiter.future
        finally:
            bridge.discard(waiter)
    except BaseException:
        sock.close()
        raise
    protocol = protocol_factory()
    transport = StackTransport(bridge, sock, protocol, (local, remote))
    transport.start()
    return transport, protocol


def _ip_literal(host: str) -> str:
    """ferrotcp has no resolver: a name fails as an unknown name does in asyncio."""
    try:
        return normalize_ip(host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not an IP address (ferrotcp "
                              "does not resolve names)") from None


def socket_for(stack: Stack, host: str | None) -> Socket:
    """A socket of ``host``'s family on ``stack``. Stacks with two families (a TUN stack)
    take the family as ``socket``'s argument; others have one."""
    family = socket.AF_INET6 if host and ":" in host else stack.family
    if family == stack.family:
        return stack.socket()
    make: Callable[[int], Socket] = stack.socket  # type: ignore[assignment]
    return make(family)

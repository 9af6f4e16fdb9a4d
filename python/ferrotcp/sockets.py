"""A blocking TCP socket on a ferrotcp :class:`~ferrotcp.stack.Stack`, with the calls, timeouts
and errors of the standard library's ``socket.socket``.

Failures are the ``OSError`` subclasses the ``socket`` module raises, with ``errno`` set:
``ConnectionRefusedError``, ``ConnectionResetError``, ``BrokenPipeError``, ``TimeoutError``.
As on Linux, a connection's failure is reported once, by the first ``send`` or ``recv`` that
sees it; after that ``send`` raises ``BrokenPipeError`` and ``recv`` returns ``b""``. A reset
discards data received and not yet read (RFC 9293 3.10.7.4 flushes the queues). And
closing a socket with unread received data resets the connection (RFC 1122 4.2.2.13).
Addresses are ``(host, port)`` pairs of IP literals, for IPv6 too.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import time
from typing import TYPE_CHECKING, Any, overload

from ferrotcp.sockopts import TCP_CONGESTION, Keepalive, congestion_name, option_value
from ferrotcp.trace import format_trace
from ferrotcp.transports.udp import normalize_ip

if TYPE_CHECKING:
    from ferrotcp._core import Endpoint
    from ferrotcp.stack import Stack

#: What ``send`` and ``recv_into`` take (``collections.abc.Buffer`` needs Python 3.12).
Buffer = bytes | bytearray | memoryview

_HANDSHAKE = ("SYN-SENT", "SYN-RECEIVED")
_CAN_SEND = ("ESTABLISHED", "CLOSE-WAIT")


def _oserror(cls: type[OSError], code: int, message: str | None = None) -> OSError:
    return cls(code, message or os.strerror(code))


class Socket:
    """A TCP socket; make one with :meth:`Stack.socket`. Blocking unless told otherwise."""

    def __init__(self, stack: Stack, *, _conn: int | None = None) -> None:
        self._stack = stack
        self.family = stack.family
        self.type = _socket.SOCK_STREAM
        self.proto = _socket.IPPROTO_TCP
        self._timeout = _socket.getdefaulttimeout()
        self._bound_ip: str | None = None
        self._port: int | None = None
        self._listen_addr: tuple[str, int] | None = None
        self._conn = _conn
        self._closed = False
        self._shut_rd = False
        self._shut_wr = False
        self._error_reported = False
        # SO_KEEPALIVE and TCP_KEEP* (see ferrotcp.sockopts), kept for the connection to come
        # and inherited by accepted ones, as on Linux.
        self._keepalive = Keepalive()
        # TCP_NODELAY and TCP_CONGESTION set before there is a connection (or on a listener,
        # whose accepted connections inherit them, as on Linux); None: the stack's default.
        self._nodelay = False
        self._congestion: str | None = None

    def __repr__(self) -> str:
        try:
            where = "closed" if self._closed else self.state
        except OSError:
            where = "on a closed stack"
        return f"<ferrotcp.Socket {where} on {self._stack.address}>"

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- addresses -----

    def _unspecified(self) -> str:
        return "::" if self.family == _socket.AF_INET6 else "0.0.0.0"

    def _local_ip(self, host: str) -> str:
        if host in ("", "0.0.0.0", "::"):
            return self._unspecified()
        ip = normalize_ip(host)
        if ip != self._stack.address:
            raise _oserror(OSError, errno.EADDRNOTAVAIL)
        return ip

    def bind(self, address: tuple[str, int]) -> None:
        """Take local address ``(host, port)``; host ``""`` is any, port 0 a free one."""
        self._check_open()
        if self._port is not None or self._conn is not None:
            raise _oserror(OSError, errno.EINVAL, "the socket is already bound")
        host, port = address
        ip = self._local_ip(host)
        self._port = self._stack.bind_port(port)
        self._bound_ip = ip

    def getsockname(self) -> tuple[str, int]:
        self._check_open()
        conn = self._conn
        if conn is not None:
            return self._stack.call(lambda ep, now: ep.local(conn))
        if self._port is not None and self._bound_ip is not None:
            return (self._bound_ip, self._port)
        return (self._unspecified(), 0)

    def getpeername(self) -> tuple[str, int]:
        conn = self._connected()
        peer = self._stack.call(lambda ep, now: ep.remote(conn))
        if peer is None:
            raise _oserror(OSError, errno.ENOTCONN)
        return peer

    # ----- opening -----

    def listen(self, backlog: int = 128) -> None:
        """Accept connections (the stack's ``backlog`` applies to every listening socket)."""
        self._check_open()
        if self._conn is not None:
            raise _oserror(OSError, errno.EINVAL)
        if self._listen_addr is not None:
            return
        if self._port is None:
            self.bind(("", 0))
        assert self._bound_ip is not None and self._port is not None
        addr = (self._bound_ip, self._port)
        self._stack.call(lambda ep, now: ep.listen(addr))
        self._listen_addr = addr

    def accept(self) -> tuple[Socket, tuple[str, int]]:
        """The next established connection and its peer's address."""
        self._check_open()
        addr = self._listen_addr
        if addr is None:
            raise _oserror(OSError, errno.EINVAL, "the socket is not listening")
        conn = self._stack.wait(lambda ep, now: ep.accept(addr), self._timeout)
        peer = self._stack.call(lambda ep, now: ep.remote(conn))
        self._stack.call(lambda ep, now: self._apply_options(ep, conn))
        accepted = Socket(self._stack, _conn=conn)
        accepted._keepalive = self._keepalive
        return accepted, peer or ("", 0)

    def _apply_options(self, ep: Endpoint, conn: int) -> None:
        """Give a new connection the options set on this socket."""
        if self._nodelay:
            ep.set_nodelay(conn, True)
        if self._keepalive.on:
            self._keepalive.apply(ep, conn)
        if self._congestion is not None:
            ep.set_congestion_control(conn, self._congestion)

    def connect(self, address: tuple[str, int]) -> None:
        """Open a connection; ``ConnectionRefusedError`` if the peer resets it,
        ``TimeoutError`` if the socket's timeout (or SYN retransmission) runs out."""
        self._check_open()
        if self._listen_addr is not None:
            raise _oserror(OSError, errno.EISCONN)
        if self._conn is not None:
            state = self.state
            code = errno.EALREADY if state in _HANDSHAKE else errno.EISCONN
            raise _oserror(OSError, code)
        host, port = address
        remote = (normalize_ip(host), port)
        if (":" in remote[0]) != (self.family == _socket.AF_INET6):
            raise _oserror(OSError, errno.EAFNOSUPPORT)
        ip = self._bound_ip if self._bound_ip not in (None, self._unspecified()) else None
        local = (ip or self._stack.address, self._port or 0)
        conn = self._stack.call(lambda ep, now: ep.connect(now, local, remote))
        self._conn = conn
        self._stack.call(lambda ep, now: self._apply_options(ep, conn))
        if self._timeout == 0:
            raise _oserror(BlockingIOError, errno.EINPROGRESS)

        def established(ep: Endpoint, now: int) -> OSError | bool | None:
            err = ep.error(conn)
            if err is not None:
                return err
            return None if ep.state(conn) in _HANDSHAKE else True

        try:
            outcome = self._stack.wait(established, self._timeout)
        except TimeoutError:
            self._give_up(conn)
            raise
        if isinstance(outcome, OSError):
            self._give_up(conn)
            raise outcome

    def _give_up(self, conn: int) -> None:
        """A failed connect: the socket may try again."""
        self._conn = None
        self._stack.call(lambda ep, now: ep.abort(now, conn))
        self._stack.orphan(conn)

    # ----- data -----

    def _connected(self) -> int:
        self._check_open()
        if self._conn is None:
            raise _oserror(OSError, errno.ENOTCONN)
        return self._conn

    def _check_open(self) -> None:
        if self._closed:
            raise _oserror(OSError, errno.EBADF)

    def _raise_failure(self, ep: Endpoint, conn: int) -> None:
        err = ep.error(conn)
        if err is None:
            return
        if not self._error_reported:
            self._error_reported = True
            raise err
        raise _oserror(BrokenPipeError, errno.EPIPE)

    def _send(self, view: memoryview, timeout: float | None) -> int:
        conn = self._connected()
        if self._shut_wr:
            raise _oserror(BrokenPipeError, errno.EPIPE)
        if not view:
            return 0

        def attempt(ep: Endpoint, now: int) -> int | None:
            self._raise_failure(ep, conn)
            if ep.state(conn) not in _CAN_SEND:
                raise _oserror(BrokenPipeError, errno.EPIPE)
            room = ep.send_capacity(conn)
            return ep.send(conn, bytes(view[:room])) if room else None

        return self._stack.wait(attempt, timeout)

    def send(self, data: Buffer, flags: int = 0) -> int:
        """Queue as much of ``data`` as the send buffer takes (waiting for room); returns
        how many bytes were taken."""
        _no_flags(flags)
        return self._send(memoryview(data).cast("B"), self._timeout)

    def sendall(self, data: Buffer, flags: int = 0) -> None:
        """Queue all of ``data``; the timeout bounds the whole call, as in ``socket``."""
        _no_flags(flags)
        view = memoryview(data).cast("B")
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while view:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if left == 0.0 and self._timeout != 0:
                raise TimeoutError(errno.ETIMEDOUT, "timed out")
            view = view[self._send(view, left) :]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes, waiting for at least one; ``b""`` at end of stream."""
        _no_flags(flags)
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        conn = self._connected()
        if self._shut_rd or bufsize == 0:
            return b""

        def attempt(ep: Endpoint, now: int) -> bytes | None:
            if ep.recv_available(conn) > 0:
                return ep.recv(conn, bufsize)
            if ep.at_eof(conn):
                return b""
            if ep.error(conn) is not None:
                if not self._error_reported:
                    self._raise_failure(ep, conn)
                return b""
            return b"" if ep.state(conn) == "CLOSED" else None

        return self._stack.wait(attempt, self._timeout)

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        """Like :meth:`recv`, into ``buffer``; returns the count."""
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        n = nbytes or len(view)
        if n > len(view):
            raise ValueError("buffer too small for requested bytes")
        data = self.recv(n, flags)
        view[: len(data)] = data
        return len(data)

    # ----- closing -----

    def shutdown(self, how: int) -> None:
        """``SHUT_WR`` sends FIN after the queued data; ``SHUT_RD`` makes ``recv`` return
        ``b""``; ``SHUT_RDWR`` both."""
        conn = self._connected()
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise _oserror(OSError, errno.EINVAL)
        if how != _socket.SHUT_WR:
            self._shut_rd = True
        if how != _socket.SHUT_RD and not self._shut_wr:
            self._shut_wr = True
            self._stack.call(lambda ep, now: ep.close(now, conn))

    def close(self) -> None:
        """Release the socket. TCP closes in the background (FIN after queued data), or
        resets at once if received data was never read."""
        if self._closed:
            return
        self._closed = True
        conn, addr, port = self._conn, self._listen_addr, self._port
        try:
            if addr is not None:
                self._stack.call(lambda ep, now: ep.unlisten(now, addr))
            if conn is not None:
                self._stack.call(lambda ep, now: _close_conn(ep, now, conn))
                self._stack.orphan(conn)
        except OSError:
            pass  # the stack is gone, and the connection with it
        finally:
            if port is not None:
                self._stack.unbind_port(port)

    # ----- modes and options -----

    def settimeout(self, value: float | None) -> None:
        if value is not None and value < 0:
            raise ValueError("Timeout value out of range")
        self._timeout = None if value is None else float(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    def setsockopt(self, level: int, optname: int, value: int | Buffer) -> None:
        """``TCP_NODELAY``: on turns Nagle's algorithm off for this connection (RFC 9293
        3.7.4, MUST-17), off turns it back on (the default). Set before ``connect`` it
        applies from the connection's first segment. ``SO_KEEPALIVE``, ``TCP_KEEPIDLE``,
        ``TCP_KEEPINTVL``, ``TCP_KEEPCNT``: TCP keep-alives (RFC 9293 3.8.4), as on Linux
        (see :mod:`ferrotcp.sockopts`). ``TCP_CONGESTION``: the congestion control algorithm
        by name, ``b"cubic"`` or ``b"newreno"`` (``ENOENT`` for another). Every other option
        raises ``ENOPROTOOPT``."""
        self._check_open()
        keepalive = self._keepalive.set(level, optname, value)
        if keepalive is not None:
            self._keepalive = keepalive
            conn = self._conn
            if conn is not None:
                self._stack.call(lambda ep, now: keepalive.apply(ep, conn))
            return
        if (level, optname) == (_socket.IPPROTO_TCP, _socket.TCP_NODELAY):
            on = value if isinstance(value, int) else int.from_bytes(bytes(value), "little")
            self._nodelay = bool(on)
            if self._conn is not None:
                cid: int = self._conn
                self._stack.call(lambda ep, now: ep.set_nodelay(cid, bool(on)))
            return
        if (level, optname) == (_socket.IPPROTO_TCP, TCP_CONGESTION):
            name = congestion_name(value)
            self._congestion = name
            if self._conn is not None:
                ccid: int = self._conn
                self._stack.call(lambda ep, now: ep.set_congestion_control(ccid, name))
            return
        raise _oserror(OSError, errno.ENOPROTOOPT, f"option ({level}, {optname}) is not "
                       "supported by ferrotcp")

    @overload
    def getsockopt(self, level: int, optname: int) -> int: ...
    @overload
    def getsockopt(self, level: int, optname: int, buflen: int) -> bytes: ...

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> int | bytes:
        """``TCP_NODELAY`` (1 when Nagle's algorithm is off), ``SO_TYPE``, and ``SO_ERROR``
        (the pending failure's errno, which reading reports and clears), the keep-alive
        options (``SO_KEEPALIVE``, ``TCP_KEEPIDLE``, ``TCP_KEEPINTVL``, ``TCP_KEEPCNT``), and
        ``TCP_CONGESTION`` (pass ``buflen``, e.g. 16, for the name: ``b"cubic\\0..."``).
        With ``buflen`` the value comes as bytes, as from the ``socket`` module."""
        value = self._getsockopt(level, optname)
        return option_value(value, buflen)

    def _getsockopt(self, level: int, optname: int) -> int | str:
        self._check_open()
        if (level, optname) == (_socket.IPPROTO_TCP, TCP_CONGESTION):
            if self._conn is not None:
                ccid: int = self._conn
                return self._stack.call(lambda ep, now: ep.congestion_control(ccid))
            name = self._congestion
            return name or self._stack.call(lambda ep, now: ep.default_congestion_control())
        known = self._keepalive.get(level, optname)
        if known is not None:
            return known
        if (level, optname) == (_socket.IPPROTO_TCP, _socket.TCP_NODELAY):
            if self._conn is None:
                return int(self._nodelay)
            cid: int = self._conn
            return int(self._stack.call(lambda ep, now: ep.nodelay(cid)))
        if (level, optname) == (_socket.SOL_SOCKET, _socket.SO_TYPE):
            return _socket.SOCK_STREAM
        if (level, optname) == (_socket.SOL_SOCKET, _socket.SO_ERROR):
            conn = self._conn
            err = None if conn is None else self._stack.call(lambda ep, now: ep.error(conn))
            if err is None or self._error_reported:
                return 0
            self._error_reported = True
            return err.errno or 0
        raise _oserror(OSError, errno.ENOPROTOOPT)

    # ----- observability -----

    @property
    def state(self) -> str:
        """The connection's RFC 9293 state (``LISTEN`` when listening)."""
        if self._listen_addr is not None:
            return "LISTEN"
        conn = self._conn
        if conn is None or self._closed:
            return "CLOSED"
        return self._stack.call(lambda ep, now: ep.state(conn))

    @property
    def connection_id(self) -> int | None:
        """The stack endpoint's id of this socket's connection (None before ``connect`` or
        on a listening socket), for code that drives the endpoint itself, such as the
        asyncio transport (:mod:`ferrotcp.aio_transport`)."""
        return self._conn

    def counters(self) -> dict[str, Any]:
        """Segments, bytes, retransmissions by cause, duplicates, cwnd, ssthresh,
        in_recovery, RTT, the ``congestion_control`` algorithm's name... (read them before
        :meth:`close`: the connection is released after it)."""
        conn = self._connected()
        return self._stack.call(lambda ep, now: ep.counters(conn))

    def tcb(self) -> dict[str, int]:
        conn = self._connected()
        return self._stack.call(lambda ep, now: ep.tcb(conn))

    def log(self) -> list[dict[str, Any]]:
        """The connection's event log (see :mod:`ferrotcp.trace`)."""
        conn = self._connected()
        return self._stack.call(lambda ep, now: ep.log(conn))

    def trace(self) -> str:
        """The event log as text, one line per state change or segment."""
        return format_trace(self.log())


def _close_conn(ep: Endpoint, now: int, conn: int) -> None:
    if ep.recv_available(conn) > 0:
        ep.abort(now, conn)
    else:
        ep.close(now, conn)


def _no_flags(flags: int) -> None:
    if flags:
        raise _oserror(OSError, errno.EOPNOTSUPP, "flags are not supported")

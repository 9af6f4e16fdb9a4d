"""The keep-alive socket options of :class:`ferrotcp.sockets.Socket`, as Linux has them.

``SO_KEEPALIVE`` turns TCP keep-alives (RFC 9293 3.8.4) on or off; ``TCP_KEEPIDLE``,
``TCP_KEEPINTVL`` and ``TCP_KEEPCNT`` set the idle time before the first probe, the time
between unanswered probes (both in whole seconds) and how many probes go unanswered before
the connection fails with ``TimeoutError``. The values are remembered by the socket, so they
may be set before ``connect`` or on a listening socket (accepted connections inherit them, as
on Linux), and apply to the connection whenever it exists. Off by default (MUST-25), with
Linux's defaults for the rest: 7200 s (at least two hours, MUST-28), 75 s, 9 probes.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferrotcp._core import Endpoint

#: What ``setsockopt`` takes as a value.
Value = int | bytes | bytearray | memoryview

# Linux's limits: MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL (32767 s), MAX_TCP_KEEPCNT (127).
MAX_SECONDS = 32767
MAX_COUNT = 127
US = 1_000_000

_SO_KEEPALIVE = (_socket.SOL_SOCKET, _socket.SO_KEEPALIVE)
# macOS calls the idle time TCP_KEEPALIVE; the others have the Linux names where they exist.
_TCP_KEEPIDLE = getattr(_socket, "TCP_KEEPIDLE", getattr(_socket, "TCP_KEEPALIVE", None))
_TCP_KEEPINTVL = getattr(_socket, "TCP_KEEPINTVL", None)
_TCP_KEEPCNT = getattr(_socket, "TCP_KEEPCNT", None)


def _int(value: Value) -> int:
    """An option value as ``setsockopt`` passes it: an int, or its native bytes."""
    if isinstance(value, int):
        return value
    return int.from_bytes(bytes(value), "little", signed=True)


@dataclass(frozen=True)
class Keepalive:
    """One socket's keep-alive options."""

    on: bool = False
    idle_s: int = 7200
    interval_s: int = 75
    count: int = 9

    def set(self, level: int, optname: int, value: Value) -> Keepalive | None:
        """The options after ``setsockopt(level, optname, value)``; None if it is not a
        keep-alive option. ``OSError(EINVAL)`` for a value Linux refuses."""
        n = _int(value)
        if (level, optname) == _SO_KEEPALIVE:
            return replace(self, on=bool(n))
        if level != _socket.IPPROTO_TCP:
            return None
        if optname in (_TCP_KEEPIDLE, _TCP_KEEPINTVL):
            if not 1 <= n <= MAX_SECONDS:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            if optname == _TCP_KEEPIDLE:
                return replace(self, idle_s=n)
            return replace(self, interval_s=n)
        if optname == _TCP_KEEPCNT:
            if not 1 <= n <= MAX_COUNT:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            return replace(self, count=n)
        return None

    def get(self, level: int, optname: int) -> int | None:
        """``getsockopt(level, optname)``; None if it is not a keep-alive option."""
        if (level, optname) == _SO_KEEPALIVE:
            return int(self.on)
        if level != _socket.IPPROTO_TCP:
            return None
        values = {_TCP_KEEPIDLE: self.idle_s, _TCP_KEEPINTVL: self.interval_s,
                  _TCP_KEEPCNT: self.count}
        values.pop(None, None)
        return values.get(optname)

    def apply(self, ep: Endpoint, conn: int) -> None:
        """Give ``conn`` these settings (call with the stack's lock held)."""
        if self.on:
            ep.set_keepalive(conn, True, self.idle_s * US, self.interval_s * US, self.count)
        else:
            ep.set_keepalive(conn, False)

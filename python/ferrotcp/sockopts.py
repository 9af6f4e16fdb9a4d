"""The keep-alive and congestion control socket options of :class:`ferrotcp.sockets.Socket`,
as Linux has them.

``SO_KEEPALIVE`` turns TCP keep-alives (RFC 9293 3.8.4) on or off; ``TCP_KEEPIDLE``,
``TCP_KEEPINTVL`` and ``TCP_KEEPCNT`` set the idle time before the first probe, the time
between unanswered probes (both in whole seconds) and how many probes go unanswered before
the connection fails with ``TimeoutError``. The values are remembered by the socket, so they
may be set before ``connect`` or on a listening socket (accepted connections inherit them, as
on Linux), and apply to the connection whenever it exists. Off by default (MUST-25), with
Linux's defaults for the rest: 7200 s (at least two hours, MUST-28), 75 s, 9 probes.

``TCP_CONGESTION`` names the congestion control algorithm, as bytes: ``b"cubic"`` (RFC 9438,
the default) or ``b"newreno"`` (RFC 5681; Linux's ``b"reno"`` is taken for it). An unknown
name fails with ``FileNotFoundError`` (``ENOENT``), as on Linux. ``getsockopt`` with a
``buflen`` returns the name padded with NULs to ``min(buflen, 16)`` bytes, as Linux does.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ferrotcp import _core

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
#: Linux's TCP_CONGESTION (the socket module has it on Linux only).
TCP_CONGESTION: int = getattr(_socket, "TCP_CONGESTION", 13)
#: Linux's TCP_CA_NAME_MAX: a name and its NUL fit in 16 bytes.
CA_NAME_MAX = 16


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


def congestion_name(value: Value) -> str:
    """The algorithm ``setsockopt(IPPROTO_TCP, TCP_CONGESTION, value)`` names: the bytes up
    to the first NUL (at most 15, as Linux reads them). ``FileNotFoundError`` (``ENOENT``)
    for a name ferrotcp does not know, ``EINVAL`` for a value that is not bytes."""
    if isinstance(value, int):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    raw = bytes(value)[: CA_NAME_MAX - 1].split(b"\0", 1)[0]
    try:
        return _core.congestion_control_name(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)) from None


def option_value(value: int | str, buflen: int | None) -> int | bytes:
    """What ``getsockopt`` returns for an option whose value is ``value`` (an int, or a
    name): without ``buflen`` an int (a name's first four bytes, as Linux's int-sized read
    gives); with it, at most ``buflen`` bytes (a name NUL-padded to ``min(buflen, 16)``)."""
    if buflen is not None and not 0 < buflen <= 1024:
        raise OSError("getsockopt buflen out of range")
    if isinstance(value, int):
        raw = value.to_bytes(4, sys.byteorder, signed=True)
        return value if buflen is None else raw[:buflen]
    name = value.encode("ascii").ljust(CA_NAME_MAX, b"\0")
    if buflen is None:
        return int.from_bytes(name[:4], sys.byteorder, signed=True)
    return name[: min(buflen, CA_NAME_MAX)]

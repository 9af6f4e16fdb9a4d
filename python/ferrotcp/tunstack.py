"""A ferrotcp stack on a Linux TUN device, with an IPv4 and an IPv6 address, whose peer is the
kernel's own TCP (see :mod:`ferrotcp.transports.tun`).

One endpoint and one background thread serve both addresses; sockets choose their family as
with the ``socket`` module (``stack.socket(socket.AF_INET6)``). Local ports are shared between
the two families.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, cast

from ferrotcp.sockets import Socket
from ferrotcp.stack import Stack
from ferrotcp.transports import netconf
from ferrotcp.transports.tun import TunTransport
from ferrotcp.transports.udp import normalize_ip

#: Documentation addresses (RFC 5737, RFC 3849): the kernel's side and the stack's.
KERNEL_ADDRESS = "192.0.2.1/24"
KERNEL_ADDRESS6 = "2001:db8::1/64"
STACK_ADDRESS = "192.0.2.2"
STACK_ADDRESS6 = "2001:db8::2"


class TunStack(Stack):
    """A :class:`Stack` answering for ``address`` (IPv4) and ``address6`` (IPv6; either may be
    None, not both) on TUN device ``device`` (a name, or a pattern such as ``"ftcp%d"``).

    With ``configure=True`` the stack also puts ``kernel_address`` and ``kernel_address6``
    (with their prefix lengths) on the device, routes the stack's addresses through it and
    brings it up, with the ``ip`` command (root or ``CAP_NET_ADMIN``); otherwise the device
    is expected to be set up already (``netconf.setup_commands`` lists the commands). The
    device, if this stack created it, disappears when the stack closes. Other keywords are
    :class:`Stack`'s (``faults``, ``pcap``, ``backlog``, ``syn_cookies``, ``mss``,
    ``min_rto_us``, ``keepalive``, ...).
    """

    def __init__(
        self,
        address: str | None = STACK_ADDRESS,
        address6: str | None = STACK_ADDRESS6,
        *,
        device: str = "ftcp%d",
        configure: bool = False,
        kernel_address: str | None = KERNEL_ADDRESS,
        kernel_address6: str | None = KERNEL_ADDRESS6,
        mtu: int = 1500,
        **kwargs: Any,
    ) -> None:
        ours = [normalize_ip(a) for a in (address, address6) if a is not None]
        if not ours:
            raise ValueError("a TunStack needs an IPv4 or an IPv6 address")
        for a, want in ((address, socket.AF_INET), (address6, socket.AF_INET6)):
            if a is not None and (":" in a) != (want == socket.AF_INET6):
                raise ValueError(f"{a!r} is not an {'IPv6' if ':' in str(a) else 'IPv4'} "
                                 "address where one of the other family is expected")
        transport = TunTransport(device, addresses=ours)
        try:
            if configure:
                kernel = [k for k in (kernel_address, kernel_address6) if k is not None]
                netconf.configure(transport.name, kernel, ours, mtu=mtu)
            super().__init__(transport, ours[0], **kwargs)
        except BaseException:
            transport.close()
            raise
        self.tun = transport
        self.address6 = normalize_ip(address6) if address6 is not None else None
        self._views: dict[int, _FamilyView] = {}
        if address is not None and address6 is not None:
            # The base stack speaks for the IPv4 address; sockets of the other family see it
            # through a view whose ``address`` and ``family`` are the IPv6 ones.
            self._views[socket.AF_INET6] = _FamilyView(self, self.address6 or "")

    def __enter__(self) -> TunStack:
        return self

    @property
    def device(self) -> str:
        """The interface name (what the kernel chose for a pattern)."""
        return self.tun.name

    def socket(self, family: int | None = None) -> Socket:
        """A new TCP socket; ``family`` ``socket.AF_INET`` or ``AF_INET6`` (default: the
        family of the first address given)."""
        if family is None or family == self.family:
            return Socket(self)
        view = self._views.get(family)
        if view is None:
            raise OSError(errno.EAFNOSUPPORT, f"this stack has no address of family {family!r}")
        # Sockets only read ``address`` and ``family`` and call the stack's methods, which
        # the view passes on: a Stack in every way that matters to them.
        return Socket(cast(Stack, view))

    def __repr__(self) -> str:
        addrs = ", ".join(a for a in (self.address, self.address6) if a)
        return f"<TunStack {addrs} on {self.tun.name}>"


class _FamilyView:
    """The stack as seen by sockets of its second address family: the same endpoint, lock
    and thread, another local address."""

    def __init__(self, stack: TunStack, address: str) -> None:
        self._stack = stack
        self.address = address
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stack, name)

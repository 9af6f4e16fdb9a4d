"""Real IP packets through a Linux TUN device: the peer is the kernel's own TCP.

The device (``/dev/net/tun`` with ``IFF_TUN | IFF_NO_PI``) is a network interface whose far
end is this file descriptor: every packet the kernel routes to the interface is read here as
a bare IPv4 or IPv6 packet, and every packet written here arrives at the kernel as if it came
in on the interface. A ferrotcp stack owns addresses on the device's subnet that the kernel
does not (see :mod:`ferrotcp.transports.netconf`), so the kernel's sockets talk to it as to
another host.

Opening a device needs root or ``CAP_NET_ADMIN``, unless the device was made persistent for
the user beforehand (``ip tuntap add dev ftcp0 mode tun user $USER``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from collections.abc import Iterable

from ferrotcp.transports.base import send_counted

#: ``_IOW('T', 202, int)``: attach the descriptor to a (new or persistent) device.
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
#: No 4-byte packet-information prefix: reads and writes are bare IP packets.
IFF_NO_PI = 0x1000
#: ``struct ifreq`` on Linux: a 16-byte name, then a 24-byte union whose first field is the
#: flags (a short).
_IFREQ = struct.Struct("16sH22x")
#: Largest packet a read can return (an IPv4 total length, or an IPv6 jumbogram-free payload).
MAX_PACKET = 65_535
TUN_PATH = "/dev/net/tun"
IPPROTO_TCP = 6


def _destination(packet: bytes) -> tuple[bytes, int] | None:
    """The destination address (raw bytes) and transport protocol of an IP packet."""
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        return packet[16:20], packet[9]
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        return packet[24:40], packet[6]
    return None


class TunTransport:
    """A TUN device as a transport: non-blocking reads drained in a loop, writes one packet
    each.

    ``name`` is the interface name, or a pattern such as ``"ftcp%d"`` for the kernel to
    complete (:attr:`name` says what it chose). A non-persistent device exists while this
    transport is open and vanishes, with its addresses and routes, when it closes.
    ``addresses`` (the stack's own IPs) filters what is read: the kernel also sends the
    device things that are not for the stack, such as IPv6 router solicitations and MLD
    reports, or packets for other addresses on the subnet; they are counted and dropped here
    rather than answered with a RST. None passes every TCP packet.
    """

    def __init__(
        self,
        name: str = "ftcp%d",
        *,
        addresses: Iterable[str] | None = None,
        path: str = TUN_PATH,
    ) -> None:
        if len(name.encode()) >= 16:
            raise ValueError(f"interface names have at most 15 bytes: {name!r}")
        self._accept: set[bytes] | None = None
        if addresses is not None:
            self._accept = {_packed(a) for a in addresses}
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(name.encode(), IFF_TUN | IFF_NO_PI))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.name: str = _IFREQ.unpack(ifr)[0].rstrip(b"\0").decode()
        self._counters = dict.fromkeys(
            ("packets_received", "packets_sent", "not_ours", "send_dropped", "send_errors",
             "recv_errors"), 0)

    def fileno(self) -> int:
        return self._fd

    def recv_batch(self, limit: int) -> list[bytes]:
        out: list[bytes] = []
        c = self._counters
        accept = self._accept
        # One read per packet (a TUN descriptor has no batch read); bounded so a flood cannot
        # keep the stack from its timers, what is left waits for the next wake-up.
        for _ in range(limit):
            try:
                packet = os.read(self._fd, MAX_PACKET)
            except BlockingIOError:
                break
            except OSError:
                c["recv_errors"] += 1
                break
            if not packet:
                break
            dst = _destination(packet)
            if dst is None or dst[1] != IPPROTO_TCP or (accept is not None
                                                        and dst[0] not in accept):
                c["not_ours"] += 1
                continue
            c["packets_received"] += 1
            out.append(packet)
        return out

    def send_batch(self, packets: list[bytes]) -> None:
        send_counted(packets, lambda p: os.write(self._fd, p), self._counters, "packets_sent")

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return f"<TunTransport {self.name}>"


def _packed(ip: str) -> bytes:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.inet_pton(family, ip)

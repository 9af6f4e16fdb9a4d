"""IP over UDP: every IP packet a stack sends travels as the payload of one UDP datagram.

The TCP/IP addresses inside the packets are the stacks' own (virtual) addresses; a route table
maps each of them to the UDP address of the stack that owns it. Routes are given, learned from
the datagrams that arrive (so a server needs none: it answers wherever its clients are), or
derived from a default port (``(dst_ip, default_port)``, for stacks that use their host's real
address). Two stacks on one machine need distinct virtual addresses, e.g. 10.0.0.1 and 10.0.0.2
both reached through 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping

from ferrotcp.transports.base import send_counted

#: Largest datagram we read: an IPv4 packet's total length field cannot say more.
MAX_DATAGRAM = 65_535


def normalize_ip(ip: str) -> str:
    """The spelling ``inet_ntop`` gives, so addresses from packets and users compare equal."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, ip))
    except OSError:
        raise ValueError(f"not an IP address: {ip!r}") from None


def ip_endpoints(packet: bytes) -> tuple[str, str] | None:
    """Source and destination of an IPv4 or IPv6 packet, or None if it is neither."""
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        return (socket.inet_ntop(socket.AF_INET, packet[12:16]),
                socket.inet_ntop(socket.AF_INET, packet[16:20]))
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        return (socket.inet_ntop(socket.AF_INET6, packet[8:24]),
                socket.inet_ntop(socket.AF_INET6, packet[24:40]))
    return None


class UdpTransport:
    """A non-blocking UDP socket carrying IP packets, with a route table.

    ``bind`` is the UDP address to listen on (port 0: any free port, see :attr:`address`).
    ``routes`` maps virtual IP addresses to UDP addresses. ``learn`` adds a route for the
    source of every datagram that arrives (at most ``max_learned`` of them).
    """

    def __init__(
        self,
        bind: tuple[str, int] = ("127.0.0.1", 0),
        *,
        routes: Mapping[str, tuple[str, int]] | None = None,
        default_port: int | None = None,
        learn: bool = True,
        max_learned: int = 1024,
    ) -> None:
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(bind)
            self._sock.setblocking(False)
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                # Bursts of a whole window arrive at once; a larger buffer loses fewer. The
                # kernel may cap the size, and that is fine.
                self._sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
        except BaseException:
            self._sock.close()
            raise
        self.family = family
        self._routes: dict[str, tuple[str, int]] = {}
        self._learned = 0
        self.default_port = default_port
        self.learn = learn
        self.max_learned = max_learned
        self._counters = dict.fromkeys(
            ("datagrams_sent", "datagrams_received", "unroutable", "send_dropped",
             "send_errors", "recv_errors", "routes_learned"), 0)
        for ip, addr in (routes or {}).items():
            self.add_route(ip, addr)

    @property
    def address(self) -> tuple[str, int]:
        """The UDP address this transport receives on."""
        host, port = self._sock.getsockname()[:2]
        return (host, port)

    def fileno(self) -> int:
        return self._sock.fileno()

    def add_route(self, ip: str, udp_addr: tuple[str, int]) -> None:
        """Send packets for virtual address ``ip`` to ``udp_addr``."""
        info = socket.getaddrinfo(udp_addr[0], udp_addr[1], self.family, socket.SOCK_DGRAM)
        if not info:
            raise OSError(f"cannot resolve {udp_addr!r}")
        host, port = info[0][4][:2]
        self._routes[normalize_ip(ip)] = (str(host), int(port))

    def routes(self) -> dict[str, tuple[str, int]]:
        return dict(self._routes)

    def route(self, ip: str) -> tuple[str, int] | None:
        r = self._routes.get(ip)
        if r is None and self.default_port is not None:
            return (ip, self.default_port)
        return r

    def recv_batch(self, limit: int) -> list[bytes]:
        out: list[bytes] = []
        c = self._counters
        # Python has no recvmmsg: drain the socket in a loop, bounded so a flood cannot keep
        # the stack from its timers; what is left is read on the next wake-up.
        for _ in range(limit):
            try:
                data, addr = self._sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                break
            except OSError:
                # An ICMP error for an earlier datagram: not ours to act on (TCP will retry).
                c["recv_errors"] += 1
                continue
            c["datagrams_received"] += 1
            if self.learn:
                self._learn(data, (addr[0], addr[1]))
            out.append(data)
        return out

    def _learn(self, packet: bytes, addr: tuple[str, int]) -> None:
        ends = ip_endpoints(packet)
        if ends is None:
            return
        src = ends[0]
        old = self._routes.get(src)
        if old == addr:
            return
        if old is None:
            if self._learned >= self.max_learned:
                return
            self._learned += 1
        self._routes[src] = addr
        self._counters["routes_learned"] += 1

    def send_batch(self, packets: list[bytes]) -> None:
        def routed() -> Iterator[tuple[bytes, tuple[str, int]]]:
            for p in packets:
                ends = ip_endpoints(p)
                dst = self.route(ends[1]) if ends else None
                if dst is None:
                    self._counters["unroutable"] += 1
                else:
                    yield p, dst

        send_counted(routed(), lambda pd: self._sock.sendto(*pd), self._counters,
                     "datagrams_sent")

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def close(self) -> None:
        self._sock.close()

    def __repr__(self) -> str:
        return f"<UdpTransport {self.address} {len(self._routes)} routes>"

"""A TCP stack running on a background thread: an :class:`~ferrotcp._core.Endpoint` driven in
real (monotonic) time over a transport, with optional fault injection and pcap capture.

The thread sleeps until a packet arrives, a timer is due or a delayed packet must go out; each
wake-up makes one call into the core with every packet that arrived and one call for every
packet to send. Sockets (:mod:`ferrotcp.sockets`) act on the endpoint under the stack's lock
and wait on its condition, which the thread signals after every wake-up.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ferrotcp import _core
from ferrotcp.pcap import SNAPLEN, PcapWriter
from ferrotcp.sockets import Socket
from ferrotcp.transports.base import Transport
from ferrotcp.transports.faults import FaultInjector, FaultProfile
from ferrotcp.transports.udp import UdpTransport, normalize_ip

T = TypeVar("T")

#: Datagrams read per wake-up before the stack looks at its timers again.
BATCH = 512
#: Longest sleep, so a lost wake-up costs at most this much.
IDLE_WAKE_S = 0.5
FIRST_PORT, LAST_PORT = 49152, 65535
#: States in which a closing stack has nothing left to deliver.
_FINISHED = ("CLOSED", "TIME-WAIT", "FIN-WAIT-2")

Faults = FaultProfile | Mapping[str, Any] | None


def _profile(f: Faults) -> FaultProfile | None:
    if f is None or isinstance(f, FaultProfile):
        return f
    return FaultProfile(**f)


def _injector(f: FaultProfile | None, stream: str) -> FaultInjector | None:
    return None if f is None or f.harmless else FaultInjector(f, stream)


class Stack:
    """One host's TCP: virtual IP ``address`` on ``transport``.

    ``faults`` (a :class:`FaultProfile` or a dict of its fields) applies to both directions;
    ``faults_in`` / ``faults_out`` override one. ``pcap`` (a path or binary file) receives
    every packet the stack sends (before outbound faults) and receives (after inbound ones),
    each cut to ``pcap_snaplen`` bytes (as ``tcpdump -s``: 128 keeps every header).
    ``backlog`` bounds each listening socket's connections not yet accepted; beyond it a SYN
    is answered with a SYN cookie (RFC 4987 3.6: no state kept until the handshake's ACK
    returns it; such a connection gets the peer's MSS rounded down to a common value, and
    window scaling and SACK only when both sides use timestamps, whose echo carries them)
    unless ``syn_cookies`` is False, when it is dropped.
    Other keywords are connection settings, as for ``Network.add_host`` (``mss``,
    ``min_rto_us``, ``send_buffer``, ``recv_buffer``, ``window_scale``, ``sack_permitted``,
    ``timestamps``, ``keepalive``, ``keepalive_idle_us``, ``congestion_control``, ...);
    sockets set keep-alives per connection with ``SO_KEEPALIVE`` and
    ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT``, the congestion control algorithm
    with ``TCP_CONGESTION``.
    """

    def __init__(
        self,
        transport: Transport,
        address: str,
        *,
        faults: Faults = None,
        faults_in: Faults = None,
        faults_out: Faults = None,
        pcap: str | Path | BinaryIO | None = None,
        pcap_snaplen: int = SNAPLEN,
        backlog: int = 128,
        syn_cookies: bool = True,
        isn_key: bytes | None = None,
        **config: Any,
    ) -> None:
        self.address = normalize_ip(address)
        self.family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        self.transport = transport
        self._ep = _core.Endpoint(isn_key, backlog, syn_cookies=syn_cookies, **config)
        both = _profile(faults)
        self._in = _injector(_profile(faults_in) or both, "in")
        self._out = _injector(_profile(faults_out) or both, "out")
        self._pcap = PcapWriter(pcap, snaplen=pcap_snaplen) if pcap is not None else None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sleep_until = 0
        self._ports: set[int] = set()
        self._next_port = FIRST_PORT
        self._orphans: set[int] = set()
        self._batches = 0
        self._failure: BaseException | None = None
        self._stopping = False
        self._closed = False
        self._wall_offset_ns = time.time_ns() - time.monotonic_ns()
        self._listeners: list[Callable[[], None]] = []
        self._thread = threading.Thread(
            target=self._run, name=f"ferrotcp-{self.address}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Stack {self.address} over {self.transport!r}>"

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def socket(self) -> Socket:
        """A new TCP socket on this stack."""
        return Socket(self)

    # ----- for sockets: act on the endpoint, wait for it -----

    def call(self, action: Callable[[_core.Endpoint, int], T]) -> T:
        """``action(endpoint, now)`` under the lock; whatever it made sendable goes out."""
        with self._lock:
            self._check_running()
            now = _now_us()
            try:
                return action(self._ep, now)
            finally:
                self._after_call_locked(now)

    def wait(self, attempt: Callable[[_core.Endpoint, int], T | None], timeout: float | None) -> T:
        """Repeat ``attempt(endpoint, now)`` after each wake-up of the stack until it returns
        something other than None. ``timeout`` in seconds: 0 tries once and raises
        ``BlockingIOError``, None waits for ever, otherwise ``TimeoutError`` at the deadline."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_running()
                now = _now_us()
                try:
                    result = attempt(self._ep, now)
                finally:
                    self._after_call_locked(now)
                if result is not None:
                    return result
                if deadline is None:
                    self._cond.wait(IDLE_WAKE_S)
                    continue
                left = deadline - time.monotonic()
                if timeout == 0:
                    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
                if left <= 0:
                    raise TimeoutError(errno.ETIMEDOUT, "timed out")
                self._cond.wait(min(left, IDLE_WAKE_S))

    def bind_port(self, port: int) -> int:
        """Reserve a local port for a socket (0: a free one); EADDRINUSE if taken."""
        if not 0 <= port <= 65535:
            raise OverflowError("bind(): port must be 0-65535.")
        with self._lock:
            if port == 0:
                for _ in range(LAST_PORT - FIRST_PORT + 1):
                    p = self._next_port
                    self._next_port = FIRST_PORT if p >= LAST_PORT else p + 1
                    if p not in self._ports:
                        port = p
                        break
                else:
                    raise OSError(errno.EADDRINUSE, "no free local port")
            elif port in self._ports:
                raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
            self._ports.add(port)
            return port

    def unbind_port(self, port: int) -> None:
        with self._lock:
            self._ports.discard(port)

    def orphan(self, conn: int) -> None:
        """The socket is done with ``conn``: release it once TCP has finished with it."""
        with self._lock:
            self._orphans.add(conn)
            if not self._closed:
                self._reap_locked(_now_us())

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` from the stack's thread after every wake-up (and when the thread
        ends), under the stack's lock: it must be quick and must not call into the stack.
        This is how an event loop learns that it has work (:mod:`ferrotcp.aio_bridge`)."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _notify_locked(self) -> None:
        self._cond.notify_all()
        for fn in self._listeners:
            fn()

    def _check_running(self) -> None:
        if self._failure is not None:
            raise OSError(errno.EIO, f"the stack's thread failed: {self._failure!r}")
        if self._stopping:
            raise OSError(errno.ENETDOWN, "the stack is closed")

    # ----- observability -----

    def counters(self) -> dict[str, Any]:
        """Endpoint counters (packets, RSTs, malformed by reason), the transport's, what the
        fault injectors did (``faults_in``, ``faults_out``), packets captured, and how many
        calls into the core carried the packets received (``receive_batches``)."""
        with self._lock:
            d: dict[str, Any] = dict(self._ep.endpoint_counters())
            d["transport"] = self.transport.counters()
            d["faults_in"] = self._in.counters.as_dict() if self._in is not None else {}
            d["faults_out"] = self._out.counters.as_dict() if self._out is not None else {}
            d["pcap_packets"] = self._pcap.packets if self._pcap else 0
            d["receive_batches"] = self._batches
            return d

    def connections(self) -> dict[int, str]:
        """Every connection the endpoint holds, by id, with its state."""
        with self._lock:
            return {c: self._ep.state(c) for c in self._ep.connection_ids()}

    # ----- the thread -----

    def _run(self) -> None:
        try:
            net, wake = self.transport.fileno(), self._wake_r.fileno()
            while True:
                with self._lock:
                    if self._stopping:
                        return
                    sleep = self._sleep_seconds_locked(_now_us())
                ready, _, _ = select.select([net, wake], [], [], sleep)
                if wake in ready:
                    _drain(self._wake_r)
                batch = self.transport.recv_batch(BATCH) if net in ready else []
                with self._lock:
                    if self._stopping:
                        return
                    self._step_locked(batch)
        except BaseException as e:  # reported to every caller rather than lost with the thread
            with self._lock:
                self._failure = e
        finally:
            with self._lock:
                self._notify_locked()

    def _step_locked(self, batch: list[bytes]) -> None:
        now = _now_us()
        if self._in is not None:
            self._in.push(now, batch)
            batch = self._in.pop_due(now)
        if batch:
            if self._pcap is not None:
                ts = self._wall_offset_ns + now * 1000
                for p in batch:
                    self._pcap.write(ts, p)
            self._ep.receive(now, batch)
            self._batches += 1
        t = self._ep.next_timeout()
        if t is not None and t <= now:
            self._ep.handle_timeout(now)
        # Nothing here waits on events (waiters re-check state), but they must not pile up.
        self._ep.events()
        self._flush_locked(now)
        self._reap_locked(now)
        self._notify_locked()

    def _flush_locked(self, now: int) -> None:
        out = self._ep.datagrams_to_send(now)
        if self._pcap is not None and out:
            ts = self._wall_offset_ns + now * 1000
            for p in out:
                self._pcap.write(ts, p)
        if self._out is not None:
            self._out.push(now, out)
            out = self._out.pop_due(now)
        if out:
            self.transport.send_batch(out)

    def _reap_locked(self, now: int) -> None:
        for c in [c for c in self._orphans if self._ep.state(c) == "CLOSED"]:
            self._ep.release(now, c)
            self._orphans.discard(c)

    def _next_deadline_locked(self) -> int | None:
        times = [self._ep.next_timeout()]
        times += [i.next_time() for i in (self._in, self._out) if i is not None]
        return min((t for t in times if t is not None), default=None)

    def _sleep_seconds_locked(self, now: int) -> float:
        t = self._next_deadline_locked()
        sleep = IDLE_WAKE_S if t is None else min(max(t - now, 0) / 1e6, IDLE_WAKE_S)
        self._sleep_until = now + int(sleep * 1e6)
        return sleep

    def _after_call_locked(self, now: int) -> None:
        """A user call may have queued segments (send them now, from this thread) and armed
        a timer earlier than the thread's planned wake-up (wake it to replan)."""
        if self._stopping:
            return
        self._flush_locked(now)
        t = self._next_deadline_locked()
        if t is not None and t < self._sleep_until:
            self._kick()

    def _kick(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is pending already (or the stack is going away)

    # ----- shutting down -----

    def close(self, linger: float = 2.0) -> None:
        """Close every connection as a process exit would (FIN, or RST if unread data is
        left), give them up to ``linger`` seconds to deliver what they sent, reset what
        remains, stop."""
        with self._cond:
            if self._closed or self._stopping:
                return
            if self._failure is None:
                self._close_all_locked(linger)
            self._stopping = True
            self._closed = True
        self._kick()
        self._thread.join(timeout=10)
        self.transport.close()
        if self._pcap is not None:
            self._pcap.close()
        self._wake_r.close()
        self._wake_w.close()

    def _close_all_locked(self, linger: float) -> None:
        now = _now_us()
        ep = self._ep
        for c in ep.connection_ids():
            state = ep.state(c)
            if state in ("SYN-SENT", "SYN-RECEIVED") or ep.recv_available(c) > 0:
                ep.abort(now, c)
            elif state in ("ESTABLISHED", "CLOSE-WAIT"):
                ep.close(now, c)
        self._after_call_locked(now)
        deadline = time.monotonic() + linger
        while self._failure is None:
            left = deadline - time.monotonic()
            # FIN-WAIT-2: everything we sent is acknowledged. The RST that ends it below
            # tells a peer still sending that nobody is left to read (Linux answers such
            # data on an orphaned socket with a RST too) instead of leaving it to time out.
            done = all(ep.state(c) in _FINISHED for c in ep.connection_ids())
            if done or left <= 0:
                break
            self._cond.wait(min(left, IDLE_WAKE_S))
        now = _now_us()
        for c in ep.connection_ids():
            ep.abort(now, c)
        self._flush_locked(now)


class UdpStack(Stack):
    """A :class:`Stack` whose packets travel as UDP datagrams (see :class:`UdpTransport`).

    ``bind`` is the UDP address; ``address`` the stack's TCP/IP address (default: the UDP
    one); ``routes`` maps peers' addresses to their UDP addresses; ``default_port`` sends to
    ``(dst_ip, default_port)`` for addresses with no route. Other keywords are
    :class:`Stack`'s (``faults``, ``pcap``, ``backlog``, ``syn_cookies``, ``mss``, ...);
    ``mss`` defaults to :func:`udp_mss` (1432 over IPv4), so that a full segment and its
    UDP wrapping fit a 1500-byte path unfragmented.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        bind: tuple[str, int] = ("127.0.0.1", 0),
        routes: Mapping[str, tuple[str, int]] | None = None,
        default_port: int | None = None,
        **kwargs: Any,
    ) -> None:
        transport = UdpTransport(bind, routes=routes, default_port=default_port)
        kwargs.setdefault("mss", udp_mss(transport.address[0]))
        try:
            super().__init__(transport, address or transport.address[0], **kwargs)
        except BaseException:
            transport.close()
            raise
        self.udp = transport

    @property
    def udp_address(self) -> tuple[str, int]:
        """Where other stacks send this one's packets."""
        return self.udp.address

    def add_route(self, ip: str, udp_addr: tuple[str, int]) -> None:
        with self._lock:
            self.udp.add_route(ip, udp_addr)


#: The path MTU UDP stacks plan for: Ethernet's, the common case between hosts.
UDP_PATH_MTU = 1500


def udp_mss(udp_host: str) -> int:
    """The MSS that keeps one segment in one unfragmented datagram over a 1500-byte path:
    the outer IP header (IPv4 20, IPv6 40 bytes) and UDP's 8 come off, then the inner IPv4
    and TCP headers (20 + 20; an IPv6 connection takes 20 more off itself, RFC 9293 3.7.1).
    1432 over IPv4, 1412 over IPv6. Loopback would carry more, but a stack that is told to
    talk to another host should not fragment every full segment (RFC 8900)."""
    outer = 40 if ":" in udp_host else 20
    return UDP_PATH_MTU - outer - 8 - 20 - 20


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, OSError):
        pass

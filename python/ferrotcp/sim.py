"""The simulated network: hosts, links with seeded faults, and connections between them.

Everything runs in virtual time (microseconds) inside the Rust core; the ``wait_*`` methods
advance the simulation until a condition holds, without calling back into Python per packet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from ferrotcp import _core
from ferrotcp.pcap import PcapWriter

#: Default budget of virtual time for a ``wait_*`` call: 10 minutes.
DEFAULT_TIMEOUT_US = 600_000_000


class Network:
    """A deterministic simulated network. The same seed always gives the same run."""

    def __init__(self, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self._sim = _core.Simulator(seed)
        self.hosts: list[Host] = []
        self._captures: dict[int, PcapWriter] = {}

    @property
    def seed(self) -> int:
        return self._sim.seed

    @property
    def now_us(self) -> int:
        """Virtual time in microseconds."""
        return self._sim.now

    def add_host(
        self,
        name: str,
        addr: str,
        *,
        backlog: int = 128,
        syn_cookies: bool = True,
        **config: Any,
    ) -> Host:
        """Add a host with IP address ``addr``. ``backlog`` bounds each listener's
        connections not yet accepted; beyond it SYNs are answered with SYN cookies, or
        dropped when ``syn_cookies`` is False. Other keywords set connection options
        (``mss``, ``recv_buffer``, ...). ``window_scale`` (default 0) offers window
        scaling (RFC 7323) with the smallest shift that fits ``recv_buffer`` into 16 bits,
        or this shift if larger (at most 14); ``None`` offers none. ``sack_permitted``
        (default True) offers SACK (RFC 2018). ``timestamps`` (default True) offers the
        Timestamps option (RFC 7323: RTT samples from every acknowledgement and PAWS; each
        segment carries 12 bytes of option, and 12 bytes less payload). Each is used only if
        the peer's SYN offers it too. ``congestion_control`` is ``"cubic"`` (RFC 9438, the
        default) or ``"newreno"`` (RFC 5681); another name raises ``ValueError``.
        ``keepalive=True`` turns TCP keep-alives on (RFC 9293 3.8.4; off by default), with
        ``keepalive_idle_us`` (default 2 h), ``keepalive_interval_us`` (75 s) and
        ``keepalive_count`` (9): a connection idle that long probes its peer, and fails with
        ``TimeoutError`` when that many probes in a row go unanswered."""
        host_id = self._sim.add_host(name, addr, backlog, syn_cookies, **config)
        host = Host(self, host_id, name, addr)
        self.hosts.append(host)
        return host

    def link(self, a: Host, b: Host, *, both_ways: bool = True, **config: Any) -> None:
        """Join ``a`` to ``b``. Keywords: ``delay_us``, ``jitter_us``, ``rate_bps``,
        ``queue_limit``, ``loss``, ``reorder``, ``reorder_depth``, ``reorder_timeout_us``,
        ``duplicate``, ``corrupt`` (probabilities in 0..1)."""
        self._sim.add_link(a.id, b.id, **config)
        if both_ways:
            self._sim.add_link(b.id, a.id, **config)

    def link_counters(self, a: Host, b: Host) -> dict[str, int]:
        """What the link from ``a`` to ``b`` did: sent, lost, reordered, duplicated, ..."""
        return self._sim.link_counters(a.id, b.id)

    def step(self) -> bool:
        """Process the next instant at which something happens; False when idle."""
        try:
            return self._sim.step()
        finally:
            self.flush_captures()

    def run_for(self, duration_us: int) -> None:
        self._sim.run_until(self._sim.now + duration_us)
        self.flush_captures()

    def run_until_idle(self, timeout_us: int = DEFAULT_TIMEOUT_US) -> bool:
        """Run until nothing is left to happen (all timers idle); False if time ran out."""
        try:
            return self._sim.run_until_idle(self._sim.now + timeout_us)
        finally:
            self.flush_captures()

    def flush_captures(self) -> None:
        """Write what capturing hosts sent and received so far to their pcap files (every
        call that runs the network does it on return). Virtual time is the timestamp: the
        run starts at the Unix epoch."""
        for host_id, writer in self._captures.items():
            packets, _ = self._sim.take_captured(host_id)
            for t_us, packet in packets:
                writer.write(t_us * 1000, packet)
            writer.flush()

    def counters(self) -> dict[str, int]:
        return self._sim.counters_total()


class Host:
    """One machine on the simulated network (a TCP endpoint with one address)."""

    def __init__(self, network: Network, host_id: int, name: str, addr: str) -> None:
        self.network = network
        self.id = host_id
        self.name = name
        self.addr = addr

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.addr}>"

    def listen(self, port: int) -> None:
        self.network._sim.listen(self.id, port)

    def capture(self, target: str | Path | BinaryIO) -> PcapWriter:
        """Write every IP packet this host sends and receives from now on to a pcap file
        (``LINKTYPE_RAW``: the real IPv4/IPv6 packets, checksums included; a packet a link
        loses is still in its sender's capture), until :meth:`stop_capture`."""
        if self.id in self.network._captures:
            raise ValueError(f"{self!r} is capturing already")
        writer = PcapWriter(target)
        self.network._sim.set_capture(self.id, True)
        self.network._captures[self.id] = writer
        return writer

    def stop_capture(self) -> int:
        """Write what is left, close the file; how many packets a full capture turned away
        (0 unless the network ran very long between two calls that write)."""
        writer = self.network._captures.get(self.id)
        if writer is None:
            return 0
        self.network.flush_captures()
        _, dropped = self.network._sim.take_captured(self.id)
        self.network._sim.set_capture(self.id, False)
        del self.network._captures[self.id]
        writer.close()
        return dropped

    def connect(self, addr: tuple[str, int]) -> SimConnection:
        """Start an active open to ``addr``; the handshake runs as the network runs."""
        return SimConnection(self, self.network._sim.connect(self.id, addr))

    def accept(self, port: int, timeout_us: int = DEFAULT_TIMEOUT_US) -> SimConnection:
        """Run the network until a connection on ``port`` completes its handshake."""
        sim = self.network._sim
        cid = sim.run_until_accept(self.id, port, sim.now + timeout_us)
        self.network.flush_captures()
        if cid is None:
            raise TimeoutError(f"no connection accepted on port {port} within {timeout_us} us")
        return SimConnection(self, cid)

    def counters(self) -> dict[str, Any]:
        """Endpoint counters, including malformed packets dropped by reason."""
        return self.network._sim.host_counters(self.id)


class SimConnection:
    """A connection on a simulated host, with socket-like calls and virtual-time waits."""

    def __init__(self, host: Host, conn_id: int) -> None:
        self.host = host
        self.id = conn_id
        self._sim = host.network._sim

    def __repr__(self) -> str:
        return f"<SimConnection {self.host.name}#{self.id} {self.state}>"

    @property
    def state(self) -> str:
        """The RFC 9293 state name, e.g. ``"ESTABLISHED"``."""
        return self._sim.state(self.host.id, self.id)

    @property
    def local(self) -> tuple[str, int]:
        return self._sim.local(self.host.id, self.id)

    @property
    def remote(self) -> tuple[str, int] | None:
        return self._sim.remote(self.host.id, self.id)

    @property
    def received_len(self) -> int:
        """Bytes received and not yet taken by :meth:`recv`."""
        return self._sim.received_len(self.host.id, self.id)

    def send(self, data: bytes) -> None:
        """Queue ``data``; it enters TCP as the send buffer drains. ``BrokenPipeError`` after
        close or after the connection failed."""
        self._sim.send(self.host.id, self.id, data)

    def recv(self, max_bytes: int = -1) -> bytes:
        """Take up to ``max_bytes`` received bytes (all when negative); never blocks."""
        return self._sim.recv(self.host.id, self.id, max_bytes)

    def close(self) -> None:
        """Send FIN once everything queued has been handed to TCP (receiving continues)."""
        self._sim.close(self.host.id, self.id)

    def abort(self) -> None:
        """Reset the connection at once."""
        self._sim.abort(self.host.id, self.id)

    def set_keepalive(
        self,
        enabled: bool,
        idle_us: int | None = None,
        interval_us: int | None = None,
        count: int | None = None,
    ) -> None:
        """Turn TCP keep-alives (RFC 9293 3.8.4) on or off for this connection. After
        ``idle_us`` without a segment from the peer while nothing of ours is outstanding, a
        probe goes out, then one every ``interval_us``; after ``count`` unanswered probes the
        connection fails with ``TimeoutError``. Parameters not given keep their values
        (the host's, else 2 h, 75 s and 9)."""
        self._sim.set_keepalive(self.host.id, self.id, enabled, idle_us, interval_us, count)

    @property
    def keepalive(self) -> tuple[int, int, int] | None:
        """``(idle_us, interval_us, count)`` while keep-alives are on, else None."""
        return self._sim.keepalive(self.host.id, self.id)

    def _raise_failure(self) -> None:
        err = self._sim.error(self.host.id, self.id)
        if err is not None:
            raise err

    def wait_established(self, timeout_us: int = DEFAULT_TIMEOUT_US) -> None:
        """Run until the handshake completes. Raises ``ConnectionRefusedError`` on RST,
        ``TimeoutError`` when SYN retransmissions are exhausted or time runs out."""
        self._wait_state("ESTABLISHED", timeout_us, accept_later=True)

    def wait_closed(self, timeout_us: int = DEFAULT_TIMEOUT_US) -> None:
        """Run until the connection reaches CLOSED (through TIME-WAIT if it closed first)."""
        self._wait_state("CLOSED", timeout_us, accept_later=False)

    def _wait_state(self, state: str, timeout_us: int, *, accept_later: bool) -> None:
        sim = self._sim
        deadline = sim.now + timeout_us
        reached = sim.run_until_state(self.host.id, self.id, state, deadline)
        self.host.network.flush_captures()
        self._raise_failure()
        if reached:
            return
        if accept_later and self.state not in ("CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED"):
            return
        raise TimeoutError(f"{self!r} did not reach {state} within {timeout_us} us")

    def wait_received(self, nbytes: int, timeout_us: int = DEFAULT_TIMEOUT_US) -> None:
        """Run until at least ``nbytes`` are waiting in :meth:`recv`."""
        sim = self._sim
        received = sim.run_until_received(self.host.id, self.id, nbytes, sim.now + timeout_us)
        self.host.network.flush_captures()
        if not received:
            self._raise_failure()
            raise TimeoutError(
                f"{self!r} received {self.received_len} of {nbytes} bytes within {timeout_us} us"
            )

    def tcb(self) -> dict[str, int]:
        """RFC 9293 TCB variables: ``iss``, ``irs``, ``snd_una``, ``snd_nxt``, ``rcv_nxt``..."""
        return self._sim.tcb(self.host.id, self.id)

    def counters(self) -> dict[str, Any]:
        """Segments, retransmissions by cause, out-of-order holds, dup ACKs, cwnd, ssthresh,
        in_recovery, RTT, and the ``congestion_control`` algorithm's name ("cubic"...)."""
        return self._sim.counters(self.host.id, self.id)

    def log(self) -> list[dict[str, Any]]:
        """The event log: state changes with their rule, segments sent with a reason,
        segments received with their fate."""
        return self._sim.log(self.host.id, self.id)

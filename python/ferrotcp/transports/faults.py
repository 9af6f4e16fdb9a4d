"""Seeded fault injection for real transports, in userspace: loss, reordering, duplication,
delay, rate limiting and corruption of whole IP packets.

The parameters and their meaning are the simulator's link settings (``Network.link``), so one
fault profile describes both a simulated link and a real one. Here time is real: packets
wait in a queue until their release time and the stack's thread wakes up for them.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FaultProfile:
    """What a direction of traffic suffers. Probabilities are in 0..1; times in microseconds.

    ``reorder`` holds a packet back until 1..``reorder_depth`` later packets have overtaken
    it (or ``reorder_timeout_us`` passed); ``corrupt`` flips one bit, which a checksum must
    catch; ``rate_bps`` (0: unlimited) serialises packets through a drop-tail queue of
    ``queue_limit`` packets. The same ``seed`` gives the same decisions for the same traffic.
    """

    delay_us: int = 0
    jitter_us: int = 0
    rate_bps: int = 0
    queue_limit: int = 1000
    loss: float = 0.0
    reorder: float = 0.0
    reorder_depth: int = 3
    reorder_timeout_us: int = 20_000
    duplicate: float = 0.0
    corrupt: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, not {p!r}")
        counts = ("delay_us", "jitter_us", "rate_bps", "queue_limit", "reorder_depth")
        for name in (*counts, "reorder_timeout_us"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.rate_bps > 0 and self.queue_limit == 0:
            raise ValueError("a rate-limited link needs a queue of at least one packet")

    @property
    def harmless(self) -> bool:
        """True when packets pass untouched and at once."""
        no_time = self.delay_us == self.jitter_us == self.rate_bps == 0
        return no_time and self.loss == self.reorder == self.duplicate == self.corrupt == 0.0


@dataclass
class FaultCounters:
    """What the injector did, named like the simulator's link counters."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    queue_dropped: int = 0
    reordered: int = 0
    duplicated: int = 0
    corrupted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Held:
    id: int
    packet: bytes
    remaining: int
    release_at: int


@dataclass
class FaultInjector:
    """One direction of traffic through a :class:`FaultProfile`.

    Call :meth:`push` with packets as they are handed over and :meth:`pop_due` whenever time
    has passed; :meth:`next_time` says when the next held or delayed packet is due. ``stream``
    names the direction, so the two directions of one profile draw independent decisions.
    """

    profile: FaultProfile
    stream: str = ""
    counters: FaultCounters = field(default_factory=FaultCounters)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"ferrotcp-faults/{self.profile.seed}/{self.stream}")
        self._queue: list[tuple[int, int, bytes]] = []
        self._order = 0
        self._busy_until = 0
        self._departures: deque[int] = deque()
        self._held: list[_Held] = []
        self._next_held = 0

    def __len__(self) -> int:
        """Packets waiting (delayed or held back)."""
        return len(self._queue) + len(self._held)

    def push(self, now: int, packets: list[bytes]) -> None:
        for p in packets:
            self._transmit(now, p)

    def pop_due(self, now: int) -> list[bytes]:
        """Every packet whose time has come, in arrival order."""
        for h in [h for h in self._held if h.release_at <= now]:
            # Nothing overtook it in time: it arrives late rather than never.
            self._held.remove(h)
            self._schedule(h.release_at, h.packet)
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def next_time(self) -> int | None:
        times = [h.release_at for h in self._held]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times, default=None)

    def _schedule(self, time: int, packet: bytes) -> None:
        self.counters.delivered += 1
        self._order += 1
        heapq.heappush(self._queue, (time, self._order, packet))

    def _transmit(self, now: int, packet: bytes) -> None:
        prof, rng = self.profile, self._rng
        self.counters.sent += 1
        if prof.loss and rng.random() < prof.loss:
            self.counters.lost += 1
            return
        depart = now
        if prof.rate_bps > 0:
            while self._departures and self._departures[0] <= now:
                self._departures.popleft()
            if len(self._departures) >= prof.queue_limit:
                self.counters.queue_dropped += 1
                return
            serialization = -(-len(packet) * 8 * 1_000_000 // prof.rate_bps)
            depart = max(now, self._busy_until) + serialization
            self._busy_until = depart
            self._departures.append(depart)
        jitter = rng.randint(0, prof.jitter_us) if prof.jitter_us else 0
        arrival = depart + prof.delay_us + jitter
        copies = [packet]
        if prof.duplicate and rng.random() < prof.duplicate:
            self.counters.duplicated += 1
            copies.append(packet)
        for p in copies:
            if p and prof.corrupt and rng.random() < prof.corrupt:
                p = _flip_bit(p, rng.randrange(len(p) * 8))
                self.counters.corrupted += 1
            # One packet held at a time, so no packet is ever more than reorder_depth late.
            if (
                prof.reorder_depth
                and prof.reorder
                and not self._held
                and rng.random() < prof.reorder
            ):
                self.counters.reordered += 1
                self._next_held += 1
                depth = rng.randint(1, prof.reorder_depth)
                release = arrival + prof.reorder_timeout_us
                self._held.append(_Held(self._next_held, p, depth, release))
                continue
            self._deliver(arrival, p)

    def _deliver(self, time: int, packet: bytes) -> None:
        """Schedule ``packet``, then any held packet it was the last to overtake."""
        self._schedule(time, packet)
        for h in list(self._held):
            h.remaining -= 1
            if h.remaining == 0:
                self._held.remove(h)
                self._schedule(time, h.packet)


def _flip_bit(packet: bytes, bit: int) -> bytes:
    b = bytearray(packet)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)

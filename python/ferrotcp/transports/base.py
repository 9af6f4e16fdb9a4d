"""What a stack needs from a transport: a file descriptor to wait on and whole IP packets in
and out, in batches (one Python call per wake-up, not per packet)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Protocol, TypeVar

T = TypeVar("T")


class Transport(Protocol):
    """Moves IP packets between a stack and the world."""

    def fileno(self) -> int:
        """A descriptor that becomes readable when packets may be waiting."""
        ...

    def recv_batch(self, limit: int) -> list[bytes]:
        """Up to ``limit`` packets that have arrived, without blocking."""
        ...

    def send_batch(self, packets: list[bytes]) -> None:
        """Send every packet, without blocking; ones that cannot go are counted and dropped
        (TCP retransmits them, as it would after a full interface queue)."""
        ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def send_counted(items: Iterable[T], send: Callable[[T], object],
                 counters: MutableMapping[str, int], sent: str) -> None:
    """``send`` each item without blocking, counting it under ``sent``; one the kernel has
    no room for is dropped like on a busy interface (``send_dropped``: TCP retransmits it),
    any other error is counted too (``send_errors``): the stack's thread must go on."""
    for item in items:
        try:
            send(item)
        except BlockingIOError:
            counters["send_dropped"] += 1
        except OSError:
            counters["send_errors"] += 1
        else:
            counters[sent] += 1

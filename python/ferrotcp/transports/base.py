"""What a stack needs from a transport: a file descriptor to wait on and whole IP packets in
and out, in batches (one Python call per wake-up, not per packet)."""

from __future__ import annotations

from typing import Protocol


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

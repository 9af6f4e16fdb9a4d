"""What a check finds, in one shape for every checker, the CLI and the tests.

A :class:`Finding` is one property or one obligation (``determinism of ESTABLISHED/ack``,
``handshake agreement``); its ``status`` says how it ended. A counterexample or a witness
carries a :class:`Trace`: the events of the two peers and the channel, in order, printable
as a message sequence chart (``ferrotcp.chart``-style: Client | Server columns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Statuses, from best to worst.
PROVEN = "proven"  # for every execution / every input
BOUNDED = "bounded"  # no counterexample up to `depth` events
WITNESSED = "witnessed"  # a trace exists (reachability, non-vacuity, rule witnesses)
PASSED = "passed"  # tests ran and agreed (conformance)
COUNTEREXAMPLE = "counterexample"
FAILED = "failed"  # could not be decided (timeout, unknown) or an error
OK_STATUSES = frozenset({PROVEN, BOUNDED, WITNESSED, PASSED})


@dataclass
class Segment:
    flags: str  # "SYN,ACK" style, in the order SYN, ACK, FIN, RST
    seq: int
    ack: int
    len: int = 0
    wnd: int | None = None

    def label(self) -> str:
        parts = [self.flags or "<none>", f"seq={self.seq}"]
        if "ACK" in self.flags.split(","):
            parts.append(f"ack={self.ack}")
        if self.len:
            parts.append(f"len={self.len}")
        return " ".join(parts)


@dataclass
class TraceEvent:
    """One step of a trace. ``kind``: "send" (a peer emits ``segment`` into the channel),
    "deliver" (the channel hands ``segment`` to ``actor``), "drop", "duplicate", "call" (a
    user call at ``actor``, named in ``text``), "timeout", or "note"."""

    actor: str  # "client", "server" or "channel"
    kind: str
    text: str = ""
    segment: Segment | None = None
    rules: list[str] = field(default_factory=list)  # the rules the receiving side applied
    state: str = ""  # the actor's state after the step


@dataclass
class Trace:
    events: list[TraceEvent] = field(default_factory=list)
    actors: tuple[str, str] = ("client", "server")


@dataclass
class Finding:
    check: str  # "wellformed", "reachability", "lemmas", "bmc", "induction", "witness", ...
    name: str
    status: str
    detail: str = ""
    depth: int | None = None
    trace: Trace | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

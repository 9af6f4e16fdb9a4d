"""A trace (a counterexample, a witness, a conformance failure) as a message sequence chart.

Client on the left, server on the right, one line per step: segments leaving a peer as
arrows with their flags and numbers, deliveries with the rules the receiver applied and its
new state, losses drawn with ``x``, user calls and timers as notes. The drawing primitives
are those of ``ferrotcp.chart``, which draws the demo's handshake.
"""

from __future__ import annotations

from ferrotcp.chart import arrow, header, note

from .report import Trace, TraceEvent


def _side(e: TraceEvent, trace: Trace, *, towards: bool) -> str:
    """``"L"`` for an arrow pointing right: sent by the left actor or delivered to the right."""
    left = e.actor == trace.actors[0]
    return "R" if left == towards else "L"


def line(e: TraceEvent, trace: Trace) -> str:
    label = e.segment.label() if e.segment is not None else ""
    after = f"{', '.join(e.rules)}" + (f" -> {e.state}" if e.state else "")
    if e.kind == "send" and e.segment is not None:
        return f"{arrow(_side(e, trace, towards=False), label)}  {e.actor} sends"
    if e.kind == "deliver" and e.segment is not None:
        where = "<" if e.actor == trace.actors[0] else ">"
        return f"{arrow(_side(e, trace, towards=True), label, '.')}  {where} {e.text}: {after}"
    if e.kind == "drop" and e.segment is not None:
        return f"{arrow('L' if 'to ' + trace.actors[1] in e.text else 'R', label, 'x')}  lost"
    return f"{note(f'{e.actor}: {e.text}')}  {after}".rstrip()


def render(trace: Trace) -> str:
    """The whole trace, with a header naming the two columns."""
    left, right = trace.actors
    lines = [header(left.capitalize(), right.capitalize())]
    lines += [line(e, trace) for e in trace.events]
    return "\n".join(lines)

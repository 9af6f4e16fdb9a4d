"""A trace (a counterexample, a witness, a conformance failure) as a message sequence chart.

The two actors of :class:`~models.report.Trace` are the columns (client on the left, server
on the right); every :class:`~models.report.TraceEvent` is one line, with what the receiving
side did beside it::

    Client                                Server
    |-------------- SYN seq=100 -------------->|  client sent
    |.............. SYN seq=100 ..............>|  server: listen.recv_syn -> SYN_RECEIVED
    |<-------- SYN-ACK seq=300 ack=101 --------|  server sent
    |<xxxxxxxx SYN-ACK seq=300 ack=101 xxxxxxxx|  lost
    |             client: timeout              |  timer.retransmit -> SYN_SENT
    end: client SYN_SENT, server SYN_RECEIVED

How each kind is drawn:

- ``send``: ``---`` arrow from ``actor`` towards the other actor (the segment enters the
  channel), with the output rule that sent it when the trace names one (witnesses do);
- ``deliver``: ``...`` arrow into ``actor`` (the channel hands it over), then the rules it
  applied and its state after; ``text`` other than ``"deliver"`` (e.g. ``"inject"``, a
  segment from nowhere) is shown next to the actor's name;
- ``drop``: ``xxx`` arrow (the channel lost the segment); ``duplicate``: ``===`` arrow (the
  channel copied it: a copy stays in flight);
- ``call``, ``timeout``, ``note``: a note between the columns (``actor: text``), then the
  rules and the state after.

Channel events (``drop``, ``duplicate``) name their destination: ``text`` ``"to server"``
(as :mod:`models.harness` writes it), or, failing that, ``actor`` is the destination peer.

The drawing primitives (column header, arrows, notes, flag labels and segment text) are
those of :mod:`ferrotcp.chart`, which draws the demo's handshake.
"""

from __future__ import annotations

from ferrotcp.chart import arrow, describe, header, note

from .report import Segment, Trace, TraceEvent

LEGEND = "--> sent   ..> delivered   xx> lost   ==> duplicated"


def segment_text(seg: Segment) -> str:
    """``SYN-ACK seq=7 ack=101 len=3``, in the words of :func:`ferrotcp.chart.describe`
    (which takes ``SYN|ACK``-style flags; a trace's segments say ``SYN,ACK``)."""
    return describe(
        {"flags": seg.flags.replace(",", "|"), "seq": seg.seq, "ack": seg.ack, "len": seg.len}
    )


def _destination(e: TraceEvent, trace: Trace) -> str:
    """The actor a segment goes to (see the module docstring for channel events)."""
    left, right = trace.actors
    if e.kind == "send":
        return right if e.actor == left else left
    if e.kind in ("drop", "duplicate"):
        for a in trace.actors:
            if f"to {a}" in e.text:
                return a
    return e.actor


def _outcome(e: TraceEvent) -> str:
    """``rule, rule -> STATE``: what the actor did and where it ended up."""
    rules = ", ".join(e.rules)
    if e.state:
        return f"{rules} -> {e.state}" if rules else f"-> {e.state}"
    return rules


def _draw(e: TraceEvent, trace: Trace) -> tuple[str, str]:
    """(the picture between the columns, the words beside it) for one event."""
    if e.segment is not None and e.kind in ("send", "deliver", "drop", "duplicate"):
        # An arrow pointing right ("L" in ferrotcp.chart) goes to the right-hand actor.
        side = "L" if _destination(e, trace) == trace.actors[1] else "R"
        label = segment_text(e.segment)
        outcome = _outcome(e)
        if e.kind == "send":
            return arrow(side, label), f"{e.actor} sent" + (f": {outcome}" if outcome else "")
        if e.kind == "drop":
            return arrow(side, label, "x"), "lost"
        if e.kind == "duplicate":
            return arrow(side, label, "="), "duplicated"
        who = e.actor if e.text in ("", "deliver") else f"{e.actor} ({e.text})"
        return arrow(side, label, "."), f"{who}: {outcome}" if outcome else f"{who} received"
    text = e.text or e.kind
    if e.actor in trace.actors:
        text = f"{e.actor}: {text}"
    return note(text), _outcome(e)


def _title(actor: str) -> str:
    """A column's name: ``Client``, ``Server``; ``TCP`` for a witness's short names."""
    return actor.upper() if len(actor) <= 3 else actor.capitalize()


def render(trace: Trace, *, legend: bool = False) -> str:
    """The whole trace, with a header naming the two columns and, at the end, the last
    state of each actor that changed state. ``legend`` adds a line explaining the arrows."""
    drawn = [_draw(e, trace) for e in trace.events]
    lines = [header(*(_title(a) for a in trace.actors))]
    # The words beside the pictures start in one column; a label too long for
    # ferrotcp.chart's fixed width (32-bit numbers and a length) widens its own line only.
    width = len(lines[0])
    lines += [f"{p:<{width}}  {words}".rstrip() for p, words in drawn]
    last = {e.actor: e.state for e in trace.events if e.state and e.actor in trace.actors}
    if last:
        lines.append("end: " + ", ".join(f"{a} {last[a]}" for a in trace.actors if a in last))
    if legend:
        lines.append(LEGEND)
    return "\n".join(lines)

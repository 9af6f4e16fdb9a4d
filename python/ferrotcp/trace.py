"""A connection's event log as text, one line per event: state changes with the rule that made
them, segments sent with the reason, segments received with what became of them."""

from __future__ import annotations

from typing import Any

from ferrotcp.chart import describe


def format_entry(entry: dict[str, Any], origin_us: int = 0) -> str:
    """``   12.345ms  sent  ACK seq=1 ack=2 win=65535  (ack)``."""
    t = (entry["time"] - origin_us) / 1000
    kind = entry["kind"]
    if kind == "state":
        body = f"state {entry['from']} -> {entry['to']}  [{entry['rule']}]"
    elif kind == "sent":
        body = f"sent  {describe(entry)} win={entry['window']}  ({entry['reason']})"
    elif kind == "received":
        body = (f"recv  {describe(entry)} win={entry['window']}  "
                f"{entry['disposition']} [{entry['rule']}]")
    else:
        body = f"timer [{entry['rule']}]"
    return f"{t:>12.3f}ms  {body}"


def format_trace(log: list[dict[str, Any]], origin_us: int | None = None) -> str:
    """The whole log, times in milliseconds since ``origin_us`` (default: the first entry)."""
    if not log:
        return ""
    origin = log[0]["time"] if origin_us is None else origin_us
    return "\n".join(format_entry(e, origin) for e in log)

"""Message sequence charts: segments between two peers drawn as arrows in text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WIDTH = 44


def flag_label(flags: str) -> str:
    """``SYN|ACK`` -> ``SYN-ACK``; a bare ``ACK`` stays, ``FIN|ACK`` -> ``FIN-ACK``."""
    parts = [f for f in flags.split("|") if f not in ("PSH", "none")]
    if "ACK" in parts and len(parts) > 1:
        parts.remove("ACK")
        return "-".join(parts) + "-ACK"
    return "-".join(parts) or "none"


def describe(seg: dict[str, Any], *, relative_to: tuple[str, int, str, int] | None = None) -> str:
    """``SYN seq=X``, ``ACK seq=X+1 ack=Y+1 len=1460``: the numbers as they are, or as
    offsets from named ISNs when ``relative_to=(seq_name, seq_isn, ack_name, ack_isn)``."""
    label = flag_label(seg["flags"])
    seq, ack = seg["seq"], seg["ack"]
    seq_base = relative_to[:2] if relative_to else None
    ack_base = relative_to[2:] if relative_to else None
    text = f"{label} seq={_num(seq, seq_base)}"
    if "ACK" in seg["flags"].split("|"):
        text += f" ack={_num(ack, ack_base)}"
    if seg["len"]:
        text += f" len={seg['len']}"
    return text


def _num(n: int, base: tuple[str, int] | None) -> str:
    if base is None:
        return str(n)
    name, isn = base
    d = (n - isn) % 2**32
    return name if d == 0 else f"{name}+{d}" if d < 2**31 else str(n)


def render(
    left: str,
    right: str,
    events: Iterable[tuple[int, str, str, str]],
) -> str:
    """Draw ``(time_us, side, text, note)`` events, side ``"L"`` (left to right) or ``"R"``."""
    lines = [f"{'time':>10}  {header(left, right)}"]
    for t, side, text, note in events:
        suffix = f"  {note}" if note else ""
        lines.append(f"{t / 1000:>8.1f}ms  {arrow(side, text)}{suffix}")
    return "\n".join(lines)


def header(left: str, right: str) -> str:
    """The two column names above the arrows."""
    return f"{left:<{WIDTH // 2}}{right:>{WIDTH // 2}}"


def arrow(side: str, text: str, fill: str = "-") -> str:
    """One arrow between the columns, labelled ``text``: side ``"L"`` points right, ``"R"``
    left; ``fill="x"`` draws a segment the network lost."""
    body = f" {text} "
    if side == "L":
        return "|" + body.center(WIDTH - 3, fill) + ">|"
    return "|<" + body.center(WIDTH - 3, fill) + "|"


def note(text: str) -> str:
    """A line between the columns that is not a segment (a user call, a timer)."""
    return "|" + f" {text} ".center(WIDTH - 2) + "|"


def sent_segments(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["kind"] == "sent"]

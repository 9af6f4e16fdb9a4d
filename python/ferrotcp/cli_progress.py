"""Progress of a long transfer on stderr: bytes so far, percent when the size is known, rate.

On a terminal one line is rewritten in place; otherwise (a log, a pipe) a line is printed
every few seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """Counts bytes for ``label``; ``total`` (if known) gives the percentage; ``enabled``
    turns the progress lines on (the summary of :meth:`finish` is always printed)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.interval = 0.25 if self.tty else 2.0
        self.start = time.monotonic()
        self._last = self.start

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._show(now, final=False)

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed / 1e6
        size = human(self.done)
        if self.total:
            size += f" / {human(self.total)} ({100 * self.done / self.total:.0f}%)"
        return f"{self.label}: {size}, {rate:.2f} MB/s, {elapsed:.1f} s"

    def _show(self, now: float, final: bool) -> None:
        line = self._line(now)
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, extra: str = "") -> str:
        """Print and return the summary line: totals, rate, ``extra`` (printed even when
        progress lines are disabled)."""
        now = time.monotonic()
        line = self._line(now) + (f", {extra}" if extra else "")
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(line + "\n")
        self.stream.flush()
        return line

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

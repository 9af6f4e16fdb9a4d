"""Run ``ferrotcp server`` and ``ferrotcp client`` as two processes talking UDP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Timers for loopback, where a round trip takes well under a millisecond.
FAST = ["--min-rto-ms", "5"]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    udp_port: int
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ferrotcp.cli", *args]


@contextlib.contextmanager
def server(tmp: Path, *args: str, timeout: float) -> Iterator[Server]:
    """A server on a free UDP port; waits for its ready line; killed if still running."""
    err = tmp / "server.stderr"
    with err.open("w") as err_file:
        proc = subprocess.Popen(
            cli("server", "--udp", "127.0.0.1:0", *args),
            stdout=subprocess.PIPE, stderr=err_file, text=True,
        )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # "listening on 10.0.0.1:80 udp 127.0.0.1:PORT"
        if not ready.startswith("listening on "):
            proc.kill()
            raise AssertionError(f"server did not start: {ready!r} {err.read_text()}")
        port = int(ready.rsplit(":", 1)[1])
        yield Server(proc, port, err)
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def client(srv: Server, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("client", "--peer", f"127.0.0.1:{srv.udp_port}", "--connect", "10.0.0.1:80",
            *args),
        capture_output=True, text=True, timeout=timeout,
    )

"""Running a TUN scenario (``tun_scenario.py``) inside a network namespace of its own.

Every scenario gets a fresh namespace (``ferrotcp-test-<pid>-<n>``), so the TUN device, its
addresses and the kernel sockets never touch the host's network; the namespace is deleted
afterwards, even when the scenario fails or hangs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).with_name("tun_scenario.py")
_counter = itertools.count()


def missing() -> str | None:
    """What this machine lacks to run TUN scenarios, or None if nothing."""
    if not sys.platform.startswith("linux"):
        return f"TUN interop needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "TUN interop needs root (network namespaces and TUN devices); running as uid " \
               f"{os.geteuid()}"
    if not os.path.exists("/dev/net/tun"):
        return "TUN interop needs /dev/net/tun, which does not exist here"
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return "TUN interop needs read-write access to /dev/net/tun"
    if shutil.which("ip") is None:
        return "TUN interop needs the `ip` command (iproute2)"
    return None


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A new network namespace's name, deleted on exit."""
    name = f"ferrotcp-test-{os.getpid()}-{next(_counter)}"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        raise RuntimeError(f"ip netns add {name} failed: {made.stderr.strip()}")
    try:
        yield name
    finally:
        gone = _ip("netns", "del", name)
        if gone.returncode != 0:
            print(f"warning: ip netns del {name}: {gone.stderr.strip()}", file=sys.stderr)


def run_scenario(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one scenario in a fresh namespace; its JSON report, with the wall time it took.

    ``timeout`` bounds the whole subprocess (the scenario has deadlines of its own, shorter,
    so it normally reports a failure itself rather than being killed)."""
    with netns() as ns:
        cmd = ["ip", "netns", "exec", ns, sys.executable, str(SCENARIO), json.dumps(spec)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"scenario {spec} did not finish in {timeout} s; "
                                 f"stderr: {e.stderr!r}") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"scenario {spec} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report

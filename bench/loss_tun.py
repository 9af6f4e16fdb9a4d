"""Bulk transfers under seeded random loss: ferrotcp against the Linux kernel's own TCP, next
to the kernel against itself through the same userspace TUN pump, measured in the same run.

Two kinds of run, alternated (A B A B ...) so that the machine's load hits both alike:

* **kernel<->kernel** (the reference): two network namespaces, each with a TUN device whose
  far end is this process; a pump thread copies every TCP packet from one device to the
  other and drops some on a seeded random stream per direction (the decisions of
  ``FaultInjector``, the code behind ferrotcp's ``faults=``). The kernel of namespace A
  (192.0.2.1) is the client, the kernel of namespace B (192.0.2.2) the server.
* **ferrotcp<->kernel**: ferrotcp (a ``Stack`` on the TUN device of namespace B, through a
  transport wrapper that applies the same two loss streams to what it sends and reads)
  takes A's place; B is the same kernel server.

Both kinds draw the identical loss decision stream (one seed per cell: the i-th TCP packet
of a direction is lost in both runs or in neither; every repeat of a cell reuses it, so an
unlucky stream, e.g. one that costs the kernel an RTO, shows in all its runs: ``--seed``
draws others). SYNs pass untouched (a lost SYN costs
both kinds the same 1 s initial RTO; ``--lossy-handshake`` to drop them too), so the
figures are about bulk recovery. Cells: loss 1% and 5%, 4 and 16 MiB, and
both directions ("ferrotcp sends": A sends to B; "ferrotcp receives": B sends to A).
Every transfer moves seeded random bytes and the receiver checks their SHA-256. Each run gets
fresh namespaces (no cached route metrics between runs). Both stacks use the same minimum
RTO (``--min-rto-ms``, default the kernel's own 200 ms: ferrotcp's ``min_rto_us``, the
kernel's ``rto_min`` route attribute) and the same congestion control (``--cc``, default
CUBIC, both stacks' documented default: ferrotcp's ``congestion_control``, the kernel's
``TCP_CONGESTION`` on every socket of both kinds of run). That matters: a machine may run
another default (this one's is BBR, which does not reduce its rate on random loss at all),
and the ratio would then compare two families of congestion control instead of two
implementations of loss recovery; ``--cc kernel-default`` measures against it anyway.

Output: per cell, the median seconds of each kind (from the client's ``connect`` call to the
receiver's end of stream), their ratio ferrotcp/kernel (1.0: as fast as the kernel; the goal
is at most 1.5), ferrotcp's recovery counters (median over the runs) and the kernel's
(``nstat``-style counters of the namespace of the kernel that sent), and what the pump or the
injectors dropped. A summary table ends the output. Needs root (namespaces, TUN devices).

    sudo python bench/loss_tun.py [--repeat N] [--loss 0.01,0.05] [--sizes 4,16] [--seed S]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferrotcp.stack import Stack
from ferrotcp.transports.faults import FaultInjector, FaultProfile
from ferrotcp.transports.tun import TunTransport

# The transfer loops the interop tests use (tests/tun_scenario.py), one copy for both.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tun_scenario import receive_all, send_all  # noqa: E402

A_IP = "192.0.2.1"  # the client: the kernel of namespace A, or ferrotcp
B_IP = "192.0.2.2"  # the server: always the kernel of namespace B
PREFIX = 24
PORT = 5001
CHUNK = 64 * 1024
#: Packets read per wake-up, as ferrotcp's Stack does (ferrotcp.stack.BATCH).
BATCH = 512
#: Seconds one blocking socket call may make no progress.
STALL_S = 60.0
TXQUEUELEN = 1000
#: Kernel counters (per namespace) that explain its recovery: /proc/net/snmp and netstat.
KERNEL_COUNTERS = ("RetransSegs", "TCPTimeouts", "TCPLossProbes", "TCPFastRetrans",
                   "TCPSackRecovery", "TCPRenoRecovery", "TCPSACKReneging")
#: ferrotcp connection counters that explain recovery.
FERROTCP_COUNTERS = ("retransmits_timeout", "retransmits_fast", "retransmits_recovery",
                     "rto_expirations", "dup_acks_received", "dup_acks_sent",
                     "out_of_order_segments", "bytes_retransmitted", "segments_sent",
                     "sack_blocks_sent", "sack_blocks_received", "dsacks_received",
                     "rack_lost_bytes", "tail_loss_probes", "spurious_undone")
#: ``--cc`` names: ferrotcp's ``congestion_control`` and the kernel's ``TCP_CONGESTION``.
CC_NAMES = {"cubic": ("cubic", "cubic"), "newreno": ("newreno", "reno")}
_names = itertools.count()


# ----- the kernel's end: runs inside a namespace as a subprocess (--kernel-end) -----


def payload(seed: int, size: int) -> bytes:
    return random.Random(f"loss_tun/{seed}").randbytes(size)


def wait_eof(sock: Any, deadline: float) -> None:
    """After sending: the receiver closes once it has read everything."""
    while sock.recv(CHUNK):
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver did not close by the deadline")


def kernel_stats() -> dict[str, int]:
    """This namespace's TCP counters (``/proc/net`` is per network namespace)."""
    out: dict[str, int] = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for head, vals in zip(lines[::2], lines[1::2], strict=False):
            names, values = head.split()[1:], vals.split()[1:]
            out.update({k: int(v) for k, v in zip(names, values, strict=False)
                        if k in KERNEL_COUNTERS})
    return out


def set_cc(sock: socket.socket, cc: str | None) -> None:
    """The kernel's congestion control for ``sock`` (and, on a listener, for the sockets
    it accepts); ``None`` leaves the namespace's default. Root may pick any loaded one."""
    if cc is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())


def kernel_end(spec: dict[str, Any]) -> dict[str, Any]:
    """One kernel socket: the server (listens on B) or the client (connects from A); sends
    or receives ``size`` bytes. Times are ``time.monotonic()`` (shared by all processes)."""
    deadline = time.monotonic() + spec["deadline"]
    before = kernel_stats()
    out: dict[str, Any] = {}
    if spec["listen"]:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        set_cc(ls, spec.get("cc"))
        ls.bind((B_IP, PORT))
        ls.listen()
        ls.settimeout(STALL_S)
        print("ready", flush=True)
        conn, _ = ls.accept()
        ls.close()
    else:
        conn = socket.socket()
        set_cc(conn, spec.get("cc"))
        conn.settimeout(STALL_S)
        out["t_start"] = time.monotonic()
        conn.connect((B_IP, PORT))
    conn.settimeout(STALL_S)
    cc = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    out["cc"] = cc.rstrip(b"\0").decode()
    if spec["send"]:
        send_all(conn, payload(spec["seed"], spec["size"]), deadline)
        wait_eof(conn, deadline)
    else:
        out["bytes"], out["sha256"] = receive_all(conn, deadline)
        out["t_end"] = time.monotonic()
    conn.close()
    after = kernel_stats()
    out["kernel"] = {k: after.get(k, 0) - before.get(k, 0) for k in KERNEL_COUNTERS}
    return out


# ----- namespaces, devices, the pump -----


def ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise OSError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


@contextlib.contextmanager
def netns(n: int) -> Iterator[list[str]]:
    """``n`` fresh network namespaces, deleted on exit."""
    names: list[str] = []
    try:
        for _ in range(n):
            name = f"ferrotcp-bench-{os.getpid()}-{next(_names)}"
            ip("netns", "add", name)
            names.append(name)
        yield names
    finally:
        for name in names:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                ip("netns", "del", name)


def tun_in(ns: str, addr: str, peer: str, rto_min_ms: int,
           accept: list[str] | None) -> TunTransport:
    """A TUN device opened here, moved into ``ns`` and given ``addr``; its far end stays
    this process's descriptor. The host route to ``peer`` carries ``rto_min``."""
    t = TunTransport(f"flb{os.getpid() % 100_000}x{next(_names)}", addresses=accept)
    try:
        ip("link", "set", "dev", t.name, "netns", ns)
        ip("-n", ns, "addr", "add", f"{addr}/{PREFIX}", "dev", t.name)
        ip("-n", ns, "link", "set", "dev", t.name, "mtu", "1500", "txqueuelen",
           str(TXQUEUELEN), "up")
        ip("-n", ns, "route", "add", peer, "dev", t.name, "rto_min", f"{rto_min_ms}ms")
    except BaseException:
        t.close()
        raise
    return t


def is_syn(packet: bytes) -> bool:
    """Whether an IPv4 TCP packet has SYN set."""
    ihl = (packet[0] & 15) * 4
    return len(packet) > ihl + 13 and bool(packet[ihl + 13] & 0x02)


class Loss:
    """One direction's seeded random loss: the decisions of ferrotcp's ``FaultInjector`` on
    stream ``stream`` (one draw per packet), SYNs exempt unless ``handshake`` (a lost SYN
    costs both kinds the same 1 s initial RTO, which says nothing about bulk recovery)."""

    def __init__(self, loss: float, seed: int, stream: str, handshake: bool) -> None:
        self.injector = FaultInjector(FaultProfile(loss=loss, seed=seed), stream)
        self.handshake = handshake

    def __call__(self, packets: list[bytes]) -> list[bytes]:
        out = []
        for p in packets:
            if self.handshake or not is_syn(p):
                self.injector.push(0, [p])  # loss only: a survivor is due at once
                out.extend(self.injector.pop_due(0))
            else:
                out.append(p)
        return out

    @property
    def lost(self) -> int:
        return self.injector.counters.lost


class LossyTransport:
    """A TUN device seen through two :class:`Loss` streams: what the stack sends goes
    through ``out``, what it reads through ``in`` (the stack at A: A to B is ``out``)."""

    def __init__(self, tun: TunTransport, loss_in: Loss, loss_out: Loss) -> None:
        self.tun, self.loss_in, self.loss_out = tun, loss_in, loss_out

    def fileno(self) -> int:
        return self.tun.fileno()

    def recv_batch(self, limit: int) -> list[bytes]:
        return self.loss_in(self.tun.recv_batch(limit))

    def send_batch(self, packets: list[bytes]) -> None:
        self.tun.send_batch(self.loss_out(packets))

    def counters(self) -> dict[str, int]:
        return self.tun.counters()

    def close(self) -> None:
        self.tun.close()


class Pump(threading.Thread):
    """Copies TCP packets between two TUN devices, A to B through ``a2b`` and B to A through
    ``b2a``, as a ferrotcp Stack on B's device through a :class:`LossyTransport` would see
    them (same streams, same batches). Stops when told, or at ``deadline``."""

    def __init__(self, a: TunTransport, b: TunTransport, a2b: Loss, b2a: Loss,
                 deadline: float) -> None:
        super().__init__(name="pump", daemon=True)
        self.a, self.b, self.deadline = a, b, deadline
        self.a2b, self.b2a = a2b, b2a
        self._stop_r, self._stop_w = os.pipe()

    def run(self) -> None:
        fa, fb, stop = self.a.fileno(), self.b.fileno(), self._stop_r
        while time.monotonic() < self.deadline:
            ready, _, _ = select.select([fa, fb, stop], [], [], 0.5)
            if stop in ready:
                return
            if fa in ready and (out := self.a2b(self.a.recv_batch(BATCH))):
                self.b.send_batch(out)
            if fb in ready and (out := self.b2a(self.b.recv_batch(BATCH))):
                self.a.send_batch(out)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self.join(10)
        os.close(self._stop_r)
        os.close(self._stop_w)


def spawn_kernel_end(ns: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    cmd = ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
           "--kernel-end", json.dumps(spec)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(proc: subprocess.Popen[str], timeout: float) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"kernel server did not start: {line!r} {err[-2000:]}")


def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise TimeoutError(f"kernel end still running after {timeout:.0f} s") from None
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"kernel end failed ({proc.returncode}): {err.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ----- one run of each kind -----


def kernel_cc(args: argparse.Namespace) -> str | None:
    return CC_NAMES[args.cc][1] if args.cc in CC_NAMES else None


def ferrotcp_cc(args: argparse.Namespace) -> dict[str, str]:
    return {"congestion_control": CC_NAMES[args.cc][0]} if args.cc in CC_NAMES else {}


def loss_pair(cell: dict[str, Any], args: argparse.Namespace) -> tuple[Loss, Loss]:
    """Fresh loss streams A to B and B to A for one run: every run of a cell, of either
    kind, draws the same decisions."""
    return (Loss(cell["loss"], cell["seed"], "out", args.lossy_handshake),
            Loss(cell["loss"], cell["seed"], "in", args.lossy_handshake))


def run_kernel(cell: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    a_sends = cell["a_sends"]
    base = {"size": cell["size"], "seed": cell["seed"], "deadline": args.deadline,
            "cc": kernel_cc(args)}
    with netns(2) as (ns_a, ns_b):
        tun_a = tun_in(ns_a, A_IP, B_IP, args.min_rto_ms, None)
        tun_b = tun_in(ns_b, B_IP, A_IP, args.min_rto_ms, None)
        a2b, b2a = loss_pair(cell, args)
        pump = Pump(tun_a, tun_b, a2b, b2a, time.monotonic() + args.deadline + 30)
        pump.start()
        try:
            server = spawn_kernel_end(ns_b, {**base, "listen": True, "send": not a_sends})
            wait_ready(server, 30)
            client = spawn_kernel_end(ns_a, {**base, "listen": False, "send": a_sends})
            c = finish(client, args.deadline + 30)
            s = finish(server, 30)
        finally:
            pump.stop()
            tun_a.close()
            tun_b.close()
    receiver, sender = (s, c) if a_sends else (c, s)
    return {"seconds": receiver["t_end"] - c["t_start"], "sha256": receiver["sha256"],
            "bytes": receiver["bytes"], "kernel": sender["kernel"], "kcc": sender["cc"],
            "lost": (a2b.lost, b2a.lost),
            "tun": (tun_a.counters(), tun_b.counters())}


def run_ferrotcp(cell: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    a_sends = cell["a_sends"]
    base = {"size": cell["size"], "seed": cell["seed"], "deadline": args.deadline,
            "cc": kernel_cc(args)}
    deadline = time.monotonic() + args.deadline
    a2b, b2a = loss_pair(cell, args)
    with netns(1) as (ns_b,):
        tun_b = tun_in(ns_b, B_IP, A_IP, args.min_rto_ms, [A_IP])
        stack = Stack(LossyTransport(tun_b, b2a, a2b), A_IP,
                      min_rto_us=args.min_rto_ms * 1000, **ferrotcp_cc(args))
        try:
            server = spawn_kernel_end(ns_b, {**base, "listen": True, "send": not a_sends})
            wait_ready(server, 30)
            sock = stack.socket()
            sock.settimeout(STALL_S)
            t0 = time.monotonic()
            sock.connect((B_IP, PORT))
            out: dict[str, Any] = {}
            if a_sends:
                send_all(sock, payload(cell["seed"], cell["size"]), deadline)
                wait_eof(sock, deadline)
            else:
                out["bytes"], out["sha256"] = receive_all(sock, deadline)
                out["seconds"] = time.monotonic() - t0
            counters = sock.counters()
            tcb = sock.tcb()
            sock.close()
            s = finish(server, 30)
            stack_counters = stack.counters()
        finally:
            stack.close(linger=1.0)
    if a_sends:
        out.update(seconds=s["t_end"] - t0, sha256=s["sha256"], bytes=s["bytes"])
    else:
        out["kernel"] = s["kernel"]
    out["kcc"] = s["cc"]
    out["counters"] = counters
    out["negotiated"] = {k: tcb[k] for k in ("sack_ok", "ts_ok", "wscale_ok", "snd_mss")}
    out["lost"] = (a2b.lost, b2a.lost)
    out["tun"] = stack_counters["transport"]
    return out


# ----- the report -----


def fmt_counts(d: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in d.items())


def median_counts(runs: list[dict[str, int]]) -> dict[str, float]:
    if not runs:
        return {}
    return {k: statistics.median(r.get(k, 0) for r in runs) for k in runs[0]}


def check_environment() -> None:
    if not sys.platform.startswith("linux"):
        sys.exit("loss_tun.py needs Linux (TUN devices, network namespaces)")
    if os.geteuid() != 0:
        sys.exit("loss_tun.py must run as root: it creates network namespaces and TUN devices "
                 f"(running as uid {os.geteuid()}); try: sudo python bench/loss_tun.py")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        sys.exit("loss_tun.py needs read-write access to /dev/net/tun")
    if shutil.which("ip") is None:
        sys.exit("loss_tun.py needs the `ip` command (iproute2)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="runs of each kind per cell")
    p.add_argument("--loss", default="0.01,0.05", help="loss probabilities, comma-separated")
    p.add_argument("--sizes", default="4,16", help="transfer sizes in MiB, comma-separated")
    p.add_argument("--directions", default="send,recv",
                   help="send (ferrotcp sends), recv (ferrotcp receives), or both")
    p.add_argument("--seed", type=int, default=1, help="base seed (each cell derives its own)")
    p.add_argument("--min-rto-ms", type=int, default=200,
                   help="minimum RTO of both stacks (default: Linux's 200 ms)")
    p.add_argument("--deadline", type=float, default=300.0,
                   help="seconds one transfer may take before it counts as failed")
    p.add_argument("--lossy-handshake", action="store_true",
                   help="let the loss streams drop SYNs too (default: SYNs always pass)")
    p.add_argument("--cc", default="cubic", choices=[*CC_NAMES, "kernel-default"],
                   help="congestion control of both stacks (default cubic; kernel-default: "
                        "the kernel's as configured, ferrotcp's own default)")
    p.add_argument("--kernel-end", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.kernel_end:
        print(json.dumps(kernel_end(json.loads(args.kernel_end))))
        return
    check_environment()
    losses = [float(x) for x in args.loss.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]
    directions = args.directions.split(",")
    print(f"seed {args.seed}, repeat {args.repeat}, min RTO {args.min_rto_ms} ms (both stacks), "
          f"MTU 1500, SYNs {'lossy' if args.lossy_handshake else 'exempt from loss'}, "
          f"kernel {os.uname().release}, congestion control {args.cc}", flush=True)
    summary = []
    for i, (loss, mib, direction) in enumerate(itertools.product(losses, sizes, directions)):
        seed = args.seed * 1000 + i
        size = mib << 20
        cell = {"size": size, "seed": seed, "a_sends": direction == "send", "loss": loss}
        want = hashlib.sha256(payload(seed, size)).hexdigest()
        name = (f"loss {loss:.0%} size {mib} MiB ferrotcp "
                f"{'sends' if direction == 'send' else 'receives'}")
        print(f"\n{name} (cell seed {seed})", flush=True)
        times: dict[str, list[float]] = {"kernel": [], "ferrotcp": []}
        fcounts: list[dict[str, int]] = []
        kcounts: dict[str, list[dict[str, int]]] = {"kernel": [], "ferrotcp": []}
        notes: list[str] = []
        for r in range(args.repeat):
            for kind, fn in (("kernel", run_kernel), ("ferrotcp", run_ferrotcp)):
                try:
                    res = fn(cell, args)
                except Exception as e:  # one failed run is reported, the rest go on
                    print(f"  run {r + 1} {kind}: FAILED {type(e).__name__}: {e}", flush=True)
                    notes.append(f"{kind} run {r + 1} failed")
                    continue
                ok = res["bytes"] == size and res["sha256"] == want
                tag = "sha256 ok" if ok else f"MISMATCH ({res['bytes']} bytes)"
                extra = ""
                if kind == "ferrotcp":
                    c = res["counters"]
                    fcounts.append({k: c.get(k, 0) for k in FERROTCP_COUNTERS})
                    extra = (f" rto_exp={c['rto_expirations']} "
                             f"retx t/f/r={c['retransmits_timeout']}/{c['retransmits_fast']}/"
                             f"{c['retransmits_recovery']} negotiated {res['negotiated']}")
                if "kernel" in res:
                    kcounts[kind].append(res["kernel"])
                print(f"  run {r + 1} {kind + '<->kernel':18} {res['seconds']:8.3f} s  {tag}  "
                      f"lost a->b/b->a {res['lost'][0]}/{res['lost'][1]} kernel cc "
                      f"{res['kcc']}{extra}", flush=True)
                if ok:
                    times[kind].append(res["seconds"])
                else:
                    notes.append(f"{kind} run {r + 1}: bytes differ")
        k_med = statistics.median(times["kernel"]) if times["kernel"] else float("nan")
        f_med = statistics.median(times["ferrotcp"]) if times["ferrotcp"] else float("nan")
        ratio = f_med / k_med
        print(f"  median kernel<->kernel {k_med:.3f} s, ferrotcp<->kernel {f_med:.3f} s, "
              f"ratio ferrotcp/kernel {ratio:.2f}")
        print(f"  ferrotcp counters (median): {fmt_counts(median_counts(fcounts))}")
        sack = [k for k in (fcounts[0] if fcounts else {}) if "sack" in k]
        if not sack:
            print("  ferrotcp SACK block counters: none exist in this build")
        for kind in ("kernel", "ferrotcp"):
            if kcounts[kind]:
                peer = "kernel sender, kernel<->kernel" if kind == "kernel" \
                    else "kernel sender, peer of ferrotcp"
                print(f"  {peer} (median): {fmt_counts(median_counts(kcounts[kind]))}")
        summary.append((name, k_med, f_med, ratio, notes))
    print("\nsummary (median seconds; goal: ratio <= 1.5 in every cell)")
    print(f"  {'cell':42} {'kernel s':>9} {'ferrotcp s':>11} {'ratio':>7}")
    for name, k_med, f_med, ratio, notes in summary:
        note = f"  ({'; '.join(notes)})" if notes else ""
        print(f"  {name:42} {k_med:9.3f} {f_med:11.3f} {ratio:7.2f}{note}")


if __name__ == "__main__":
    main()

"""One TUN interop scenario, run inside a fresh network namespace (see ``tun_netns.py``):
``python tun_scenario.py '{"kind": "transfer", ...}'``.

The process hosts both peers: a ferrotcp :class:`TunStack` answering for 192.0.2.2 and
2001:db8::2 on a TUN device, and the Linux kernel's own TCP (standard ``socket`` objects)
on 192.0.2.1 and 2001:db8::1 at the device's other end. The report is one JSON object on
the last line of stdout. Every blocking call has a timeout and every loop a deadline, so a
stuck transfer is reported, not waited for.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ferrotcp.sockets import Socket
from ferrotcp.transports.netconf import run_ip
from ferrotcp.tunstack import TunStack
from tun_http import fetch_over_asyncio_http, fetch_over_http

PORT = 8080
CLOSED_PORT = 9
KERNEL = {4: "192.0.2.1", 6: "2001:db8::1"}
OURS = {4: "192.0.2.2", 6: "2001:db8::2"}
FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
#: Fast timers for ferrotcp (a TUN round trip is well under a millisecond).
FAST: dict[str, Any] = {"min_rto_us": 20_000, "initial_rto_us": 200_000}
#: Seconds one blocking call may make no progress before the scenario gives up.
STALL_S = 30.0
CHUNK = 64 * 1024


class Stream(Protocol):
    """What a kernel socket and a ferrotcp socket have in common here."""

    def send(self, data: bytes, /) -> int: ...
    def recv(self, n: int, /) -> bytes: ...
    def shutdown(self, how: int, /) -> None: ...


def make_stack(spec: dict[str, Any]) -> TunStack:
    stack = TunStack(configure=True, faults=spec.get("faults"), pcap=spec.get("pcap"),
                     pcap_snaplen=spec.get("pcap_snaplen", 65_535), **FAST)
    rto_min = spec.get("kernel_rto_min_ms")
    if rto_min is not None:
        # The kernel's side of fast test timers (ferrotcp's are FAST): Linux's minimum RTO
        # is 200 ms unless the route says otherwise; a host route to each ferrotcp address
        # carries the setting.
        for v, ip in OURS.items():
            run_ip(["ip", f"-{v}", "route", "add", ip, "dev", stack.device,
                    "rto_min", f"{rto_min}ms"])
    return stack


def connect_pair(
    stack: TunStack, v: int, kernel_client: bool
) -> tuple[socket.socket, Socket, list[Any]]:
    """A connected kernel socket and ferrotcp socket; the third item holds listeners to
    close afterwards."""
    fam = FAMILY[v]
    k: socket.socket
    if kernel_client:
        ls = stack.socket(fam)
        ls.settimeout(STALL_S)
        ls.bind(("", PORT))
        ls.listen()
        k = socket.socket(fam)
        k.settimeout(STALL_S)
        k.connect((OURS[v], PORT))
        f, _ = ls.accept()
        return k, f, [ls]
    kl = socket.socket(fam)
    kl.settimeout(STALL_S)
    kl.bind((KERNEL[v], PORT))
    kl.listen()
    f = stack.socket(fam)
    f.settimeout(STALL_S)
    f.connect((KERNEL[v], PORT))
    k, _ = kl.accept()
    return k, f, [kl]


def send_all(sock: Stream, data: bytes, deadline: float) -> None:
    """Send in chunks (each ``send`` bounded by the socket's timeout), then FIN."""
    view = memoryview(data)
    while view:
        if time.monotonic() > deadline:
            raise TimeoutError(f"sending: {len(view)} of {len(data)} bytes left at the deadline")
        view = view[sock.send(bytes(view[:CHUNK])):]
    sock.shutdown(socket.SHUT_WR)


def receive_all(sock: Stream, deadline: float) -> tuple[int, str]:
    """Read to end of stream; the byte count and SHA-256."""
    h, n = hashlib.sha256(), 0
    while chunk := sock.recv(CHUNK):
        h.update(chunk)
        n += len(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError(f"receiving: only {n} bytes by the deadline")
    return n, h.hexdigest()


def in_thread(fn: Callable[[], Any], results: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = fn()
        except BaseException as e:  # reported in the JSON, with its type
            results[name + "_error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def transfer(spec: dict[str, Any]) -> dict[str, Any]:
    """``size`` bytes each way at once on one connection, each side closing its sending
    half when done; both sides hash what they read."""
    v, size, seed = spec["ip"], spec["size"], spec["seed"]
    rng = random.Random(seed)
    from_kernel, from_ours = rng.randbytes(size), rng.randbytes(size)
    stack = make_stack(spec)
    out: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        k, f, listeners = connect_pair(stack, v, spec["client"] == "kernel")
        deadline = t0 + spec["deadline"]
        threads = [
            in_thread(lambda: send_all(k, from_kernel, deadline), out, "kernel_send"),
            in_thread(lambda: send_all(f, from_ours, deadline), out, "ferrotcp_send"),
            in_thread(lambda: receive_all(k, deadline), out, "kernel_recv"),
            in_thread(lambda: receive_all(f, deadline), out, "ferrotcp_recv"),
        ]
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0) + STALL_S)
        out["stuck"] = [t.name for t in threads if t.is_alive()]
        out["elapsed_s"] = round(time.monotonic() - t0, 3)
        out["sent_by_kernel"] = hashlib.sha256(from_kernel).hexdigest()
        out["sent_by_ferrotcp"] = hashlib.sha256(from_ours).hexdigest()
        kept = ("retransmits", "segments", "bytes", "dup", "out_of_order", "rto_expirations",
                "paws", "ts_missing", "sack", "dsack")
        out["connection"] = {k_: v_ for k_, v_ in f.counters().items() if k_.startswith(kept)}
        tcb = f.tcb()
        out["negotiated"] = {k_: tcb[k_] for k_ in ("ts_ok", "wscale_ok", "sack_ok", "snd_mss")}
        out["stack"] = {k_: v_ for k_, v_ in stack.counters().items()
                        if k_ in ("faults_in", "faults_out", "transport", "malformed")}
        k.close()
        f.close()
        for ls in listeners:
            ls.close()
    finally:
        stack.close(linger=1.0)
    return out


def refused(spec: dict[str, Any]) -> dict[str, Any]:
    """Connections to closed ports, both ways: the kernel to ferrotcp, ferrotcp to the
    kernel."""
    v = spec["ip"]
    out: dict[str, Any] = {}
    with make_stack(spec) as stack:
        k = socket.socket(FAMILY[v])
        k.settimeout(STALL_S)
        f = stack.socket(FAMILY[v])
        f.settimeout(STALL_S)
        for name, sock, addr in (("kernel_to_ferrotcp", k, OURS[v]),
                                 ("ferrotcp_to_kernel", f, KERNEL[v])):
            try:
                sock.connect((addr, CLOSED_PORT))
                out[name] = "connected"
            except OSError as e:
                out[name] = [type(e).__name__, e.errno]
        k.close()
        f.close()
        out["resets_sent"] = stack.counters()["resets_sent"]
    return out


def reset(spec: dict[str, Any]) -> dict[str, Any]:
    """The kernel reads (or sends) part of a transfer, then closes with ``SO_LINGER`` 0,
    which sends a RST: what does the ferrotcp side's blocked ``send`` (or ``recv``) see?"""
    v, kernel_client = spec["ip"], spec["client"] == "kernel"
    out: dict[str, Any] = {}
    with make_stack(spec) as stack:
        k, f, listeners = connect_pair(stack, v, kernel_client)
        deadline = time.monotonic() + spec["deadline"]
        payload = random.Random(spec["seed"]).randbytes(spec["size"])
        if kernel_client:
            # ferrotcp sends; the kernel reads a little, then resets.
            t = in_thread(lambda: send_all(f, payload, deadline), out, "ferrotcp_send")
            got = 0
            while got < spec["size"] // 16:
                got += len(k.recv(CHUNK))
        else:
            # The kernel sends; ferrotcp reads, blocked in recv when the RST comes.
            t = in_thread(lambda: receive_all(f, deadline), out, "ferrotcp_recv")
            # Whether ferrotcp has read all of it or not when the RST comes, recv must
            # fail: a reset discards what was not read (RFC 9293 3.10.7.4).
            k.sendall(payload[: spec["size"] // 16])
        k.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        k.close()
        t.join(STALL_S)
        out["stuck"] = t.is_alive()
        out["state_after"] = f.state
        try:
            out["send_after"] = f.send(b"x")
        except OSError as e:
            out["send_after"] = type(e).__name__
        out["rsts_received"] = f.counters()["resets_received"]
        f.close()
        for ls in listeners:
            ls.close()
    return out


def http(spec: dict[str, Any]) -> dict[str, Any]:
    with make_stack(spec) as stack:
        return fetch_over_http(stack, FAMILY[spec["ip"]], OURS[spec["ip"]], PORT,
                               spec["size"], spec["seed"], STALL_S)


def asyncio_http(spec: dict[str, Any]) -> dict[str, Any]:
    """As ``http``, with the server on asyncio streams (``ferrotcp.start_server``)."""
    with make_stack(spec) as stack:
        return fetch_over_asyncio_http(stack, OURS[spec["ip"]], PORT, spec["size"],
                                       spec["seed"], STALL_S)


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "transfer": transfer, "refused": refused, "reset": reset, "http": http,
    "asyncio_http": asyncio_http,
}

if __name__ == "__main__":
    scenario = json.loads(sys.argv[1])
    print(json.dumps(SCENARIOS[scenario["kind"]](scenario)))

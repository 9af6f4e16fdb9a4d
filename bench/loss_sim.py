"""Loss recovery and bottleneck utilization of ferrotcp in the simulator, in virtual time.

Virtual time is deterministic (the same seed gives the same run) and no load on the machine
disturbs it, so these figures are absolute; the reference is a model, not another stack:

1. **Random loss** (1% and 0.1% of the data packets, none on the ACK path; 10 ms RTT, 5 ms
   each way, no rate limit): goodput as a ratio to the Mathis et al. bound for a
   Reno-style sender, ``MSS/RTT * C/sqrt(p)`` with ``C = sqrt(3/2)``. A ratio near 1 means
   loss recovery costs what congestion control must cost; well below 1, recovery itself
   (timeouts, one retransmission per round trip) is what limits the transfer. CUBIC may
   exceed 1. One row per congestion-control setting the build accepts
   (``congestion_control="newreno"`` / ``"cubic"``, probed; the default only if neither is
   accepted) and per ``sack_permitted`` on/off.
2. **Bottleneck utilization**: a 100 Mbit/s link (``rate_bps=100_000_000``) with a
   1000-packet drop-tail queue, 10 ms RTT, no random loss: goodput / 100 Mbit/s. The
   ceiling is below 1 by the headers (payload per 1500-byte packet; printed). Rows with the
   default buffers (a 64 KiB receive window unless the build's defaults changed) and with
   larger ones (``--buffers``, window scaling follows from ``recv_buffer``).

Goodput is payload bytes over the virtual time from the ``connect`` call to the delivery of
the last byte at the receiver. Each row also shows the sender's recovery counters (RTO
expirations, retransmissions by cause: timeout/fast/NewReno partial ACK) and what the link
dropped, and the wall time the simulation took.

    python bench/loss_sim.py [--seed S] [--scale X] [--buffers B1,B2]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from ferrotcp import Network

ONE_WAY_US = 5_000
RTT_S = 2 * ONE_WAY_US / 1e6
MATHIS_C = math.sqrt(3 / 2)
PORT = 80
#: Bytes handed to the sender per ``send`` call and drained at the receiver per wait.
BLOCK = 1 << 20
RATE_BPS = 100_000_000
QUEUE_LIMIT = 1000
#: Virtual-time budget of a transfer: far beyond any sane run, so that a stall ends it.
TIMEOUT_US = 3_600_000_000


@dataclass
class Result:
    virtual_s: float
    wall_s: float
    mss: int
    timestamps: bool
    counters: dict[str, int]
    link: dict[str, int]

    def goodput_bps(self, size: int) -> float:
        return size * 8 / self.virtual_s


def accepts(setting: str, value: Any) -> bool:
    """Whether simulator hosts take ``setting=value`` (the build may not have it yet)."""
    net = Network(0)
    try:
        net.add_host("probe", "192.0.2.9", **{setting: value})
    except (TypeError, ValueError):
        return False
    return True


def transfer(seed: int, size: int, link: dict[str, Any], host: dict[str, Any]) -> Result:
    """``size`` bytes from a to b over a link configured by ``link`` (the same both ways,
    except that ``loss`` applies to the data direction only)."""
    net = Network(seed)
    a = net.add_host("a", "192.0.2.1", **host)
    b = net.add_host("b", "192.0.2.2", **host)
    forward = dict(link)
    backward = {k: v for k, v in link.items() if k != "loss"}
    net.link(a, b, both_ways=False, **forward)
    net.link(b, a, both_ways=False, **backward)
    b.listen(PORT)
    block = random.Random(seed).randbytes(BLOCK)
    sent, received = hashlib.sha256(), hashlib.sha256()
    wall = time.perf_counter()
    start = net.now_us
    client = a.connect(("192.0.2.2", PORT))
    left = size
    while left:
        n = min(left, BLOCK)
        client.send(block[:n])
        sent.update(block[:n])
        left -= n
    client.close()
    server = b.accept(PORT, timeout_us=TIMEOUT_US)
    got = 0
    while got < size:
        server.wait_received(min(size - got, 8 * BLOCK), timeout_us=TIMEOUT_US)
        data = server.recv()
        received.update(data)
        got += len(data)
    end = net.now_us
    if got != size or sent.digest() != received.digest():
        raise RuntimeError(f"received {got} bytes of {size}, SHA-256 differs")
    tcb = client.tcb()
    return Result((end - start) / 1e6, time.perf_counter() - wall, tcb["snd_mss"],
                  bool(tcb["ts_ok"]), client.counters(), net.link_counters(a, b))


def recovery(r: Result) -> str:
    c = r.counters
    return (f"{c['rto_expirations']:5d} {c['retransmits_timeout']:5d}/{c['retransmits_fast']:d}/"
            f"{c['retransmits_recovery']:d}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=None, help="simulator seed (default: random)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every transfer size (default sizes: 64 MiB at 1%%, "
                        "256 MiB at 0.1%%, 64 MiB through the bottleneck)")
    p.add_argument("--buffers", default=f"{256 << 10},{8 << 20}",
                   help="send and receive buffer sizes (bytes, comma-separated) of the "
                        "bottleneck rows besides the default; the loss rows use the largest")
    args = p.parse_args()
    seed = random.randrange(1 << 31) if args.seed is None else args.seed
    buffers = [int(x) for x in args.buffers.split(",")]
    big = {"send_buffer": max(buffers), "recv_buffer": max(buffers)}
    ccs = [cc for cc in ("newreno", "cubic") if accepts("congestion_control", cc)]
    cc_rows: list[str | None] = list(ccs) or [None]
    sack_rows = [True, False] if accepts("sack_permitted", True) else [None]
    print(f"seed {seed} (rerun with --seed {seed})")
    if not ccs:
        print("congestion_control: not accepted by this build (rows use its default)")
    wall0 = time.perf_counter()

    def host(cc: str | None, sack: bool | None, extra: dict[str, Any]) -> dict[str, Any]:
        h = dict(extra)
        if cc is not None:
            h["congestion_control"] = cc
        if sack is not None:
            h["sack_permitted"] = sack
        return h

    print(f"\nrandom loss on the data direction, RTT {RTT_S * 1e3:.0f} ms, buffers "
          f"{max(buffers) >> 10} KiB; Mathis bound = MSS/RTT * sqrt(3/2)/sqrt(p)")
    print(f"  {'loss':>5} {'cc':8} {'sack':5} {'MiB':>5} {'virt s':>8} {'Mbit/s':>8} "
          f"{'Mathis':>8} {'ratio':>6}  {'rto':>5} {'retx t/f/r':12} {'lost':>6} {'wall s':>6}")
    for loss, mib in ((0.01, 64), (0.001, 256)):
        size = max(int(mib * args.scale * (1 << 20)), BLOCK)
        for cc in cc_rows:
            for sack in sack_rows:
                r = transfer(seed, size, {"delay_us": ONE_WAY_US, "loss": loss},
                             host(cc, sack, big))
                bound = r.mss * 8 / RTT_S * MATHIS_C / math.sqrt(loss)
                gp = r.goodput_bps(size)
                print(f"  {loss:5.1%} {cc or 'default':8} {sack!s:5} {size / (1 << 20):5.0f} "
                      f"{r.virtual_s:8.2f} {gp / 1e6:8.2f} {bound / 1e6:8.2f} "
                      f"{gp / bound:6.3f}  {recovery(r):12} {r.link['lost']:6d} "
                      f"{r.wall_s:6.1f}", flush=True)

    print(f"\nbottleneck {RATE_BPS // 1_000_000} Mbit/s, queue {QUEUE_LIMIT} packets, "
          f"RTT {RTT_S * 1e3:.0f} ms, no random loss; utilization = goodput / "
          f"{RATE_BPS // 1_000_000} Mbit/s")
    print(f"  {'buffers':9} {'cc':8} {'sack':5} {'MiB':>5} {'virt s':>8} {'Mbit/s':>8} "
          f"{'util':>6} {'ceiling':>7}  {'rto':>5} {'retx t/f/r':12} {'qdrop':>6} {'wall s':>6}")
    size = max(int(64 * args.scale * (1 << 20)), BLOCK)
    link = {"delay_us": ONE_WAY_US, "rate_bps": RATE_BPS, "queue_limit": QUEUE_LIMIT}
    rows: list[tuple[str, dict[str, Any]]] = [("default", {})]
    rows += [(f"{n >> 10} KiB", {"send_buffer": n, "recv_buffer": n}) for n in buffers]
    for label, extra in rows:
        for cc in cc_rows:
            for sack in sack_rows:
                r = transfer(seed, size, link, host(cc, sack, extra))
                gp = r.goodput_bps(size)
                # Payload per packet: IPv4 20 + TCP 20 (+ 12 of timestamps) bytes of header.
                ceiling = r.mss / (r.mss + 40 + 12 * r.timestamps)
                print(f"  {label:9} {cc or 'default':8} {sack!s:5} {size / (1 << 20):5.0f} "
                      f"{r.virtual_s:8.2f} {gp / 1e6:8.2f} {gp / RATE_BPS:6.3f} "
                      f"{ceiling:7.3f}  {recovery(r):12} {r.link['queue_dropped']:6d} "
                      f"{r.wall_s:6.1f}", flush=True)
    print(f"\ntotal wall time {time.perf_counter() - wall0:.1f} s")


if __name__ == "__main__":
    main()

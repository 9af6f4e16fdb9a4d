"""Bulk goodput through the Python API over a fault-free simulated link.

Prints one line per figure. Wall-clock figures on a shared machine are noisy, so the same run
also measures Linux's own TCP over loopback driven from Python and prints the ratio.

    python bench/goodput.py [--size BYTES] [--repeat N]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

from ferrotcp import Network

CHUNK = 64 * 1024


def ferrotcp_transfer(size: int, seed: int) -> tuple[float, int]:
    """Seconds of wall time and segments sent for ``size`` bytes one way."""
    net = Network(seed)
    a, b = net.add_host("a", "192.0.2.1"), net.add_host("b", "192.0.2.2")
    net.link(a, b, delay_us=100)
    b.listen(80)
    data = bytes(size)
    start = time.perf_counter()
    client = a.connect(("192.0.2.2", 80))
    client.send(data)
    client.close()
    server = b.accept(80)
    server.wait_received(size)
    elapsed = time.perf_counter() - start
    if len(server.recv()) != size:
        raise RuntimeError("short transfer")
    return elapsed, client.counters()["segments_sent"]


def kernel_transfer(size: int) -> float:
    """Seconds to push ``size`` bytes through a loopback TCP socket pair from Python."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        received = 0

        def reader() -> None:
            nonlocal received
            conn, _ = srv.accept()
            with conn:
                while chunk := conn.recv(CHUNK):
                    received += len(chunk)

        t = threading.Thread(target=reader)
        t.start()
        payload = bytes(CHUNK)
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as c:
            sent = 0
            while sent < size:
                c.sendall(payload[: min(CHUNK, size - sent)])
                sent += min(CHUNK, size - sent)
        t.join()
        elapsed = time.perf_counter() - start
    if received != size:
        raise RuntimeError("short kernel transfer")
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=16 << 20)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    runs = [ferrotcp_transfer(args.size, seed) for seed in range(args.repeat)]
    best, segments = min(runs)
    kernel = min(kernel_transfer(args.size) for _ in range(args.repeat))
    mb = args.size / 1e6
    print(f"ferrotcp simulated goodput: {mb / best:.1f} MB/s (best of {args.repeat})")
    print(f"ferrotcp simulated segments: {segments / best:,.0f} segments/s (data direction)")
    print(f"linux loopback goodput from python: {mb / kernel:.1f} MB/s")
    print(f"ratio ferrotcp/linux-loopback: {kernel / best:.3f}")


if __name__ == "__main__":
    main()

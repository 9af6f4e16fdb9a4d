"""Goodput of ferrotcp between two processes over UDP on loopback, next to what Python moves as
raw UDP datagrams and through Linux's own TCP, measured in the same run.

The ferrotcp figures use the CLI (``ferrotcp server --send`` / ``ferrotcp client --out``),
clean and with loss on both directions; their times include the client process's start-up
(about 0.2 s), which understates the clean figure for small sizes. Raw UDP is the ceiling
for any stack whose packets cross Python one ``sendto`` at a time; Linux's loopback TCP shows
what a kernel does.

    python bench/udp_goodput.py [--size BYTES] [--loss P] [--min-rto-ms MS]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goodput import kernel_transfer

DATAGRAM = 1460 + 40  # an MSS-sized segment with its IP and TCP headers
END = b"end"


def ferrotcp_transfer(size: int, loss: float, min_rto_ms: float) -> tuple[float, str]:
    """Seconds for the client process to receive ``size`` bytes; the server's summary."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src.bin"
        src.write_bytes(os.urandom(size))
        common = ["--loss", str(loss), "--seed", "1", "--min-rto-ms", str(min_rto_ms),
                  "--quiet"]
        cli = [sys.executable, "-m", "ferrotcp.cli"]
        server = subprocess.Popen(
            [*cli, "server", "--udp", "127.0.0.1:0", "--send", str(src), "--count", "1",
             *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.stdout is not None
        port = server.stdout.readline().rsplit(":", 1)[1].strip()
        start = time.perf_counter()
        client = subprocess.run(
            [*cli, "client", "--peer", f"127.0.0.1:{port}", "--connect", "10.0.0.1:80",
             "--out", os.devnull, *common], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        _, err = server.communicate(timeout=60)
        if client.returncode != 0:
            raise RuntimeError(client.stderr)
        summary = err.strip().splitlines()[-1]
        return elapsed, summary[summary.find("retransmits"):]


def _udp_sender(port: int, size: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = bytes(DATAGRAM)
    for _ in range(size // DATAGRAM):
        s.sendto(payload, ("127.0.0.1", port))
    for _ in range(50):  # the end marker may be dropped like anything else
        s.sendto(END, ("127.0.0.1", port))
        time.sleep(0.001)


def raw_udp_transfer(size: int) -> tuple[float, int]:
    """Seconds and bytes received when another process sends ``size`` bytes as datagrams as
    fast as Python can (no flow control: a receiver that falls behind loses some)."""
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    r.bind(("127.0.0.1", 0))
    r.settimeout(5)
    proc = mp.Process(target=_udp_sender, args=(r.getsockname()[1], size))
    got = 0
    proc.start()
    start = time.perf_counter()
    try:
        while (d := r.recv(65536)) != END:
            got += len(d)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    proc.join()
    r.close()
    return elapsed, got


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=32 << 20)
    p.add_argument("--loss", type=float, default=0.05)
    p.add_argument("--min-rto-ms", type=float, default=5.0)
    args = p.parse_args()
    mb = args.size / 1e6
    clean, _ = ferrotcp_transfer(args.size, 0.0, args.min_rto_ms)
    lossy, retx = ferrotcp_transfer(args.size, args.loss, args.min_rto_ms)
    udp_s, udp_bytes = raw_udp_transfer(args.size)
    kernel = kernel_transfer(args.size)
    print(f"ferrotcp over UDP, 2 processes, clean: {mb / clean:.1f} MB/s")
    print(f"ferrotcp over UDP, 2 processes, {args.loss:.0%} loss each way "
          f"(min RTO {args.min_rto_ms} ms): {mb / lossy:.2f} MB/s ({retx})")
    print(f"raw UDP from python, {DATAGRAM}-byte datagrams: {udp_bytes / udp_s / 1e6:.1f} MB/s "
          f"({udp_bytes / args.size:.0%} delivered)")
    print(f"linux loopback TCP from python: {mb / kernel:.1f} MB/s")
    print(f"ratio ferrotcp-clean/raw-udp: {(mb / clean) / (udp_bytes / udp_s / 1e6):.3f}")
    print(f"ratio ferrotcp-clean/linux-loopback: {kernel / clean:.3f}")
    print(f"ratio ferrotcp-lossy/ferrotcp-clean: {clean / lossy:.3f}")


if __name__ == "__main__":
    main()

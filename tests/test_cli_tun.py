"""`ferrotcp server|client --transport tun`: the shell commands against the Linux kernel's TCP.

The server runs in a network namespace of its own, creates and configures its TUN device
(`--configure`), and a plain kernel socket in the same namespace fetches the file.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest
import tun_netns

MISSING = tun_netns.missing()
needs_tun = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
SEED = 20261124
TIMEOUT = 60.0

# Kernel side: connect (the device may still be coming up), read to EOF, print the digest.
FETCH = """
import hashlib, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection((host, port), timeout=10)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
h, n = hashlib.sha256(), 0
while chunk := s.recv(65536):
    h.update(chunk)
    n += len(chunk)
print(n, h.hexdigest())
"""


@needs_tun
@pytest.mark.parametrize(("addr", "kernel"), [("192.0.2.2", "192.0.2.1/24"),
                                              ("2001:db8::2", "2001:db8::1/64")])
def test_server_command_over_tun_sends_a_file_to_a_kernel_client(
    tmp_path: Path, addr: str, kernel: str
) -> None:
    data = random.Random(SEED).randbytes(3 << 20)
    src, pcap = tmp_path / "file.bin", tmp_path / "server.pcap"
    src.write_bytes(data)
    with tun_netns.netns() as ns:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "ferrotcp.cli", "server",
             "--transport", "tun", "--configure", "--addr", addr, "--kernel-addr", kernel,
             "--port", "8080", "--send", str(src), "--count", "1", "--pcap", str(pcap),
             "--loss", "0.01", "--seed", str(SEED)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert server.stdout is not None
            ready = server.stdout.readline()
            assert ready.startswith("listening on "), (ready, server.stderr)
            fetched = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-c", FETCH, addr, "8080"],
                capture_output=True, text=True, timeout=TIMEOUT,
            )
            _, err = server.communicate(timeout=TIMEOUT)
        finally:
            server.kill()
    assert fetched.returncode == 0, fetched.stderr
    size, digest = fetched.stdout.split()
    assert (int(size), digest) == (len(data), hashlib.sha256(data).hexdigest()), (
        f"seed {SEED}: {err}"
    )
    assert server.returncode == 0, err
    assert f"fault seed {SEED}" in err
    assert pcap.stat().st_size > len(data)  # every data segment was captured


# Kernel side: serve the file to the first client on any address, then exit.
SERVE = """
import socket, sys
data = open(sys.argv[1], "rb").read()
srv = socket.create_server(("::", int(sys.argv[2])), family=socket.AF_INET6, dualstack_ipv6=True)
srv.settimeout(30)
print("ready", flush=True)
conn, _ = srv.accept()
conn.sendall(data)
conn.close()
"""


@needs_tun
@pytest.mark.parametrize(("addr", "kernel"), [("192.0.2.2", "192.0.2.1/24"),
                                              ("2001:db8::2", "2001:db8::1/64")])
def test_client_command_over_tun_fetches_a_file_from_a_kernel_server(
    tmp_path: Path, addr: str, kernel: str
) -> None:
    data = random.Random(SEED + 1).randbytes(2 << 20)
    src, out = tmp_path / "file.bin", tmp_path / "got.bin"
    src.write_bytes(data)
    with tun_netns.netns() as ns:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVE, str(src), "9090"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert server.stdout is not None and server.stdout.readline() == "ready\n"
            host = kernel.split("/")[0]
            r = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "ferrotcp.cli", "client",
                 "--transport", "tun", "--configure", "--addr", addr, "--kernel-addr", kernel,
                 "--connect", f"[{host}]:9090" if ":" in host else f"{host}:9090",
                 "--out", str(out), "--timeout", "30"],
                capture_output=True, text=True, timeout=TIMEOUT,
            )
            server.communicate(timeout=TIMEOUT)
        finally:
            server.kill()
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in r.stderr

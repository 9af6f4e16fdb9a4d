"""``ferrotcp server`` / ``ferrotcp client``: two processes over UDP on 127.0.0.1, with faults,
moving files byte-exact and writing a pcap."""

from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path

import cli_procs
import pytest
from ferrotcp import cli

SEED = 21
TIMEOUT = 60.0


def _file(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def _pcap_packets(path: Path) -> int:
    """Records in a pcap file (checks the header: LINKTYPE_RAW)."""
    raw = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert magic == 0xA1B2C3D4 and linktype == 101
    n, off = 0, 24
    while off < len(raw):
        incl = struct.unpack("<I", raw[off + 8 : off + 12])[0]
        off += 16 + incl
        n += 1
    assert off == len(raw)
    return n


def test_a_file_crosses_a_lossy_link_byte_exact_with_a_capture(tmp_path: Path) -> None:
    data = _file(tmp_path / "in.bin", 2 << 20, SEED)
    out, pcap = tmp_path / "out.bin", tmp_path / "server.pcap"
    faults = ["--loss", "0.03", "--reorder", "0.02", "--duplicate", "0.01"]
    with cli_procs.server(tmp_path, "--send", str(tmp_path / "in.bin"), "--count", "1",
                          "--pcap", str(pcap), "--seed", str(SEED), *faults, *cli_procs.FAST,
                          timeout=TIMEOUT) as srv:
        r = cli_procs.client(srv, "--out", str(out), "--seed", str(SEED + 1), *faults,
                             *cli_procs.FAST, timeout=TIMEOUT)
    assert r.returncode == 0, f"seed {SEED}: {r.stderr}"
    assert srv.proc.returncode == 0, srv.stderr()
    digest = hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, f"seed {SEED}"
    # Both sides report the digest; the fault seed is printed for a rerun.
    assert f"sha256 {digest}" in r.stderr and f"sha256 {digest}" in srv.stderr()
    assert f"fault seed {SEED}" in srv.stderr()
    # The capture holds at least every data segment (1460-byte MSS) and the ACKs.
    assert _pcap_packets(pcap) > len(data) // 1460


def test_echo_returns_what_was_sent(tmp_path: Path) -> None:
    data = _file(tmp_path / "in.bin", 300_000, SEED + 2)
    out = tmp_path / "echo.bin"
    with cli_procs.server(tmp_path, "--echo", "--count", "1", *cli_procs.FAST,
                          timeout=TIMEOUT) as srv:
        r = cli_procs.client(srv, "--send", str(tmp_path / "in.bin"), "--out", str(out),
                             *cli_procs.FAST, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data


def test_a_client_upload_is_saved_by_the_server(tmp_path: Path) -> None:
    data = _file(tmp_path / "up.bin", 500_000, SEED + 3)
    saved = tmp_path / "saved.bin"
    with cli_procs.server(tmp_path, "--out", str(saved), "--count", "1", *cli_procs.FAST,
                          timeout=TIMEOUT) as srv:
        r = cli_procs.client(srv, "--send", str(tmp_path / "up.bin"), *cli_procs.FAST,
                             timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert saved.read_bytes() == data


def test_a_closed_port_is_refused_with_exit_status_1(tmp_path: Path) -> None:
    with cli_procs.server(tmp_path, "--echo", "--count", "1", timeout=TIMEOUT) as srv:
        r = cli_procs.client(srv, "--out", str(tmp_path / "x"), "--connect", "10.0.0.1:81",
                             timeout=TIMEOUT)
        assert r.returncode == 1 and "ConnectionRefusedError" in r.stderr
        cli_procs.client(srv, "--out", str(tmp_path / "x"), timeout=TIMEOUT)  # lets it exit


@pytest.mark.parametrize("argv", [
    ["server"],                                         # no mode
    ["server", "--echo", "--send", "f"],                # two modes
    ["server", "--echo", "--loss", "1.5"],
    ["client", "--out", "x"],                           # nowhere to connect
    ["client", "--connect", "10.0.0.1", "--out", "x"],  # no port
    ["server", "--echo", "--transport", "carrier-pigeon"],
])
def test_bad_arguments_are_rejected(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2

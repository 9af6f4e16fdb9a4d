"""Packaging: stubs match the compiled module, the CLI demo works, lint is clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import ferrotcp
from ferrotcp import cli, demo

ROOT = Path(__file__).resolve().parent.parent


def test_stubs_match_the_compiled_module() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ferrotcp._core", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_code_is_typed_and_ruff_clean() -> None:
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a test dependency"
    r = subprocess.run(
        [ruff, "check", "python", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "-p", "ferrotcp"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_demo_prints_the_handshake_and_verified_hashes() -> None:
    lines: list[str] = []
    result = demo.run(seed=1234, size=256 * 1024, out=lines.append)
    text = "\n".join(lines)
    assert result.ok
    assert result.client_sent_hash == result.server_got_hash
    assert result.server_sent_hash == result.client_got_hash
    assert "SYN seq=X" in text and "SYN-ACK seq=Y ack=X+1" in text
    assert "ACK seq=X+1 ack=Y+1 len=" in text  # the handshake ACK carries data
    assert "seed 1234" in text and "byte-exact" in text
    assert "TIME-WAIT -> CLOSED" in text


def test_cli_demo_exit_status_and_rejects_bad_arguments(capsys: object) -> None:
    assert cli.main(["demo", "--seed", "3", "--size", "65536"]) == 0
    try:
        cli.main(["demo", "--loss", "2"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--loss 2 must be rejected")
    assert ferrotcp.__version__

"""``ferrotcp verify``: the report, ``--json``, another spec, missing pieces reported (never a
crash), the message sequence charts of traces, and the generated docs kept in step with the
spec."""

from __future__ import annotations

import importlib
import json
import stat
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from ferrotcp import cli, verify
from ferrotcp.models import docs, load
from ferrotcp.models.mscchart import render
from ferrotcp.models.report import BOUNDED, PASSED, Finding, Segment, Trace, TraceEvent
from ferrotcp.models.spec import SPEC_PATH

ROOT = Path(__file__).resolve().parent.parent
Capture = pytest.CaptureFixture[str]


def _run(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = cli.main(["verify", *args])
    got = capsys.readouterr()
    return code, got.out, got.err


def test_wellformed_passes_and_the_report_counts_the_rules(capsys: Capture) -> None:
    code, out, err = _run(capsys, "--only", "wellformed")
    spec = load()
    unreported = len(spec.rules) - len(spec.reported_ids)
    assert code == 0, out
    assert f"{len(spec.rules)} rules ({len(spec.reported_ids)} reported, {unreported} " in out
    assert f"{len(spec.states)} states, {len(spec.phases)} phases" in out
    assert "proven               ESTABLISHED/ack" in out
    assert out.rstrip().splitlines()[-1].startswith("verdict: VERIFIED: all ")
    # Progress: a line as the check starts and one as it ends, with the time.
    assert "] wellformed: started" in err and " proven in " in err


def test_json_report_has_every_finding_and_a_summary(capsys: Capture) -> None:
    code, out, _ = _run(capsys, "--only", "wellformed", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert data["spec"]["rules"] == len(load().rules)
    assert data["findings"] and {f["check"] for f in data["findings"]} == {"wellformed"}
    assert data["summary"]["counts"] == {"proven": len(data["findings"])}
    assert data["checks"][0]["module"] == "check_wellformed"


def test_a_spec_with_overlapping_guards_fails_with_the_counterexample(
    tmp_path: Path, capsys: Capture
) -> None:
    text = SPEC_PATH.read_text(encoding="utf-8")
    old = 'id = "closed.recv_rst"\nphase = "closed"\nfrom = ["CLOSED"]\nguard = "seg.RST"'
    assert text.count(old) == 1
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(old, old.replace('"seg.RST"', '"true"')), encoding="utf-8")
    code, out, _ = _run(capsys, "--only", "wellformed", "--spec", str(broken))
    assert code == 1
    assert f"ferrotcp verify: {broken}" in out
    assert "COUNTEREXAMPLE       CLOSED/closed" in out
    assert "closed.recv_rst and closed.recv_segment both apply — e.g. seg.RST=False" in out
    assert "verdict: NOT VERIFIED: 1 of " in out


def test_a_spec_that_does_not_load_is_a_failed_finding(tmp_path: Path, capsys: Capture) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[spec]\nstates = ["CLOSED"\n', encoding="utf-8")
    code, out, _ = _run(capsys, "--spec", str(broken))
    assert code == 1
    assert "FAILED               loads" in out and "SpecError" in out


def test_usage_errors() -> None:
    for args in (["--only", "nonsense"], ["--spec", "/nonexistent/tcp.toml"], ["--depth", "0"]):
        with pytest.raises(SystemExit) as e:
            cli.main(["verify", *args])
        assert e.value.code == 2


def _fake_imports(monkeypatch: pytest.MonkeyPatch, modules: dict[str, Any]) -> None:
    """Imports of ``ferrotcp.models.<name>`` see ``modules[name]``: a module, or None for a
    module that is not there."""
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> types.ModuleType:
        short = name.rpartition(".")[2]
        if name.startswith("ferrotcp.models.") and short in modules:
            if modules[short] is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return types.SimpleNamespace(**modules[short])  # type: ignore[return-value]
        return real(name, package)

    monkeypatch.setattr(verify.importlib, "import_module", fake)


def test_missing_and_crashing_checkers_are_failed_findings(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    def crash(spec: object) -> list[Finding]:
        raise RuntimeError("solver exploded")

    _fake_imports(monkeypatch, {"check_wellformed": None, "check_lemmas": {"check": crash}})
    code, out, _ = _run(capsys, "--only", "wellformed,lemmas")
    assert code == 1
    assert "wellformed: 1 failed  [not available" in out
    assert "models/check_wellformed.py is not in this build" in out
    assert "FAILED               crashed" in out and "RuntimeError: solver exploded" in out
    assert "verdict: NOT VERIFIED: 2 of 2 findings do not hold" in out


def test_bmc_depth_conformance_totals_and_rule_coverage(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    spec = load()
    asked: dict[str, Any] = {}

    def bmc(spec: object, depth: int, progress: Any = None) -> list[Finding]:
        asked["depth"] = depth
        return [Finding("bmc", "handshake agreement", BOUNDED, depth=depth)]

    def conformance(spec: Any, examples: int, seed: int, progress: Any = None) -> list[Finding]:
        asked.update(examples=examples, seed=seed)
        covered = [spec.rules[0].id, spec.rules[1].id, "not.a.rule"]
        data = {"examples": examples, "steps": 321, "seed": seed, "covered": covered}
        return [Finding("conformance", "core follows the spec", PASSED, data=data)]

    _fake_imports(monkeypatch, {"check_bmc": {"check": bmc}, "conformance": {"run": conformance}})
    args = ("--only", "bmc,conformance", "--depth", "7", "--examples", "9", "--seed", "5")
    code, out, _ = _run(capsys, *args)
    assert code == 0, out
    assert asked == {"depth": 7, "examples": 9, "seed": 5}
    assert "bounded (depth 7)    handshake agreement" in out
    assert "BMC depth      7 reached (asked for 7)" in out
    assert "conformance    9 examples, 321 steps (seed 5: rerun with --seed 5)" in out
    assert f"rule coverage  2/{len(spec.rules)} rules exercised on the Rust core" in out
    assert spec.rules[2].id in out.split("not exercised")[1]


def test_without_z3_or_hypothesis_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setattr(verify, "_installed", lambda module: module != "z3")
    code, out, err = _run(capsys, "--only", "wellformed")
    assert code == 2 and out == ""
    assert "z3-solver is not installed (needed by wellformed)" in err
    assert "pip install 'ferrotcp[verify]'" in err


def test_a_trace_is_drawn_as_a_message_sequence_chart() -> None:
    trace = Trace(
        [
            TraceEvent("client", "call", "connect()", rules=["closed.connect"], state="SYN_SENT"),
            TraceEvent("client", "send", segment=Segment("SYN", 100, 0)),
            TraceEvent("channel", "drop", "to server", Segment("SYN", 100, 0)),
            TraceEvent("client", "timeout", "timeout", None, ["timer.retransmit"], "SYN_SENT"),
            TraceEvent("client", "send", segment=Segment("SYN", 100, 0)),
            TraceEvent("channel", "duplicate", "to server", Segment("SYN", 100, 0)),
            TraceEvent(
                "server",
                "deliver",
                "deliver",
                Segment("SYN", 100, 0),
                ["listen.recv_syn"],
                "SYN_RECEIVED",
            ),
            TraceEvent("server", "send", segment=Segment("SYN,ACK", 7, 101, 3)),
        ]
    )
    lines = render(trace).splitlines()
    print("\n".join(lines))
    assert lines[0].startswith("Client") and lines[0].endswith("Server")
    assert lines[1].startswith("|") and "client: connect()" in lines[1]
    assert lines[1].endswith("closed.connect -> SYN_SENT")
    assert lines[2].startswith("|-") and "SYN seq=100 -" in lines[2] and "->|" in lines[2]
    assert lines[3].startswith("|x") and "x>|" in lines[3] and lines[3].endswith("lost")
    assert "client: timeout" in lines[4] and lines[4].endswith("timer.retransmit -> SYN_SENT")
    assert lines[6].startswith("|=") and lines[6].endswith("duplicated")
    assert lines[7].startswith("|.") and ".>|" in lines[7]
    assert lines[7].endswith("server: listen.recv_syn -> SYN_RECEIVED")
    assert lines[8].startswith("|<-") and "SYN-ACK seq=7 ack=101 len=3" in lines[8]
    assert lines[8].endswith("server sent")
    assert lines[9] == "end: client SYN_SENT, server SYN_RECEIVED"
    # The words beside the arrows start in one column.
    assert len({line.index("  ", 44) for line in lines[1:9]}) == 1


def test_a_witness_trace_names_the_rules_that_sent_its_segments() -> None:
    # Witnesses (check_reach) draw one TCP against its peer; their sends name a rule.
    sent = TraceEvent("tcp", "send", "", Segment("ACK", 5, 9, 10), ["output.data"], "ESTABLISHED")
    lines = render(Trace([sent], ("tcp", "peer"))).splitlines()
    assert lines[0].startswith("TCP") and lines[0].endswith("Peer")
    assert "ACK seq=5 ack=9 len=10 --" in lines[1] and lines[1].startswith("|-")
    assert lines[1].endswith("tcp sent: output.data -> ESTABLISHED")


def test_the_committed_docs_are_what_the_spec_generates(tmp_path: Path) -> None:
    docs.write(load(ROOT / "models" / "tcp.toml"), tmp_path)
    for name in ("spec.md", "states.dot", "states.txt"):
        committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert committed == (tmp_path / name).read_text(encoding="utf-8"), (
            f"docs/{name} is out of date with models/tcp.toml: run "
            "`ferrotcp verify --docs docs --spec models/tcp.toml`"
        )


def test_docs_command_writes_the_diagram_and_the_table(tmp_path: Path, capsys: Capture) -> None:
    assert cli.main(["verify", "--docs", str(tmp_path)]) == 0
    spec = load()
    md = (tmp_path / "spec.md").read_text(encoding="utf-8")
    assert "```mermaid\nstateDiagram-v2\n    [*] --> CLOSED\n" in md
    assert "    LISTEN --> SYN_RECEIVED : listen.recv_syn\n" in md
    assert "| `send.queue`<br>*not logged* | `send` |" in md
    assert sum(line.startswith("| `") for line in md.split("## Rules")[1].splitlines()) == len(
        spec.rules
    )
    assert "-> SYN_RECEIVED  listen.recv_syn" in (tmp_path / "states.txt").read_text()
    dot = (tmp_path / "states.dot").read_text()
    assert dot.startswith("//") and '"LISTEN" -> "SYN_RECEIVED" [label="listen.recv_syn"];' in dot
    assert f"wrote {tmp_path / 'spec.md'}" in capsys.readouterr().out


def test_svg_is_drawn_when_graphviz_is_there(tmp_path: Path) -> None:
    # A stand-in for Graphviz's `dot`: the test must not depend on it being installed.
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\ncat > /dev/null\necho "<svg>$1</svg>"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    written = docs.write(load(), tmp_path / "out", dot_binary=str(fake))
    assert (tmp_path / "out" / "states.svg").read_text().strip() == "<svg>-Tsvg</svg>"
    assert tmp_path / "out" / "states.svg" in written


def test_the_console_command_runs() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ferrotcp.cli", "verify", "--only", "wellformed"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wellformed: started" in r.stderr and "verdict: VERIFIED" in r.stdout

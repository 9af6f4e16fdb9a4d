"""``ferrotcp verify``: run the spec's checkers and the conformance tests; report what holds.

The checks (:data:`CHECKS`, in the order they run, cheapest first; ``--only`` picks some):
``wellformed``, ``lemmas``, ``requirements``, ``reach``, ``induction``, ``bmc``,
``conformance``, ``mutants``. Each is a module of ``ferrotcp.models`` imported only when it
runs, so that a module that is missing (a checker not written yet, a partial install) or
broken becomes a FAILED finding "not available" in the report: never a crash, never skipped
in silence. A check that returns no findings at all is FAILED too (it proved nothing).

Calling convention: the entry point (``check``, or ``run`` for conformance) gets the
:class:`~ferrotcp.models.spec.Spec` and, among these keywords, the ones its signature
accepts: ``progress`` (a ``Callable[[str], None]`` for one-line updates), ``timeout_s``
(``--timeout``, when given; ``timeout_ms`` for a checker that wants milliseconds),
``depth`` (``--depth``, for ``bmc`` only: the other checks keep their own bounds),
``examples`` and ``seed`` (``--examples``, ``--seed``: conformance).

What the report reads from the findings (the contract with the checkers):

- ``Finding.status`` (``models.report``), and ``Finding.depth`` for a ``bounded`` one;
- BMC depth reached: the largest ``data["depth_reached"]``, else ``Finding.depth``, over the
  findings of the ``bmc`` check;
- conformance: ``data["examples"]`` and ``data["steps"]`` (how many ran), ``data["seed"]``,
  and ``data["covered"]``: the ids of the rules the Rust core applied at least once (logged
  or not). Rule coverage is the union of ``covered`` over the conformance findings,
  intersected with the spec's rules, over the number of rules.

Progress goes to stderr (one line as each check starts and ends, its sub-steps indented,
all with the time since the start), the report to stdout (text, or JSON with ``--json``).
Anything a checker prints is sent to stderr too, so ``--json`` output always parses.
Exit status: 0 iff every finding holds; 1 otherwise; 2 when z3-solver or Hypothesis is
missing (``pip install 'ferrotcp[verify]'``); 130 when interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import json
import random
import shutil
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ferrotcp.models.report import BOUNDED, FAILED, PROVEN, Finding
from ferrotcp.models.spec import SPEC_PATH, Spec, load

PACKAGE = "ferrotcp.models"
DEFAULT_DEPTH = 12
DEFAULT_EXAMPLES = 200
# Import name -> what pip installs (both come with the `verify` extra).
DEPENDENCIES = {"z3": "z3-solver", "hypothesis": "hypothesis"}
INSTALL_HINT = "pip install 'ferrotcp[verify]'"
LINE = 120  # a finding that holds gets one line of the report, its detail cut to fit
# Statuses from best to worst: how counts are listed.
STATUSES = ("proven", "bounded", "witnessed", "passed", "counterexample", "failed")


@dataclass(frozen=True)
class Check:
    name: str
    modules: tuple[str, ...]  # under ferrotcp.models; the first one present runs
    what: str
    entry: str = "check"
    needs: tuple[str, ...] = ("z3",)
    uses_depth: bool = False  # gets --depth


CHECKS: tuple[Check, ...] = (
    Check("wellformed", ("check_wellformed",), "every phase deterministic and total (Z3)"),
    Check("lemmas", ("check_lemmas",), "sequence arithmetic, all 2^32 values (Z3)"),
    Check("requirements", ("check_requirements",), "RFC requirements per step, invariants (Z3)"),
    Check(
        "reach",
        ("replay", "check_reach"),
        "every state reachable, a witness for every rule, replayed on the core",
    ),
    Check("induction", ("check_induction",), "two-peer properties, unbounded (Z3)"),
    Check("bmc", ("check_bmc",), "two peers, lossy channel, to --depth (Z3)", uses_depth=True),
    Check(
        "conformance",
        ("conformance",),
        "the Rust core judged by the spec (Hypothesis)",
        entry="run",
        needs=("hypothesis",),
    ),
    Check("mutants", ("mutants",), "broken specs, each must be rejected"),
)
CHECK_NAMES = tuple(c.name for c in CHECKS)


@dataclass
class Options:
    only: tuple[str, ...] | None = None  # None: every check
    depth: int = DEFAULT_DEPTH
    examples: int = DEFAULT_EXAMPLES
    seed: int | None = None  # None: a random one, printed
    timeout_s: float | None = None
    spec_path: Path | None = None
    traces: bool = False  # draw the traces of findings that hold too (witnesses)

    def checks(self) -> list[Check]:
        return [c for c in CHECKS if self.only is None or c.name in self.only]


@dataclass
class CheckRun:
    check: Check
    module: str | None  # the module that ran, None when none could be imported
    findings: list[Finding]
    seconds: float


@dataclass
class Report:
    spec_path: Path
    spec: Spec | None  # None when the spec does not load (a finding says why)
    options: Options
    seed: int
    runs: list[CheckRun] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.runs for f in r.findings]

    @property
    def ok(self) -> bool:
        found = self.findings
        return bool(found) and all(f.ok for f in found) and not self.interrupted


# --- running ---------------------------------------------------------------------------


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_dependencies(checks: list[Check]) -> dict[str, list[str]]:
    """pip name -> the selected checks that need it, for what is not installed."""
    missing: dict[str, list[str]] = {}
    for c in checks:
        for dep in c.needs:
            if not _installed(dep):
                missing.setdefault(DEPENDENCIES.get(dep, dep), []).append(c.name)
    return missing


def _import(check: Check) -> tuple[ModuleType | None, str]:
    """(the module, its name) or (None, why not)."""
    for name in check.modules:
        full = f"{PACKAGE}.{name}"
        try:
            return importlib.import_module(full), name
        except ModuleNotFoundError as exc:
            if exc.name == full:
                continue  # not written yet: try the next name
            return None, f"models/{name}.py cannot be imported: {exc}"
        except Exception as exc:  # a syntax error in a checker is its failure, not ours
            return None, f"models/{name}.py fails to import: {type(exc).__name__}: {exc}"
    return None, " or ".join(f"models/{n}.py" for n in check.modules) + " is not in this build"


def _arguments(
    fn: Callable[..., Any], check: Check, opts: Options, progress: Any
) -> dict[str, Any]:
    """The keywords of the calling convention that ``fn`` accepts."""
    offered: dict[str, Any] = {"progress": progress, "examples": opts.examples}
    offered["seed"] = opts.seed
    if opts.timeout_s is not None:
        offered["timeout_s"] = opts.timeout_s
        offered["timeout_ms"] = int(opts.timeout_s * 1000)
    if check.uses_depth:
        offered["depth"] = opts.depth
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return offered
    return {k: v for k, v in offered.items() if k in params}


def run_check(
    check: Check, spec: Spec, opts: Options, progress: Callable[[str], None]
) -> tuple[str | None, list[Finding]]:
    """Run one check; whatever goes wrong becomes a FAILED finding."""
    module, name = _import(check)
    if module is None:
        return None, [Finding(check.name, "not available", FAILED, name)]
    fn = getattr(module, check.entry, None)
    if not callable(fn):
        detail = f"models/{name}.py has no {check.entry}() to call"
        return name, [Finding(check.name, "not available", FAILED, detail)]
    try:
        found = list(fn(spec, **_arguments(fn, check, opts, progress)))
    except Exception as exc:
        tail = "".join(traceback.format_exception(exc)[-3:]).rstrip()
        return name, [
            Finding(check.name, "crashed", FAILED, f"{type(exc).__name__}: {exc}\n{tail}")
        ]
    if not found:
        return name, [Finding(check.name, "no findings", FAILED, "it reported nothing")]
    return name, found


def counts(findings: list[Finding]) -> dict[str, int]:
    """Findings per status, best first (statuses no finding has are left out)."""
    got = {s: sum(f.status == s for f in findings) for s in STATUSES}
    for f in findings:
        got.setdefault(f.status, sum(g.status == f.status for g in findings))
    return {s: n for s, n in got.items() if n}


def _counts_text(findings: list[Finding]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts(findings).items()) or "nothing"


class Progress:
    """Lines on stderr, each with the time since the start.

    A check's own updates come one per obligation (a hundred and more for wellformed), and
    then a single obligation may take minutes. On a terminal they share one status line,
    its clock redrawn every second; elsewhere (a CI log) an update is printed only when
    nothing was for :attr:`HEARTBEAT_S` seconds, and a thread repeats the last one at that
    pace, so that a long check shows it is alive and where it is."""

    HEARTBEAT_S = 30.0

    def __init__(self, err: TextIO, start: float) -> None:
        self.err = err
        self.start = start
        self.tty = err.isatty()
        self.status = ""  # the status line (terminal) or the last update (log)
        self.shown = False  # the status line is on screen, to be cleared
        self.last = start  # when a line was last printed
        self.printed = ""  # the last update printed (log)
        self.lock = threading.Lock()  # the heartbeat thread writes too
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.line("")

    def _stamp(self, text: str) -> str:
        return f"[{time.monotonic() - self.start:7.1f}s] {text}"

    def _clear(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[K")
            self.shown = False

    def _draw(self) -> None:
        width = shutil.get_terminal_size().columns - 1
        self.err.write("\r\x1b[K" + self._stamp("  " + self.status)[:width])
        self.err.flush()
        self.shown = True

    def line(self, text: str) -> None:
        """A line that stays (an empty one only clears the status line)."""
        with self.lock:
            self._clear()
            self.status = ""
            if text:
                print(self._stamp(text), file=self.err, flush=True)
            self.last = time.monotonic()

    def update(self, text: str) -> None:
        """A check's own progress."""
        with self.lock:
            self.status = text
            if self.tty:
                self._draw()
            elif time.monotonic() - self.last >= self.HEARTBEAT_S:
                print(self._stamp("  " + text), file=self.err, flush=True)
                self.last, self.printed = time.monotonic(), text

    def _beat(self) -> None:
        while not self.done.wait(1.0 if self.tty else 5.0):
            with self.lock:
                if self.tty and self.shown:
                    self._draw()
                elif not self.tty and self.status:
                    if time.monotonic() - self.last >= self.HEARTBEAT_S:
                        again = "still at " if self.status == self.printed else ""
                        print(self._stamp(f"  {again}{self.status}"), file=self.err, flush=True)
                        self.last, self.printed = time.monotonic(), self.status


def run(opts: Options, err: TextIO | None = None) -> Report:
    """Load the spec, run the selected checks with progress on ``err``, return the report."""
    err = err if err is not None else sys.stderr
    start = time.monotonic()
    seed = opts.seed if opts.seed is not None else random.randrange(2**32)
    opts = dataclasses.replace(opts, seed=seed)
    path = opts.spec_path or SPEC_PATH
    report = Report(path, None, opts, seed)
    with Progress(err, start) as progress:
        try:
            report.spec = load(path)
        except Exception as exc:  # SpecError, a TOML error, a missing key: all say "broken"
            loads = Finding("spec", "loads", FAILED, f"{path}: {type(exc).__name__}: {exc}")
            report.runs.append(CheckRun(Check("spec", (), "the spec loads"), None, [loads], 0))
            progress.line(f"spec {path} does not load: {exc}")
        else:
            _run_checks(report, report.spec, progress)
    report.seconds = time.monotonic() - start
    return report


def _run_checks(report: Report, spec: Spec, progress: Progress) -> None:
    checks = report.options.checks()
    seeded = any(c.name == "conformance" for c in checks)
    progress.line(
        f"ferrotcp verify: {len(checks)} checks on {report.spec_path}"
        + (f" (conformance seed {report.seed})" if seeded else "")
    )
    for check in checks:
        progress.line(f"{check.name}: started: {check.what}")
        t0 = time.monotonic()
        try:
            # Checkers may print (Hypothesis reports a falsifying example): to stderr with it.
            with contextlib.redirect_stdout(progress.err):
                module, found = run_check(check, spec, report.options, progress.update)
        except KeyboardInterrupt:
            report.interrupted = True
            module, found = (
                None,
                [Finding(check.name, "interrupted", FAILED, "stopped by the user")],
            )
        took = time.monotonic() - t0
        report.runs.append(CheckRun(check, module, found, took))
        progress.line(f"{check.name}: {_counts_text(found)} in {took:.1f}s")
        if report.interrupted:
            return


# --- the report ------------------------------------------------------------------------


def bmc_depth(report: Report) -> int | None:
    """The deepest bound the BMC check reached (None if it did not run or says nothing)."""
    depths: list[int] = []
    for r in report.runs:
        if r.check.name == "bmc":
            for f in r.findings:
                d = f.data.get("depth_reached", f.depth)
                if d is not None:
                    depths.append(int(d))
    return max(depths) if depths else None


def proven_for_every_depth(report: Report) -> list[str]:
    """The two-peer properties the induction check proved for executions of any length."""
    return [
        f.name
        for r in report.runs
        if r.check.name == "induction"
        for f in r.findings
        if f.status == PROVEN and f.data.get("unbounded")
    ]


def conformance_totals(report: Report) -> dict[str, Any] | None:
    """Examples and steps run, the seed, and the rules covered on the core."""
    found = [f for r in report.runs if r.check.name == "conformance" for f in r.findings]
    ran = [f for f in found if "examples" in f.data or "covered" in f.data]
    if not ran or report.spec is None:
        return None
    covered: set[str] = set()
    for f in ran:
        covered.update(f.data.get("covered", []))
    spec = report.spec
    rules = [r.id for r in spec.rules]
    hit = [r for r in rules if r in covered]
    return {
        "examples": sum(int(f.data.get("examples", 0)) for f in ran),
        "steps": sum(int(f.data.get("steps", 0)) for f in ran),
        "seed": ran[0].data.get("seed", report.seed),
        "covered": hit,
        "rules": len(rules),
        "reported_covered": sum(r in spec.reported_ids for r in hit),
        "reported": len(spec.reported_ids),
        "not_covered": [r for r in rules if r not in covered],
    }


def status_label(f: Finding) -> str:
    if f.status == BOUNDED and f.depth is not None:
        return f"bounded (depth {f.depth})"
    return f.status if f.ok else f.status.upper()


def _one_line(text: str, room: int) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= room else first[: room - 1] + "…"


def verdict(report: Report) -> str:
    found = report.findings
    if report.ok:
        return f"verdict: VERIFIED: all {len(found)} findings hold ({_counts_text(found)})"
    bad = [f for f in found if not f.ok]
    where = ", ".join(
        f"{r.check.name}: {_counts_text([f for f in r.findings if not f.ok])}"
        for r in report.runs
        if any(not f.ok for f in r.findings)
    )
    stop = " (interrupted)" if report.interrupted else ""
    return f"verdict: NOT VERIFIED{stop}: {len(bad)} of {len(found)} findings do not hold ({where})"


def render_text(report: Report) -> str:
    from ferrotcp.models.mscchart import render as chart

    spec = report.spec
    lines = [f"ferrotcp verify: {report.spec_path}"]
    if spec is not None:
        unreported = len(spec.rules) - len(spec.reported_ids)
        lines.append(f"  {spec.title}")
        lines.append(
            f"  {len(spec.rules)} rules ({len(spec.reported_ids)} reported, {unreported} "
            f"unreported), {len(spec.states)} states, {len(spec.phases)} phases"
        )
    for run_ in report.runs:
        module = f"models/{run_.module}.py" if run_.module else "not available"
        lines += [
            "",
            f"{run_.check.name}: {_counts_text(run_.findings)}  "
            f"[{module}, {run_.seconds:.1f}s] {run_.check.what}",
        ]
        names = [
            f.name if f.check == run_.check.name else f"{f.check}: {f.name}" for f in run_.findings
        ]
        width = min(max(map(len, names)), 40)
        for f, name in zip(run_.findings, names, strict=True):
            head = f"  {status_label(f):<20} {name:<{width}}"
            if f.ok:
                lines.append(
                    head + (f"  {_one_line(f.detail, LINE - len(head))}" if f.detail else "")
                )
            else:
                lines.append(head)
                lines += [f"      {x}" for x in f.detail.splitlines()]
            if f.trace is not None and f.trace.events and (not f.ok or report.options.traces):
                lines += [f"      {x}" for x in chart(f.trace).splitlines()]
    lines += ["", "summary"]
    found = report.findings
    lines.append(f"  findings       {len(found)}: {_counts_text(found)}")
    selected = {r.check.name: r for r in report.runs}
    if "bmc" in selected:
        depth = bmc_depth(report)
        got = (
            "not available"
            if selected["bmc"].module is None
            else "none reported"
            if depth is None
            else f"{depth} reached"
        )
        lines.append(f"  BMC depth      {got} (asked for {report.options.depth})")
    unbounded = proven_for_every_depth(report)
    if "induction" in selected:
        lines.append(
            "  every depth    "
            + (", ".join(unbounded) if unbounded else "nothing proven")
            + " (induction: beyond any BMC depth)"
        )
    totals = conformance_totals(report)
    if totals is not None:
        lines.append(
            f"  conformance    {totals['examples']} examples, {totals['steps']} steps "
            f"(seed {totals['seed']}: rerun with --seed {totals['seed']})"
        )
        lines.append(
            f"  rule coverage  {len(totals['covered'])}/{totals['rules']} rules exercised on "
            f"the Rust core ({totals['reported_covered']}/{totals['reported']} reported rules)"
        )
        if totals["not_covered"]:
            lines += textwrap.wrap(
                ", ".join(totals["not_covered"]),
                width=100,
                initial_indent="  not exercised  ",
                subsequent_indent=" " * 17,
                break_on_hyphens=False,
            )
    elif "conformance" in selected:
        lines.append("  conformance    did not run (see above)")
    lines.append(f"  time           {report.seconds:.1f}s")
    lines.append(verdict(report))
    return "\n".join(lines)


def render_json(report: Report) -> str:
    spec = report.spec
    doc: dict[str, Any] = {
        "ok": report.ok,
        "verdict": verdict(report),
        "spec": {"path": str(report.spec_path)},
        "options": {
            "only": list(report.options.only) if report.options.only else list(CHECK_NAMES),
            "depth": report.options.depth,
            "examples": report.options.examples,
            "seed": report.seed,
            "timeout_s": report.options.timeout_s,
        },
        "seconds": round(report.seconds, 2),
        "checks": [
            {
                "name": r.check.name,
                "module": r.module,
                "seconds": round(r.seconds, 2),
                "counts": counts(r.findings),
                "ok": all(f.ok for f in r.findings),
            }
            for r in report.runs
        ],
        "summary": {
            "findings": len(report.findings),
            "counts": counts(report.findings),
            "bmc_depth": bmc_depth(report),
            "proven_for_every_depth": proven_for_every_depth(report),
            "conformance": conformance_totals(report),
        },
        "findings": [f.to_json() for f in report.findings],
    }
    if spec is not None:
        doc["spec"].update(
            title=spec.title,
            rules=len(spec.rules),
            reported=len(spec.reported_ids),
            unreported=len(spec.rules) - len(spec.reported_ids),
            states=len(spec.states),
            phases=len(spec.phases),
        )
    # `default=str`: a checker's data may hold values JSON has no type for.
    return json.dumps(doc, indent=2, default=str)


# --- entry points ----------------------------------------------------------------------


def main(
    opts: Options, *, as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``ferrotcp verify``: the exit status (see the module docstring)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    missing = missing_dependencies(opts.checks())
    if missing:
        for dep, users in missing.items():
            print(
                f"ferrotcp verify: {dep} is not installed (needed by {', '.join(users)})", file=err
            )
        print(f"install the verification extra: {INSTALL_HINT}", file=err)
        return 2
    report = run(opts, err)
    print(render_json(report) if as_json else render_text(report), file=out)
    if report.interrupted:
        return 130
    return 0 if report.ok else 1


def write_docs(spec_path: Path | None, out_dir: Path, out: TextIO | None = None) -> int:
    """``ferrotcp verify --docs DIR``: the generated docs of the spec (no solver needed)."""
    from ferrotcp.models import docs

    out = out if out is not None else sys.stdout
    try:
        spec = load(spec_path or SPEC_PATH)
    except Exception as exc:
        print(f"ferrotcp verify: the spec does not load: {exc}", file=sys.stderr)
        return 1
    # The repository's spec (models/tcp.toml, given by any path) or the installed copy of it
    # is named as such, so that the docs do not depend on where they were generated from.
    ours = spec_path is None or (spec_path.name, spec_path.parent.name) == ("tcp.toml", "models")
    source = docs.SOURCE if ours else str(spec_path)
    for path in docs.write(spec, out_dir, source=source):
        print(f"wrote {path}", file=out)
    return 0

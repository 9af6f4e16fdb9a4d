"""Check 6 on the real code: every rule's Z3 witness replayed against the Rust core.

A witness (``check_reach``) is a sequence of events from CLOSED whose last one applies its
rule. Replaying it drives one real connection of :class:`models.harness.Harness` (the
client for witnesses that start with ``connect``, the server for ``listen``), with the test
playing the peer: each arriving segment is re-solved (:func:`models.witness.solve_step`)
from the core's *actual* variables so that the spec applies the rules the witness recorded,
then injected. Every step is judged by the same oracle as the Hypothesis tests, so a replay
both exercises the rule on the core and checks the core's answer to it.

The result is the rule coverage that ``ferrotcp verify`` reports: the rules the core applied
in all replays together (``Finding.data["covered"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .harness import CLIENT_ADDR, SERVER_ADDR, Divergence, Harness
from .report import FAILED, PASSED, Finding
from .spec import Spec
from .tcpwire import Seg
from .witness import CONFIG as WITNESS_CONFIG
from .witness import OUTPUT, Pipelines, Witness, solve_step

CLIENT_ISN = 1000
SERVER_ISN = 5000
# Keep-alives on, with the witnesses' probe count (``witness.CONFIG``); the times are the
# environment's (a replayed expiry waits for whichever timer is next).
KEEPALIVE: dict[str, Any] = {
    "keepalive": True,
    "keepalive_idle_us": 10_000_000,
    "keepalive_interval_us": 1_000_000,
    "keepalive_count": WITNESS_CONFIG["keepalive_count"],
}


class ReplayError(AssertionError):
    """A step of a witness could not be reproduced on the core."""


def _core_values(spec: Spec, h: Harness, side: str) -> tuple[str, dict[str, Any]]:
    p = h.peer(side)
    state, values, _raw = h._snapshot(p)  # the same view the oracle judges
    return state, values


def _variants(spec: Spec, fired: list[str]) -> Iterator[list[str]]:
    """``fired``, then the same with its unlogged branches swapped for their siblings: the
    core's variables differ from the witness's (its ISN, its windows), and an intermediate
    step may need the other branch of, say, the window update to lead to the same rules."""
    yield fired
    for i, rid in enumerate(fired):
        rule = spec.rule_by_id[rid]
        if rule.report:
            continue
        for other in spec.rules:
            if other.phase == rule.phase and other.id != rid and not other.report:
                yield [*fired[:i], other.id, *fired[i + 1 :]]


def _solve(
    spec: Spec,
    state: str,
    values: dict[str, Any],
    fired: list[str],
    recorded: Mapping[str, Any] | None,
    pipelines: Pipelines,
) -> dict[str, Any] | None:
    """A segment the peer can send now so that the core applies ``fired``'s logged rules."""
    # The window the peer offers: a shut one when the witness shut it on purpose, else a
    # peer's usual full window (a window of 1 that Z3 may pick would leave the core nothing
    # to send), else the core's own view, else anything.
    windows: list[int | None] = [65535, int(values["snd_wnd"]), None]
    if recorded is not None and recorded.get("wnd") == 0:
        windows.insert(0, 0)
    for variant in _variants(spec, fired):
        for wnd in windows:
            fix = {"in.isn": values["iss"]} | ({} if wnd is None else {"seg.wnd": wnd})
            if recorded is not None and recorded.get("SYN"):
                # Whether the handshake agrees on timestamps decides which rules can
                # apply later (PAWS): keep the witness's choice.
                fix["seg.TS"] = bool(recorded.get("TS"))
            solved = solve_step(spec, state, values, "segment", variant, fix, pipelines)
            if solved is not None and solved[0] is not None:
                return solved[0]
    return None


def replay(spec: Spec, w: Witness, pipelines: Pipelines | None = None) -> Harness:
    """Drive the core through ``w``; raises :class:`ReplayError` (or the oracle's
    :class:`Divergence`) when the core cannot be brought to apply the recorded rules."""
    pipelines = pipelines or Pipelines(spec)
    # Every ACK at once and every write sent at once (RFC 9293 3.8.6.3, 3.7.4): a witness's
    # timer event means the timer its rules name, and a delayed ACK would expire first.
    # Only a witness of the delayed-ACK timer itself needs it on.
    delack = any("timer.delayed_ack" in s.fired for s in w.steps)
    config = {**KEEPALIVE, "nodelay": True, "delayed_ack_us": 40_000 if delack else 0}
    # Tail-loss probes only for the witnesses found with them (the probe timer's own):
    # elsewhere a witness's timer event after data means the retransmission timer.
    config["tail_loss_probe"] = bool(w.config.get("tail_loss_probe", False))
    h = Harness(spec, CLIENT_ISN, SERVER_ISN, client_config=config, server_config=config)
    side = "client" if w.steps and w.steps[0].event == "connect" else "server"
    peer_addr = SERVER_ADDR if side == "client" else CLIENT_ADDR
    me = h.peer(side)
    if w.steps and w.steps[0].event not in ("connect", "listen"):
        # The witness starts in CLOSED: the core has no connection object before OPEN, so
        # reach CLOSED the shortest way (LISTEN, then CLOSE).
        h.close(side)
    h.channel.clear()  # the other connection plays no part: the test is the peer
    for i, s in enumerate(w.steps):
        if i == 0 and s.event in ("connect", "listen"):
            continue  # the harness opened both sides already
        if s.event == OUTPUT:
            continue  # the core sent what it sends after every input; the oracle judged it
        before = len(h.trace.events)
        if s.event == "segment":
            state, values = _core_values(spec, h, side)
            solved = _solve(spec, state, values, s.fired, s.seg, pipelines)
            if solved is None:
                raise ReplayError(
                    f"{w.target}: step {i}: no segment makes the core's {state} apply {s.fired}"
                )
            f = solved
            flags = frozenset(n for n in ("SYN", "ACK", "FIN", "RST") if f[n])
            seg = Seg(
                peer_addr[1],
                me.addr[1],
                int(f["seq"]),
                int(f["ack"]),
                flags,
                int(f["wnd"]),
                bytes(int(f["len"])),
                ts=(int(f["tsval"]), int(f["tsecr"])) if f["TS"] else None,
                # The probe timer's witness needs SACK agreed (see witness.ENVIRONMENT).
                sack_permitted="SYN" in flags and config["tail_loss_probe"],
            )
            h.inject(side, seg)
        elif s.event == "send":
            h.send(side, bytes(int(s.inputs.get("n", 1)) or 1))
        elif s.event == "close":
            h.close(side)
        elif s.event == "abort":
            h.abort(side)
        elif s.event == "timeout":
            h.timeout(side, force=True)
        else:
            raise ReplayError(f"{w.target}: step {i}: cannot replay event {s.event!r}")
        h.recv(side)  # the application reads at once, as the witnesses assume
        h.channel.clear()
        applied = [r for e in h.trace.events[before:] if e.actor == side for r in e.rules]
        wanted = [r for r in s.fired if spec.rule_by_id[r].report]
        if applied != wanted:
            raise ReplayError(
                f"{w.target}: step {i} ({s.describe()}): the core applied "
                f"{applied}, the witness {wanted}"
            )
    return h


def check(
    spec: Spec,
    depth: int = 8,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    """Find the witnesses (check 2 and 6: their findings first), replay each on the core;
    one finding per rule, and the coverage."""
    from .check_reach import findings as reach_findings
    from .check_reach import search

    result = search(spec, depth, timeout_s, progress)
    pipelines = Pipelines(spec)
    covered: set[str] = set()
    findings: list[Finding] = reach_findings(spec, result)
    for rule in spec.rules:
        w = result.rules.get(rule.id)
        if w is None:
            findings.append(Finding("replay", rule.id, FAILED, "no witness to replay"))
            continue
        if progress:
            progress(f"replay: {rule.id}")
        try:
            h = replay(spec, w, pipelines)
        except (ReplayError, Divergence) as exc:
            findings.append(Finding("replay", rule.id, FAILED, str(exc), trace=w.trace()))
            continue
        covered |= h.fired
        status = PASSED if rule.id in h.fired else FAILED
        findings.append(
            Finding("replay", rule.id, status, f"{len(w.steps)} steps on the core: {w.describe()}")
        )
    findings.append(
        Finding(
            "replay",
            "rule coverage on the core",
            PASSED if covered >= {r.id for r in spec.rules} else FAILED,
            f"{len(covered & {r.id for r in spec.rules})}/{len(spec.rules)} rules applied "
            "by the core in the witness replays",
            data={"covered": sorted(covered)},
        )
    )
    return findings

"""Deliberately broken copies of the spec: the checker must reject every one.

Each mutant is a textual edit of ``tcp.toml`` that reintroduces a classic TCP mistake. A
checker that accepted one would be proving nothing about that part of the protocol, so
``ferrotcp verify`` runs them all (a mutation score) and the tests assert each is rejected
with a counterexample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .report import FAILED, PASSED, Finding
from .spec import SPEC_PATH, Spec, load


@dataclass(frozen=True)
class Mutant:
    id: str
    mistake: str
    edits: tuple[tuple[str, str], ...]  # (text in tcp.toml, replacement), each unique

    def text(self, original: str | None = None) -> str:
        text = original if original is not None else SPEC_PATH.read_text(encoding="utf-8")
        for old, new in self.edits:
            if text.count(old) != 1:
                raise ValueError(f"mutant {self.id}: {old!r} is not unique in the spec")
            text = text.replace(old, new)
        return text

    def spec(self) -> Spec:
        return load(text=self.text())


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "synack_acks_x",
        "the SYN-ACK acknowledges X instead of X+1",
        (('rcv_nxt = "seg.seq + 1", iss = "in.isn"', 'rcv_nxt = "seg.seq", iss = "in.isn"'),),
    ),
    Mutant(
        "out_of_order_delivered",
        "an out-of-order segment is delivered at once",
        (
            (
                'guard = "text and not le(seg.seq, rcv_nxt) and in.new_held"\n',
                'guard = "text and not le(seg.seq, rcv_nxt) and in.new_held"\n'
                'set = { rcv_nxt = "seg.seq + seg.len" }\n',
            ),
        ),
    ),
    Mutant(
        "ack_beyond_snd_nxt",
        "an ACK for data never sent is accepted",
        (
            ('guard = "gt(seg.ack, snd_max)"\nthen = "stop"', 'guard = "false"\nthen = "stop"'),
            (
                'guard = "not gt(seg.ack, snd_max) and lt(seg.ack, snd_una - max_snd_wnd)"',
                'guard = "lt(seg.ack, snd_una - max_snd_wnd)"',
            ),
            ('ack_valid = "not gt(seg.ack, snd_max) and ', 'ack_valid = "'),
        ),
    ),
    Mutant(
        "retransmit_from_snd_nxt",
        "a retransmission timeout resends from SND.NXT instead of SND.UNA",
        (
            (
                'snd_nxt = "ite(handshake_timer, snd_nxt, snd_una)"',
                'snd_nxt = "snd_nxt"',
            ),
            (
                '{ flags = "ACK", seq = "snd_una", data = true, when = "not handshake_timer" }',
                '{ flags = "ACK", seq = "snd_nxt", data = true, when = "not handshake_timer" }',
            ),
        ),
    ),
    Mutant(
        "time_wait_skipped",
        "the peer's FIN in FIN-WAIT-2 closes at once, without TIME-WAIT",
        (('from = ["FIN_WAIT_2"]\nto = "TIME_WAIT"', 'from = ["FIN_WAIT_2"]\nto = "CLOSED"'),),
    ),
    Mutant(
        "keepalive_while_outstanding",
        "a keep-alive is sent while data is outstanding (RFC 9293 3.8.4, MUST-26)",
        (
            (
                'or state == FIN_WAIT_2) and snd_una == snd_max and queued == 0',
                'or state == FIN_WAIT_2) and queued == 0',
            ),
        ),
    ),
    Mutant(
        "paws_ignored",
        "an old duplicate with a stale timestamp is processed (no PAWS, RFC 7323 5.3)",
        (
            ('guard = "paws_old"\n', 'guard = "false"\n'),
            ('guard = "not ts_missing and not paws_old"', 'guard = "not ts_missing"'),
        ),
    ),
    Mutant(
        "fin_out_of_order",
        "a FIN is accepted out of order",
        (
            (
                'fin_now = "not fin_received and ((seg.FIN and seg.seq + seg.len == rcv_nxt)',
                'fin_now = "not fin_received and ((seg.FIN)',
            ),
        ),
    ),
)


def rejected_by(spec: Spec) -> list[Finding]:
    """Why the checks reject ``spec``, cheapest first and stopping at the first reason
    (empty: the mutant survived)."""
    from . import check_requirements, check_wellformed

    bad = [f for f in check_wellformed.check(spec) if not f.ok]
    if bad:
        return bad
    violation = check_requirements.first_violation(spec)
    return [violation] if violation is not None else []


def check(
    spec: Spec | None = None,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    """One finding per mutant: PASSED when the checks reject it, FAILED when it survives."""
    del spec, depth, timeout_s
    findings = []
    for m in MUTANTS:
        if progress:
            progress(f"mutants: {m.id}")
        bad = rejected_by(m.spec())
        if bad:
            first = bad[0]
            findings.append(
                Finding(
                    "mutants",
                    m.id,
                    PASSED,
                    f"rejected ({m.mistake}) by {first.check} {first.name}: {first.detail}",
                    trace=first.trace,
                    data={"rejected_by": [f"{f.check}:{f.name}" for f in bad]},
                )
            )
        else:
            findings.append(Finding("mutants", m.id, FAILED, f"survived: {m.mistake}"))
    return findings


__all__ = ["MUTANTS", "Mutant", "check", "rejected_by"]

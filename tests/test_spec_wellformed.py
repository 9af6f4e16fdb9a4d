"""The spec loads, its rule ids are the core's, and check 1 (determinism and totality of
every phase in every state) holds — and fails, with a concrete segment, when it should."""

from __future__ import annotations

import ferrotcp
import pytest
from ferrotcp.models import SpecError, load
from ferrotcp.models import check_wellformed as wellformed
from ferrotcp.models.spec import SPEC_PATH


def test_rule_ids_of_the_core_are_the_reported_rules_of_the_spec() -> None:
    spec = load()
    core = set(ferrotcp.rule_ids())
    assert core == set(spec.reported_ids), (
        f"only in the spec: {sorted(spec.reported_ids - core)}; "
        f"only in the core: {sorted(core - spec.reported_ids)}"
    )


def test_every_phase_is_deterministic_and_total() -> None:
    findings = wellformed.check(load())
    bad = [f"{f.name}: {f.detail}" for f in findings if not f.ok]
    assert not bad, "\n".join(bad)
    # One finding per (state, phase) with rules, plus the pipeline walk.
    assert len(findings) > 50


def mutate(old: str, new: str) -> str:
    text = SPEC_PATH.read_text()
    assert text.count(old) == 1, f"mutation target not unique: {old!r}"
    return text.replace(old, new)


def test_overlapping_guards_are_reported_with_a_segment() -> None:
    # ACK beyond SND.NXT accepted: ack.new no longer excludes what ack.unsent takes.
    spec = load(
        text=mutate(
            'guard = "ack_valid and gt(seg.ack, snd_una)"', 'guard = "gt(seg.ack, snd_una)"'
        )
    )
    bad = [f for f in wellformed.check(spec) if not f.ok]
    assert bad, "the checker accepted overlapping guards"
    f = bad[0]
    print(f.name, f.detail)
    assert "ack.unsent and ack.new both apply" in f.detail
    example = f.data["example"]
    assert example is not None and "seg.ack" in example


def test_a_gap_in_the_guards_is_reported() -> None:
    spec = load(text=mutate('guard = "not seg.RST and seg.SYN"', 'guard = "false"'))
    bad = [f for f in wellformed.check(spec) if not f.ok]
    assert any("no rule applies" in f.detail and f.name.endswith("/control") for f in bad)


def test_a_phase_without_rules_for_a_reachable_state_is_reported() -> None:
    # unacceptable.take_ack (ESTABLISHED and later) sent on to a SYN-RECEIVED-only phase.
    tail = '\nreport = false\nrfc = "RFC 9293 3.10.7.4 (first: zero window)'
    spec = load(
        text=mutate(
            'then = ["ack", "window", "fin_acked"]' + tail, 'then = ["handshake_ack"]' + tail
        )
    )
    bad = [f for f in wellformed.check(spec) if f.name == "pipelines"]
    assert bad and not bad[0].ok and "handshake_ack has no rule for ESTABLISHED" in bad[0].detail


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'guard = "not seg.RST and seg.ACK"',
            'guard = "not seg.RST and seg.ACK +"',
            "unexpected end",
        ),
        ('to = "CLOSE_WAIT"', 'to = "CLOSE_WAITING"', "unknown"),
        ('set = { passive = "true", iss', 'set = { passive = "1", iss', "expected a bool"),
        ('then = ["opened"]', 'then = ["nowhere"]', "unknown phase"),
    ],
)
def test_malformed_specs_are_refused_with_a_reason(old: str, new: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load(text=mutate(old, new))

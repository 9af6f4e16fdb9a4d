"""Check 4: two peers of the spec over a lossy, duplicating, reordering channel (Z3)."""

from __future__ import annotations

import pytest
from ferrotcp.models import check_bmc as bmc
from ferrotcp.models import check_induction as induction
from ferrotcp.models import load, mutants
from ferrotcp.models.report import BOUNDED, COUNTEREXAMPLE, PROVEN, WITNESSED

PROPERTIES = (
    "handshake agreement",
    "in-order prefix delivery",
    "acknowledged only what arrived",
    "ACK of unsent data ignored",
    "model sanity",
)

# A sender's second segment overtakes its first (lost or late): the receiver holds it.
OVERTAKE: bmc.Schedule = bmc.HANDSHAKE + (
    ("send", "client"),
    ("output", "client"),
    ("output", "client"),
    ("deliver", "server"),
)
# The FIN overtakes the data before it.
FIN_OVERTAKES: bmc.Schedule = bmc.HANDSHAKE + (
    ("send", "client"),
    ("output", "client"),
    ("close", "client"),
    ("output", "client"),
    ("deliver", "server"),
)


def test_no_counterexample_in_short_executions() -> None:
    found = {f.name: f for f in bmc.check(load(), depth=3, slots=2, witnesses=False)}
    for name in PROPERTIES:
        assert found[name].status == BOUNDED, found[name].detail
        assert found[name].depth == 3


@pytest.mark.parametrize("name", list(bmc.SCHEDULES))
def test_each_witness_exists(name: str) -> None:
    """Non-vacuity: the properties are not true merely because nothing can happen."""
    f = bmc.witness(load(), name, bmc.SCHEDULES[name], slots=2)
    assert f.status == WITNESSED, f.detail
    assert f.trace is not None and len(f.trace.events) >= len(bmc.SCHEDULES[name])


@pytest.mark.parametrize(
    ("mutant_id", "schedule"),
    [("out_of_order_delivered", OVERTAKE), ("fin_out_of_order", FIN_OVERTAKES)],
)
def test_the_two_peer_check_finds_a_mutants_broken_delivery(
    mutant_id: str, schedule: bmc.Schedule
) -> None:
    (mutant,) = [m for m in mutants.MUTANTS if m.id == mutant_id]
    f = bmc.violation(mutant.spec(), "in-order prefix delivery", schedule, slots=2)
    assert f is not None and f.status == COUNTEREXAMPLE, f"{mutant.mistake}: not found"
    assert f.trace is not None
    print(f"{mutant_id}: {f.detail}")
    assert any(e.kind == "deliver" and e.actor == "server" for e in f.trace.events)


SMALL_INVARIANTS = """
[invariants.peer]
unopened = "not opened -> state == CLOSED and iss == 0 and app == 0 and not syn_in"
never_established = "state != ESTABLISHED"
"""


def test_induction_keeps_what_is_inductive_and_drops_what_a_step_breaks() -> None:
    """Houdini on a small candidate set, over the steps where the client receives: the
    candidate a received SYN-ACK breaks is dropped with its counterexample to induction."""
    spec = load()
    inv = bmc.load_invariants(spec, text=SMALL_INVARIANTS)
    ind = induction.Induction(spec, inv, properties=False)
    verdict = induction.houdini(ind, cases=(("deliver", "client"),))
    assert "never_established (client)" in verdict.dropped
    assert "ESTABLISHED" in verdict.dropped["never_established (client)"]
    assert "unopened (client)" in verdict.kept and "unopened (server)" in verdict.kept
    assert "send_order (client)" in verdict.kept  # the spec's own [tcb_invariants]


def test_the_properties_are_proven_for_every_depth() -> None:
    """Check 5: (a), (b) and the rest are kept by Houdini with the auxiliary invariants of
    invariants.toml: an inductive invariant, so they hold after any number of events."""
    found = {f.name: f for f in induction.check(load())}
    for name in PROPERTIES:
        assert found[name].status == PROVEN, found[name].detail
    assert "auxiliary invariants" not in found  # every candidate invariant was kept


@pytest.mark.parametrize(
    ("mutant_id", "broken"),
    [("out_of_order_delivered", "in-order prefix delivery"),
     ("ack_beyond_snd_nxt", "ACK of unsent data ignored")],
)
def test_induction_does_not_prove_a_mutant(mutant_id: str, broken: str) -> None:
    """The proof is not vacuous: on a broken spec the property falls, with the step that
    breaks it (its counterexample to induction)."""
    (mutant,) = [m for m in mutants.MUTANTS if m.id == mutant_id]
    found = {f.name: f for f in induction.check(mutant.spec())}
    f = found[broken]
    assert f.status != PROVEN, f"{mutant.mistake}: still proven"
    assert f.trace is not None and "a step breaks it" in f.detail
    print(f"{mutant_id}: {f.detail}")

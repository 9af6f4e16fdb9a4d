"""Single-step requirements and the TCB invariants (Z3), and the mutants they reject."""

from __future__ import annotations

import pytest
from ferrotcp.models import check_requirements as requirements
from ferrotcp.models import load, mutants


def test_every_requirement_holds_for_every_step() -> None:
    spec = load()
    found = [requirements.check_requirement(spec, r) for r in spec.requirements]
    assert len(found) >= 7
    bad = [f"{f.name}: {f.detail}" for f in found if not f.ok]
    assert not bad, "\n".join(bad)


def test_the_tcb_invariants_are_inductive() -> None:
    (finding,) = requirements.check_invariants(load())
    assert finding.ok, finding.detail
    assert "send_order" in finding.data["invariants"]


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.id)
def test_each_mutant_is_rejected_with_a_counterexample(mutant: mutants.Mutant) -> None:
    reasons = mutants.rejected_by(mutant.spec())
    assert reasons, f"the checker accepted a spec in which {mutant.mistake}"
    first = reasons[0]
    # The counterexample names a concrete state and segment (or the two rules that clash).
    print(f"{mutant.id}: rejected by {first.check}/{first.name}\n{first.detail}")
    assert "Violated in" in first.detail
    # The mutants are consistent specs (deterministic and total): it takes a requirement,
    # not the well-formedness check, to see what is wrong with them.
    assert first.check == "requirements"

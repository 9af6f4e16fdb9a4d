"""Checks 2 and 6: every state is reachable and every rule has a witness that replays."""

from __future__ import annotations

import json
import time

import pytest
from ferrotcp.models import check_reach, load, step
from ferrotcp.models.report import FAILED
from ferrotcp.models.spec import Spec
from ferrotcp.models.witness import (
    OUTPUT,
    Environment,
    Pipelines,
    Witness,
    WitnessError,
    apply,
    apply_output,
    initial,
    replay,
    solve_step,
)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


@pytest.fixture(scope="module")
def result(spec: Spec) -> check_reach.SearchResult:
    # Bounded by its depth alone, never by the clock: no Z3 query here has a time limit,
    # so the verdict is the same on a loaded machine as on an idle one (it only takes
    # longer). The time is printed for whoever watches it grow.
    start = time.monotonic()
    res = check_reach.search(spec, depth=8)
    print(
        f"reachability and witnesses: {time.monotonic() - start:.1f} s, {res.nodes} TCBs, "
        f"{res.queries} Z3 queries, depth {res.reached_depth}"
    )
    return res


@pytest.fixture(scope="module")
def witnesses(spec: Spec, result: check_reach.SearchResult) -> list[Witness]:
    """Every witness, as the findings carry it (JSON), read back."""
    found = check_reach.findings(spec, result)
    return [Witness.from_json(f.data["witness"]) for f in found if "witness" in f.data]


def test_every_state_is_reachable_and_every_rule_witnessed(
    spec: Spec, result: check_reach.SearchResult
) -> None:
    found = check_reach.findings(spec, result)
    assert len(found) == len(spec.states) + len(spec.rules) + len(spec.outputs)
    bad = [f"{f.check}/{f.name}: {f.detail}" for f in found if not f.ok]
    assert not bad, "\n".join(bad)
    # Rules the core does not log need witnesses too.
    assert any(not r.report for r in spec.rules)
    assert {f.name for f in found if f.check == "witness"} == set(check_reach.targets(spec))
    # The environment model keeps every TCB within the bounds: nothing had to be dropped.
    assert result.dropped == 0


def test_each_witness_replays_on_the_concrete_spec(spec: Spec, witnesses: list[Witness]) -> None:
    for w in witnesses:
        state, _ = replay(spec, w)  # every step applies the rules it records
        if w.target in spec.states:
            assert state == w.target
        else:
            assert w.steps and w.target in w.steps[-1].fired, w.target


def test_witnesses_survive_json(witnesses: list[Witness]) -> None:
    for w in witnesses:
        text = json.dumps(w.to_json())
        assert Witness.from_json(json.loads(text)) == w


def test_the_recorded_observed_values_are_the_environment_models(
    spec: Spec, witnesses: list[Witness]
) -> None:
    env = Environment(spec)
    for w in witnesses:
        state, values = initial(spec, w.config)
        for s in w.steps:
            if s.event == OUTPUT:
                assert s.out is not None
                post_state, (fired, post) = state, apply_output(spec, state, values, s.out)
            else:
                r = step(spec, state, values, s.event, s.seg, s.inputs)
                post_state, post, fired = r.state, r.values, r.fired
            model = env.after(state, values, post_state, post, fired, s.seg, s.inputs)
            assert {k: model[k] for k in s.observed} == s.observed, (w.target, s.describe())
            state, values = post_state, model


def test_a_tampered_witness_does_not_replay(spec: Spec, witnesses: list[Witness]) -> None:
    w = next(w for w in witnesses if w.target == "seg.rst_reset")
    bad = Witness.from_json(w.to_json())
    assert bad.steps[-1].seg is not None
    bad.steps[-1].seg["seq"] = (int(bad.steps[-1].seg["seq"]) + 1) & 0xFFFF_FFFF
    with pytest.raises(WitnessError):
        replay(spec, bad)


def test_solve_step_round_trips(spec: Spec, witnesses: list[Witness]) -> None:
    """From the TCB before each witness's last step, solve_step finds a segment (or inputs)
    for which the spec applies exactly the rules the step records, as the replay against the
    core will need."""
    pipelines = Pipelines(spec)
    solved = 0
    for w in witnesses:
        if not w.steps or w.steps[-1].event == OUTPUT:
            continue
        state, values = initial(spec, w.config)
        for s in w.steps[:-1]:
            state, values, _ = apply(spec, state, values, s)
        last = w.steps[-1]
        found = solve_step(spec, state, values, last.event, last.fired, pipelines=pipelines)
        assert found is not None, (w.target, last.describe())
        seg, inputs = found
        assert (seg is None) == (last.event != "segment")
        assert step(spec, state, values, last.event, seg, inputs).fired == last.fired
        solved += 1
    assert solved >= len(spec.rules) // 2


def test_solve_step_pins_and_refuses(spec: Spec) -> None:
    state, values = initial(spec)
    # A rule that cannot apply from CLOSED: no segment makes it.
    assert solve_step(spec, state, values, "segment", ["ack.new"]) is None
    # Pinned fields are kept: an ACK segment for no connection, answered by RST.
    found = solve_step(
        spec, state, values, "segment", ["closed.recv_segment"], fix={"seg.ACK": True}
    )
    assert found is not None and found[0] is not None and found[0]["ACK"] is True
    # User calls have no segment, only inputs.
    opened = solve_step(spec, state, values, "connect", ["closed.connect"], fix={"in.isn": 7})
    assert opened is not None and opened[0] is None and opened[1]["isn"] == 7


def test_a_dead_rule_is_reported(spec: Spec) -> None:
    """A rule whose guard contradicts its phase has no witness: the check says so."""
    dead = spec.source + (
        '\n[[rule]]\nid = "timer.never"\nphase = "timeout"\nfrom = ["CLOSED"]\n'
        'guard = "state != CLOSED"\nreport = false\nrfc = "none"\ndoc = "cannot apply"\n'
    )
    found = check_reach.check(load(text=dead), depth=2)
    (never,) = [f for f in found if f.name == "timer.never"]
    assert never.status == FAILED
    assert never.detail.startswith("dead rule: no witness within depth 2")


def test_passive_does_not_split_synchronized_tcbs(spec: Spec) -> None:
    """The abstraction drops flags no later rule reads: it is what keeps the search small."""
    flags = check_reach.relevant_flags(spec, Environment(spec))
    assert "SYN_RECEIVED" in flags["passive"]
    assert "ESTABLISHED" not in flags["passive"]
    assert len(flags["fin_sent"]) == len(spec.states)

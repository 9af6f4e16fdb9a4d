"""Hypothesis drives the real core through an adversarial network; the spec judges each step.

The state machine's rules are the things that can happen to two connected peers: user calls
(send, read, close, abort), the channel delivering, duplicating, reordering or dropping a
segment in flight, time passing until a timer fires, and arbitrary segments arriving (random
flags, sequence and acknowledgement numbers near and far from the receiver's variables,
lengths). After every step :mod:`models.harness` compares the core with the spec (rules,
state, variables, segments sent) and checks that what each side read is a prefix of what the
other sent. A failure is shrunk by Hypothesis and printed as a message sequence chart.

Each side's window scale is drawn too (RFC 7323 2): off, or a shift from 0 to 14 (the
receive buffer is 4096 bytes, so any shift above 0 is larger than the buffer needs and its
rounding shows: windows in units of up to 16 KiB). Both sides must offer it for either to
scale; the spec is handed windows in bytes either way.

Timestamps (RFC 7323 3) likewise: each side offers them or not, and starts its timestamp
clock at an offset drawn near the wrap of the 32-bit space as often as anywhere, so that
TSvals wrap within a run (the clock ticks once a millisecond and the harness jumps from
timer to timer). Injected segments carry a timestamp about TS.Recent (older, equal, newer),
an arbitrary one, or none, so PAWS (RFC 7323 5.3) is exercised from every side.

Profiles: CI runs :data:`CI_EXAMPLES` examples of up to :data:`CI_STEPS` steps; the
environment variable ``FERROTCP_CONFORMANCE_EXAMPLES`` (and ``..._STEPS``) select a longer run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .report import FAILED, PASSED, Finding
from .spec import Spec, load
from .tcpwire import Seg

CI_EXAMPLES = 200
CI_STEPS = 50

# Offsets that put a number just inside, at, or just outside the edges the rules test.
NEAR = [-(2**31), -70000, -65536, -1000, -2, -1, 0, 1, 2, 100, 536, 4096, 65535, 70000, 2**31]
FLAG_SETS = [
    frozenset(f)
    for f in (
        {"ACK"},
        {"ACK"},
        {"ACK", "FIN"},
        {"RST"},
        {"RST", "ACK"},
        {"SYN"},
        {"SYN", "ACK"},
        set(),
        {"FIN"},
        {"SYN", "FIN"},
        {"SYN", "RST"},
    )
]
SIDES = st.sampled_from(["client", "server"])
# A side's `window_scale` setting: off (None), the buffer's own shift (0), or larger.
WINDOW_SCALES = st.sampled_from([None, 0, 0, 1, 3, 7, 11, 14])
# A side's keep-alives (RFC 9293 3.8.4): mostly off, the default; else with times short enough
# that a few timer steps probe and give up (the harness jumps to each expiry anyway), and one
# probe or a few.
KEEPALIVE_ON = {
    "keepalive": True,
    "keepalive_idle_us": 3_000_000,
    "keepalive_interval_us": 1_000_000,
}
# Which sides offer timestamps: mostly both, the default; one side only (neither uses them).
TIMESTAMPS = st.sampled_from([(True, True), (True, True), (True, False), (False, True),
                              (False, False)])
# A side's timestamp clock offset (RFC 7323 5.4): anywhere, or just before the wrap.
TS_OFFSETS = st.integers(0, 2**32 - 1) | st.integers(2**32 - 20_000, 2**32 - 1)
# The timestamp of an injected segment, relative to the receiver's TS.Recent (or none).
TS_KINDS = st.sampled_from(["none", "recent", "recent", "recent", "recent", "any"])
TS_DELTAS = st.sampled_from([-(2**31) + 1, -1000, -1, 0, 0, 1, 1000, 2**31 - 1])
KEEPALIVES = st.sampled_from([{}, {}, {**KEEPALIVE_ON, "keepalive_count": 1},
                              {**KEEPALIVE_ON, "keepalive_count": 3}])


class Stats:
    """Totals across the examples of one run, for the report."""

    def __init__(self) -> None:
        self.examples = 0
        self.steps = 0
        self.fired: set[str] = set()


def make_machine(spec: Spec, stats: Stats) -> type[RuleBasedStateMachine]:
    from .harness import Harness

    class Conformance(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.h: Harness | None = None

        @initialize(
            client_iss=st.integers(0, 2**32 - 1) | st.sampled_from([0, 2**31 - 1, 2**32 - 1]),
            server_iss=st.integers(0, 2**32 - 1) | st.sampled_from([0, 2**31, 2**32 - 2]),
            simultaneous=st.sampled_from([False, False, False, True]),
            client_ws=WINDOW_SCALES,
            server_ws=WINDOW_SCALES,
            sack=st.sampled_from([(True, True), (True, False), (False, True)]),
            client_ka=KEEPALIVES,
            server_ka=KEEPALIVES,
            ts=TIMESTAMPS,
            client_ts_offset=TS_OFFSETS,
            server_ts_offset=TS_OFFSETS,
        )
        def open(
            self,
            client_iss: int,
            server_iss: int,
            simultaneous: bool,
            client_ws: int | None,
            server_ws: int | None,
            sack: tuple[bool, bool],
            client_ka: dict[str, Any],
            server_ka: dict[str, Any],
            ts: tuple[bool, bool],
            client_ts_offset: int,
            server_ts_offset: int,
        ) -> None:
            self.h = Harness(
                spec,
                client_iss,
                server_iss,
                simultaneous,
                client_config={
                    "window_scale": client_ws,
                    "sack_permitted": sack[0],
                    "timestamps": ts[0],
                    "ts_offset": client_ts_offset,
                    **client_ka,
                },
                server_config={
                    "window_scale": server_ws,
                    "sack_permitted": sack[1],
                    "timestamps": ts[1],
                    "ts_offset": server_ts_offset,
                    **server_ka,
                },
            )
            stats.examples += 1

        def teardown(self) -> None:
            if self.h is not None:
                stats.steps += self.h.steps
                stats.fired |= self.h.fired

        @property
        def harness(self) -> Harness:
            assert self.h is not None
            return self.h

        @precondition(lambda self: self.h is not None and bool(self.h.channel))
        @rule(i=st.integers(0, 1000))
        def deliver(self, i: int) -> None:
            self.harness.deliver(i % len(self.harness.channel))

        @precondition(lambda self: self.h is not None and bool(self.h.channel))
        @rule(i=st.integers(0, 1000))
        def deliver_oldest(self, i: int) -> None:
            # In order, most of the time: without it most runs would be all reordering.
            del i
            self.harness.deliver(0)

        @precondition(lambda self: self.h is not None and bool(self.h.channel))
        @rule(i=st.integers(0, 1000))
        def duplicate(self, i: int) -> None:
            self.harness.deliver(i % len(self.harness.channel), keep=True)

        @precondition(lambda self: self.h is not None and bool(self.h.channel))
        @rule(i=st.integers(0, 1000))
        def drop(self, i: int) -> None:
            self.harness.drop(i % len(self.harness.channel))

        @rule(side=SIDES, data=st.binary(min_size=1, max_size=3000))
        def send(self, side: str, data: bytes) -> None:
            self.harness.send(side, data)

        @rule(side=SIDES)
        def read(self, side: str) -> None:
            self.harness.recv(side)

        @rule(side=SIDES)
        def close(self, side: str) -> None:
            self.harness.close(side)

        @precondition(lambda self: self.h is not None and self.h.steps > 8)
        @rule(side=SIDES)
        def abort(self, side: str) -> None:
            self.harness.abort(side)

        @rule(side=SIDES)
        def timeout(self, side: str) -> None:
            self.harness.timeout(side)

        @rule(
            side=SIDES,
            flags=st.sampled_from(FLAG_SETS),
            seq_delta=st.sampled_from(NEAR) | st.integers(-(2**31), 2**31),
            ack_base=st.sampled_from(["snd_una", "snd_max", "snd_nxt", "iss"]),
            ack_delta=st.sampled_from(NEAR) | st.integers(-(2**31), 2**31),
            length=st.sampled_from([0, 0, 1, 10, 536]),
            wnd=st.sampled_from([0, 1, 536, 4096, 65535]),
            ts_kind=TS_KINDS,
            ts_delta=TS_DELTAS,
            ts_any=st.integers(0, 2**32 - 1),
        )
        def inject(
            self,
            side: str,
            flags: frozenset[str],
            seq_delta: int,
            ack_base: str,
            ack_delta: int,
            length: int,
            wnd: int,
            ts_kind: str,
            ts_delta: int,
            ts_any: int,
        ) -> None:
            h = self.harness
            p = h.peer(side)
            v = p.conn.spec_vars()
            src = h.other(p).addr
            seg = Seg(
                src_port=src[1],
                dst_port=p.addr[1],
                seq=(v["rcv_nxt"] + seq_delta) & 0xFFFFFFFF,
                ack=(v[ack_base] + ack_delta) & 0xFFFFFFFF,
                flags=flags,
                wnd=wnd,
                payload=bytes(length),
                ts=_timestamp(ts_kind, ts_delta, ts_any, v.get("ts_recent", 0)),
            )
            h.inject(side, seg)

        @invariant()
        def prefix(self) -> None:
            if self.h is not None:
                self.h.check_prefix()

    return Conformance


def _timestamp(kind: str, delta: int, anything: int, recent: int) -> tuple[int, int] | None:
    """An injected segment's (TSval, TSecr): none, about the receiver's TS.Recent, or any
    value. TSecr is 0 (nothing echoed: the receiver takes no RTT sample from it)."""
    if kind == "none":
        return None
    if kind == "any":
        return (anything, 0)
    return ((recent + delta) & 0xFFFFFFFF, 0)


def run(
    spec: Spec | None = None,
    examples: int | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    steps: int | None = None,
) -> list[Finding]:
    """Run the state machine; one Finding with the totals (and the failure, if any).

    ``data["covered"]`` lists the rules applied at least once (reported or not),
    ``data["rules_total"]`` how many rules the spec has."""
    spec = spec or load()
    examples = examples or int(os.environ.get("FERROTCP_CONFORMANCE_EXAMPLES", CI_EXAMPLES))
    steps = steps or int(os.environ.get("FERROTCP_CONFORMANCE_STEPS", CI_STEPS))
    stats = Stats()
    machine: Any = make_machine(spec, stats)
    if seed is not None:
        machine = hypothesis_seed(seed)(machine)
    conf = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=seed is None and os.environ.get("CI") is not None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    start = time.monotonic()
    if progress:
        progress(f"conformance: {examples} examples of up to {steps} steps (seed {seed})")
    data: dict[str, Any] = {"seed": seed, "examples_requested": examples, "max_steps": steps}
    try:
        run_state_machine_as_test(machine, settings=conf)
        status, detail = PASSED, ""
    except AssertionError as exc:
        status, detail = FAILED, str(exc)
    elapsed = time.monotonic() - start
    data.update(
        examples=stats.examples,
        steps=stats.steps,
        covered=sorted(stats.fired),
        rules_total=len(spec.rules),
        seconds=round(elapsed, 1),
    )
    summary = (
        f"{stats.examples} examples, {stats.steps} steps, "
        f"{len(stats.fired)}/{len(spec.rules)} rules exercised on the core"
    )
    return [
        Finding(
            "conformance",
            "core follows the spec",
            status,
            summary + ("\n" + detail if detail else ""),
            data=data,
        )
    ]

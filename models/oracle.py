"""The spec as the oracle for one step of the real core.

Given what the Rust core did with one input (its variables before and after, the rule ids it
logged, the error it reported, the segments it sent), :func:`judge` runs the same input
through the spec (:func:`models.spec.step`) and lists every disagreement: the rules applied,
the next state, every variable the rules determine, the segments the rules require, and the
shape of every segment sent. An empty list means the step conforms.

The spec's environment inputs (``in.*``) are read off the core, since they stand for what the
spec deliberately leaves abstract: the ISN the generator chose, how many held bytes a filled
gap released, whether the reassembly buffer took new bytes, the rate limiter's verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .expr import Value, evaluate
from .spec import Spec, Step, out_env, step
from .tcpwire import Seg

# Advanced by the output process as well as by rules: compared after the spec applies the
# [[output]] effects of each segment the core sent.
OUTPUT_VARS = frozenset({"snd_nxt", "snd_max", "fin_sent", "fin_seq"})
# Only meaningful while a FIN is held / after ours was sent.
CONDITIONAL = {"peer_fin_seq": "peer_fin_held", "fin_seq": "fin_sent"}


def spec_state(rust_state: str) -> str:
    """``SYN-SENT`` (the core's name, as in RFC 9293) -> ``SYN_SENT`` (the spec's)."""
    return rust_state.replace("-", "_")


def spec_values(spec: Spec, raw: Mapping[str, int]) -> dict[str, Value]:
    """The core's ``spec_vars()`` typed as the spec declares them."""
    out: dict[str, Value] = {}
    for name, var in spec.variables.items():
        if name not in raw:
            raise KeyError(f"the core does not report spec variable {name!r}")
        out[name] = bool(raw[name]) if var.type == "bool" else int(raw[name]) & 0xFFFFFFFF
    return out


@dataclass
class Observation:
    """What the core did with one input."""

    pre_state: str
    pre: dict[str, Value]
    post_state: str
    post: dict[str, Value]
    reported: list[str]
    sent: list[Seg]
    error: str | None = None  # errno name, for a failure or a refused call
    oow_ok: bool = True
    challenge_ok: bool = True
    held_grew: bool = False
    # A timer event on which the core's keep-alive timer had expired (`in.keepalive_due`).
    keepalive_due: bool = False
    # The delayed ACK (RFC 9293 3.8.6.3): `in.ack_delay_ok` and `in.ack_timer`.
    ack_delay_ok: bool = False
    ack_timer: bool = False
    # TS.Recent had expired (RFC 7323 5.5): `in.ts_expired`.
    ts_expired: bool = False
    # The segment's SACK blocks brought news (RFC 6675 2): `in.sack_news`.
    sack_news: bool = False
    # A timer event on which the core's tail-loss probe timer had expired (`in.tlp_due`).
    tlp_due: bool = False
    raw_post: dict[str, int] = field(default_factory=dict)
    # Rcv.Wind.Shift of the side that sent ``sent`` (RFC 7323 2.3): scales their windows
    # into the bytes the spec's ``out.wnd`` means.
    out_shift: int = 0


def _inputs(spec: Spec, obs: Observation, send_n: int, fill: int) -> dict[str, Value]:
    return {
        "isn": obs.post["iss"],
        "fill": fill,
        "new_held": obs.held_grew,
        "oow_ok": obs.oow_ok,
        "challenge_ok": obs.challenge_ok,
        "n": send_n,
        "keepalive_due": obs.keepalive_due,
        "ack_delay_ok": obs.ack_delay_ok,
        "ack_timer": obs.ack_timer,
        "ts_expired": obs.ts_expired,
        "sack_news": obs.sack_news,
        "tlp_due": obs.tlp_due,
    }


def predict(
    spec: Spec,
    event: str,
    obs: Observation,
    seg: Mapping[str, Value] | None = None,
    send_n: int = 0,
) -> Step:
    """The spec's step for this input, with ``in.fill`` chosen to explain the core's RCV.NXT
    when a filled gap released held bytes (the only input that is a number)."""
    first = step(spec, obs.pre_state, obs.pre, event, seg, _inputs(spec, obs, send_n, 0))
    if "data.in_order" in first.fired:
        fill = (int(obs.post["rcv_nxt"]) - int(first.values["rcv_nxt"])) & 0xFFFFFFFF
        # After the FIN rule the spec's rcv_nxt is one past the FIN either way; a fill
        # beyond the held bytes is not an explanation but a divergence, left to show.
        held_room = (int(obs.pre["held_end"]) - int(obs.pre["rcv_nxt"])) & 0xFFFFFFFF
        if 0 < fill <= held_room:
            return step(spec, obs.pre_state, obs.pre, event, seg, _inputs(spec, obs, send_n, fill))
    return first


def _apply_outputs(
    spec: Spec,
    state: str,
    values: dict[str, Value],
    sent: list[Seg],
    problems: list[str],
    seg: Mapping[str, Value] | None,
    pre: Mapping[str, Value],
    out_shift: int = 0,
) -> dict[str, Value]:
    """Check each data segment against the [[output]] shapes and apply its effects."""
    vals = dict(values)
    for s in sent:
        fields = s.fields(out_shift)
        carries = s.len > 0 or "FIN" in s.flags
        if not carries or "SYN" in s.flags or "RST" in s.flags:
            continue
        env = out_env(spec, state, vals, fields, seg, None, pre)
        shapes = [o for o in spec.outputs if state in o.states and evaluate(o.shape, env)]
        if not shapes:
            problems.append(f"sent {_show(s)} which no output rule allows in {state}")
            continue
        new = dict(vals)
        for var, e in shapes[0].sets:
            new[var] = evaluate(e, env)
        vals = new
    return vals


def _show(s: Seg) -> str:
    text = f"{s.flag_text() or '<none>'} seq={s.seq} ack={s.ack}"
    return text + (f" len={s.len}" if s.len else "")


def judge(
    spec: Spec,
    event: str,
    obs: Observation,
    seg: Mapping[str, Value] | None = None,
    send_n: int = 0,
) -> tuple[Step, list[str]]:
    """The spec's prediction for this step and every way the core departs from it."""
    problems: list[str] = []
    pred = predict(spec, event, obs, seg, send_n)
    if pred.refused:
        return pred, problems
    if pred.reported != obs.reported:
        problems.append(f"rules: spec {pred.reported} (all: {pred.fired}), core {obs.reported}")
    if pred.state != obs.post_state:
        problems.append(f"state: spec {pred.state}, core {obs.post_state}")
    if (pred.error or None) != obs.error:
        problems.append(f"error: spec {pred.error}, core {obs.error}")
    pre_env = {**obs.pre, "state": spec.state_index(obs.pre_state)}
    after = _apply_outputs(
        spec, pred.state, pred.values, obs.sent, problems, seg, pre_env, obs.out_shift
    )
    for name, var in spec.variables.items():
        if var.role != "state":
            continue
        guard = CONDITIONAL.get(name)
        if guard is not None and not (after[guard] and obs.post[guard]):
            continue
        if after[name] != obs.post[name]:
            problems.append(f"{name}: spec {after[name]}, core {obs.post[name]}")
    problems += check_emissions(spec, pred, obs, seg, pre_env)
    problems += check_sent(spec, pred, obs)
    # The model checker assumes these of every state; the core must live up to them.
    post_env = {**spec.constants(), **obs.post, "state": spec.state_index(obs.post_state)}
    for name, bound in spec.bounds.items():
        if not evaluate(bound, post_env):
            problems.append(f"the core's state breaks the bound {name!r}")
    return pred, problems


def check_emissions(
    spec: Spec,
    pred: Step,
    obs: Observation,
    seg: Mapping[str, Value] | None,
    pre_env: Mapping[str, Value],
) -> list[str]:
    """Every required segment was sent; every control segment sent has a reason."""
    problems: list[str] = []
    envs = [
        (s, out_env(spec, pred.state, pred.values, s.fields(obs.out_shift), seg, None, pre_env))
        for s in obs.sent
    ]
    for em, mandatory in pred.emissions:
        if mandatory and not any(evaluate(em.shape, env) for _, env in envs):
            problems.append(f"missing segment: {em.text}")
    for s, env in envs:
        carries = s.len > 0 or "FIN" in s.flags
        if carries and not ({"SYN", "RST"} & s.flags):
            continue  # data: judged against the output rules in _apply_outputs
        if any(evaluate(em.shape, env) for em, _ in pred.emissions):
            continue
        if any(pred.state in o.states and evaluate(o.shape, env) for o in spec.outputs):
            continue
        problems.append(f"unexplained segment {_show(s)} in {pred.state}")
    return problems


def check_sent(spec: Spec, pred: Step, obs: Observation) -> list[str]:
    """Every segment sent satisfies the spec's ``[sent]`` conditions, and the core's
    Last.ACK.sent (RFC 7323 4.3, an observed variable the rules read) is the acknowledgement
    field of the last segment it sent with ACK and without RST."""
    problems: list[str] = []
    for s in obs.sent:
        env = out_env(spec, pred.state, pred.values, s.fields(obs.out_shift))
        for name, cond in spec.sent.items():
            if not evaluate(cond, env):
                ts = f" ts={s.ts}" if s.ts else " no timestamps"
                problems.append(f"sent {_show(s)}{ts}, which breaks [sent] {name!r}")
    acks = [s.ack for s in obs.sent if "ACK" in s.flags and "RST" not in s.flags]
    if acks and "last_ack_sent" in obs.post and obs.post["last_ack_sent"] != acks[-1]:
        problems.append(
            f"last_ack_sent: core {obs.post['last_ack_sent']}, last ACK sent {acks[-1]}"
        )
    return problems

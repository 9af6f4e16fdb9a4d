"""The Timestamps option in the spec (RFC 7323): PAWS before the acceptance test, TS.Recent,
what every sent segment must carry, and the real core judged on them through the harness."""

from __future__ import annotations

from typing import Any

import pytest
from ferrotcp.models import load
from ferrotcp.models.expr import Value, evaluate
from ferrotcp.models.harness import Harness
from ferrotcp.models.spec import out_env, step
from ferrotcp.models.tcpwire import Seg, build, parse

SPEC = load()
RCV_NXT = 5000
RECENT = 0xFFFF_FF00  # near the wrap: "older" and "newer" are taken mod 2^32


def _established(**over: Value) -> dict[str, Value]:
    values: dict[str, Value] = {
        v.name: (False if v.type == "bool" else 0) for v in SPEC.variables.values()
    }
    values.update(
        iss=100,
        snd_una=101,
        snd_nxt=101,
        snd_max=101,
        irs=RCV_NXT - 1,
        rcv_nxt=RCV_NXT,
        snd_wnd=65535,
        max_snd_wnd=65535,
        rcv_wnd=65535,
        reach=65535,
        dupack_threshold=3,
        max_retries=3,
        snd_wl1=RCV_NXT - 1,
        snd_wl2=101,
        recover=100,
        timestamps=True,
        ts_ok=True,
        ts_recent=RECENT,
        last_ack_sent=RCV_NXT,
    )
    values.update(over)
    return values


def _seg(
    tsval: int | None, seq: int = RCV_NXT, length: int = 10, **flags: bool
) -> dict[str, Value]:
    f: dict[str, Value] = {"seq": seq, "ack": 101, "len": length, "wnd": 65535}
    f.update({"SYN": False, "ACK": True, "FIN": False, "RST": False})
    f.update(flags)
    f["TS"] = tsval is not None
    f["tsval"], f["tsecr"] = (tsval or 0) & 0xFFFFFFFF, 0
    return f


INPUTS: dict[str, Value] = {
    "isn": 0,
    "fill": 0,
    "new_held": False,
    "oow_ok": True,
    "challenge_ok": True,
    "n": 0,
    "keepalive_due": False,
    "tlp_due": False,
    "ack_delay_ok": False,
    "ack_timer": False,
    "ts_expired": False,
}


def _run(values: dict[str, Value], seg: dict[str, Value], **inputs: Value) -> Any:
    return step(SPEC, "ESTABLISHED", values, "segment", seg, {**INPUTS, **inputs})


def test_tcpwire_carries_the_timestamps_option_both_ways() -> None:
    s = Seg(1, 2, 3, 4, frozenset({"ACK"}), 100, b"xy", ts=(0xFFFF_FFFF, 7))
    back = parse(build(s, "192.0.2.1", "192.0.2.2"))
    assert back.ts == (0xFFFF_FFFF, 7) and back.payload == b"xy"
    f = back.fields()
    assert f["TS"] is True and f["tsval"] == 0xFFFF_FFFF and f["tsecr"] == 7
    bare = parse(build(Seg(1, 2, 3, 4, frozenset({"ACK"}), 100), "192.0.2.1", "192.0.2.2"))
    assert bare.ts is None and bare.fields()["TS"] is False


@pytest.mark.parametrize("older", [1, 1000, 2**31 - 1])
def test_paws_drops_an_older_timestamp_and_answers_with_an_ack(older: int) -> None:
    # RFC 7323 5.3 R1: older than TS.Recent in the wrapping order (here across 2^32).
    r = _run(_established(), _seg(RECENT - older))
    # PAWS runs before everything, keep-alive's "heard" included: an old duplicate says
    # nothing about the peer now.
    assert r.fired == ["seg.paws_reject"]
    assert r.values["rcv_nxt"] == RCV_NXT and r.values["ts_recent"] == RECENT
    ((em, mandatory),) = r.emissions
    assert mandatory and em.flags == ("ACK",)


@pytest.mark.parametrize("newer", [0, 1, 0x200])  # 0x200: past 2^32, i.e. wrapped to 0x100
def test_a_timestamp_not_older_passes_and_becomes_ts_recent(newer: int) -> None:
    r = _run(_established(), _seg(RECENT + newer))
    assert "seg.paws_reject" not in r.fired and "data.in_order" in r.fired
    assert r.values["ts_recent"] == (RECENT + newer) & 0xFFFFFFFF
    assert r.values["rcv_nxt"] == RCV_NXT + 10


def test_ts_recent_is_taken_only_from_a_segment_our_last_ack_covers() -> None:
    # RFC 7323 4.3: a segment beyond Last.ACK.sent (the second of two under one delayed
    # ACK) is accepted but its TSval is not echoed: the first one's is.
    r = _run(_established(last_ack_sent=RCV_NXT - 10), _seg(RECENT + 5))
    assert "data.in_order" in r.fired and r.values["ts_recent"] == RECENT


def test_a_segment_the_ack_check_drops_does_not_move_ts_recent() -> None:
    # RFC 5961 5.2 drops an ACK of data never sent; a blind forger must not get its TSval
    # into TS.Recent that way (PAWS would then refuse the real peer for 24 days).
    forged = {**_seg(RECENT + 2**31 - 1), "ack": 999_999}
    r = _run(_established(), forged)
    assert "ack.unsent" in r.fired and r.values["ts_recent"] == RECENT
    syn = _seg(RECENT + 2**31 - 1, length=0, SYN=True, ACK=False)
    r = _run(_established(), syn)
    assert "seg.syn_challenge" in r.fired and r.values["ts_recent"] == RECENT


def test_the_peers_syn_repeated_renegotiates_before_paws() -> None:
    # Our SYN-ACK was lost; the peer retries its SYN without options: answered, and
    # timestamps are off from now on (not dropped as missing the option).
    vals = _established(snd_nxt=101, snd_max=101, snd_una=100, irs=RCV_NXT - 1)
    retry = _seg(None, seq=RCV_NXT - 1, length=0, SYN=True, ACK=False)
    r = step(SPEC, "SYN_RECEIVED", vals, "segment", retry, INPUTS)
    assert r.fired == ["paws.pass", "syn_received.recv_syn_dup"]
    assert r.values["ts_ok"] is False and r.emissions


def test_a_rst_is_exempt_from_paws() -> None:
    r = _run(_established(), _seg(RECENT - 5, length=0, RST=True, ACK=False))
    assert "seg.rst_reset" in r.fired and r.state == "CLOSED"


def test_a_segment_without_the_option_is_dropped_silently() -> None:
    r = _run(_established(), _seg(None))
    assert r.reported == ["seg.ts_missing"] and r.emissions == []
    assert r.values["rcv_nxt"] == RCV_NXT


def test_an_expired_ts_recent_skips_paws() -> None:
    # RFC 7323 5.5: after 24 days idle TS.Recent is no reference; the old TSval is taken.
    r = _run(_established(), _seg(RECENT - 5), ts_expired=True)
    assert "data.in_order" in r.fired and r.values["ts_recent"] == RECENT - 5


def test_without_timestamps_nothing_changes() -> None:
    r = _run(_established(ts_ok=False), _seg(None))
    assert "data.in_order" in r.fired and "seg.ts_missing" not in r.fired


def test_the_syn_agrees_on_timestamps_only_when_both_offer_them() -> None:
    closed: dict[str, Value] = {
        v.name: (False if v.type == "bool" else 0) for v in SPEC.variables.values()
    }
    syn = _seg(777, seq=9, length=0, SYN=True, ACK=False)
    for offered, ours, agreed in [(True, True, True), (False, True, False), (True, False, False)]:
        vals = {**closed, "timestamps": ours, "rcv_wnd": 65535, "reach": 65535}
        s = syn if offered else _seg(None, seq=9, length=0, SYN=True, ACK=False)
        r = step(SPEC, "LISTEN", vals, "segment", s, INPUTS)
        assert r.state == "SYN_RECEIVED"
        assert r.values["ts_ok"] is agreed
        assert r.values["ts_recent"] == (777 if agreed else 0)


def _sent_ok(values: dict[str, Value], state: str, out: Seg) -> bool:
    env = out_env(SPEC, state, values, out.fields())
    return all(bool(evaluate(c, env)) for c in SPEC.sent.values())


def test_every_segment_sent_carries_the_option_with_ts_recent() -> None:
    v = _established()
    ack = frozenset({"ACK"})
    assert _sent_ok(v, "ESTABLISHED", Seg(1, 2, 101, RCV_NXT, ack, 9, ts=(55, RECENT)))
    # Missing, or echoing the wrong value: both break RFC 7323 3.2 / 4.3.
    assert not _sent_ok(v, "ESTABLISHED", Seg(1, 2, 101, RCV_NXT, ack, 9))
    assert not _sent_ok(v, "ESTABLISHED", Seg(1, 2, 101, RCV_NXT, ack, 9, ts=(55, 1)))
    # A RST carries none; without agreement nothing but our SYN does.
    assert _sent_ok(v, "ESTABLISHED", Seg(1, 2, 101, 0, frozenset({"RST"}), 0))
    off = _established(ts_ok=False)
    assert not _sent_ok(off, "ESTABLISHED", Seg(1, 2, 101, RCV_NXT, ack, 9, ts=(55, 0)))
    syn = frozenset({"SYN"})
    assert _sent_ok(off, "SYN_SENT", Seg(1, 2, 100, 0, syn, 9, ts=(55, 0)))
    assert not _sent_ok(
        {**off, "timestamps": False}, "SYN_SENT", Seg(1, 2, 100, 0, syn, 9, ts=(55, 0))
    )


# --- the real core, judged step by step -------------------------------------------------


def _connected(client: dict[str, Any], server: dict[str, Any]) -> Harness:
    h = Harness(load(), client_iss=10, server_iss=20, client_config=client, server_config=server)
    while h.channel:
        h.deliver(0)
    return h


@pytest.mark.parametrize(
    ("client", "server", "agreed"),
    [
        ({"ts_offset": 2**32 - 3}, {"ts_offset": 12345}, 1),  # both: the client's clock wraps
        ({"timestamps": False}, {}, 0),
        ({}, {"timestamps": False}, 0),
    ],
)
def test_the_core_uses_timestamps_only_when_both_offer_them(
    client: dict[str, Any], server: dict[str, Any], agreed: int
) -> None:
    h = _connected(client, server)
    for p in (h.client, h.server):
        assert p.conn.spec_vars()["ts_ok"] == agreed
    h.send("client", b"a" * 300)
    h.send("server", b"b" * 100)
    while h.channel:
        h.deliver(0)
    h.recv("server")
    h.recv("client")
    assert bytes(h.server.received) == b"a" * 300 and bytes(h.client.received) == b"b" * 100


def test_the_core_drops_an_old_duplicate_by_its_timestamp() -> None:
    # In-window text whose sequence number looks fine but whose TSval is older than
    # TS.Recent: the wrapped-sequence-space duplicate PAWS exists for (RFC 7323 5).
    h = _connected({}, {})
    v = h.server.conn.spec_vars()

    def text(tsval: int) -> Seg:
        """20 bytes at the server's RCV.NXT, acknowledging all it sent, with ``tsval``."""
        flags = frozenset({"ACK"})
        ts = (tsval & 0xFFFFFFFF, 0)
        return Seg(40000, 80, v["rcv_nxt"], v["snd_max"], flags, 65535, b"x" * 20, ts=ts)

    h.inject("server", text(v["ts_recent"] - 100))
    assert h.server.conn.applied_rules() == ["seg.paws_reject"]
    h.recv("server")
    assert h.server.received == b""
    assert h.server.conn.spec_vars()["rcv_nxt"] == v["rcv_nxt"]
    # The same text with a current timestamp is taken.
    h.inject("server", text(v["ts_recent"]))
    h.recv("server")
    assert h.server.received == b"x" * 20


def test_the_ack_completing_the_handshake_sets_ts_recent() -> None:
    # SYN-RECEIVED goes on through the ACK checks to the "ts_recent" phase too (a
    # divergence the conformance tests found while that phase was being added).
    vals = _established(snd_nxt=101, snd_max=101, snd_una=100, ts_recent=5, passive=True)
    r = step(SPEC, "SYN_RECEIVED", vals, "segment", _seg(9, length=0), INPUTS)
    assert r.state == "ESTABLISHED" and "ts_recent.take" in r.fired
    assert r.values["ts_recent"] == 9

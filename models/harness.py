"""Two real Rust connections, an adversarial channel between them, and the spec watching.

:class:`Harness` owns a client (active open) and a server (passive open) built from the
sans-I/O ``ferrotcp._core.Connection``. Every input it gives a connection (a segment, a user
call, a timer expiry) is judged by :func:`models.oracle.judge`; what the connection sends
enters the channel, from which the caller delivers, duplicates or drops segments in any
order. The Hypothesis state machine (``conformance.py``) and the replay of the Z3 witnesses
both drive it, so there is one place where the core is compared with the spec.

Segments travel as bytes, options and all, so the two cores negotiate window scaling
between themselves (RFC 7323 2). The spec speaks of windows in bytes: every segment it
judges has its window field scaled as its receiver reads it (``Seg.fields(shift)``, with
the receiver's Snd.Wind.Shift, or the sender's Rcv.Wind.Shift for what a core sent).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .expr import Value
from .oracle import Observation, judge, spec_state, spec_values
from .report import Segment, Trace, TraceEvent
from .spec import Spec
from .tcpwire import Seg, build, parse

CLIENT_ADDR = ("192.0.2.1", 40000)
SERVER_ADDR = ("192.0.2.2", 80)
# Small enough that windows close, timers give up and the stream wraps quickly in a test.
CONFIG: dict[str, Any] = {
    "mss": 536,
    "recv_buffer": 4096,
    "send_buffer": 16384,
    "max_retransmissions": 3,
    "max_syn_retransmissions": 3,
}
# RFC 7323 5.5: TS.Recent is trusted for 24 days (the timestamp clock may wrap after that).
TS_RECENT_LIFETIME_US = 24 * 24 * 3600 * 1_000_000
ERRORS = {"refused": "ECONNREFUSED", "reset": "ECONNRESET", "timed-out": "ETIMEDOUT"}


class Divergence(AssertionError):
    """The core did something the spec does not allow; the message has the details and
    the trace so far as a message sequence chart."""


@dataclass
class Peer:
    name: str
    addr: tuple[str, int]
    conn: Any = None  # ferrotcp._core.Connection
    sent: bytearray = field(default_factory=bytearray)  # what the application queued
    received: bytearray = field(default_factory=bytearray)  # what it read, in order
    failed: bool = False
    # An injected segment's text was taken in order: what this side reads is no longer the
    # other's stream alone (a forger who hits RCV.NXT gets in; TCP cannot tell), so the
    # prefix property has nothing left to say about it.
    forged: bool = False


def _mark_sacked(s: Seg, ranges: list[tuple[int, int]]) -> Seg:
    """``s`` with ``sacked`` set if its data overlaps one of the scoreboard's ``ranges``
    (sequence numbers, compared mod 2^32)."""
    if not s.len or "SYN" in s.flags or "RST" in s.flags:
        return s
    for left, right in ranges:
        if (s.seq - left) % 2**32 < (right - left) % 2**32 or (left - s.seq) % 2**32 < s.len:
            return replace(s, sacked=True)
    return s


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "EIO")


class Harness:
    def __init__(
        self,
        spec: Spec,
        client_iss: int,
        server_iss: int,
        simultaneous: bool = False,
        client_config: Mapping[str, Any] | None = None,
        server_config: Mapping[str, Any] | None = None,
    ) -> None:
        """``simultaneous``: the "server" connects too instead of listening, so the two SYNs
        cross (RFC 9293 3.5, figure 7). ``client_config`` / ``server_config``: settings
        over :data:`CONFIG` for one side (``window_scale=3``, ``sack_permitted=False``...)."""
        from ferrotcp import _core

        self.spec = spec
        self.now = 0
        self.client = Peer("client", CLIENT_ADDR)
        self.server = Peer("server", SERVER_ADDR)
        self.channel: list[tuple[str, bytes]] = []  # (destination peer name, segment)
        self.trace = Trace()
        self.fired: set[str] = set()
        self.steps = 0
        self._core = _core
        conn = _core.Connection
        ccfg = {**CONFIG, **(client_config or {})}
        scfg = {**CONFIG, **(server_config or {})}
        if simultaneous:
            self._open(
                self.server,
                "connect",
                lambda: conn.connect(SERVER_ADDR, CLIENT_ADDR, now=0, iss=server_iss, **scfg),
            )
        else:
            self._open(
                self.server, "listen", lambda: conn.listen(SERVER_ADDR, iss=server_iss, **scfg)
            )
        self._open(
            self.client,
            "connect",
            lambda: conn.connect(CLIENT_ADDR, SERVER_ADDR, now=0, iss=client_iss, **ccfg),
        )

    # --- helpers ------------------------------------------------------------------------
    def peer(self, name: str) -> Peer:
        return self.client if name == "client" else self.server

    def other(self, p: Peer) -> Peer:
        return self.server if p is self.client else self.client

    def _snapshot(self, p: Peer) -> tuple[str, dict[str, Value], dict[str, int]]:
        raw = p.conn.spec_vars()
        raw["failed"] = int(p.failed)
        return spec_state(p.conn.state), spec_values(self.spec, raw), raw

    def _oow_ok(self, raw: Mapping[str, int]) -> bool:
        last = raw.get("last_oow_ack_us")
        interval = raw.get("oow_ack_interval_us", 0)
        return last is None or last == 2**64 - 1 or self.now - last >= interval

    def _challenge_ok(self, raw: Mapping[str, int]) -> bool:
        """One more challenge ACK fits in the current second (RFC 5961 7)."""
        start = raw.get("challenge_window_start_us", 2**64 - 1)
        limit = raw.get("challenge_ack_limit", 0)
        if limit == 0 or start == 2**64 - 1 or self.now - start >= 1_000_000:
            return True
        return raw.get("challenge_window_sent", 0) < limit

    def _keepalive_due(self, event: str, raw: Mapping[str, int]) -> bool:
        """The spec's ``in.keepalive_due``: on a timer event, the keep-alive deadline the
        core reported before it has come (RFC 9293 3.8.4; the rules do not count time)."""
        return self._deadline_due(event, raw, "keepalive_deadline_us")

    def _deadline_due(self, event: str, raw: Mapping[str, int], name: str) -> bool:
        """On a timer event, whether the deadline ``name`` the core reported before it has
        come (``in.keepalive_due``, ``in.tlp_due``)."""
        deadline = raw.get(name, 2**64 - 1)
        return event == "timeout" and deadline != 2**64 - 1 and self.now >= deadline

    def _ack_delay_ok(self, pre: Mapping[str, int], post: Mapping[str, int]) -> bool:
        """The spec's ``in.ack_delay_ok`` (RFC 9293 3.8.6.3, RFC 5681 4.2): delayed ACKs
        are on and the in-order text unacknowledged before this segment, with what it took,
        stays under two full-sized segments (the effective MSS)."""
        if not pre.get("delayed_ack_us", 0):
            return False
        took = (post.get("rcv_nxt", 0) - pre.get("rcv_nxt", 0)) & 0xFFFFFFFF
        return pre.get("rcv_unacked", 0) + took < 2 * pre.get("snd_mss", 0)

    def _ack_timer(self, event: str, raw: Mapping[str, int]) -> bool:
        """The spec's ``in.ack_timer``: on a timer event, the delayed-ACK deadline the core
        reported before it has come, and no other timer's (the rules do not count time)."""
        never = 2**64 - 1
        due = raw.get("delack_deadline_us", never)
        other = raw.get("other_deadline_us", never)
        return event == "timeout" and due != never and self.now >= due and (
            other == never or self.now < other
        )

    def _ts_expired(self, raw: Mapping[str, int]) -> bool:
        """The spec's ``in.ts_expired``: TS.Recent was set more than 24 days ago (RFC 7323
        5.5), so the PAWS test is skipped."""
        age = raw.get("ts_recent_age_us", 2**64 - 1)
        return age != 2**64 - 1 and self.now - age > TS_RECENT_LIFETIME_US

    def _fail(self, problems: list[str], what: str) -> None:
        from .mscchart import render

        chart = render(self.trace)
        raise Divergence(f"{what}:\n  " + "\n  ".join(problems) + "\n\n" + chart)

    # --- driving one connection ----------------------------------------------------------
    def _open(self, p: Peer, event: str, make: Callable[[], Any]) -> None:
        p.conn = make()
        state, post, raw = self._snapshot(p)
        # The core builds the TCB and opens it in one call: the spec's OPEN from CLOSED,
        # judged against a CLOSED TCB that already has the configured values.
        pre = dict(post)
        self._judge(p, event, "CLOSED", pre, raw, None, 0, None, f"{event}()")

    def _judge(
        self,
        p: Peer,
        event: str,
        pre_state: str,
        pre: dict[str, Value],
        pre_raw: dict[str, int],
        seg: Seg | None,
        send_n: int,
        error: str | None,
        label: str,
    ) -> list[Seg]:
        reported = list(p.conn.applied_rules())
        for name, detail in iter(p.conn.next_event, None):
            if name == "error":
                error = ERRORS.get(detail or "", detail)
                p.failed = True
        counters_before = pre_raw.get("_ooo_bytes", 0)
        sacked = p.conn.sacked_ranges()
        sent = [_mark_sacked(parse(b), sacked) for b in p.conn.datagrams_to_send(self.now)]
        post_state, post, raw = self._snapshot(p)
        # The arriving segment's window as this side reads it; what it sent, as it meant it.
        in_shift = pre_raw.get("snd_wscale", 0)
        out_shift = raw.get("rcv_wscale", 0)
        obs = Observation(
            pre_state=pre_state,
            pre=pre,
            post_state=post_state,
            post=post,
            reported=reported,
            sent=sent,
            error=error,
            oow_ok=self._oow_ok(pre_raw),
            challenge_ok=self._challenge_ok(pre_raw),
            held_grew=self._held_bytes(p) > counters_before,
            keepalive_due=self._keepalive_due(event, pre_raw),
            ack_delay_ok=self._ack_delay_ok(pre_raw, raw),
            ack_timer=self._ack_timer(event, pre_raw),
            ts_expired=self._ts_expired(pre_raw),
            sack_news=raw.get("sack_news_seen", 0) > pre_raw.get("sack_news_seen", 0),
            tlp_due=self._deadline_due(event, pre_raw, "tlp_deadline_us"),
            raw_post=raw,
            out_shift=out_shift,
        )
        fields = seg.fields(in_shift) if seg else None
        pred, problems = judge(self.spec, event, obs, fields, send_n)
        self.fired.update(pred.fired)
        self.steps += 1
        self.trace.events.append(
            TraceEvent(
                p.name,
                "deliver" if seg is not None else ("timeout" if event == "timeout" else "call"),
                label,
                _segment(seg, in_shift) if seg else None,
                reported,
                post_state,
            )
        )
        for s in sent:
            self.trace.events.append(TraceEvent(p.name, "send", "", _segment(s, out_shift)))
            self.channel.append((self.other(p).name, build(s, p.addr[0], self.other(p).addr[0])))
        if problems:
            self._fail(problems, f"{p.name} diverged from the spec on {label}")
        return sent

    def _held_bytes(self, p: Peer) -> int:
        return int(p.conn.counters().get("out_of_order_bytes", 0))

    def _input(
        self,
        p: Peer,
        event: str,
        label: str,
        action: Callable[[], Any],
        seg: Seg | None = None,
        send_n: int = 0,
    ) -> Any:
        pre_state, pre, raw = self._snapshot(p)
        raw = dict(raw)
        raw["_ooo_bytes"] = self._held_bytes(p)
        error = None
        result = None
        try:
            result = action()
        except OSError as exc:
            error = _errno_name(exc)
        self._judge(p, event, pre_state, pre, raw, seg, send_n, error, label)
        return result

    # --- the inputs ----------------------------------------------------------------------
    def deliver(self, index: int, keep: bool = False) -> None:
        """Hand the ``index``-th segment in flight to its destination (``keep``: a copy
        stays in the channel, i.e. the network duplicated it)."""
        dst, data = self.channel[index] if keep else self.channel.pop(index)
        p = self.peer(dst)
        seg = parse(data)
        src_ip = self.other(p).addr[0]
        self._input(p, "segment", "deliver", lambda: p.conn.receive(self.now, [data], src_ip), seg)

    def drop(self, index: int) -> None:
        dst, data = self.channel.pop(index)
        shift = self.peer(dst).conn.spec_vars().get("snd_wscale", 0)
        seg = _segment(parse(data), shift)
        self.trace.events.append(TraceEvent("channel", "drop", f"to {dst}", seg))

    def inject(self, name: str, seg: Seg) -> None:
        """A segment from nowhere in particular (arbitrary fields) arrives at ``name``.
        ``seg.wnd`` is the field on the wire: ``name`` scales it as it scales its peer's."""
        p = self.peer(name)
        src_ip = self.other(p).addr[0]
        data = build(seg, src_ip, p.addr[0])
        before = int(p.conn.counters().get("bytes_delivered", 0))
        self._input(p, "segment", "inject", lambda: p.conn.receive(self.now, [data], src_ip), seg)
        if int(p.conn.counters().get("bytes_delivered", 0)) > before:
            p.forged = True

    def send(self, name: str, data: bytes) -> None:
        p = self.peer(name)

        def act() -> int:
            n: int = p.conn.send(data)
            p.sent += data[:n]
            return n

        # The spec's `n` is what the user offered; how much the buffer took is observed.
        self._input(p, "send", f"send({len(data)})", act, send_n=len(data))

    def recv(self, name: str) -> None:
        p = self.peer(name)
        p.received += p.conn.recv()
        # Reading is not an event of the spec (it only opens the receive window, an observed
        # variable), but the window update it may cause is sent and goes into the channel.
        shift = p.conn.spec_vars().get("rcv_wscale", 0)
        for s in (parse(b) for b in p.conn.datagrams_to_send(self.now)):
            self.trace.events.append(TraceEvent(p.name, "send", "", _segment(s, shift)))
            self.channel.append((self.other(p).name, build(s, p.addr[0], self.other(p).addr[0])))

    def close(self, name: str) -> None:
        p = self.peer(name)
        self._input(p, "close", "close()", lambda: p.conn.close(self.now))

    def abort(self, name: str) -> None:
        p = self.peer(name)
        self._input(p, "abort", "abort()", lambda: p.conn.abort(self.now))

    def timeout(self, name: str, force: bool = False) -> bool:
        """Advance time to ``name``'s next timer and fire it; False if none runs (with
        ``force``, the timer event is delivered anyway, and nothing may happen)."""
        p = self.peer(name)
        due = p.conn.next_timeout()
        if due is None and not force:
            return False
        self.now = max(self.now, int(due if due is not None else self.now))
        self._input(p, "timeout", "timeout", lambda: p.conn.handle_timeout(self.now))
        return True

    # --- properties -----------------------------------------------------------------------
    def check_prefix(self) -> None:
        """Each side read a prefix of what the other sent (nothing invented, nothing
        reordered, nothing skipped)."""
        for p in (self.client, self.server):
            if p.forged:
                continue
            src = self.other(p).sent
            if bytes(p.received) != bytes(src[: len(p.received)]):
                self._fail(
                    [
                        f"{p.name} read {len(p.received)} bytes that are not a prefix "
                        f"of the {len(src)} bytes {self.other(p).name} sent"
                    ],
                    "prefix",
                )


def _segment(s: Seg, shift: int) -> Segment:
    """For the chart: the window in bytes, as the spec sees it."""
    return Segment(s.flag_text(), s.seq, s.ack, s.len, s.window(shift))

"""The demo: a handshake and a verified transfer over a lossy simulated network."""

from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from ferrotcp.chart import describe, render, sent_segments
from ferrotcp.sim import Network, SimConnection

CLIENT_ADDR = "192.0.2.1"
SERVER_ADDR = "192.0.2.2"
PORT = 80


@dataclass
class DemoResult:
    seed: int
    ok: bool
    client_sent_hash: str
    server_got_hash: str
    server_sent_hash: str
    client_got_hash: str
    client: dict[str, int]
    server: dict[str, int]


def _payload(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def handshake_chart(client: SimConnection, server: SimConnection) -> str:
    """The segments up to the one that completed the handshake, ISNs shown as X and Y."""
    x, y = client.tcb()["iss"], server.tcb()["iss"]
    events: list[tuple[int, str, str, str]] = []
    # Client segments up to its first one without SYN (the handshake's ACK); the server's
    # SYN-ACKs. Retransmissions show as they happened.
    for side, conn, names in (("L", client, ("X", x, "Y", y)), ("R", server, ("Y", y, "X", x))):
        for e in sent_segments(conn.log()):
            has_syn = "SYN" in e["flags"]
            if not has_syn and side == "R":
                break
            note = e["reason"] if e["reason"] not in ("syn", "syn-ack", "data", "ack") else ""
            if not has_syn and e["len"]:
                note = f"the ACK carries {e['len']} bytes of data"
            events.append((e["time"], side, describe(e, relative_to=names), note))
            if not has_syn:
                break
    events.sort(key=lambda ev: ev[0])
    chart = render("client", "server", events)
    return f"{chart}\n  X = {x} (client ISN), Y = {y} (server ISN), both random per run"


def closing_paths(conn: SimConnection) -> str:
    """The states a connection went through after ESTABLISHED."""
    states = [e for e in conn.log() if e["kind"] == "state"]
    path: list[str] = []
    started = False
    for e in states:
        if e["from"] == "ESTABLISHED":
            started = True
            path.append("ESTABLISHED")
        if started:
            path.append(e["to"])
    return " -> ".join(path) if path else "(never closed)"


def run(
    seed: int | None = None,
    size: int = 1 << 20,
    loss: float = 0.05,
    reorder: float = 0.05,
    duplicate: float = 0.01,
    corrupt: float = 0.0,
    delay_us: int = 10_000,
    out: Any = print,
) -> DemoResult:
    """Run the demo and print it through ``out``; returns the verified figures."""
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big")
    wall = time.perf_counter()
    out(f"ferrotcp demo: seed {seed} (rerun with --seed {seed} for the same run)")
    out(
        f"link each way: {delay_us / 1000:g} ms delay, {loss:.0%} loss, {reorder:.0%} reordering, "
        f"{duplicate:.0%} duplication, {corrupt:.1%} corruption"
    )
    net = Network(seed)
    c_host = net.add_host("client", CLIENT_ADDR)
    s_host = net.add_host("server", SERVER_ADDR)
    net.link(
        c_host,
        s_host,
        delay_us=delay_us,
        loss=loss,
        reorder=reorder,
        duplicate=duplicate,
        corrupt=corrupt,
    )
    s_host.listen(PORT)
    rng = random.Random(seed)
    up, down = _payload(rng, size), _payload(rng, size)

    client = c_host.connect((SERVER_ADDR, PORT))
    # Queued before the handshake completes, so the handshake's ACK can carry data.
    client.send(up)
    client.close()
    server = s_host.accept(PORT)
    client.wait_established()
    server.send(down)
    server.close()

    out("\n1. Three-way handshake")
    out(handshake_chart(client, server))

    server.wait_received(size)
    client.wait_received(size)
    client.wait_closed()
    server.wait_closed()
    got_up, got_down = server.recv(), client.recv()

    out(f"\n2. Transfer of {size:,} bytes each way")
    c, s = client.counters(), server.counters()
    rows = [
        ("segments sent", "segments_sent"),
        ("  retransmitted after timeout", "retransmits_timeout"),
        ("  fast retransmits (3 dup ACKs)", "retransmits_fast"),
        ("  recovery retransmits (SACK or NewReno)", "retransmits_recovery"),
        ("retransmission timeouts", "rto_expirations"),
        ("segments received out of order, held", "out_of_order_segments"),
        ("duplicate ACKs sent (naming the gap)", "dup_acks_sent"),
        ("duplicate ACKs received", "dup_acks_received"),
        ("duplicate segments received", "duplicate_segments"),
        ("SACK blocks sent (RFC 2018)", "sack_blocks_sent"),
        ("SACK blocks received", "sack_blocks_received"),
        ("  of them D-SACK (a needless resend)", "dsacks_received"),
        ("bytes RACK found lost (RFC 8985)", "rack_lost_bytes"),
        ("window cuts undone (spurious)", "spurious_undone"),
    ]
    out(f"  {'':40}{'client':>10}{'server':>10}")
    for label, key in rows:
        out(f"  {label:40}{c[key]:>10,}{s[key]:>10,}")
    for a, b, name in ((c_host, s_host, "client->server"), (s_host, c_host, "server->client")):
        lc = net.link_counters(a, b)
        out(
            f"  link {name}: {lc['sent']:,} packets, {lc['lost']} lost, "
            f"{lc['reordered']} reordered, {lc['duplicated']} duplicated, "
            f"{lc['corrupted']} corrupted"
        )
    malformed = sum(h.counters()["malformed"].get("bad-checksum", 0) for h in (c_host, s_host))
    if corrupt:
        out(f"  corrupted packets dropped on checksum: {malformed}")
    hashes = {
        "client sent": hashlib.sha256(up).hexdigest(),
        "server got": hashlib.sha256(got_up).hexdigest(),
        "server sent": hashlib.sha256(down).hexdigest(),
        "client got": hashlib.sha256(got_down).hexdigest(),
    }
    for k, v in hashes.items():
        out(f"  SHA-256 {k:12} {v}")
    ok = got_up == up and got_down == down
    out(f"  {'both directions byte-exact' if ok else 'MISMATCH'}")

    out("\n3. Orderly close")
    out(f"  client: {closing_paths(client)}")
    out(f"  server: {closing_paths(server)}")
    out(f"\nvirtual time {net.now_us / 1e6:.2f} s, wall time {time.perf_counter() - wall:.2f} s")
    return DemoResult(
        seed=seed,
        ok=ok and client.state == "CLOSED" and server.state == "CLOSED",
        client_sent_hash=hashes["client sent"],
        server_got_hash=hashes["server got"],
        server_sent_hash=hashes["server sent"],
        client_got_hash=hashes["client got"],
        client=c,
        server=s,
    )

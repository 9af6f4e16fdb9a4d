"""Nagle's algorithm, SWS avoidance and delayed ACKs over the simulator (RFC 9293 3.7.4,
3.8.6.2, 3.8.6.3): transfers stay byte-exact with every combination of the switches, and
the switches do what they are for (fewer small segments, fewer ACKs)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import CLIENT, PORT, SERVER
from ferrotcp.sim import Network, SimConnection

DEMO = dict(loss=0.05, reorder=0.05, duplicate=0.01, delay_us=5_000)
BUDGET = 3_600_000_000


def _pair(seed: int, link: dict[str, Any], **config: Any) -> tuple[Network, SimConnection,
                                                                   SimConnection]:
    net = Network(seed)
    c = net.add_host("client", CLIENT, **config)
    s = net.add_host("server", SERVER, **config)
    net.link(c, s, **link)
    s.listen(PORT)
    client = c.connect((SERVER, PORT))
    server = s.accept(PORT)
    return net, client, server


@pytest.mark.parametrize("nodelay", [False, True])
@pytest.mark.parametrize("delayed_ack_us", [0, 40_000, 200_000])
@pytest.mark.parametrize("seed", range(3))
def test_bulk_transfer_is_byte_exact_with_every_setting(
    nodelay: bool, delayed_ack_us: int, seed: int
) -> None:
    net, client, server = _pair(seed, DEMO, nodelay=nodelay, delayed_ack_us=delayed_ack_us)
    rng = random.Random(seed)
    up, down = rng.randbytes(300_000), rng.randbytes(200_000)
    client.send(up)
    client.close()
    server.send(down)
    server.close()
    server.wait_received(len(up), BUDGET)
    client.wait_received(len(down), BUDGET)
    client.wait_closed(BUDGET)
    server.wait_closed(BUDGET)
    assert server.recv() == up
    assert client.recv() == down


def _one_way(delayed_ack_us: int) -> tuple[int, int]:
    """1 MiB client to server on a clean link: (the server's ACKs, virtual microseconds)."""
    net, client, server = _pair(7, dict(delay_us=5_000), delayed_ack_us=delayed_ack_us)
    data = random.Random(7).randbytes(1 << 20)
    start = net.now_us
    client.send(data)
    server.wait_received(len(data), BUDGET)
    took = net.now_us - start
    assert server.recv() == data
    net.run_until_idle()
    return server.counters()["acks_sent"], took


def test_delayed_acks_halve_the_acks_of_a_bulk_transfer() -> None:
    every, t_every = _one_way(0)
    delayed, t_delayed = _one_way(40_000)
    # At least every second full-sized segment is acknowledged (RFC 5681 4.2): about half.
    assert delayed < every * 0.65, (delayed, every)
    # ... and the transfer is not slowed much by it (the ACK clock still runs).
    assert t_delayed < t_every * 1.5, (t_delayed, t_every)


def _small_writes(nodelay: bool) -> tuple[int, bytes, bytes]:
    """200 writes of 10 bytes over a 20 ms round trip, a little time passing between
    them: (segments the client sent with data, what the server read, what was written)."""
    net, client, server = _pair(3, dict(delay_us=10_000), nodelay=nodelay)
    written = bytearray()
    for i in range(200):
        chunk = bytes([i]) * 10
        client.send(chunk)
        written += chunk
        net.run_for(1_000)
    server.wait_received(len(written), BUDGET)
    got = server.recv()
    sent = sum(1 for e in client.log() if e.get("kind") == "sent" and e.get("len", 0) > 0)
    return sent, got, bytes(written)


def test_nagle_coalesces_small_writes_and_nodelay_sends_each() -> None:
    nagle, got, written = _small_writes(False)
    assert got == written
    nodelay, got, written = _small_writes(True)
    assert got == written
    # Without Nagle one segment per write; with it one per round trip (plus the peer's
    # ACK delay, the classic interaction of the two), carrying every write made meanwhile.
    assert nodelay >= 190, nodelay
    assert nagle <= nodelay // 2, (nagle, nodelay)

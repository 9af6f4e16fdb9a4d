"""Window scaling and SACK-permitted (RFC 7323 2, RFC 2018 2) through the Python API: the
settings reach the core, the negotiation is visible, and scaled windows move a transfer.
The segment-by-segment cases are packet scripts in rust/core/src/conn/tests/options.rs."""

from __future__ import annotations

import pytest
from ferrotcp import Connection, Endpoint, Network

A, B = ("192.0.2.1", 5000), ("192.0.2.2", 80)


def handshake(
    client: dict[str, object], server: dict[str, object]
) -> tuple[Connection, Connection]:
    c = Connection.connect(A, B, now=0, iss=1000, **client)
    s = Connection.listen(B, iss=5000, **server)
    s.receive(0, c.datagrams_to_send(0), remote_ip=A[0])
    c.receive(0, s.datagrams_to_send(0))
    s.receive(0, c.datagrams_to_send(0))
    assert c.state == s.state == "ESTABLISHED"
    return c, s


def test_both_offering_negotiates_scaling_and_sack() -> None:
    c, s = handshake({"recv_buffer": 1 << 20}, {"recv_buffer": 4096, "window_scale": 3})
    for conn in (c, s):
        assert conn.wscale_ok and conn.sack_ok
    assert (c.rcv_wscale, c.snd_wscale) == (5, 3)  # 2^20 needs shift 5; the server asked 3
    assert (s.rcv_wscale, s.snd_wscale) == (3, 5)
    tcb = s.tcb()
    assert (tcb["wscale_ok"], tcb["snd_wscale"], tcb["rcv_wscale"], tcb["sack_ok"]) == (1, 5, 3, 1)
    # The third ACK's window is scaled (1 MiB); the SYN-ACK's was not (4096).
    assert s.snd_wnd == 1 << 20 and c.snd_wnd == 4096


@pytest.mark.parametrize(
    ("client", "server"),
    [({"window_scale": None}, {}), ({}, {"window_scale": None})],
)
def test_one_side_off_means_no_scaling_either_way(
    client: dict[str, object], server: dict[str, object]
) -> None:
    c, s = handshake({"recv_buffer": 1 << 20, **client}, {"recv_buffer": 1 << 20, **server})
    for conn in (c, s):
        assert not conn.wscale_ok and conn.snd_wscale == conn.rcv_wscale == 0
        assert conn.snd_wnd == 65535 and conn.sack_ok


def test_sack_permitted_needs_both_syns() -> None:
    c, s = handshake({"sack_permitted": False}, {})
    assert not c.sack_ok and not s.sack_ok and c.wscale_ok


@pytest.mark.parametrize("bad", [15, -1, "7"])
def test_bad_window_scale_settings_raise(bad: object) -> None:
    with pytest.raises((ValueError, TypeError, OverflowError)):
        Connection.connect(A, B, window_scale=bad)
    with pytest.raises((ValueError, TypeError, OverflowError)):
        Endpoint(window_scale=bad)


def test_a_transfer_over_a_long_fat_link_uses_windows_beyond_64_kib() -> None:
    net = Network(seed=3)
    settings = {"recv_buffer": 1 << 20, "send_buffer": 1 << 20}
    a = net.add_host("a", "192.0.2.1", **settings)
    b = net.add_host("b", "192.0.2.2", **settings)
    net.link(a, b, delay_us=50_000)
    b.listen(80)
    conn = a.connect(("192.0.2.2", 80))
    data = bytes(range(256)) * 8192  # 2 MiB
    conn.send(data)
    peer = b.accept(80)
    peer.wait_received(len(data))
    assert peer.recv() == data
    assert conn.tcb()["wscale_ok"] == 1
    assert conn.tcb()["snd_wnd"] > 65535

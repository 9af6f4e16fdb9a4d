"""The handshake over the simulator and the sans-I/O Connection."""

from __future__ import annotations

from conftest import CLIENT, PORT, SERVER
from ferrotcp import Connection, Network


def sent(conn_log: list[dict], n: int | None = None) -> list[dict]:
    out = [e for e in conn_log if e["kind"] == "sent"]
    return out if n is None else out[:n]


def test_three_way_handshake_numbers() -> None:
    net = Network(5)
    c, s = net.add_host("c", CLIENT), net.add_host("s", SERVER)
    net.link(c, s)
    s.listen(PORT)
    client = c.connect((SERVER, PORT))
    server = s.accept(PORT)
    client.wait_established()
    x, y = client.tcb()["iss"], server.tcb()["iss"]
    (syn,) = sent(client.log(), 1)
    (synack,) = sent(server.log(), 1)
    assert (syn["flags"], syn["seq"]) == ("SYN", x)
    assert (synack["flags"], synack["seq"], synack["ack"]) == ("SYN|ACK", y, (x + 1) % 2**32)
    ack = sent(client.log())[1]
    assert "ACK" in ack["flags"] and "SYN" not in ack["flags"]
    assert (ack["seq"], ack["ack"]) == ((x + 1) % 2**32, (y + 1) % 2**32)
    assert server.tcb()["irs"] == x and client.tcb()["irs"] == y


def test_isns_differ_between_runs_with_different_seeds() -> None:
    isns = set()
    for seed in range(8):
        net = Network(seed)
        c, s = net.add_host("c", CLIENT), net.add_host("s", SERVER)
        net.link(c, s)
        isns.add(c.connect((SERVER, PORT)).tcb()["iss"])
    assert len(isns) == 8


def test_handshake_ack_may_carry_data_and_it_is_delivered() -> None:
    net = Network(9)
    c, s = net.add_host("c", CLIENT), net.add_host("s", SERVER)
    net.link(c, s)
    s.listen(PORT)
    client = c.connect((SERVER, PORT))
    client.send(b"hello, handshake")  # queued while SYN-SENT
    server = s.accept(PORT)
    third = sent(client.log())[1]
    assert third["len"] == len(b"hello, handshake")
    assert "SYN" not in third["flags"] and "ACK" in third["flags"]
    server.wait_received(16)
    assert server.recv() == b"hello, handshake"
    first_received = [e for e in server.log() if e["kind"] == "received"][1]
    assert first_received["len"] == 16 and first_received["disposition"] == "in-order"


def pump(a: Connection, b: Connection, now: int) -> int:
    """Move segments both ways until quiet; returns how many moved."""
    moved = 0
    while True:
        out_a, out_b = a.datagrams_to_send(now), b.datagrams_to_send(now)
        if not out_a and not out_b:
            return moved
        moved += len(out_a) + len(out_b)
        assert b.receive(now, out_a, remote_ip=a.local[0]) == 0
        assert a.receive(now, out_b, remote_ip=b.local[0]) == 0


def test_sans_io_connections_back_to_back() -> None:
    # Every segment acknowledged at once: `pump` moves segments without letting time pass,
    # so a delayed ACK (RFC 9293 3.8.6.3) would hold the sender's last, Nagle-held segment.
    client = Connection.connect(
        ("192.0.2.1", 5000), ("192.0.2.2", 80), now=0, iss=1000, delayed_ack_us=0
    )
    server = Connection.listen(("192.0.2.2", 80), iss=9000, delayed_ack_us=0)
    assert client.state == "SYN-SENT" and server.state == "LISTEN"
    pump(client, server, 0)
    assert client.state == server.state == "ESTABLISHED"
    assert client.tcb()["rcv_nxt"] == 9001 and server.tcb()["rcv_nxt"] == 1001
    assert client.next_event() == ("connected", None)
    assert client.send(b"x" * 5000) == 5000
    pump(client, server, 10)
    assert server.recv() == b"x" * 5000
    assert client.snd_una == 6001
    client.close(20)
    pump(client, server, 20)
    assert client.state == "FIN-WAIT-2" and server.state == "CLOSE-WAIT"
    server.close(30)
    pump(client, server, 30)
    assert client.state == "TIME-WAIT" and server.state == "CLOSED"
    t = client.next_timeout()
    assert t is not None
    client.handle_timeout(t)
    assert client.state == "CLOSED"


def test_sans_io_malformed_segments_are_counted_not_raised() -> None:
    server = Connection.listen(("192.0.2.2", 80), iss=1)
    assert server.receive(0, [b"", b"\x00" * 19, b"\xff" * 40], remote_ip="192.0.2.1") == 3
    assert server.state == "LISTEN"

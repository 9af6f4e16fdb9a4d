"""SYN cookies through the Python ``Endpoint``: a listener whose backlog is full answers with
a cookie, keeps nothing, and the connection still completes and carries data byte-exact."""

from __future__ import annotations

import hashlib

import pytest
from ferrotcp import Endpoint

SERVER_IP, CLIENT_IP, PORT = "10.0.0.2", "10.0.0.1", 80
LISTEN = (SERVER_IP, PORT)


def tcp_header(packet: bytes) -> tuple[int, int, bytes]:
    """(flags, sequence number, option bytes) of the TCP segment in an IPv4 packet."""
    tcp = packet[(packet[0] & 0x0F) * 4 :]
    offset = (tcp[12] >> 4) * 4
    return tcp[13], int.from_bytes(tcp[4:8], "big"), tcp[20:offset]


def option_kinds(options: bytes) -> list[int]:
    kinds, i = [], 0
    while i < len(options) and options[i] != 0:
        kinds.append(options[i])
        i += 1 if options[i] == 1 else max(options[i + 1], 2)
    return kinds


SYN, ACK = 0x02, 0x10


def full_server(syn_cookies: bool, timestamps: bool = True) -> tuple[Endpoint, Endpoint]:
    """A server with a backlog of 1, filled by a handshake whose SYN-ACK is lost; both ends
    use timestamps (RFC 7323) or not."""
    server = Endpoint(bytes(range(16)), backlog=1, syn_cookies=syn_cookies, timestamps=timestamps)
    server.listen(LISTEN)
    client = Endpoint(bytes(16), min_rto_us=200_000, timestamps=timestamps)
    client.connect(0, (CLIENT_IP, 0), LISTEN)
    assert server.receive(0, client.datagrams_to_send(0)) == 1
    assert len(server.datagrams_to_send(0)) == 1  # the SYN-ACK, lost
    assert len(server) == 1
    return server, client


@pytest.mark.parametrize("timestamps", [False, True])
def test_a_full_backlog_completes_the_handshake_through_a_cookie(timestamps: bool) -> None:
    server, client = full_server(syn_cookies=True, timestamps=timestamps)
    conn = client.connect(0, (CLIENT_IP, 0), LISTEN)
    server.receive(0, client.datagrams_to_send(0))
    (synack,) = server.datagrams_to_send(0)
    flags, cookie, options = tcp_header(synack)
    assert flags == SYN | ACK
    if timestamps:
        # The TSval the peer echoes carries what the cookie cannot: MSS, NOP, window scale,
        # SACK-permitted, timestamps.
        assert option_kinds(options) == [2, 1, 3, 4, 8]
    else:
        # Only the MSS: a cookie has no room for window scaling (3) or SACK-permitted (4).
        assert option_kinds(options) == [2]
    assert len(server) == 1, "no TCB kept for the cookie"
    counters = server.endpoint_counters()
    assert counters["syn_cookies_sent"] == 1
    assert counters["syns_dropped_backlog"] == 0

    up = hashlib.shake_256(b"up").digest(200_000)
    down = hashlib.shake_256(b"down").digest(150_000)
    got_up, got_down = bytearray(), bytearray()
    sent_up = sent_down = 0
    peer = None
    client.receive(0, [synack])
    for step in range(5_000):
        now = step * 1_000
        server.receive(now, client.datagrams_to_send(now))
        client.receive(now, server.datagrams_to_send(now))
        for ep in (server, client):
            due = ep.next_timeout()
            if due is not None and due <= now:
                ep.handle_timeout(now)
        if peer is None:
            peer = server.accept(LISTEN)
            if peer is not None:
                assert server.tcb(peer)["iss"] == cookie
        if client.state(conn) == "ESTABLISHED" and sent_up < len(up):
            sent_up += client.send(conn, up[sent_up:])
            if sent_up == len(up):
                client.close(now, conn)
        got_down += client.recv(conn)
        if peer is not None:
            if sent_down < len(down):
                sent_down += server.send(peer, down[sent_down:])
                if sent_down == len(down):
                    server.close(now, peer)
            got_up += server.recv(peer)
            if client.at_eof(conn) and server.at_eof(peer) and server.all_acked(peer):
                break
    assert peer is not None, "the cookie connection was accepted"
    assert bytes(got_up) == up
    assert bytes(got_down) == down
    counters = server.endpoint_counters()
    assert counters["syn_cookies_accepted"] == 1
    assert counters["syn_cookies_rejected"] == 0
    # Built as any passive open, with the spec's rule ids in its log.
    rules = [e["rule"] for e in server.log(peer) if e["kind"] == "state"]
    assert rules[:3] == ["closed.listen", "listen.recv_syn", "syn_received.recv_ack"]
    tcb = server.tcb(peer)
    # The peer announced 1460, which is in the table; timestamps take 12 bytes of it.
    assert tcb["snd_mss"] == (1448 if timestamps else 1460)
    negotiated = (tcb["wscale_ok"], tcb["sack_ok"], tcb["ts_ok"])
    assert negotiated == ((1, 1, 1) if timestamps else (0, 0, 0))


def test_a_forged_cookie_ack_is_reset_and_counted() -> None:
    server, client = full_server(syn_cookies=True)
    client.connect(0, (CLIENT_IP, 0), LISTEN)
    server.receive(0, client.datagrams_to_send(0))
    (synack,) = server.datagrams_to_send(0)
    # The client's ACK with its acknowledgement number changed: not our cookie.
    client.receive(0, [synack])
    (ack,) = client.datagrams_to_send(0)
    forged = bytearray(ack)
    tcp = (forged[0] & 0x0F) * 4
    forged[tcp + 11] ^= 0x40
    # Fix the TCP checksum by recomputing it over the pseudo-header.
    forged[tcp + 16 : tcp + 18] = b"\0\0"
    pseudo = bytes(forged[12:20]) + b"\0\x06" + (len(forged) - tcp).to_bytes(2, "big")
    data = pseudo + bytes(forged[tcp:])
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    forged[tcp + 16 : tcp + 18] = (~total & 0xFFFF).to_bytes(2, "big")
    assert server.receive(1, [bytes(forged)]) == 1
    (rst,) = server.datagrams_to_send(1)
    assert tcp_header(rst)[0] == 0x04  # RST alone: <SEQ=SEG.ACK><CTL=RST>
    counters = server.endpoint_counters()
    assert counters["syn_cookies_rejected"] == 1
    assert counters["syn_cookies_accepted"] == 0
    assert len(server) == 1
    # The real one still completes.
    server.receive(2, [ack])
    assert server.accept(LISTEN) is not None


def test_without_cookies_a_full_backlog_drops_the_syn() -> None:
    server, client = full_server(syn_cookies=False)
    client.connect(0, (CLIENT_IP, 0), LISTEN)
    server.receive(0, client.datagrams_to_send(0))
    assert server.datagrams_to_send(0) == []
    counters = server.endpoint_counters()
    assert counters["syns_dropped_backlog"] == 1
    assert counters["syn_cookies_sent"] == 0
    assert len(server) == 1


@pytest.mark.parametrize("syn_cookies", [True, False])
def test_the_simulator_takes_the_syn_cookies_switch_per_host(syn_cookies: bool) -> None:
    # A backlog of 1, held by a half-open connection whose SYN-ACKs are all lost: the second
    # client gets in only by a cookie.
    from ferrotcp.sim import Network

    net = Network(seed=5)
    server = net.add_host("server", SERVER_IP, backlog=1, syn_cookies=syn_cookies)
    clients = [net.add_host(f"c{i}", f"10.0.0.{10 + i}") for i in range(2)]
    net.link(clients[0], server, both_ways=False, delay_us=1000)
    net.link(server, clients[0], both_ways=False, delay_us=1000, loss=1.0)
    net.link(clients[1], server, delay_us=1000)
    server.listen(PORT)
    clients[0].connect(LISTEN)
    net.run_for(10_000)
    second = clients[1].connect(LISTEN)
    net.run_for(500_000)
    counters = server.counters()
    if syn_cookies:
        assert second.state == "ESTABLISHED"
        assert counters["syn_cookies_sent"] >= 1
    else:
        assert second.state == "SYN-SENT"
        assert counters["syn_cookies_sent"] == 0 and counters["syns_dropped_backlog"] >= 1

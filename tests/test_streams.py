"""asyncio streams on ferrotcp: the standard library's StreamReader/StreamWriter over a ferrotcp
stack, running unchanged asyncio code (tests/httpapp.py) and failing as asyncio does."""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import random
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpapp
import pytest
from ferrotcp import FaultProfile, UdpStack
from ferrotcp.streams import open_connection, start_server
from udp_pair import CLIENT, PORT, SERVER, TIMEOUT, stack_pair

T = TypeVar("T")
SEED = 11


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run with an overall bound, so a hang fails the test."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 3))


def site(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {
        "/": b"<h1>hello</h1>\n",
        "/empty": b"",
        "/big.bin": rng.randbytes(1 << 20),
        "/odd.bin": rng.randbytes(99_991),
    }


PATHS = ["/", "/big.bin", "/missing", "/empty", "/chunked/odd.bin", "/odd.bin", "/big.bin"]


async def http_session(
    start: Callable[..., Awaitable[Any]],
    connect: Callable[..., Awaitable[Any]],
    host: str,
    files: dict[str, bytes],
) -> tuple[list[httpapp.Response], httpapp.ServerStats]:
    server, stats = await httpapp.serve(start, files, host, 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        responses = await httpapp.fetch_all(connect, host, port, PATHS)
    return responses, stats


def check_site(responses: list[httpapp.Response], files: dict[str, bytes]) -> None:
    assert [r.status for r in responses] == [200, 200, 404, 200, 200, 200, 200]
    for path, r in zip(PATHS, responses, strict=True):
        want = files.get(path.removeprefix("/chunked"), b"not found\n")
        assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(want).hexdigest(), path
    assert responses[4].headers["transfer-encoding"] == "chunked"


def test_the_http_app_is_plain_asyncio_code() -> None:
    """The same module on the standard library's sockets, to show it needs nothing else."""
    files = site(SEED)
    responses, stats = run(http_session(asyncio.start_server, asyncio.open_connection,
                                        "127.0.0.1", files))
    check_site(responses, files)
    assert stats.connections == 1 and stats.requests == len(PATHS)


@pytest.mark.parametrize("seed", [SEED, SEED + 1])
def test_the_http_app_runs_unchanged_on_ferrotcp_over_a_lossy_link(seed: int) -> None:
    files = site(seed)
    lossy = FaultProfile(loss=0.02, reorder=0.02, duplicate=0.01, seed=seed)
    with stack_pair(server_kw={"faults": lossy}, faults=lossy) as (server, client):
        start = functools.partial(start_server, stack=server)
        connect = functools.partial(open_connection, stack=client)
        responses, stats = run(http_session(start, connect, SERVER, files))
        faults = client.counters()["faults_out"]
    check_site(responses, files)
    # Keep-alive: every request went over the one connection.
    assert stats.connections == 1 and stats.requests == len(PATHS), f"seed {seed}"
    assert stats.peers[0][0] == CLIENT
    assert faults["lost"] > 0, f"seed {seed}: the link lost nothing, the test proves little"


def test_the_objects_are_the_standard_librarys_streams() -> None:
    async def main(server: UdpStack, client: UdpStack) -> None:
        got: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            got.append((r, w))
            w.write(await r.readline())  # echo one line, then half-close
            w.write_eof()
            await r.read()
            w.close()

        srv = await start_server(handle, SERVER, PORT, stack=server)
        assert srv.is_serving() and srv.sockets[0].getsockname() == (SERVER, PORT)
        reader, writer = await open_connection(SERVER, PORT, stack=client)
        assert type(reader) is asyncio.StreamReader and type(writer) is asyncio.StreamWriter
        assert isinstance(writer.transport, asyncio.Transport)
        assert writer.get_extra_info("peername") == (SERVER, PORT)
        assert writer.get_extra_info("sockname")[0] == CLIENT
        assert writer.can_write_eof() and not writer.is_closing()
        writer.write(b"one line\nrest")
        await writer.drain()
        assert await reader.readline() == b"one line\n"
        assert await reader.read() == b"" and reader.at_eof()  # the server's FIN
        with pytest.raises(asyncio.IncompleteReadError) as e:
            await reader.readexactly(1)
        assert e.value.partial == b""
        assert got[0][1].get_extra_info("peername") == writer.get_extra_info("sockname")
        writer.write_eof()  # the server's read() ends, it closes
        writer.close()
        assert writer.is_closing()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()
        assert srv.sockets == () and not srv.is_serving()

    with stack_pair() as (server, client):
        run(main(server, client))


def test_readuntil_readexactly_and_incomplete_reads() -> None:
    async def main(server: UdpStack, client: UdpStack) -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"HEAD|" + b"x" * 10 + b"tail")
            await w.drain()
            w.close()
            await w.wait_closed()

        async with await start_server(handle, None, PORT, stack=server):
            reader, writer = await open_connection(SERVER, PORT, stack=client)
            assert await reader.readuntil(b"|") == b"HEAD|"
            assert await reader.readexactly(10) == b"x" * 10
            with pytest.raises(asyncio.IncompleteReadError) as e:
                await reader.readexactly(100)
            assert e.value.partial == b"tail" and e.value.expected == 100
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()

    with stack_pair() as (server, client):
        run(main(server, client))


def test_connecting_to_a_closed_port_is_refused() -> None:
    async def main(client: UdpStack) -> None:
        with pytest.raises(ConnectionRefusedError):
            await open_connection(SERVER, PORT + 1, stack=client)
        with pytest.raises(socket.gaierror):  # no resolver: names fail as unknown names do
            await open_connection("localhost", PORT, stack=client)

    with stack_pair() as (_server, client):
        run(main(client))


def test_a_reset_reaches_the_reader_and_drain_as_connection_reset() -> None:
    async def main(server: UdpStack, client: UdpStack) -> None:
        accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.set_result(w)

        async with await start_server(handle, None, PORT, stack=server):
            reader, writer = await open_connection(SERVER, PORT, stack=client)
            peer = await accepted
            peer.transport.abort()  # RST
            with pytest.raises(ConnectionResetError):
                await reader.read(10)
            writer.write(b"after the reset")
            with pytest.raises(ConnectionResetError):
                await writer.drain()
            writer.close()
            with pytest.raises(ConnectionResetError):  # as asyncio's: the loss's cause
                await writer.wait_closed()

    with stack_pair() as (server, client):
        run(main(server, client))


async def _until(cond: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``cond()`` holds; bounded by a number of steps, not a time."""
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_drain_waits_while_the_peer_does_not_read() -> None:
    """Back-pressure: with a reader that does not read, the receive window closes, the
    core's send buffer fills, the transport's buffer passes its high-water mark and drain()
    blocks; once the peer reads, drain() returns and every byte arrives in order."""
    payload = random.Random(SEED).randbytes(3 << 20)

    async def main(server: UdpStack, client: UdpStack) -> None:
        go = asyncio.Event()
        received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await go.wait()
            received.set_result(await r.read())
            w.close()

        async with await start_server(handle, None, PORT, stack=server):
            reader, writer = await open_connection(SERVER, PORT, stack=client)
            writer.write(payload)
            drain = asyncio.ensure_future(writer.drain())
            sock = writer.get_extra_info("socket")
            await _until(lambda: sock.tcb()["snd_wnd"] == 0, "the peer's window closes")
            await _until(lambda: writer.transport.get_write_buffer_size()
                         < len(payload) - (256 << 10), "the core takes a send buffer's worth")
            assert not drain.done()
            assert writer.transport.get_write_buffer_size() > 64 * 1024
            go.set()
            await drain
            writer.write_eof()
            assert await received == payload
            writer.close()
            await writer.wait_closed()

    with stack_pair() as (server, client):
        run(main(server, client))


def test_serve_forever_ends_when_cancelled_and_closes_the_server() -> None:
    async def main(server: UdpStack, client: UdpStack) -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"hi")
            w.close()

        srv = await start_server(handle, None, 0, stack=server, start_serving=False)
        assert not srv.is_serving()
        port = srv.sockets[0].getsockname()[1]
        task = asyncio.ensure_future(srv.serve_forever())
        reader, writer = await open_connection(SERVER, port, stack=client)
        assert await reader.read() == b"hi"
        writer.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not srv.is_serving() and srv.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await open_connection(SERVER, port, stack=client)

    with stack_pair() as (server, client):
        run(main(server, client))



def test_closing_the_stack_ends_its_connections_with_an_os_error() -> None:
    async def main(server: UdpStack, client: UdpStack) -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read()
            w.close()

        async with await start_server(handle, None, PORT, stack=server):
            reader, writer = await open_connection(SERVER, PORT, stack=client)
            client.close(linger=1.0)
            with pytest.raises(OSError) as e:
                await reader.read()
            assert e.value.errno == errno.ENETDOWN
            writer.close()
            with pytest.raises(OSError):
                await writer.wait_closed()

    with stack_pair() as (server, client):
        run(main(server, client))


def test_a_cancelled_connect_abandons_the_handshake() -> None:
    """Every SYN is lost: ``asyncio.wait_for`` gives up on the connect, and the stack does
    not keep the half-open connection."""

    async def main(client: UdpStack) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(open_connection(SERVER, PORT, stack=client), 0.2)
        await _until(lambda: not client.connections(), "the connection is released")

    blackhole = FaultProfile(loss=1.0, seed=SEED)
    with stack_pair(faults_out=blackhole) as (_server, client):
        run(main(client))

"""``ferrotcp server`` and ``ferrotcp client``: echo and file transfer between two ferrotcp
stacks (two processes, two hosts) over a real transport, with faults, progress and pcap.

The server prints one ready line on stdout once it listens (scripts wait for it); progress
and a summary per transfer (bytes, rate, SHA-256, retransmissions) go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import socket
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from ferrotcp.cli_progress import Progress
from ferrotcp.cli_stack import add_stack_args, build_stack, describe, host_port
from ferrotcp.sockets import Socket
from ferrotcp.stack import Stack

CHUNK = 256 * 1024


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "server", help="serve a file, echo, or receive a file over a real transport",
        description="Listen on --addr:--port of a ferrotcp stack and, for each connection, "
        "send a file (--send), echo (--echo) or save what arrives (--out).")
    add_stack_args(s, udp_default="127.0.0.1:9000", addr_default="10.0.0.1")
    s.add_argument("--port", type=int, default=80, help="TCP port (default 80)")
    mode = s.add_mutually_exclusive_group(required=True)
    mode.add_argument("--send", metavar="FILE", help="send FILE to each client, then close")
    mode.add_argument("--echo", action="store_true", help="send back what arrives")
    mode.add_argument("--out", metavar="FILE", help="save what each client sends to FILE")
    s.add_argument("--count", type=int, default=0,
                   help="exit after this many connections (default 0: serve for ever)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    c = sub.add_parser(
        "client", help="connect, send and/or receive a file over a real transport",
        description="Connect to --connect IP:PORT through a ferrotcp stack; send --send FILE "
        "(then half-close) and save what arrives to --out FILE, verified by SHA-256 in the "
        "summary.")
    add_stack_args(c, udp_default="127.0.0.1:0", addr_default="10.0.0.2")
    c.add_argument("--connect", type=host_port, required=True, metavar="IP:PORT")
    c.add_argument("--peer", type=host_port, default=None, metavar="HOST:PORT",
                   help="UDP address of the server's stack (a route for the --connect IP)")
    c.add_argument("--send", metavar="FILE", help="send FILE ('-': stdin), then half-close")
    c.add_argument("--out", metavar="FILE", help="save what arrives ('-': stdout)")
    c.add_argument("--timeout", type=float, default=60.0,
                   help="seconds any one step may wait (default 60)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")


def _say(msg: str) -> None:
    print(f"ferrotcp: {msg}", file=sys.stderr, flush=True)


def _prepare(args: argparse.Namespace) -> Stack:
    faulty = any((args.loss, args.reorder, args.duplicate, args.corrupt, args.delay_ms,
                  args.jitter_ms))
    if faulty and args.seed is None:
        args.seed = random.randrange(2**32)
    if faulty:
        _say(f"fault seed {args.seed} (rerun with --seed {args.seed})")
    return build_stack(args)


def _retransmissions(sock: Socket) -> str:
    try:
        c = sock.counters()
    except OSError:
        return ""
    return (f"retransmits timeout={c['retransmits_timeout']} fast={c['retransmits_fast']} "
            f"recovery={c['retransmits_recovery']}")


def send_stream(sock: Socket, src: BinaryIO, progress: Progress) -> str:
    """Send everything ``src`` holds, then half-close; returns the SHA-256."""
    h = hashlib.sha256()
    while chunk := src.read(CHUNK):
        h.update(chunk)
        sock.sendall(chunk)
        progress.add(len(chunk))
    sock.shutdown(socket.SHUT_WR)
    return h.hexdigest()


def recv_stream(sock: Socket, dst: BinaryIO | None, progress: Progress) -> str:
    """Receive until end of stream into ``dst`` (None: discard); returns the SHA-256."""
    h = hashlib.sha256()
    while chunk := sock.recv(CHUNK):
        h.update(chunk)
        if dst is not None:
            dst.write(chunk)
        progress.add(len(chunk))
    if dst is not None:
        dst.flush()
    return h.hexdigest()


def _serve_one(
    args: argparse.Namespace, conn: Socket, peer: tuple[str, int], n: int, failed: list[str]
) -> None:
    name = f"#{n} {peer[0]}:{peer[1]}"
    quiet = args.quiet
    try:
        with conn:
            if args.send:
                path = Path(args.send)
                p = Progress(f"{name} sent", path.stat().st_size, enabled=not quiet)
                with path.open("rb") as f:
                    digest = send_stream(conn, f, p)
                recv_stream(conn, None, Progress("", enabled=False))  # until the client's FIN
                p.finish(f"sha256 {digest}, {_retransmissions(conn)}")
            elif args.echo:
                p = Progress(f"{name} echoed", enabled=not quiet)
                while chunk := conn.recv(CHUNK):
                    conn.sendall(chunk)
                    p.add(len(chunk))
                conn.shutdown(socket.SHUT_WR)
                p.finish(_retransmissions(conn))
            else:
                p = Progress(f"{name} received", enabled=not quiet)
                with open(args.out, "wb") as f:
                    digest = recv_stream(conn, f, p)
                conn.shutdown(socket.SHUT_WR)
                p.finish(f"sha256 {digest}, {_retransmissions(conn)}")
    except OSError as e:
        _say(f"{name}: {e!r}")
        failed.append(name)


def run_server(args: argparse.Namespace) -> int:
    if args.send and not Path(args.send).is_file():
        _say(f"--send {args.send}: no such file")
        return 2
    stack = _prepare(args)
    try:
        listener = stack.socket()
        listener.bind((args.addr, args.port))
        listener.listen()
        print(f"listening on {args.addr}:{args.port} {describe(stack)}", flush=True)
        workers: list[threading.Thread] = []
        failed: list[str] = []
        served = 0
        while args.count == 0 or served < args.count:
            conn, peer = listener.accept()
            served += 1
            t = threading.Thread(target=_serve_one, args=(args, conn, peer, served, failed),
                                 daemon=True)
            t.start()
            workers.append(t)
        listener.close()
        for t in workers:
            t.join()
        return 1 if failed else 0
    except KeyboardInterrupt:
        return 130
    finally:
        stack.close()


def _open_out(path: str | None) -> tuple[BinaryIO | None, bool]:
    if path is None:
        return None, False
    if path == "-":
        return sys.stdout.buffer, False
    return open(path, "wb"), True


def run_client(args: argparse.Namespace) -> int:
    if args.send is None and args.out is None:
        _say("nothing to do: give --send FILE and/or --out FILE")
        return 2
    if args.peer is not None:
        args.route.append(f"{args.connect[0]}={args.peer[0]}:{args.peer[1]}")
    stack = _prepare(args)
    errors: list[BaseException] = []
    try:
        sock = stack.socket()
        sock.settimeout(args.timeout)
        sock.connect(args.connect)
        sent: dict[str, Any] = {}

        def sender() -> None:
            try:
                if args.send is None:
                    sock.shutdown(socket.SHUT_WR)
                    return
                src = sys.stdin.buffer if args.send == "-" else open(args.send, "rb")
                total = None if args.send == "-" else Path(args.send).stat().st_size
                p = Progress("sent", total, enabled=not args.quiet)
                with src:
                    sent["digest"] = send_stream(sock, src, p)
                sent["progress"] = p
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        dst, owned = _open_out(args.out)
        try:
            p = Progress("received", enabled=not args.quiet and args.out is not None)
            got = recv_stream(sock, dst, p)
        finally:
            if owned and dst is not None:
                dst.close()
        t.join(args.timeout)
        if errors:
            raise errors[0]
        stats = _retransmissions(sock)
        if "progress" in sent:
            sent["progress"].finish(f"sha256 {sent['digest']}")
        if args.out is not None:
            p.finish(f"sha256 {got}, {stats}")
        sock.close()
        return 0
    except OSError as e:
        _say(f"{e!r}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.close()

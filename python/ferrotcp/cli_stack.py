"""Command-line options that describe a stack (transport, addresses, faults, capture, TCP
settings), and :func:`build_stack`, which makes the stack they describe.

Transports are looked up in :data:`BUILDERS` by the name given to ``--transport``: a new one
(TUN, say) registers a builder there and adds its own options in :func:`add_stack_args`;
the commands that use a stack do not change.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ferrotcp.stack import Stack, UdpStack
from ferrotcp.transports import FaultProfile
from ferrotcp.tunstack import KERNEL_ADDRESS as TUN_KERNEL_ADDRESS
from ferrotcp.tunstack import KERNEL_ADDRESS6 as TUN_KERNEL_ADDRESS6
from ferrotcp.tunstack import STACK_ADDRESS as TUN_ADDRESS
from ferrotcp.tunstack import TunStack


def probability(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return p


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def add_stack_args(p: argparse.ArgumentParser, *, udp_default: str, addr_default: str) -> None:
    """The options every command that runs a stack shares."""
    g = p.add_argument_group("network")
    g.add_argument("--transport", choices=sorted(BUILDERS), default="udp",
                   help="how packets travel (default udp: each IP packet in a UDP datagram)")
    g.add_argument("--udp", type=host_port, default=host_port(udp_default), metavar="HOST:PORT",
                   help=f"UDP address this stack receives on (default {udp_default})")
    g.add_argument("--addr", default=None, metavar="IP",
                   help=f"this stack's own IP address inside the packets (default {addr_default} "
                   f"over udp, {TUN_ADDRESS} over tun)")
    p.set_defaults(udp_addr_default=addr_default)
    g.add_argument("--route", action="append", default=[], metavar="IP=HOST:PORT",
                   help="send packets for IP to this UDP address (repeatable)")
    g.add_argument("--tun-device", default="ftcp%d", metavar="NAME",
                   help="tun: the TUN device to create or open (default ftcp%%d)")
    g.add_argument("--kernel-addr", default=None, metavar="IP/LEN",
                   help=f"tun: with --configure, the kernel's address on the device (default "
                   f"{TUN_KERNEL_ADDRESS}, or {TUN_KERNEL_ADDRESS6} when --addr is IPv6)")
    g.add_argument("--configure", action="store_true",
                   help="tun: set the device up (addresses, route, link up); needs root or "
                   "CAP_NET_ADMIN")
    g.add_argument("--pcap", default=None, metavar="FILE",
                   help="capture every packet sent and received (LINKTYPE_RAW)")
    f = p.add_argument_group("faults (seeded, applied in userspace)")
    f.add_argument("--loss", type=probability, default=0.0, metavar="P",
                   help="probability a packet is lost")
    f.add_argument("--reorder", type=probability, default=0.0, metavar="P",
                   help="probability a packet is held back behind later ones")
    f.add_argument("--duplicate", type=probability, default=0.0, metavar="P")
    f.add_argument("--corrupt", type=probability, default=0.0, metavar="P",
                   help="probability of a flipped bit (checksums must catch it)")
    f.add_argument("--delay-ms", type=float, default=0.0, metavar="MS", help="one-way delay")
    f.add_argument("--jitter-ms", type=float, default=0.0, metavar="MS")
    f.add_argument("--seed", type=int, default=None, help="fault seed (default: random, printed)")
    f.add_argument("--faults-on", choices=("out", "in", "both"), default="out",
                   help="which packets suffer: sent (default), received, or both")
    t = p.add_argument_group("TCP settings")
    t.add_argument("--mss", type=int, default=None, metavar="BYTES")
    t.add_argument("--min-rto-ms", type=float, default=None, metavar="MS",
                   help="least retransmission timeout (the core's default: 1000, RFC 6298)")
    t.add_argument("--send-buffer", type=int, default=None, metavar="BYTES")


def fault_profile(args: argparse.Namespace) -> FaultProfile | None:
    """The faults the options ask for, or None for a clean network."""
    profile = FaultProfile(
        loss=args.loss, reorder=args.reorder, duplicate=args.duplicate, corrupt=args.corrupt,
        delay_us=int(args.delay_ms * 1000), jitter_us=int(args.jitter_ms * 1000),
        seed=args.seed or 0,
    )
    return None if profile.harmless else profile


def stack_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """What any stack takes: faults, capture and connection settings."""
    kw: dict[str, Any] = {}
    profile = fault_profile(args)
    if profile is not None:
        key = {"out": "faults_out", "in": "faults_in", "both": "faults"}[args.faults_on]
        kw[key] = profile
    if args.pcap:
        kw["pcap"] = args.pcap
    if args.mss is not None:
        kw["mss"] = args.mss
    if args.min_rto_ms is not None:
        kw["min_rto_us"] = int(args.min_rto_ms * 1000)
        kw["initial_rto_us"] = max(kw["min_rto_us"], 200_000)
    if args.send_buffer is not None:
        kw["send_buffer"] = args.send_buffer
    return kw


def _routes(args: argparse.Namespace) -> dict[str, tuple[str, int]]:
    routes = {}
    for r in args.route:
        ip, sep, where = r.partition("=")
        if not sep:
            raise SystemExit(f"--route {r!r}: expected IP=HOST:PORT")
        routes[ip] = host_port(where)
    return routes


def _udp_stack(args: argparse.Namespace, kw: dict[str, Any]) -> Stack:
    return UdpStack(args.addr, bind=args.udp, routes=_routes(args), **kw)


def _tun_stack(args: argparse.Namespace, kw: dict[str, Any]) -> Stack:
    """One address, of the family ``--addr`` names: the kernel is the peer on the device."""
    addr = args.addr
    v6 = ":" in addr
    kernel = args.kernel_addr or (TUN_KERNEL_ADDRESS6 if v6 else TUN_KERNEL_ADDRESS)
    return TunStack(
        None if v6 else addr, addr if v6 else None, device=args.tun_device,
        configure=args.configure, kernel_address=None if v6 else kernel,
        kernel_address6=kernel if v6 else None, **kw,
    )


#: ``--transport`` name -> function making the stack from the parsed options.
BUILDERS: dict[str, Callable[[argparse.Namespace, dict[str, Any]], Stack]] = {
    "udp": _udp_stack,
    "tun": _tun_stack,
}


def build_stack(args: argparse.Namespace) -> Stack:
    """The stack the command line describes; ``args.addr`` is its address from then on."""
    if args.addr is None:
        args.addr = TUN_ADDRESS if args.transport == "tun" else args.udp_addr_default
    return BUILDERS[args.transport](args, stack_kwargs(args))


def describe(stack: Stack) -> str:
    """Where the stack is, for the ready line (``udp 127.0.0.1:9000`` and such)."""
    if isinstance(stack, UdpStack):
        host, port = stack.udp_address
        return f"udp {host}:{port}"
    device = getattr(stack, "device", None)
    return f"tun {device} {stack.address}" if device else repr(stack.transport)

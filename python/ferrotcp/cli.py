"""The ``ferrotcp`` command."""

from __future__ import annotations

import argparse
import sys

from ferrotcp import __version__


def _probability(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrotcp", description="A userspace TCP.")
    parser.add_argument("--version", action="version", version=f"ferrotcp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="handshake and verified transfer over a lossy network")
    demo.add_argument("--seed", type=int, default=None, help="simulation seed (default: random)")
    demo.add_argument("--size", type=int, default=1 << 20, help="bytes each way (default 1 MiB)")
    demo.add_argument("--loss", type=_probability, default=0.05)
    demo.add_argument("--reorder", type=_probability, default=0.05)
    demo.add_argument("--duplicate", type=_probability, default=0.01)
    demo.add_argument("--corrupt", type=_probability, default=0.0)
    demo.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ferrotcp import demo as demo_mod

        if args.size <= 0:
            parser.error("--size must be positive")
        result = demo_mod.run(
            seed=args.seed,
            size=args.size,
            loss=args.loss,
            reorder=args.reorder,
            duplicate=args.duplicate,
            corrupt=args.corrupt,
            delay_us=int(args.delay_ms * 1000),
        )
        return 0 if result.ok else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``ferrotcp`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferrotcp import __version__


def _probability(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return p


def _positive(text: str) -> int:
    n = int(text)
    if n <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return n


def _check_list(text: str) -> tuple[str, ...]:
    """``--only wellformed,bmc``: names of checks, each known."""
    from ferrotcp.verify import CHECK_NAMES

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CHECK_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown check {', '.join(unknown) or '(none given)'}; the checks are "
            + ", ".join(CHECK_NAMES)
        )
    return names


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Imported here, not at the top: `ferrotcp demo` does not need the models package.
    from ferrotcp import verify

    p = sub.add_parser(
        "verify",
        help="model-check the spec of TCP's rules and test the Rust core against it",
        description="Run the checks of the spec (Z3), the conformance tests of the core "
        "(Hypothesis) and the mutants; progress on stderr, the report on stdout. "
        "Exit status 0 iff every finding holds.",
    )
    p.add_argument(
        "--only",
        type=_check_list,
        default=None,
        metavar="CHECK[,CHECK]",
        help="run only these checks: " + ", ".join(verify.CHECK_NAMES),
    )
    p.add_argument(
        "--depth",
        type=_positive,
        default=verify.DEFAULT_DEPTH,
        help=f"BMC depth in events (default {verify.DEFAULT_DEPTH})",
    )
    p.add_argument(
        "--examples",
        type=_positive,
        default=verify.DEFAULT_EXAMPLES,
        help=f"conformance examples (default {verify.DEFAULT_EXAMPLES})",
    )
    p.add_argument("--seed", type=int, default=None, help="conformance seed (default: random)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per solver query; the whole budget of bmc and induction",
    )
    p.add_argument("--spec", type=Path, default=None, help="another spec file (e.g. a mutant)")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument(
        "--traces", action="store_true", help="draw the traces of findings that hold too"
    )
    p.add_argument(
        "--docs",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the spec's state diagram and rule table to DIR, then stop",
    )


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
    _add_verify(sub)
    from ferrotcp import cli_transfer

    cli_transfer.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "server":
        return cli_transfer.run_server(args)
    if args.command == "client":
        return cli_transfer.run_client(args)
    if args.command == "verify":
        from ferrotcp import verify

        if args.spec is not None and not args.spec.is_file():
            parser.error(f"--spec {args.spec}: no such file")
        if args.docs is not None:
            return verify.write_docs(args.spec, args.docs)
        opts = verify.Options(
            only=args.only,
            depth=args.depth,
            examples=args.examples,
            seed=args.seed,
            timeout_s=args.timeout,
            spec_path=args.spec,
            traces=args.traces,
        )
        return verify.main(opts, as_json=args.json)
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

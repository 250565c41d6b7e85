"""`gilknocker` / `python -m gilknocker`: demo, recover."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from gilknocker import _api, _demo


def _demo_command(args: argparse.Namespace) -> int:
    path = args.output
    print(f"gilknocker demo: recording {path}")
    with _api.record(path) as rec:
        _demo.run(args.seconds, print)
    metrics = rec.metrics
    print()
    print(metrics)
    print()
    print("Expected: busy fraction around 2/3 overall (two of the three phases hold the GIL).")
    print(f"Next: gilknock-analyze summary {path}")
    print("      python -c \"import gilknocker; print(gilknocker.load('" + path + "'))\"")
    return 0


def _recover_command(args: argparse.Namespace) -> int:
    try:
        parts, rows = _api.recover(args.trace)
    except (OSError, _api.TraceFormatError) as err:
        print(f"gilknocker recover: {err}", file=sys.stderr)
        return 2
    print(f"{args.trace}: merged {parts} parts, {rows} samples")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gilknocker", description="Measure GIL contention in Python programs."
    )
    parser.add_argument("--version", action="version", version=f"gilknocker {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="record a built-in contended workload and summarize it")
    demo.add_argument("-o", "--output", default="demo.parquet", help="trace path")
    demo.add_argument(
        "--seconds", type=float, default=1.0, help="length of each of the three phases"
    )
    demo.set_defaults(func=_demo_command)
    recover = sub.add_parser(
        "recover", help="finish a trace whose recording process died (merge its parts)"
    )
    recover.add_argument("trace", help="the trace path given to the recorder")
    recover.set_defaults(func=_recover_command)
    return parser


def _version() -> str:
    from gilknocker import __version__

    return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "seconds", 1.0) <= 0:
        print("gilknocker: --seconds must be positive", file=sys.stderr)
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`gilknocker` / `python -m gilknocker`: demo, recover."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from gilknocker import _api, _demo


def _demo_command(args: argparse.Namespace) -> int:
    from gilknocker import _native

    path = args.output
    print(f"gilknocker demo: recording {path}")
    with _api.record(path) as rec:
        _demo.run(args.seconds, print)
    print()
    print(rec.metrics)
    print()
    print("Expected: busy fraction about 2/3 (two of the three phases keep the GIL busy).")
    print()
    print(f"$ gilknock-analyze summary {path}", flush=True)
    code = _native.analyze(["gilknock-analyze", "summary", path])
    print()
    print("Next: gilknock-analyze timeline " + path + " -o timeline.svg")
    print(f"      python -c \"import gilknocker; print(gilknocker.load('{path}'))\"")
    return code


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


def analyze_main(argv: Optional[Sequence[str]] = None) -> int:
    """The `gilknock-analyze` console script: the Rust analyzer, linked into the extension."""
    import signal

    from gilknocker import _native

    # Behave like the native binary: Ctrl-C ends the analysis at once.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = list(sys.argv[1:] if argv is None else argv)
    return _native.analyze(["gilknock-analyze", *args])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "seconds", 1.0) <= 0:
        print("gilknocker: --seconds must be positive", file=sys.stderr)
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`gilknocker` / `python -m gilknocker`: demo, recover."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from gilknocker import _api, _demo, _run


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


def _run_command(args: argparse.Namespace) -> int:
    if args.module is None and not args.target:
        print("gilknocker run: give a script (script.py [args...]) or -m module", file=sys.stderr)
        return 2
    if args.module is not None:
        target, rest = args.module, list(args.target)
    else:
        target, rest = args.target[0], list(args.target[1:])
    options: dict[str, object] = {}
    for name in ("polling_interval_micros", "sampling_interval_micros", "sleeping_interval_micros"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if args.no_jitter:
        options["jitter"] = False
    try:
        return _run.run(
            target,
            rest,
            module=args.module is not None,
            output=args.output,
            knocker_options=options,
        )
    except (OSError, ValueError, TypeError) as err:
        print(f"gilknocker run: {err}", file=sys.stderr)
        return 2


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
    run = sub.add_parser(
        "run",
        help="run a Python program (like `python script.py`) while recording a trace",
        description="Run script.py [args...] or -m module [args...] exactly as python would, "
        "recording a GIL trace; at the end say where the trace went.",
    )
    run.add_argument(
        "-o",
        "--output",
        help="trace path (default: gilknocker-<program>-<UTC time>-<host>-<pid>.parquet, "
        "never an existing file)",
    )
    run.add_argument("--polling-interval-micros", type=int, dest="polling_interval_micros")
    run.add_argument("--sampling-interval-micros", type=int, dest="sampling_interval_micros")
    run.add_argument("--sleeping-interval-micros", type=int, dest="sleeping_interval_micros")
    run.add_argument(
        "--no-jitter", action="store_true", help="knock at fixed intervals (default: random)"
    )
    run.add_argument("-m", dest="module", help="run a library module as a script")
    run.add_argument("target", nargs=argparse.REMAINDER, help="script.py [args...]")
    run.set_defaults(func=_run_command)
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

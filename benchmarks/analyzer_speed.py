"""How fast is `gilknock-analyze summary` compared with DuckDB and pandas computing the same
figures (count, min, mean, p50/p90/p99/p99.9, max of wait_ns) on one big trace?

    python benchmarks/analyzer_speed.py --samples 100000000

Generates the trace once (Rust example `synthetic_trace`, deterministic) unless --trace is
given, then runs each tool --repeat times, interleaved, and prints the median wall time, the
ratio to the analyzer and each tool's p99 (they should agree within 0.1%: the analyzer's
percentiles come from an HDR histogram with 3 significant digits). Needs `duckdb`, `pandas` and
`pyarrow`; a missing one is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
QUANTILES = [0.5, 0.9, 0.99, 0.999]


def build(target_dir: Path) -> Path:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    subprocess.run(
        ["cargo", "build", "--release", "-p", "gilknocker-analyzer", "--bins", "--examples"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return target_dir / "release"


def analyzer_summary(binary: Path, trace: Path) -> float:
    out = subprocess.run(
        [str(binary), "summary", "--format", "json", str(trace)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)["traces"][0]["wait_ns"]["p99"])


def duckdb_summary(trace: Path) -> float:
    import duckdb

    rows = (
        duckdb.connect()
        .execute(
            "SELECT count(*), min(wait_ns), avg(wait_ns), "
            f"quantile_cont(wait_ns, {QUANTILES}), max(wait_ns) "
            f"FROM read_parquet('{trace}')"
        )
        .fetchall()
    )
    return float(rows[0][3][2])


def pandas_summary(trace: Path) -> float:
    import pandas as pd

    wait = pd.read_parquet(trace, columns=["wait_ns"])["wait_ns"]
    _ = (len(wait), wait.min(), wait.mean(), wait.max())
    return float(wait.quantile(QUANTILES).iloc[2])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=100_000_000)
    parser.add_argument("--trace", type=Path, help="use this trace instead of generating one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target-dir", type=Path, default=ROOT / "target-analyzer")
    args = parser.parse_args()

    release = build(args.target_dir)
    binary = release / "gilknock-analyze"
    trace = args.trace
    if trace is None:
        trace = args.target_dir / f"bench-{args.samples}.parquet"
        if not trace.exists():
            print(f"writing {trace} ({args.samples:,} knocks)...", file=sys.stderr)
            subprocess.run(
                [str(release / "examples" / "synthetic_trace"), str(trace), str(args.samples)],
                check=True,
            )

    tools: dict[str, Callable[[], float]] = {
        "gilknock-analyze": lambda: analyzer_summary(binary, trace)
    }
    for name, module, fn in [
        ("duckdb", "duckdb", duckdb_summary),
        ("pandas", "pandas", pandas_summary),
    ]:
        try:
            __import__(module)
            if module == "pandas":
                __import__("pyarrow")
        except ImportError as err:
            print(f"skipping {name}: {err}", file=sys.stderr)
            continue
        tools[name] = lambda fn=fn: fn(trace)

    times: dict[str, list[float]] = {name: [] for name in tools}
    p99: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, run in tools.items():
            start = time.perf_counter()
            p99[name] = run()
            times[name].append(time.perf_counter() - start)

    base = statistics.median(times["gilknock-analyze"])
    size_mb = trace.stat().st_size / 1e6
    print(
        f"trace: {trace} ({size_mb:,.0f} MB), median of {args.repeat} runs, {os.cpu_count()} cores"
    )
    print(f"{'tool':<18} {'seconds':>8} {'x analyzer':>11} {'p99 wait_ns':>14}")
    for name in tools:
        median = statistics.median(times[name])
        print(f"{name:<18} {median:8.2f} {median / base:11.2f} {p99[name]:14,.0f}")
    if shutil.which("gilknock-analyze") is None:
        print("(analyzer run from the release build, not from PATH)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

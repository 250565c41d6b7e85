"""Why a knock after a long sleep costs microseconds on a free GIL (a one-off experiment).

    python benchmarks/cold_acquire.py [--sleep-ms 50] [--n 40] [--rounds 3]

The ground-truth helper (benchmarks/gilhold.c, `gh_restore_after_sleeps`) sleeps, then times
CPython's GIL acquisition (PyEval_RestoreThread) alone, the GIL otherwise free, with warm-ups of
increasing reach before the timed part. Interleaved rounds; p10 / p50 / p90 in ns. It shows
whether the cost of the first acquisition after a sleep can be moved out of a knock, and at
what price.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _worker import Helper  # benchmarks/ is on sys.path when this script runs
from run import compile_helper

# The warm-up bits of gh_restore_after_sleeps.
WARM_UPS = {
    0: "none",
    1: "thread-ident and GILState functions",
    2: "a private pthread mutex and condition",
    4: "read PyEval_RestoreThread's code",
    7: "all three",
    8: "a whole acquisition first (not allowed in a knock)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sleep-ms", type=float, default=50.0)
    parser.add_argument("--n", type=int, default=40, help="acquisitions per warm-up per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    acquire: dict[int, list[int]] = {w: [] for w in WARM_UPS}
    warm: dict[int, list[int]] = {w: [] for w in WARM_UPS}
    with tempfile.TemporaryDirectory() as tmp:
        helper = Helper(str(compile_helper(Path(tmp))))
        sleeps = np.full(args.n, int(args.sleep_ms * 1e6), dtype=np.int64)
        for _ in range(args.rounds):
            for w in WARM_UPS:
                a, b = np.zeros(args.n, np.int64), np.zeros(args.n, np.int64)
                helper.py.gh_restore_after_sleeps(
                    sleeps.ctypes.data, args.n, w, a.ctypes.data, b.ctypes.data
                )
                warm[w] += a[1:].tolist()  # the first follows the call's own start-up
                acquire[w] += b[1:].tolist()
    print(f"CPython {sys.version.split()[0]}, sleep {args.sleep_ms:g} ms before each acquisition")
    print("| warm-up before the timed part | acquisition p10 / p50 / p90 ns | warm-up p50 ns |")
    print("|---|---|---|")
    for w, name in WARM_UPS.items():
        q = statistics.quantiles(acquire[w], n=10, method="inclusive")
        print(
            f"| {name} | {q[0]:.0f} / {statistics.median(acquire[w]):.0f} / {q[8]:.0f} "
            f"| {statistics.median(warm[w]):.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

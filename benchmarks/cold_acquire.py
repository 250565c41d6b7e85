"""Why a knock after a long sleep costs microseconds on a free GIL (a one-off experiment).

    python benchmarks/cold_acquire.py [--sleep-ms 50] [--n 40] [--rounds 3]

A C thread sleeps, then times CPython's GIL acquisition (PyEval_RestoreThread) alone, the GIL
otherwise free, with warm-ups of increasing reach before the timed part (see
benchmarks/cold_acquire.c). Interleaved rounds; p10 / p50 / p90 in ns. It shows whether the
cost of the first acquisition after a sleep can be moved out of the knock, and at what price.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

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
    with tempfile.TemporaryDirectory() as tmp:
        lib_path = Path(tmp) / "cold_acquire.so"
        include = sysconfig.get_paths()["include"]
        source = Path(__file__).with_suffix(".c")
        cmd = ["gcc", "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(lib_path)]
        subprocess.run(cmd, check=True)
        lib = ctypes.CDLL(str(lib_path))
        n = args.n
        acquire: dict[int, list[int]] = {w: [] for w in WARM_UPS}
        warm: dict[int, list[int]] = {w: [] for w in WARM_UPS}
        for _ in range(args.rounds):
            for w in WARM_UPS:
                a, b = (ctypes.c_int64 * n)(), (ctypes.c_int64 * n)()
                if lib.ca_measure(ctypes.c_int64(int(args.sleep_ms * 1e6)), n, w, a, b) != 0:
                    raise SystemExit("could not start a thread")
                warm[w] += list(a[3:])  # the first few follow thread start-up
                acquire[w] += list(b[3:])
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

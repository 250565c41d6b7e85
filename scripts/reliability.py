#!/usr/bin/env python3
"""Reliability matrices for the recorder (inside the user's process) and the analyzer (on
untrusted input); writes docs/reliability.md.

    scripts/reliability.py --quick               # a few runs of everything, ~3 minutes
    scripts/reliability.py --full                # the published figures (see docs/reliability.md)
    scripts/reliability.py --quick --only sigkill

Every CPython 3.9-3.13 that pyenv provides (newest patch per minor) gets a venv under
--venvs (default /tmp/rel-venvs/py3.X) with the wheel from --wheel installed; create them with
--make-venvs. Every child run is bounded by a timeout; a hang counts as a failure. At most two
children run at once (the machines have two cores). tests/test_reliability.py runs a few runs of
each check with the interpreter running pytest, so a regression turns CI red.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = 2


@dataclasses.dataclass
class Result:
    test: str
    python: str
    runs: int = 0
    failures: int = 0
    worst_s: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, ok: bool, seconds: float, note: str = "") -> None:
        self.runs += 1
        self.worst_s = max(self.worst_s, seconds)
        if not ok:
            self.failures += 1
            if note and len(self.notes) < 3:
                self.notes.append(note)


@dataclasses.dataclass
class Child:
    returncode: Optional[int]  # None: timed out (killed)
    stdout: str
    stderr: str
    seconds: float


def run_child(
    python: str,
    code: str,
    cwd: Path,
    *,
    env: Optional[dict[str, str]] = None,
    timeout: float = 60,
    on_start: Optional[Callable[[subprocess.Popen[str]], None]] = None,
) -> Child:
    script = cwd / "child.py"
    script.write_text(textwrap.dedent(code))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [python, str(script)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    if on_start is not None:
        on_start(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
        code_ = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code_ = None
    return Child(code_, out, err, time.perf_counter() - started)


def crashed(child: Child) -> bool:
    text = child.stderr
    return "Fatal Python error" in text or "panicked" in text or "Segmentation" in text


def check_trace(python: str, trace: Path, *, expect_complete: bool) -> tuple[bool, str]:
    """Is the trace readable (after recover() when the process could not finish it)?"""
    # Read with gilknocker's own reader (the analyzer), not pyarrow: pyarrow on CPython 3.9/3.10
    # aborts at interpreter exit in a few % of runs ("terminate called without an active
    # exception", also without gilknocker), which would count as our failure.
    code = f"""
        import json, sys, gilknocker
        from gilknocker import _native
        path = {str(trace)!r}
        if {not expect_complete!r}:
            import os
            if not os.path.exists(path):
                gilknocker.recover(path)
        meta = gilknocker.read_metadata(path)
        _native.analyze(["gilknock-analyze", "summary", "--format", "json", "-o", "s.json", path])
        rows = json.load(open("s.json"))["traces"][0]["samples"]
        print(meta["complete"], rows)
    """
    with tempfile.TemporaryDirectory() as tmp:
        child = run_child(python, code, Path(tmp), timeout=60)
    if child.returncode != 0:
        return False, f"unreadable: {child.stderr.strip().splitlines()[-1:]}"
    complete, rows = child.stdout.split()
    if expect_complete and complete != "True":
        return False, "trace not complete"
    if int(rows) == 0:
        return False, "no rows"
    return True, ""


# --- exits -------------------------------------------------------------------------------------

EXIT_PRELUDE = """
import glob, os, sys, threading, time
if os.environ.get("GK_RECORD") == "1":
    import gilknocker
    gilknocker.Knocker(polling_interval_micros=200, path="run.parquet", part_interval_ms=50).start()
def spin():
    while True:
        sum(range(1000))
threading.Thread(target=spin, daemon=True).start()
time.sleep(0.15)
# Exit only once samples are on disk (the header part plus the spool or a part), however slowly a
# loaded machine runs the writer: the check is that each way out leaves a readable trace with
# the samples already written, not that they get written within a fixed time.
deadline = time.monotonic() + 30
while os.environ.get("GK_RECORD") == "1" and time.monotonic() < deadline:
    on_disk = glob.glob("run.parquet.parts/part-*.parquet") + glob.glob(
        "run.parquet.parts/.spool-*.arrows"
    )
    if len(on_disk) >= 2 or os.path.exists("run.parquet"):
        break
    time.sleep(0.01)
"""

#: name -> (code after the prelude, does the process run its exit hooks?)
EXITS: dict[str, tuple[str, bool]] = {
    "exit: normal end": ("print('done')", True),
    "exit: sys.exit(3)": ("sys.exit(3)", True),
    "exit: uncaught exception": ("raise ValueError('boom')", True),
    "exit: raise KeyboardInterrupt": ("raise KeyboardInterrupt", True),
    "exit: SIGINT": ("os.kill(os.getpid(), 2); time.sleep(5)", True),
    "exit: SIGTERM (default handler)": ("os.kill(os.getpid(), 15); time.sleep(5)", False),
    "exit: os._exit(5)": ("os._exit(5)", False),
    "exit: 4 daemon threads in pure-Python loops": (
        "[threading.Thread(target=spin, daemon=True).start() for _ in range(4)]; time.sleep(0.05)",
        True,
    ),
    "exit: daemon thread holding the GIL in a C call": (
        "threading.Thread(target=lambda: sum(range(10**8)), daemon=True).start(); time.sleep(0.05)",
        True,
    ),
}


def exit_check(name: str) -> Callable[[str, int], Result]:
    code, hooks_run = EXITS[name]

    def check(python: str, runs: int) -> Result:
        result = Result(name, python_version(python))
        full = EXIT_PRELUDE + code + "\n"
        baseline = set()
        for _ in range(2):
            with tempfile.TemporaryDirectory() as tmp:
                baseline.add(run_child(python, full, Path(tmp), env={"GK_RECORD": "0"}).returncode)
        expected = baseline.pop() if len(baseline) == 1 else None

        def one(_: int) -> tuple[bool, float, str]:
            with tempfile.TemporaryDirectory() as tmp:
                child = run_child(python, full, Path(tmp), env={"GK_RECORD": "1"}, timeout=60)
                if child.returncode is None:
                    return False, child.seconds, "hang (timeout)"
                if child.returncode != expected or crashed(child):
                    return False, child.seconds, f"exit {child.returncode} != {expected}"
                ok, why = check_trace(python, Path(tmp) / "run.parquet", expect_complete=hooks_run)
                return ok, child.seconds, why

        for ok, seconds, why in parallel(one, runs):
            result.add(ok, seconds, why)
        return result

    return check


# --- SIGKILL -----------------------------------------------------------------------------------

SIGKILL_CHILD = """
import time, gilknocker
gilknocker.Knocker(polling_interval_micros=500, path="run.parquet").start()
print(time.time(), flush=True)
while True:
    sum(range(10_000))
    time.sleep(0.005)
"""


def sigkill_check(python: str, runs: int) -> Result:
    result = Result("SIGKILL at a random moment", python_version(python))
    rng = random.Random(1234)
    delays = [rng.uniform(0.2, 3.0) for _ in range(runs)]

    def one(i: int) -> tuple[bool, float, str]:
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            (cwd / "child.py").write_text(SIGKILL_CHILD)
            proc = subprocess.Popen(
                [python, "child.py"], cwd=cwd, stdout=subprocess.PIPE, text=True
            )
            assert proc.stdout is not None
            started = float(proc.stdout.readline() or 0)
            time.sleep(delays[i])
            killed_at = time.time()
            proc.kill()
            proc.wait(timeout=30)
            # The analyzer's CSV export, not pandas: see check_trace.
            code = f"""
                import os, gilknocker
                from gilknocker import _native
                path = {str(cwd / "run.parquet")!r}
                try:
                    gilknocker.recover(path)
                except (FileNotFoundError, gilknocker.TraceFormatError) as e:
                    # Killed before the first part was written: nothing to recover.
                    print("none" if "no finished parts" in str(e) or isinstance(e, OSError) else e)
                    raise SystemExit
                _native.analyze(["gilknock-analyze", "export", path, "--format", "csv",
                                 "-o", "t.csv"])
                lines = open("t.csv").read().splitlines()
                print(int(lines[-1].split(",")[0]) / 1e9 if len(lines) > 1 else "none")
            """
            checker = Path(tmp) / "check"
            checker.mkdir()
            child = run_child(python, code, checker, timeout=60)
            elapsed = killed_at - started
            if child.returncode != 0:
                return False, elapsed, f"recover failed: {child.stderr.strip()[-200:]}"
            last = child.stdout.strip()
            if last == "none":
                # Nothing written yet is fine only if nothing was older than ~1 s at the kill.
                return elapsed < 1.0, elapsed, f"no samples after {elapsed:.2f} s"
            lost = killed_at - float(last)
            return lost < 1.0, elapsed, f"lost the last {lost:.2f} s"

    for ok, seconds, why in parallel(one, runs):
        result.add(ok, seconds, why)
    return result


# --- fork --------------------------------------------------------------------------------------

FORK_CHILD = """
import multiprocessing as mp, os, sys, time, warnings
import gilknocker
warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads

def work(out):
    with gilknocker.record(out, polling_interval_micros=200):
        deadline = time.time() + 0.1
        while time.time() < deadline:
            sum(range(1000))
    return 7

if __name__ == "__main__":
    method = sys.argv[1] if len(sys.argv) > 1 else {method!r}
    k = gilknocker.Knocker(polling_interval_micros=200, path="parent.parquet")
    k.start()
    time.sleep(0.05)
    if method == "os.fork":
        pid = os.fork()
        if pid == 0:
            assert not k.is_running
            k.stop()
            work("child.parquet")
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        code = status >> 8
    else:
        ctx = mp.get_context(method)
        with ctx.Pool(1) as pool:
            code = pool.apply(work, ("child.parquet",))
    time.sleep(0.05)
    k.stop()
    print("child", code)
"""


def fork_check(method: str) -> Callable[[str, int], Result]:
    def check(python: str, runs: int) -> Result:
        result = Result(f"fork: {method} while recording", python_version(python))

        def one(_: int) -> tuple[bool, float, str]:
            with tempfile.TemporaryDirectory() as tmp:
                cwd = Path(tmp)
                child = run_child(python, FORK_CHILD.format(method=method), cwd, timeout=60)
                if child.returncode is None:
                    return False, child.seconds, "hang (timeout)"
                if child.returncode != 0 or "child 7" not in child.stdout or crashed(child):
                    return False, child.seconds, child.stderr.strip()[-200:]
                ok, why = check_trace(python, cwd / "parent.parquet", expect_complete=True)
                if ok:
                    ok, why = check_trace(python, cwd / "child.parquet", expect_complete=True)
                return ok, child.seconds, why

        for ok, seconds, why in parallel(one, runs):
            result.add(ok, seconds, why)
        return result

    return check


# --- subinterpreters ---------------------------------------------------------------------------

SUBINTERP_CHILD = """
import sys
try:
    import _interpreters as interpreters  # 3.13
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.12
import gilknocker  # imported in the main interpreter first, as a real program would
code = '''
try:
    import gilknocker
    k = gilknocker.Knocker(polling_interval_micros=500)
    k.start(); k.stop()
    print("works", flush=True)
except Exception as e:
    print("refused:", type(e).__name__, e, flush=True)
'''
for config in ({isolated!r},):
    try:
        if hasattr(interpreters, "new_config"):  # 3.13
            interp = interpreters.create(interpreters.new_config(config))
        else:
            interp = interpreters.create(isolated=config == "isolated")
    except TypeError:
        interp = interpreters.create()
    result = interpreters.run_string(interp, code)
    if result is not None:
        print("refused:", result, flush=True)
    interpreters.destroy(interp)
print("main goes on")
"""


def subinterpreter_check(config: str) -> Callable[[str, int], Result]:
    def check(python: str, runs: int) -> Result:
        result = Result(f"subinterpreter ({config})", python_version(python))
        if sys_version(python) < (3, 12):
            result.notes.append("no subinterpreter API before 3.12")
            return result
        seen = set()

        def one(_: int) -> tuple[bool, float, str]:
            with tempfile.TemporaryDirectory() as tmp:
                child = run_child(
                    python, SUBINTERP_CHILD.format(isolated=config), Path(tmp), timeout=60
                )
            out = child.stdout
            seen.add(" ".join(line for line in out.splitlines() if "main" not in line)[:160])
            clear = "works" in out or (
                "refused" in out and ("interpreter" in out.lower() or "ImportError" in out)
            )
            ok = child.returncode == 0 and "main goes on" in out and clear and not crashed(child)
            return ok, child.seconds, f"exit {child.returncode}: {child.stderr.strip()[-200:]}"

        for ok, seconds, why in parallel(one, runs):
            result.add(ok, seconds, why)
        result.notes.extend(sorted(seen))
        return result

    return check


# --- load --------------------------------------------------------------------------------------

LOAD_CYCLES_CHILD = """
import gc, os, gilknocker
def rss_kb():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])
def counts():
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))
def cycle(i):
    path = f"t{{i % 2}}.parquet" if i % 10 == 0 else None
    k = gilknocker.Knocker(polling_interval_micros=100, path=path)
    k.start(); k.stop()
    if k.path:
        os.remove(k.path)
for i in range(200):
    cycle(i)
gc.collect()
before = (rss_kb(),) + counts()
for i in range({cycles}):
    cycle(i)
gc.collect()
after = (rss_kb(),) + counts()
print(*before, *after)
"""

LOAD_THREADS_CHILD = """
import gc, os, threading, time, gilknocker
def counts():
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))
before = counts()
errors = []
barrier = threading.Barrier(64)
def worker(n):
    try:
        barrier.wait()
        for i in range({per_thread}):
            with gilknocker.record(f"w{{n}}.parquet", polling_interval_micros=200):
                sum(range(2000))
            os.remove(f"w{{n}}.parquet")
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=worker, args=(n,)) for n in range(64)]
for t in threads: t.start()
for t in threads: t.join()
gc.collect()
# join() returns when the Python thread is done; the OS thread may take a moment to vanish from
# /proc. A thread still there after 2 s is a leak.
deadline = time.time() + 2
while counts() != before and time.time() < deadline:
    time.sleep(0.01)
print(*before, *counts(), len(errors), errors[:2])
"""


def load_cycles_check(python: str, runs: int) -> Result:
    cycles = 10_000 if runs > 3 else 1_000
    result = Result(f"load: {cycles:,} start/stop cycles", python_version(python))
    with tempfile.TemporaryDirectory() as tmp:
        child = run_child(python, LOAD_CYCLES_CHILD.format(cycles=cycles), Path(tmp), timeout=600)
    if child.returncode != 0:
        result.add(False, child.seconds, f"exit {child.returncode}: {child.stderr[-200:]}")
        return result
    rss0, t0, fd0, rss1, t1, fd1 = map(int, child.stdout.split())
    grew = rss1 - rss0
    ok = t1 == t0 and fd1 == fd0 and grew < 4096
    result.add(ok, child.seconds, f"threads {t0}->{t1}, fds {fd0}->{fd1}, RSS +{grew} kB")
    result.notes.append(f"RSS {rss0} -> {rss1} kB, threads {t0}->{t1}, fds {fd0}->{fd1}")
    return result


def load_threads_check(python: str, runs: int) -> Result:
    per_thread = 20 if runs > 3 else 3
    result = Result(f"load: 64 threads x {per_thread} record()", python_version(python))
    with tempfile.TemporaryDirectory() as tmp:
        child = run_child(
            python, LOAD_THREADS_CHILD.format(per_thread=per_thread), Path(tmp), timeout=300
        )
    if child.returncode != 0:
        result.add(False, child.seconds, f"exit {child.returncode}: {child.stderr[-200:]}")
        return result
    t0, fd0, t1, fd1, errors, *detail = child.stdout.split(maxsplit=5)
    ok = (t0, fd0) == (t1, fd1) and errors == "0"
    result.add(ok, child.seconds, f"threads {t0}->{t1}, fds {fd0}->{fd1}, errors {detail}")
    return result


# --- soak --------------------------------------------------------------------------------------

SOAK_CHILD = """
import threading, time, gilknocker, pyarrow.parquet as pq
def rss_kb():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])
stop = False
def spin():
    while not stop:
        sum(range(1000))
threads = [threading.Thread(target=spin) for _ in range(3)]
for t in threads: t.start()
k = gilknocker.Knocker(polling_interval_micros=10, path="soak.parquet")
k.start()
samples = []
deadline = time.time() + {seconds}
while time.time() < deadline:
    time.sleep({every})
    samples.append(rss_kb())
k.stop()
stop = True
for t in threads: t.join()
m = k.get_metrics()
meta = gilknocker.read_metadata("soak.parquet")
rows = pq.read_metadata("soak.parquet").num_rows
print(m.total_samples, m.dropped_samples, rows, meta["complete"], *samples)
"""


def soak_check(python: str, runs: int) -> Result:
    seconds = 600 if runs > 3 else 15
    every = 10 if runs > 3 else 1
    result = Result(f"soak: {seconds} s knocking every 10 µs", python_version(python))
    with tempfile.TemporaryDirectory() as tmp:
        child = run_child(
            python, SOAK_CHILD.format(seconds=seconds, every=every), Path(tmp), timeout=seconds * 3
        )
    if child.returncode != 0:
        result.add(False, child.seconds, f"exit {child.returncode}: {child.stderr[-300:]}")
        return result
    knocks, dropped, rows, complete, *rss = child.stdout.split()
    rss_kb = [int(x) for x in rss]
    # Flat: after the first tenth (warm-up), RSS stays within 8 MB of its level then.
    warm = rss_kb[max(1, len(rss_kb) // 10)]
    growth = max(rss_kb) - warm
    ok = complete == "True" and int(rows) > 0 and growth < 8192
    result.add(ok, child.seconds, f"RSS grew {growth} kB after warm-up")
    result.notes.append(
        f"{int(knocks):,} knocks, {int(rows):,} rows written, {int(dropped):,} dropped at "
        f"default writer settings; RSS {rss_kb[0]} -> {max(rss_kb)} kB (max), "
        f"{rss_kb[-1]} kB at the end"
    )
    return result


# --- faults ------------------------------------------------------------------------------------

FAULT_CHILD = """
import os, shutil, sys, time, warnings
import gilknocker
warnings.simplefilter("always")
path = sys.argv[1]
action = sys.argv[2]
caught = []
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    try:
        k = gilknocker.Knocker(polling_interval_micros=100, path=path, part_interval_ms=50)
        k.start()
    except OSError as e:
        print("start refused:", type(e).__name__, e)
        k = None
    if k is not None:
        deadline = time.time() + 0.4
        while time.time() < deadline:
            sum(range(1000))
        if action == "rmtree":
            shutil.rmtree(os.path.dirname(path))
        deadline = time.time() + 0.4
        while time.time() < deadline:
            sum(range(1000))
        k.stop()
    for warning in w:
        print("warning:", str(warning.message)[:300])
print("program goes on")
"""


def fault_check(kind: str) -> Callable[[str, int], Result]:
    def check(python: str, runs: int) -> Result:
        result = Result(f"fault: {kind}", python_version(python))
        if kind in ("disk full (64 KiB tmpfs)", "read-only directory") and os.geteuid() != 0:
            result.notes.append("needs root to mount a tmpfs; not run")
            return result

        def one(_: int) -> tuple[bool, float, str]:
            with tempfile.TemporaryDirectory() as tmp:
                cwd = Path(tmp)
                mount = cwd / "mnt"
                mount.mkdir()
                action = "none"
                if kind == "disk full (64 KiB tmpfs)":
                    subprocess.run(
                        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True
                    )
                    # Leave a few KiB: the first parts fit, the next ones do not.
                    (mount / "filler").write_bytes(b"x" * (56 << 10))
                    path = mount / "run.parquet"
                elif kind == "read-only directory":
                    subprocess.run(
                        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                        check=True,
                    )
                    path = mount / "run.parquet"
                elif kind == "output directory removed mid-run":
                    path = mount / "run.parquet"
                    action = "rmtree"
                elif kind == "a FIFO as the trace path":
                    # Not /dev/full itself: as root, stop() renames the merged trace over the
                    # device node (see the FIFO test in tests/test_reliability.py).
                    path = mount / "run.parquet"
                    os.mkfifo(path)
                else:  # a path that is a directory
                    path = mount
                try:
                    (cwd / "child.py").write_text(FAULT_CHILD)
                    started = time.perf_counter()
                    proc = subprocess.run(
                        [python, "child.py", str(path), action],
                        cwd=cwd,
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                    seconds = time.perf_counter() - started
                    out = proc.stdout
                    named = ("start refused" in out) or ("warning: gilknocker" in out)
                    ok = proc.returncode == 0 and "program goes on" in out and named
                    if kind == "a FIFO as the trace path" and not stat.S_ISFIFO(
                        os.stat(path).st_mode
                    ):
                        ok = False
                        out += " the FIFO was replaced by a regular file"
                    why = (
                        f"exit {proc.returncode}: {out.strip()[-200:]} {proc.stderr.strip()[-200:]}"
                    )
                    if ok and kind == "disk full (64 KiB tmpfs)":
                        # What reached the disk before it filled stays readable.
                        parts = mount / "run.parquet.parts"
                        if not (mount / "run.parquet").exists() and parts.is_dir():
                            (mount / "filler").unlink()  # free the disk, then recover
                            ok, why = check_trace(python, path, expect_complete=False)
                    result_note = next(
                        (
                            line
                            for line in out.splitlines()
                            if "refused" in line or "warning" in line
                        ),
                        "",
                    )
                    return ok, seconds, why if not ok else result_note[:200]
                except subprocess.TimeoutExpired:
                    return False, 60.0, "hang (timeout)"
                finally:
                    if kind in ("disk full (64 KiB tmpfs)", "read-only directory"):
                        subprocess.run(["umount", str(mount)], check=False)

        notes = set()
        for ok, seconds, why in parallel(one, runs):
            result.add(ok, seconds, why)
            if ok and why:
                notes.add(re.sub(r"/tmp/[^ :']+", "<tmp>", why)[:160])
        result.notes.extend(sorted(notes)[:2])
        return result

    return check


# --- Ctrl-C during stop ------------------------------------------------------------------------

CTRL_C_CHILD = """
import os, signal, threading, time, gilknocker
# What an interactive program has. A child inherits an ignored SIGINT from a non-interactive
# shell's background job (as `cmd &` in a script), and Python then installs no handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
k = gilknocker.Knocker(polling_interval_micros=10, path="run.parquet", part_interval_ms=1)
k.start()
deadline = time.time() + 2.0
while time.time() < deadline:
    sum(range(1000))
go = threading.Event()
def ctrl_c():
    go.wait()
    time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)
# Started (and waiting) before stop(): Thread.start() itself must not be what gets interrupted.
threading.Thread(target=ctrl_c, daemon=True).start()
t0 = time.perf_counter()
go.set()
try:
    k.stop()
    time.sleep(2)  # a Ctrl-C delivered during stop() must surface by now at the latest
    print("swallowed", time.perf_counter() - t0)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t0, k.is_running)
"""


def ctrl_c_check(python: str, runs: int) -> Result:
    result = Result("Ctrl-C during a long stop()", python_version(python))

    def one(_: int) -> tuple[bool, float, str]:
        with tempfile.TemporaryDirectory() as tmp:
            child = run_child(python, CTRL_C_CHILD, Path(tmp), timeout=120)
        ok = child.returncode == 0 and child.stdout.startswith("interrupted")
        return ok, child.seconds, f"{child.stdout.strip()} {child.stderr.strip()[-200:]}"

    times = []
    for ok, seconds, why in parallel(one, runs):
        result.add(ok, seconds, why)
        if ok:
            times.append(float(why.split()[1]))
    if times:
        result.notes.append(f"KeyboardInterrupt {max(times):.2f} s (worst) after the signal")
    return result


# --- analyzer corpus ---------------------------------------------------------------------------


def analyzer_corpus_check(analyzer: str, runs: int) -> Result:
    """Every malformed file x every subcommand (exit 2, one line, no panic, bounded memory)."""
    import resource

    result = Result("analyzer: testdata/bad x every subcommand", "-")
    bad = sorted((ROOT / "testdata" / "bad").glob("*.parquet"))
    good = str(ROOT / "testdata" / "idle.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for file in bad:
            f = str(file)
            for args in (
                ["summary", f],
                ["summary", "--format", "json", f],
                ["diff", good, f],
                ["timeline", f, "-o", str(out / "t.svg")],
                ["histogram", f, "-o", str(out / "h.svg")],
                ["export", f, "--format", "csv", "-o", str(out / "e.csv")],
                ["export", f, "--format", "chrome-trace", "-o", str(out / "e.json")],
                ["recover", f],
            ):
                started = time.perf_counter()
                try:
                    proc = subprocess.run(
                        [analyzer, *args], capture_output=True, text=True, timeout=60
                    )
                except subprocess.TimeoutExpired:
                    result.add(False, 60.0, f"hang: {file.name} {args[0]}")
                    continue
                err = proc.stderr
                ok = (
                    proc.returncode == 2
                    and len(err.splitlines()) == 1
                    and file.name in err
                    and "panicked" not in err
                )
                result.add(
                    ok,
                    time.perf_counter() - started,
                    f"{file.name} {args[0]}: exit {proc.returncode} {err.strip()[:120]!r}",
                )
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result.notes.append(f"{len(bad)} files; peak RSS of any analyzer run {peak_mb:.0f} MB")
    return result


# --- fuzzing -----------------------------------------------------------------------------------

#: Seeds that stop the fuzzer at once because of a bug already reported (docs/reliability.md).
KNOWN_BUG_SEEDS = ("deeply_nested_schema.parquet",)


def fuzz_check(target: str, seconds: int) -> Result:
    """cargo-fuzz on stable rustc (RUSTC_BOOTSTRAP=1, no sanitizer), seeded with testdata/."""
    result = Result(f"fuzz: {target} for {seconds} s", "-")
    fuzz = ROOT / "fuzz"
    if subprocess.run(["cargo", "fuzz", "--version"], capture_output=True).returncode != 0:
        result.notes.append("cargo-fuzz not installed (cargo install cargo-fuzz); not run")
        return result
    corpus = fuzz / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    # read_trace calls the trace reader directly: testdata/corrupt_page.parquet makes the
    # Parquet decoder panic there (caught by the analyzer), so it starts from an empty corpus.
    if target != "read_trace":
        for seed in [*ROOT.glob("testdata/*.parquet"), *ROOT.glob("testdata/bad/**/*.parquet")]:
            if seed.name not in KNOWN_BUG_SEEDS:
                shutil.copy(seed, corpus / seed.name)
    artifacts = fuzz / "artifacts" / target
    before = set(artifacts.glob("*")) if artifacts.is_dir() else set()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            *("cargo", "fuzz", "run", "--sanitizer", "none", "-O", target, str(corpus), "--"),
            *(f"-max_total_time={seconds}", "-rss_limit_mb=1024", "-timeout=10"),
            *("-fork=1", "-ignore_timeouts=1"),
        ],
        cwd=fuzz,
        env={**os.environ, "RUSTC_BOOTSTRAP": "1"},
        capture_output=True,
        text=True,
        timeout=seconds + 900,
    )
    after = set(artifacts.glob("*")) if artifacts.is_dir() else set()
    new = sorted(p.name for p in after - before)
    counts = re.findall(r"#(\d+):.*oom/timeout/crash: (\d+)/(\d+)/(\d+)", proc.stderr)
    execs, oom, hangs, crashes = (int(x) for x in counts[-1]) if counts else (0, 0, 0, 0)
    failed = proc.returncode != 0 or oom > 0 or crashes > 0 or hangs > 0
    result.add(not failed, time.perf_counter() - started, f"exit {proc.returncode}, new {new}")
    result.notes.append(
        f"{execs:,} executions, oom/timeout/crash {oom}/{hangs}/{crashes}; new artifacts {new}"
    )
    return result


# --- driver ------------------------------------------------------------------------------------


def parallel(
    fn: Callable[[int], tuple[bool, float, str]], runs: int
) -> list[tuple[bool, float, str]]:
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(fn, range(runs)))


_versions: dict[str, str] = {}


def python_version(python: str) -> str:
    if python not in _versions:
        _versions[python] = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return _versions[python]


def sys_version(python: str) -> tuple[int, int]:
    major, minor = python_version(python).split(".")[:2]
    return int(major), int(minor)


#: name -> (check, runs in --full, runs in --quick, every Python or one)
CHECKS: dict[str, tuple[Callable[[str, int], Result], int, int, bool]] = {
    **{name: (exit_check(name), 50, 3, True) for name in EXITS},
    "sigkill": (sigkill_check, 50, 3, True),
    **{
        f"fork-{m}": (fork_check(m), 20, 2, True)
        for m in ("os.fork", "fork", "forkserver", "spawn")
    },
    "subinterpreter-isolated": (subinterpreter_check("isolated"), 5, 1, True),
    "subinterpreter-legacy": (subinterpreter_check("legacy"), 5, 1, True),
    "load-cycles": (load_cycles_check, 50, 1, True),
    "load-threads": (load_threads_check, 50, 1, True),
    "soak": (soak_check, 50, 1, False),
    **{
        f"fault-{i}": (fault_check(kind), 10, 2, True)
        for i, kind in enumerate(
            (
                "disk full (64 KiB tmpfs)",
                "output directory removed mid-run",
                "read-only directory",
                "a path that is a directory",
                "a FIFO as the trace path",
            )
        )
    },
    "ctrl-c-stop": (ctrl_c_check, 20, 2, True),
}


def pyenv_pythons() -> list[str]:
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    newest: dict[tuple[int, int], tuple[int, str]] = {}
    for entry in Path(root, "versions").iterdir():
        m = re.fullmatch(r"3\.(9|1[0-3])\.(\d+)", entry.name)
        if m:
            key = (3, int(m.group(1)))
            if key not in newest or int(m.group(2)) > newest[key][0]:
                newest[key] = (int(m.group(2)), str(entry / "bin" / "python"))
    return [newest[k][1] for k in sorted(newest)]


def venv_pythons(venvs: Path, wheel: Optional[str], make: bool) -> list[str]:
    pythons = []
    for base in pyenv_pythons():
        minor = ".".join(python_version(base).split(".")[:2])
        venv = venvs / f"py{minor}"
        if make and not venv.exists():
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "-q",
                    wheel or str(ROOT),
                    "pandas",
                    "pyarrow",
                ],
                check=True,
            )
        if (venv / "bin" / "python").exists():
            pythons.append(str(venv / "bin" / "python"))
    return pythons


def write_report(
    results: list[Result], mode: str, wall_s: float, path: Path, merge: bool = False
) -> None:
    lines = [
        "| test | Python | runs | failures | worst time (s) | notes |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        notes = "; ".join(n.replace("|", "\\|").replace("\n", " ") for n in r.notes)
        lines.append(
            f"| {r.test} | {r.python} | {r.runs} | {r.failures} | {r.worst_s:.2f} | {notes} |"
        )
    text = path.read_text() if path.exists() else ""
    begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
    header = (
        f"Generated by `scripts/reliability.py --{mode}` on {time.strftime('%Y-%m-%d')} "
        f"in {wall_s / 60:.1f} minutes (2 children at a time on a 2-core machine)."
    )
    if merge and begin in text:
        # Re-run rows replace their old versions; the other rows and the header stay.
        old_block = text[text.index(begin) : text.index(end)]
        old_lines = old_block.splitlines()
        header = old_lines[1].split(" Re-run on ")[0] + (
            f" Re-run on {time.strftime('%Y-%m-%d')}: "
            + ", ".join(sorted({r.test for r in results}))
        )
        rows = [line for line in old_lines if line.startswith("| ") and " --- " not in line][1:]
        new_rows = {tuple(line.split(" | ")[:2]): line for line in lines[2:]}
        merged = [new_rows.pop(tuple(line.split(" | ")[:2]), line) for line in rows]
        lines = lines[:2] + merged + list(new_rows.values())
    table = "\n".join(lines)
    block = f"{begin}\n{header}\n\n{table}\n{end}"
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text + "\n" + block + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the published figures")
    mode.add_argument("--quick", action="store_true", help="a few runs of each (default)")
    parser.add_argument("--only", action="append", help="run only checks whose name contains this")
    parser.add_argument("--venvs", type=Path, default=Path("/tmp/rel-venvs"))
    parser.add_argument(
        "--wheel", help="wheel to install with --make-venvs (default: this checkout)"
    )
    parser.add_argument("--make-venvs", action="store_true")
    parser.add_argument("--python", action="append", help="use these interpreters instead")
    parser.add_argument("--analyzer", default=shutil.which("gilknock-analyze"))
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--merge", action="store_true", help="replace only the re-run rows of the report's table"
    )
    args = parser.parse_args()
    full = args.full
    pythons = args.python or venv_pythons(args.venvs, args.wheel, args.make_venvs)
    if not pythons:
        parser.error(f"no interpreters: create venvs with --make-venvs (under {args.venvs})")
    started = time.perf_counter()
    results: list[Result] = []
    for name, (check, full_runs, quick_runs, every_python) in CHECKS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        runs = full_runs if full else quick_runs
        for python in pythons if every_python else pythons[-2:-1] or pythons:
            result = check(python, runs)
            results.append(result)
            if not args.no_report:  # after each check, so a long run can be read as it goes
                elapsed = time.perf_counter() - started
                mode = "full" if full else "quick"
                write_report(results, mode, elapsed, args.report, args.merge)
            flag = "FAIL" if result.failures else "ok"
            print(
                f"{flag:4} {result.test:55} {result.python:8} {result.runs:3} runs "
                f"{result.failures} failed, worst {result.worst_s:.2f} s "
                f"{'; '.join(result.notes)[:150]}",
                flush=True,
            )
    if args.analyzer and (not args.only or any("analyzer" in o for o in args.only)):
        result = analyzer_corpus_check(args.analyzer, 1)
        results.append(result)
        print(
            f"{'FAIL' if result.failures else 'ok':4} {result.test} {result.runs} runs, "
            f"{result.failures} failed; {result.notes}"
        )
    if not args.only or any("fuzz" in o for o in args.only):
        for target in ("summary", "read_trace", "read_spool"):
            result = fuzz_check(target, 600 if full else 30)
            results.append(result)
            print(f"{'FAIL' if result.failures else 'ok':4} {result.test}: {result.notes}")
    wall = time.perf_counter() - started
    print(f"wall time {wall / 60:.1f} min")
    if not args.no_report:
        write_report(results, "full" if full else "quick", wall, args.report, args.merge)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Interpreter exit, SIGKILL and fork with a recorder running, in child interpreters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gilknocker
from conftest import run_python

pd = pytest.importorskip("pandas")

PRELUDE = """
import os, sys, threading, time
import gilknocker
RECORD = os.environ.get("GK_RECORD") == "1"
if RECORD:
    gilknocker.Knocker(polling_interval_micros=200, path="run.parquet").start()
def spin():
    while True:
        sum(range(1000))
threading.Thread(target=spin, daemon=True).start()
time.sleep(0.2)
"""

EXITS = {
    "normal end": "print('done')",
    "sys.exit(3)": "sys.exit(3)",
    "uncaught exception": "raise ValueError('boom')",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    # Past the first part (written every 0.5 s): a fatal signal runs no exit hooks.
    "SIGTERM default handler": "time.sleep(0.8); os.kill(os.getpid(), 15); time.sleep(5)",
    "SIGINT": "os.kill(os.getpid(), 2); time.sleep(5)",
    "daemon thread in a C call holding the GIL": (
        "threading.Thread(target=lambda: time.sleep(0) or sum(range(10**9)), daemon=True).start()"
        "; time.sleep(0.05)"
    ),
}


@pytest.mark.parametrize("how", list(EXITS))
def test_exit_with_a_recorder_running_never_hangs_and_keeps_the_exit_status(
    tmp_path: Path, how: str
) -> None:
    code = PRELUDE + EXITS[how] + "\n"
    without = run_python(code, cwd=tmp_path, timeout=60, env={"GK_RECORD": "0"})
    with_ = run_python(code, cwd=tmp_path, timeout=60, env={"GK_RECORD": "1"})
    assert with_.returncode == without.returncode, with_.stderr
    if how == "uncaught exception":
        assert "ValueError: boom" in with_.stderr
    assert "Fatal Python error" not in with_.stderr
    trace = tmp_path / "run.parquet"
    if how.startswith("SIGTERM"):
        # No exit hooks run on a fatal signal: the parts are there to recover.
        gilknocker.recover(trace)
    meta = gilknocker.read_metadata(trace)
    assert len(pd.read_parquet(trace)) > 0
    if not how.startswith("SIGTERM"):
        assert meta["complete"] is True


def test_sigkill_loses_at_most_about_the_last_second(tmp_path: Path) -> None:
    code = """
        import sys, time, gilknocker
        k = gilknocker.Knocker(polling_interval_micros=500, path="run.parquet")
        k.start()
        while True:
            sum(range(10_000))
            print(time.time(), flush=True)
            time.sleep(0.01)
    """
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    proc = subprocess.Popen(
        [sys.executable, "script.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    started = None
    for line in proc.stdout:
        now = float(line)
        started = started or now
        if now - started > 2.0:
            break
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    trace = tmp_path / "run.parquet"
    assert not trace.exists()
    # The trace reader reads the parts and the spool as they are...
    rows_from_parts = len(gilknocker.load(trace))
    # ...a Parquet dataset reader reads the parts and skips the (hidden) spool...
    assert len(pd.read_parquet(str(trace) + ".parts")) <= rows_from_parts
    # ...and recover() turns them into a trace any Parquet reader opens.
    parts, rows = gilknocker.recover(trace)
    assert parts > 0 and rows == rows_from_parts > 0
    df = pd.read_parquet(trace)
    last = df["time"].iloc[-1].value / 1e9
    assert killed_at - last < 1.0, f"lost {killed_at - last:.2f} s"
    meta = gilknocker.read_metadata(trace)
    assert meta["recovered"] is True and meta["complete"] is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_while_recording(tmp_path: Path) -> None:
    code = """
        import os, sys, time, warnings, gilknocker
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        k = gilknocker.Knocker(polling_interval_micros=200, path="parent.parquet")
        k.start()
        time.sleep(0.1)
        pid = os.fork()
        if pid == 0:
            # The child does not inherit the threads, must not touch the parent's trace,
            # and can record on its own.
            assert not k.is_running
            k.stop()
            with gilknocker.record("child.parquet", polling_interval_micros=200):
                deadline = time.time() + 0.2
                while time.time() < deadline:
                    sum(range(1000))
            sys.exit(7)
        _, status = os.waitpid(pid, 0)
        print("child exit", status >> 8)
        time.sleep(0.1)
        k.stop()
        print("parent done")
    """
    result = run_python(code, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "child exit 7" in result.stdout
    assert "parent done" in result.stdout
    parent = gilknocker.load(tmp_path / "parent.parquet")
    assert parent.attrs["complete"] is True and len(parent) > 0
    assert parent["time"].is_monotonic_increasing
    child = gilknocker.load(tmp_path / "child.parquet")
    assert child.attrs["pid"] != parent.attrs["pid"]
    assert len(child) > 0


def test_killed_right_after_start_still_recovers(tmp_path: Path) -> None:
    code = """
        import os, signal, gilknocker
        gilknocker.Knocker(path="run.parquet").start()
        os.kill(os.getpid(), signal.SIGKILL)  # before the first samples reach disk
    """
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == -signal.SIGKILL
    trace = tmp_path / "run.parquet"
    parts, rows = gilknocker.recover(trace)
    assert parts >= 1 and rows >= 0
    meta = gilknocker.read_metadata(trace)
    assert meta["recovered"] is True and meta["pid"] > 0
    assert len(pd.read_parquet(trace)) == rows

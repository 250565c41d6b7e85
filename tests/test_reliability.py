"""CI-sized runs of scripts/reliability.py's checks, with the interpreter running pytest.

The full matrices (50 runs per exit path and Python, a 10-minute soak, every CPython 3.9-3.13)
run from `scripts/reliability.py --full`; docs/reliability.md holds their figures. Here each check
runs a few times so that a regression still turns CI red.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest

import gilknocker

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("reliability", ROOT / "scripts" / "reliability.py")
assert _spec is not None and _spec.loader is not None
reliability = importlib.util.module_from_spec(_spec)
sys.modules["reliability"] = reliability
_spec.loader.exec_module(reliability)

PY = sys.executable


def assert_passed(result: reliability.Result) -> None:
    assert result.runs > 0 or result.notes, result
    assert result.failures == 0, f"{result.test}: {result.notes}"


@pytest.mark.parametrize("name", list(reliability.EXITS))
def test_exit_paths(name: str) -> None:
    assert_passed(reliability.exit_check(name)(PY, 2))


def test_sigkill_at_random_moments() -> None:
    assert_passed(reliability.sigkill_check(PY, 2))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("method", ["os.fork", "fork", "forkserver", "spawn"])
def test_fork_and_multiprocessing(method: str) -> None:
    assert_passed(reliability.fork_check(method)(PY, 1))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="subinterpreters need 3.12+")
@pytest.mark.parametrize("config", ["isolated", "legacy"])
def test_subinterpreters_work_or_refuse_clearly(config: str) -> None:
    assert_passed(reliability.subinterpreter_check(config)(PY, 1))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_start_stop_cycles_leak_nothing() -> None:
    assert_passed(reliability.load_cycles_check(PY, 1))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_64_threads_recording_at_once() -> None:
    assert_passed(reliability.load_threads_check(PY, 1))


def test_short_soak_at_10us() -> None:
    assert_passed(reliability.soak_check(PY, 1))


@pytest.mark.parametrize(
    "kind",
    [
        "disk full (64 KiB tmpfs)",
        "output directory removed mid-run",
        "read-only directory",
        "a path that is a directory",
    ],
)
def test_faults_warn_and_the_program_goes_on(kind: str) -> None:
    if "tmpfs" in kind or "read-only" in kind:
        if os.geteuid() != 0:
            pytest.skip("needs root to mount a tmpfs")
    assert_passed(reliability.fault_check(kind)(PY, 1))


def test_a_fifo_as_the_trace_path_is_not_replaced(tmp_path: Path) -> None:
    # Stands for /dev/full or any device: the recorder must refuse it at start() or write into
    # it, never replace it.
    path = tmp_path / "run.parquet"
    os.mkfifo(path)
    knocker = gilknocker.Knocker(path=str(path))
    with pytest.raises(OSError, match="not a regular file"):
        knocker.start()
    assert stat.S_ISFIFO(os.stat(path).st_mode), "the FIFO was replaced by a regular file"


def test_ctrl_c_during_a_long_stop_is_not_swallowed() -> None:
    assert_passed(reliability.ctrl_c_check(PY, 1))

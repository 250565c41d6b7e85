from __future__ import annotations

from pathlib import Path

import pytest

import gilknocker

pytest_plugins = ["pytester"]

BUSY_TESTS = """
import threading

def spin():
    total = 0
    for i in range(300_000):
        total += i

def test_busy():
    threads = [threading.Thread(target=spin) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

def test_quiet():
    import time
    time.sleep(0.05)

def test_fixture(gilknocker_recorder):
    spin()
    assert gilknocker_recorder.is_running
    assert gilknocker_recorder.get_metrics().total_samples >= 0
"""


def test_inert_without_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BUSY_TESTS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)
    assert "gilknocker: GIL contention" not in result.stdout.str()
    assert not (pytester.path / ".gilknocker").exists()


def test_records_each_test_and_lists_the_worst(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BUSY_TESTS)
    result = pytester.runpytest_subprocess("--gilknocker", "--gilknocker-dir", "traces")
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    assert "gilknocker: GIL contention" in out
    lines = [line for line in out.splitlines() if "::test_" in line and "PASSED" not in line]
    rank = {
        name: i
        for i, line in enumerate(lines)
        for name in ("test_busy", "test_quiet")
        if line.endswith("::" + name)
    }
    # The busy test ranks above the quiet one (higher p99 wait).
    assert rank["test_busy"] < rank["test_quiet"], out
    traces = sorted((pytester.path / "traces").glob("*.parquet"))
    assert len(traces) == 3
    busy = next(t for t in traces if "test_busy" in t.name)
    meta = gilknocker.read_metadata(busy)
    assert meta["user.pytest.nodeid"].endswith("::test_busy")
    assert meta["complete"] is True


def test_session_scope_and_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BUSY_TESTS)
    pytester.makeini(
        "[pytest]\ngilknocker = true\ngilknocker_dir = out\ngilknocker_scope = session\n"
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)
    assert (pytester.path / "out" / "session.parquet").exists()
    assert "session" in result.stdout.str()


def test_options_have_their_own_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    out = result.stdout.str()
    assert "GIL contention (gilknocker)" in out
    assert "--gilknocker-dir" in out


def test_bad_scope_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    pytester.makeini("[pytest]\ngilknocker = true\ngilknocker_scope = module\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "gilknocker_scope" in result.stderr.str()


def test_fixture_trace_is_written(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os
        def test_uses_fixture(gilknocker_recorder):
            sum(range(100_000))
            assert gilknocker_recorder.path.endswith("gilknocker.parquet")
            open(os.environ["OUT"], "w").write(gilknocker_recorder.path)
        """
    )
    out = tmp_path / "where.txt"
    monkeypatch.setenv("OUT", str(out))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert gilknocker.read_metadata(out.read_text())["complete"] is True

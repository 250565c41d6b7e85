from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gilknocker


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gilknocker", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_records_and_prints_metrics(tmp_path: Path) -> None:
    result = run("demo", "--seconds", "0.3", "-o", "d.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "busy fraction" in result.stdout
    assert "$ gilknock-analyze summary d.parquet" in result.stdout
    # The analyzer ran in-process and printed its summary of the trace.
    assert "d.parquet" in result.stdout.split("$ gilknock-analyze summary d.parquet")[1]
    meta = gilknocker.read_metadata(tmp_path / "d.parquet")
    assert meta["complete"] is True and meta["knocks"] > 0


def test_recover_reports_missing_parts_as_an_error(tmp_path: Path) -> None:
    result = run("recover", "nothing.parquet", cwd=tmp_path)
    assert result.returncode == 2
    assert "nothing.parquet" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run("demo", "--seconds", "-1", cwd=tmp_path)
    assert result.returncode == 2
    assert "--seconds" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert gilknocker.__version__ in result.stdout

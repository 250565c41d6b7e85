"""The benchmark suite (benchmarks/run.py) runs and its output parses. Timings are not checked:
a smoke run is far too short to mean anything, and this machine is shared."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_suite_smoke(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to compile the ground-truth helper benchmarks/gilhold.c")
    pytest.importorskip("numpy")
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out, raw = tmp_path / "accuracy.md", tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--smoke",
            "--out",
            str(out),
            "--json",
            str(raw),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(raw.read_text())
    assert results["meta"]["smoke"] is True
    duty = [row for row in results["accuracy"] if row["workload"]["type"] == "duty"]
    assert duty
    for row in results["accuracy"]:
        ours = row["ours"]
        assert "error" not in ours, ours
        assert 0.0 <= ours["busy_fraction"] <= 1.0
        assert ours["knocks"] > 0
        # 0.4.2 is compared when its venv could be built (offline here); otherwise None.
        if row.get("v042") is not None:
            assert "contention_metric" in row["v042"], row["v042"]
    for row in duty:
        assert 0.0 <= row["ours"]["truth_busy"] <= 1.0
        if row["workload"]["hold_us"]:
            reference = row["ours"]["reference"]
            assert reference["p90"] <= reference["p99"]
            assert row["ours"]["trace"]["rows"] > 0
    assert all(r["runs"] for r in results["idle_cost"] if r["label"].startswith("ours"))
    for row in results["fixed_work"]:
        if row["result"] is not None:
            assert row["result"]["rounds"][0].keys() == {"with", "without", "aa"}
    text = out.read_text()
    assert "| workload | ground truth | ours |" in text
    assert "## Cost with the program idle" in text
    assert "smoke run" in text

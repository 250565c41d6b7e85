"""The benchmark suite (benchmarks/run.py) runs and its output parses. Timings are not checked:
a smoke run is far too short to mean anything, and this machine is shared."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_smoke(out: Path, raw: Path, *args: str, timeout: float) -> None:
    """benchmarks/run.py --smoke, writing the report to `out` and the results to `raw`."""
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", *args]
    command += ["--out", str(out), "--json", str(raw)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_benchmark_suite_smoke(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to compile the ground-truth helper benchmarks/gilhold.c")
    pytest.importorskip("numpy")
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out, raw = tmp_path / "accuracy.md", tmp_path / "results.json"
    run_smoke(out, raw, timeout=120)
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
            assert row["ours"]["reference_naive"]["p90"] <= row["ours"]["reference_naive"]["p99"]
            assert row["ours"]["trace"]["rows"] > 0
            # The probe has its own run, without a recorder.
            assert "error" not in row["probe"], row["probe"]
            assert "probe" not in row["ours"]
    assert all(r["runs"] for r in results["idle_cost"] if r["label"].startswith("ours"))
    for row in results["fixed_work"]:
        if row["result"] is not None:
            assert row["result"]["rounds"][0].keys() == {"with", "without", "aa"}
    # A knock on a free GIL, at each pace, beside CPython's own acquisition (the floor).
    paces = results["knock_cost"]["ours"]
    assert [p["interval_us"] for p in paces] == [100, 2000, 50_000]
    for pace in paces:
        assert pace["ours_ns"] and pace["floor_ns"], pace["interval_us"]
        assert min(pace["ours_ns"]) >= 0 and min(pace["floor_ns"]) > 0
    # Trace size per column, with the entropy of its values beside it.
    columns = duty[0]["ours"]["trace"]["columns"]
    assert {"time", "wait_ns", "interval_ns"} <= columns.keys()
    assert columns["time"]["stored"] > 0 and columns["time"]["entropy"] > 0
    text = out.read_text()
    assert "| workload | ground truth | ours |" in text
    assert "## Cost with the program idle" in text
    assert "## A knock on a free GIL" in text
    assert "| `wait_ns` |" in text
    assert "smoke run" in text

    # One section re-measured into the saved results: the rest is kept, and the report says so.
    merged_out, merged_raw = tmp_path / "merged.md", tmp_path / "merged.json"
    run_smoke(merged_out, merged_raw, "--only", "stop", "--merge", str(raw), timeout=60)
    merged = json.loads(merged_raw.read_text())
    assert merged["accuracy"] == results["accuracy"]
    assert merged["meta"]["updated"][0]["sections"] == ["stop"]
    assert "Re-measured later" in merged_out.read_text()
    # Bad section names and --only without --merge are refused before anything is set up.
    refusals = {
        "unknown section(s) nonsense": ["--only", "nonsense", "--merge", str(raw)],
        "--only needs --merge": ["--only", "stop"],
    }
    for message, args in refusals.items():
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "gilknocker 0.4.2:" not in proc.stderr  # logged once set-up is done


MS = 1_000_000


def _latency() -> Any:
    pytest.importorskip("numpy")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _latency
    finally:
        sys.path.pop(0)
    return _latency


def _grid_holds(n: int, hold_ns: int, period_ns: int) -> Any:
    import numpy as np

    starts = np.arange(n, dtype=np.int64) * period_ns
    return np.stack([starts, starts + hold_ns], axis=1)


def test_latency_reference_follows_cpython_hand_over_rule() -> None:
    """The reference of the latency table, on holds with known answers."""
    lat = _latency()
    qs = (0.5, 0.9, 0.99)
    handoff, free, switch = 50_000.0, 500.0, 5 * MS

    # A holder that re-takes the GIL 1 µs after each 10 ms hold: a request more than a switch
    # interval before the hold's end forces the switch at that end; a later one is woken by the
    # release, finds the GIL taken again and forces the switch at the end of the next hold. So
    # waits are uniform on [5, 15] ms (plus the hand-off); the naive model says [0, 10] ms.
    holds = _grid_holds(1000, 10 * MS - 1000, 10 * MS)
    t1 = int(holds[-1, 1])
    # (0.1%: the last hold ends the run, so requests in it get the GIL at its end.)
    p50, p90, p99 = lat.handover_reference_quantiles(holds, 0, t1, handoff, free, switch, qs)
    assert p50 == pytest.approx(10 * MS + handoff, rel=1e-3)
    assert p90 == pytest.approx(14 * MS + handoff, rel=1e-3)
    assert p99 == pytest.approx(14.9 * MS + handoff, rel=1e-3)
    naive = lat.reference_quantiles(holds, 0, t1, handoff, free, qs)
    assert naive[1] == pytest.approx(9 * MS + handoff, rel=1e-3)

    # 1 ms holds re-taken at once never let a waiter's switch interval run out: it gets in only
    # where the holder paused for longer than the hand-off (here once every 1000 holds).
    holds = _grid_holds(10_000, 1 * MS - 500, 1 * MS)
    holds[999::1000, 1] -= 200_000
    t1 = int(holds[-1, 1])
    _, p90, p99 = lat.handover_reference_quantiles(holds, 0, t1, 20_000.0, free, switch, qs)
    assert p90 == pytest.approx(0.9 * 1000 * MS, rel=0.01)
    assert p99 == pytest.approx(0.99 * 1000 * MS, rel=0.01)

    # Gaps judged per gap from the knocks: the median hand-off (10 µs here) would count every
    # 20 µs hiccup of the holder as usable. A knock that waited through such gaps and got the
    # GIL only at a 300 µs gap says otherwise: only the gap it got the GIL in is usable, so
    # the waits run to that gap, as in the example above (uniform on [0, 1000 holds]).
    import numpy as np

    holds = _grid_holds(10_000, 1 * MS - 20_000, 1 * MS)
    holds[999::1000, 1] -= 280_000
    t1 = int(holds[-1, 1])
    paused = holds[999:-1:1000, 1]  # where the 300 µs gaps begin
    # One knock per 1000 holds, from inside the previous long gap to the middle of the next;
    # the last one is still waiting at the end.
    starts = np.concatenate(([1000.0], paused + 200_000.0))
    ends = np.append(paused + 100_000.0, t1 + 1e9)
    usable = lat.usable_gaps(holds, starts, ends - starts, 10_000.0)
    assert usable[:-1].sum() == len(paused)
    assert usable[999:-1:1000].all() and usable[-1]
    assert (holds[1:, 0] - holds[:-1, 1] >= 10_000).all()  # the median alone: all usable
    _, p90, _ = lat.handover_reference_quantiles(holds, 0, t1, 10_000.0, free, switch, qs, usable)
    assert p90 == pytest.approx(0.9 * 1000 * MS, rel=0.01)
    # Where no knock was waiting, a gap counts when it is at least the hand-off.
    assert lat.usable_gaps(holds, np.array([]), np.array([]), 10_000.0)[:-1].all()
    assert not lat.usable_gaps(holds, np.array([]), np.array([]), 30_000.0)[:998].any()

    # With real pauses between holds every release hands the GIL over: both models agree.
    holds = _grid_holds(3000, 1 * MS, 2 * MS)
    assert lat.handover_reference_quantiles(
        holds, 0, 6000 * MS, 30_000.0, free, switch, qs
    ) == pytest.approx(lat.reference_quantiles(holds, 0, 6000 * MS, 30_000.0, free, qs), abs=2)

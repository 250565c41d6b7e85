"""Live metrics for services, the Prometheus collector, Jupyter, DuckDB."""

from __future__ import annotations

import ctypes
import re
import sys
import threading
import time
from pathlib import Path

import pytest

import gilknocker
from conftest import python_threads
from gilknocker import Knocker


def test_live_metrics_are_windowed_and_monotonic() -> None:
    k = Knocker(polling_interval_micros=200)
    k.start()
    try:
        python_threads(2, 0.5)
        busy = k.live_metrics(window_s=0.3)
        time.sleep(0.5)
        idle = k.live_metrics(window_s=0.3)
        assert busy.busy_fraction > 0.5
        assert idle.busy_fraction < busy.busy_fraction
        assert 0.0 <= idle.busy_fraction <= 1.0
        assert idle.gil_wait_seconds_total >= busy.gil_wait_seconds_total > 0
        assert idle.knocks_total > busy.knocks_total > 0
        k.reset_contention_metric()
        assert k.live_metrics().knocks_total >= idle.knocks_total  # never reset
    finally:
        k.stop()
    with pytest.raises(ValueError, match="window_s"):
        k.live_metrics(window_s=0)


def test_live_metrics_see_a_gil_pinned_by_a_c_call() -> None:
    # A thread holds the GIL inside one C call (PyDLL keeps the GIL) for 1.5 s; the main
    # thread reads the figures right after: the knock stuck behind the pin counted as busy.
    libc = ctypes.PyDLL(None)
    libc.usleep.argtypes = [ctypes.c_uint]
    k = Knocker(polling_interval_micros=200)
    k.start()
    try:
        time.sleep(0.1)
        before = k.live_metrics(window_s=1.0)
        pin = threading.Thread(target=libc.usleep, args=(1_500_000,))
        pin.start()
        pin.join()
        after = k.live_metrics(window_s=1.0)
        assert after.busy_fraction > 0.8
        assert after.gil_wait_seconds_total - before.gil_wait_seconds_total > 1.0
    finally:
        k.stop()


def test_prometheus_collector_exposes_gauge_and_counters() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from gilknocker.prometheus import GilCollector

    registry = prometheus_client.CollectorRegistry()
    k = Knocker(polling_interval_micros=200)
    k.start()
    try:
        registry.register(GilCollector(k, window_s=5))
        python_threads(2, 0.2)
        text = prometheus_client.generate_latest(registry).decode()
    finally:
        k.stop()
    assert "# TYPE gil_busy_fraction gauge" in text
    # prometheus_client names the counter family with or without _total, by version.
    assert re.search(r"^# TYPE gil_wait_seconds(_total)? counter$", text, re.M), text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert 0 < values["gil_busy_fraction"] <= 1
    assert values["gil_wait_seconds_total"] > 0
    assert values["gil_knocks_total"] > 0


def test_metrics_html_repr_escapes_and_lists_figures(tmp_path: Path) -> None:
    path = tmp_path / "<b>.parquet"
    with gilknocker.record(path) as rec:
        python_threads(1, 0.05)
    html = rec.metrics._repr_html_()
    assert html.startswith("<table") and "busy fraction" in html
    assert "&lt;b&gt;.parquet" in html and "<b>.parquet" not in html


def test_jupyter_cell_magic_records_and_displays(tmp_path: Path) -> None:
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    assert ip is not None
    shown: list[object] = []
    import IPython.display

    original = IPython.display.display
    IPython.display.display = lambda *objs, **kw: shown.extend(objs)  # type: ignore[assignment]
    try:
        ip.run_line_magic("load_ext", "gilknocker")
        out = tmp_path / "cell.parquet"
        ip.run_cell_magic(
            "gilknock",
            f"-o {out}",
            "total = 0\nfor i in range(3_000_000):\n    total += i\n",
        )
    finally:
        IPython.display.display = original
    assert ip.user_ns["total"] == sum(range(3_000_000))
    kinds = [type(o).__name__ for o in shown]
    assert "HTML" in kinds
    assert "SVG" in kinds, kinds
    assert gilknocker.read_metadata(out)["complete"] is True


def test_duckdb_reads_a_directory_of_traces_and_agrees_with_the_analyzer(
    tmp_path: Path,
) -> None:
    duckdb = pytest.importorskip("duckdb")
    import json
    import subprocess

    for i in range(3):
        with gilknocker.record(
            tmp_path / f"gilknocker-app-{i}.parquet", polling_interval_micros=300
        ):
            python_threads(1 + i % 2, 0.15)
    con = duckdb.connect()
    rows, low, high = con.execute(
        "select count(*), quantile_disc(wait_ns, 0.985), quantile_disc(wait_ns, 0.995) "
        f"from '{tmp_path}/*.parquet'"
    ).fetchone()
    exe = Path(sys.executable).parent / "gilknock-analyze"
    result = subprocess.run(
        [str(exe), "summary", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    combined = json.loads(result.stdout)["combined"]
    assert combined["samples"] == rows
    # A few thousand samples: the tail is sparse, so compare ranks, not values. The analyzer's
    # p99 (an HDR histogram, 0.1%) lies between DuckDB's 98.5th and 99.5th percentile samples.
    p99 = combined["wait_ns"]["p99"]
    assert low * 0.999 <= p99 <= high * 1.001, (low, p99, high)

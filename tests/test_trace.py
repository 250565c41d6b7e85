"""Recording to Parquet: contents, metadata, readers, and paths that cannot be written."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

import gilknocker
from conftest import gil_free_threads, pin_gil, python_threads, run_python

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")


def test_record_writes_a_trace_pandas_reads_directly(trace_path: Path) -> None:
    with gilknocker.record(trace_path, polling_interval_micros=200) as rec:
        python_threads(2, 0.3, until=lambda: rec.metrics.total_samples > 10)
    assert not os.path.exists(str(trace_path) + ".parts")
    df = pd.read_parquet(trace_path)
    assert list(df.columns) == [
        "time",
        "wait_ns",
        "interval_ns",
        "label",
        "blocked",
        "runnable_ns",
        "handoff_ns",
    ]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert str(df["wait_ns"].dtype) == "int64"
    # Runnable time is measured for long knocks only, and is part of their wait.
    measured = df["runnable_ns"].notna()
    assert (df.loc[measured, "wait_ns"] > 5_000).all()
    assert (df.loc[measured, "runnable_ns"] <= df.loc[measured, "wait_ns"]).all()
    if sys.platform == "linux":
        assert measured.any()
    # The estimated hand-off likewise: long knocks only, never more than the wait.
    estimated = df["handoff_ns"].notna()
    assert (df.loc[estimated, "wait_ns"] > 5_000).all()
    assert (df.loc[estimated, "handoff_ns"] >= 0).all()
    assert (df.loc[estimated, "handoff_ns"] <= df.loc[estimated, "wait_ns"]).all()
    assert len(df) == rec.metrics.total_samples > 10
    assert df["time"].is_monotonic_increasing
    assert (df["wait_ns"] >= 0).all()
    # The knocks happened now, not at some odd epoch.
    now = pd.Timestamp.now(tz="UTC")
    assert (now - df["time"].iloc[-1]) < pd.Timedelta(minutes=5)


def test_run_metadata_is_in_the_file_and_in_df_attrs(trace_path: Path) -> None:
    with gilknocker.record(trace_path, metadata={"build": "abc123"}):
        python_threads(1, 0.1)
    raw = pq.read_metadata(trace_path).metadata
    assert raw[b"gilknocker.format"] == b"gilknocker-trace"
    assert raw[b"gilknocker.format_version"] == b"1"
    df = gilknocker.load(trace_path)
    a = df.attrs
    assert a["format"] == "gilknocker-trace"
    assert a["complete"] is True and a["recovered"] is False
    assert a["python_version"] == platform.python_version()
    assert a["python_implementation"] == platform.python_implementation()
    assert a["switch_interval_s"] == sys.getswitchinterval()
    assert a["pid"] == os.getpid()
    assert a["recorder_version"] == gilknocker.__version__
    assert a["schedule"] == "continuous"
    assert a["polling_interval_ns"] == gilknocker.DEFAULT_POLLING_INTERVAL_MICROS * 1000
    assert a["jitter"] is True
    assert a["knocks"] == len(df)
    assert a["end_time_ns"] >= a["start_time_ns"]
    assert a["user.build"] == "abc123"
    assert isinstance(a["argv"], list)
    expected_gil = getattr(sys, "_is_gil_enabled", None)
    assert a["gil_enabled"] == (expected_gil() if expected_gil else "unknown")


def test_windowed_schedule_is_recorded(trace_path: Path) -> None:
    with gilknocker.record(
        trace_path,
        polling_interval_micros=100,
        sampling_interval_micros=1000,
        sleeping_interval_micros=5000,
        jitter=False,
    ):
        python_threads(1, 0.1)
    a = gilknocker.read_metadata(trace_path)
    assert a["schedule"] == "windowed"
    assert (a["polling_interval_ns"], a["sampling_interval_ns"], a["sleeping_interval_ns"]) == (
        100_000,
        1_000_000,
        5_000_000,
    )
    assert a["window_ns_total"] > 0


def test_busy_threads_show_clearly_higher_waits_in_the_trace(tmp_path: Path) -> None:
    with gilknocker.record(tmp_path / "busy.parquet", polling_interval_micros=500):
        python_threads(2, 0.5)
    with gilknocker.record(tmp_path / "free.parquet", polling_interval_micros=500):
        gil_free_threads(1, 0.5)
    busy = pd.read_parquet(tmp_path / "busy.parquet")["wait_ns"]
    free = pd.read_parquet(tmp_path / "free.parquet")["wait_ns"]
    assert busy.mean() > 10 * free.mean()
    assert busy.quantile(0.9) > 100_000  # a busy GIL makes waits of a switch interval


def test_record_as_decorator(trace_path: Path) -> None:
    rec = gilknocker.record(trace_path, polling_interval_micros=200)

    @rec
    def work(n: int) -> int:
        python_threads(1, 0.05)
        return n * 2

    assert work(21) == 42
    assert rec.metrics.total_samples > 0
    assert len(gilknocker.load(trace_path)) == rec.metrics.total_samples


def test_load_rejects_files_that_are_not_traces(tmp_path: Path) -> None:
    not_parquet = tmp_path / "notes.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(gilknocker.TraceFormatError, match=r"notes\.parquet"):
        gilknocker.load(not_parquet)
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(foreign)
    with pytest.raises(gilknocker.TraceFormatError, match="was not written by gilknocker"):
        gilknocker.load(foreign)
    with pytest.raises(FileNotFoundError):
        gilknocker.load(tmp_path / "missing.parquet")


def test_missing_directory_raises_file_not_found(tmp_path: Path) -> None:
    k = gilknocker.Knocker(path=tmp_path / "no" / "such" / "dir" / "run.parquet")
    with pytest.raises(FileNotFoundError) as info:
        k.start()
    assert "run.parquet" in str(info.value)
    assert not k.is_running


def test_directory_path_raises_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        gilknocker.Knocker(path=tmp_path).start()


def test_file_in_the_way_raises_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        gilknocker.Knocker(path=tmp_path / "file" / "run.parquet").start()


def test_unwritable_directory_raises_permission_error(tmp_path: Path) -> None:
    # Root ignores directory permissions: run as an unprivileged user when we are root.
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    code = f"""
        import os, gilknocker
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        try:
            gilknocker.Knocker(path={str(locked / "run.parquet")!r}).start()
        except PermissionError as e:
            print("PermissionError", e.filename)
    """
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PermissionError" in result.stdout
    assert "run.parquet" in result.stdout


def test_leftover_parts_are_not_overwritten(trace_path: Path) -> None:
    Path(str(trace_path) + ".parts").mkdir()
    with pytest.raises(FileExistsError, match="recover"):
        gilknocker.Knocker(path=trace_path).start()


def test_write_failure_mid_run_warns_and_keeps_the_program_running(tmp_path: Path) -> None:
    # Once a first part is on disk, files may not grow at all in this child: every later write
    # fails with EFBIG, as on a full disk (SIGXFSZ is ignored so the process is not killed).
    code = """
        import os, resource, signal, time, warnings, gilknocker
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            k = gilknocker.Knocker(polling_interval_micros=100, path="run.parquet",
                                   part_interval_ms=50)
            k.start()
            # The first part holds only the metadata (written by start()); wait for samples
            # (appended to the spool, or in a second part).
            while sum(n.startswith(("part-", ".spool-")) and not n.endswith(".tmp")
                      for n in os.listdir("run.parquet.parts")) < 2:
                time.sleep(0.01)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            deadline = time.time() + 5
            while time.time() < deadline and not caught:
                sum(range(10_000))  # the warning arrives while Python code runs
            k.stop()
        print("still running")
        for w in caught:
            print("WARNING", w.category.__name__, w.message)
    """
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "still running" in result.stdout
    assert "WARNING RuntimeWarning gilknocker: writing the trace failed" in result.stdout
    assert "File too large" in result.stdout
    # What was written before the failure is still readable (from the parts left behind).
    df = gilknocker.load(tmp_path / "run.parquet")
    assert len(df) > 0
    assert df.attrs["complete"] is False


def test_knocker_slows_down_while_idle_and_records_each_knocks_interval(
    trace_path: Path,
) -> None:
    import time

    with gilknocker.record(trace_path, idle_after_ms=50) as rec:
        time.sleep(0.4)  # GIL free: after 50 ms the knocker slows to the idle interval
        python_threads(2, 0.6)  # busy: back to the polling interval
    df = gilknocker.load(trace_path)
    fast_ns = gilknocker.DEFAULT_POLLING_INTERVAL_MICROS * 1000
    assert set(df["interval_ns"].unique()) == {fast_ns, 50_000_000}
    assert df.attrs["idle_interval_ns"] == 50_000_000
    assert df.attrs["idle_after_ns"] == 50_000_000
    busy = df[(df["wait_ns"] > df.attrs["busy_threshold_ns"]) & df["blocked"].ne(False)]
    # Once the GIL is busy the knocker keeps the fast pace (a rare busy knock in the idle
    # phase, e.g. the knocker preempted, was drawn at the idle pace).
    fast = busy["interval_ns"] == fast_ns
    assert fast.sum() >= 5 and fast.mean() > 0.5
    assert rec.metrics.busy_fraction > 0.2
    # The request-weighted distribution exists and is bounded by the knocks' maximum.
    assert 0 < rec.metrics.p99_request_wait_micros <= rec.metrics.max_acquisition_time_micros * 1.01


def test_windowed_and_fixed_pace_knockers_do_not_slow_down(trace_path: Path) -> None:
    with gilknocker.record(trace_path, polling_interval_micros=500, idle_interval_micros=None):
        python_threads(1, 0.05)
    df = gilknocker.load(trace_path)
    assert set(df["interval_ns"].unique()) == {500_000}
    assert "idle_interval_ns" not in df.attrs


def test_labels_mark_phases_nested_and_from_threads(trace_path: Path) -> None:
    import threading
    import time

    from gilknocker import _native

    with gilknocker.record(trace_path, polling_interval_micros=200, idle_interval_micros=None):
        with gilknocker.label("load"):
            time.sleep(0.05)
            with gilknocker.label("parse"):
                assert _native.current_label() == "parse"
                time.sleep(0.05)
            assert _native.current_label() == "load"
            time.sleep(0.05)

        @gilknocker.label("train")
        def train() -> None:
            python_threads(1, 0.05)

        train()
        # A label entered in another thread is the newest active one until it ends.
        entered, release = threading.Event(), threading.Event()

        def worker() -> None:
            with gilknocker.label("worker"):
                entered.set()
                release.wait(5)

        t = threading.Thread(target=worker)
        t.start()
        entered.wait(5)
        assert _native.current_label() == "worker"
        time.sleep(0.03)
        release.set()
        t.join()
        time.sleep(0.03)
    assert _native.current_label() is None
    df = gilknocker.load(trace_path)
    assert str(df["label"].dtype) == "category"
    seen = [x for x in df["label"].astype(object) if x is not None and x == x]
    order = [x for i, x in enumerate(seen) if i == 0 or seen[i - 1] != x]
    assert order == ["load", "parse", "load", "train", "worker"]
    assert df["label"].isna().any()  # knocks outside any label


def test_label_rejects_bad_names() -> None:
    with pytest.raises(TypeError):
        gilknocker.label(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gilknocker.label("")


def test_long_waits_say_whether_the_knocker_blocked_on_the_gil(trace_path: Path) -> None:
    # Another thread holds the GIL for 20 ms: the knocker must block on it.
    with gilknocker.record(trace_path, polling_interval_micros=200, idle_interval_micros=None):
        pin_gil(5, 20_000)
    df = gilknocker.load(trace_path)
    long = df[df["wait_ns"] > 1_000_000]
    assert len(long) >= 3
    if sys.platform.startswith("linux"):
        assert long["blocked"].eq(True).all()
        # Short knocks do not ask (no system call on the fast path).
        assert df.loc[df["wait_ns"] < 2_000, "blocked"].isna().all()


def test_load_gives_the_same_dtypes_whatever_the_rows(tmp_path: Path) -> None:
    """A stretch of a trace where every knock waited long has no null in the nullable columns;
    one where none did has only nulls. load() must give all of them the same dtypes (pandas
    alone gives bool/int64 without nulls, object/float64 with them)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("whether a knock blocked (the `blocked` column) is measured on Linux")
    import pyarrow.compute as pc

    path = tmp_path / "run.parquet"
    with gilknocker.record(path, polling_interval_micros=200, idle_interval_micros=None):
        pin_gil(5, 20_000, pause=0.01)  # long knocks with details, free ones without
    run_metadata = {
        k: v for k, v in pq.read_metadata(path).metadata.items() if not k.startswith(b"ARROW:")
    }
    table = pq.read_table(path).replace_schema_metadata(run_metadata)
    has_details = pc.is_valid(table["blocked"])
    subsets = {
        "details only": table.filter(has_details),
        "no details": table.filter(pc.invert(has_details)),
    }
    full = gilknocker.load(path)
    assert full["blocked"].isna().any() and full["blocked"].notna().any()
    for name, subset in subsets.items():
        assert subset.num_rows > 0, name
        pq.write_table(subset, tmp_path / f"{name}.parquet")
        part = gilknocker.load(tmp_path / f"{name}.parquet")
        assert len(part) == subset.num_rows
        assert dict(part.dtypes.astype(str)) == dict(full.dtypes.astype(str)), name
    assert str(full["blocked"].dtype) == "object"
    assert str(full["runnable_ns"].dtype) == str(full["handoff_ns"].dtype) == "float64"


def test_a_recording_in_progress_is_readable_spool_included(tmp_path: Path) -> None:
    """Between parts, flushed samples sit in the spool: load() and recover() read them (the
    complete batches of a torn spool too), with the same columns and types as a finished
    trace."""
    import shutil

    path = tmp_path / "live.parquet"
    parts = Path(str(path) + ".parts")
    k = gilknocker.Knocker(polling_interval_micros=200, path=path, part_interval_ms=20)
    k.start()
    try:
        with gilknocker.label("warm-up"):
            python_threads(2, 0.2)

        def spool_size() -> int:
            names = [n for n in os.listdir(parts) if n.endswith(".arrows")]
            return os.path.getsize(parts / names[0]) if names else 0

        python_threads(1, 0.05, until=lambda: spool_size() > 0)
        first = spool_size()
        python_threads(1, 0.05, until=lambda: spool_size() > first)  # a second batch
        # A copy of the directory as it is now, as a process killed at this moment leaves it.
        shutil.copytree(parts, tmp_path / "killed.parquet.parts")
        live = gilknocker.load(path)
    finally:
        k.stop()
    done = gilknocker.load(path)
    assert live.attrs["complete"] is False and done.attrs["complete"] is True
    assert 0 < len(live) <= len(done)
    assert list(live.dtypes.astype(str)) == list(done.dtypes.astype(str))
    assert "warm-up" in set(live["label"].dropna())

    killed = tmp_path / "killed.parquet"
    copied = Path(str(killed) + ".parts")
    # A Parquet dataset reader sees the parts only: the spool is hidden from it.
    assert len(pd.read_parquet(copied)) < len(gilknocker.load(killed))
    (spool_file,) = [p for p in copied.iterdir() if p.name.endswith(".arrows")]
    whole = len(gilknocker.load(killed))
    with open(spool_file, "r+b") as f:  # the process died while appending
        f.truncate(spool_file.stat().st_size - 10)
    torn = len(gilknocker.load(killed))
    assert 0 < torn < whole
    merged, rows = gilknocker.recover(killed)
    assert rows == torn and merged >= 2
    assert len(pd.read_parquet(killed)) == torn

"""The Python API against the real interpreter: shapes and robust invariants, not latencies."""

from __future__ import annotations

import math
import os
import threading
import time

import pytest

import gilknocker
from conftest import gil_free_threads, native_thread_count, python_threads
from gilknocker import Knocker, KnockKnock


def test_issue_snippet_runs_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    def my_gil_heavy_function() -> None:
        _ = [i * i for i in range(1_000_000)]

    knocker = Knocker(
        polling_interval_micros=1000,
        sampling_interval_micros=10000,
        sleeping_interval_micros=100000,
    )
    knocker.start()
    my_gil_heavy_function()
    knocker.stop()
    metrics = knocker.get_metrics()
    print(f"Average GIL acquisition time: {metrics.avg_acquisition_time_micros:.2f} microseconds")
    print(f"Max GIL acquisition time: {metrics.max_acquisition_time_micros:.2f} microseconds")
    print(f"Total samples: {metrics.total_samples}")
    out = capsys.readouterr().out
    assert "Total samples: " in out
    assert metrics.total_samples >= 1
    assert metrics.max_acquisition_time_micros >= metrics.avg_acquisition_time_micros >= 0


def test_metrics_shape_and_invariants() -> None:
    knocker = Knocker(polling_interval_micros=200)
    knocker.start()
    python_threads(2, 0.4, until=lambda: knocker.get_metrics().total_samples > 10)
    knocker.stop()
    m = knocker.get_metrics()
    assert m.total_samples > 10
    assert 0 <= m.min_acquisition_time_micros <= m.p50_acquisition_time_micros
    assert m.p50_acquisition_time_micros <= m.p90_acquisition_time_micros
    assert m.p90_acquisition_time_micros <= m.p99_acquisition_time_micros
    assert m.p99_acquisition_time_micros <= m.p999_acquisition_time_micros
    # Percentiles come from a histogram with 0.1% resolution.
    assert m.p999_acquisition_time_micros <= m.max_acquisition_time_micros * 1.001 + 0.001
    assert 0 <= m.busy_fraction <= 1
    lo, hi = m.busy_fraction_ci95
    assert 0 <= lo <= m.busy_fraction <= hi <= 1
    assert 0 <= m.contention_metric <= 1
    assert 0 <= m.long_wait_fraction <= m.busy_fraction + 1e-9
    assert m.duration_s > 0
    assert m.dropped_samples == 0
    assert "busy fraction" in str(m)


def test_busy_python_threads_read_far_higher_than_gil_free_work() -> None:
    busy = Knocker(polling_interval_micros=500)
    busy.start()
    python_threads(2, 0.6)
    busy.stop()
    free = Knocker(polling_interval_micros=500)
    free.start()
    gil_free_threads(1, 0.6)
    free.stop()
    b, f = busy.get_metrics(), free.get_metrics()
    assert b.busy_fraction > 0.6, b
    assert f.busy_fraction < 0.4, f
    assert b.busy_fraction > f.busy_fraction + 0.3
    assert b.avg_acquisition_time_micros > 10 * f.avg_acquisition_time_micros


# gilknocker 0.4.2's own test behaviours, on our KnockKnock.


def test_knockknock_busy_threads_give_a_high_metric() -> None:
    kk = KnockKnock(polling_interval_micros=1000)
    kk.start()
    try:
        python_threads(4, 1.0)
        assert kk.contention_metric > 0.6
    finally:
        kk.stop()


def test_knockknock_gil_releasing_numpy_gives_a_low_metric() -> None:
    np = pytest.importorskip("numpy")
    kk = KnockKnock(polling_interval_micros=1000)
    kk.start()
    try:

        def work() -> None:
            # Matrix products run in BLAS with the GIL released (whether np.fft releases it
            # depends on the numpy version).
            rng = np.random.default_rng(0)
            a = rng.standard_normal((512, 512))
            for _ in range(60):
                a @ a

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.3)
        assert kk.contention_metric < 0.2
    finally:
        kk.stop()


def test_knockknock_reset_brings_the_metric_to_zero() -> None:
    kk = KnockKnock(polling_interval_micros=1000)
    kk.start()
    try:
        python_threads(4, 0.6)
        assert kk.contention_metric > 0.6
        kk.reset_contention_metric()
        assert kk.contention_metric < 0.001
    finally:
        kk.stop()


def test_knockknock_stop_twice_is_fine_and_metric_freezes() -> None:
    kk = KnockKnock(polling_interval_micros=100)
    assert not kk.is_running
    assert kk.contention_metric == 0.0
    kk.start()
    assert kk.is_running
    python_threads(2, 0.3)
    kk.stop()
    assert not kk.is_running
    frozen = kk.contention_metric
    time.sleep(0.05)
    kk.stop()
    assert kk.contention_metric == frozen


def test_knockknock_accepts_positional_arguments_like_042() -> None:
    kk = KnockKnock(1000, 10_000, 100_000, 500_000)
    kk.start()
    kk.stop()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"polling_interval_micros": 0}, ValueError),
        ({"polling_interval_micros": -5}, ValueError),
        ({"polling_interval_micros": 1.5}, TypeError),
        ({"polling_interval_micros": "100"}, TypeError),
        ({"polling_interval_micros": True}, TypeError),
        ({"sampling_interval_micros": 0}, ValueError),
        ({"sleeping_interval_micros": -1}, ValueError),
        ({"busy_threshold_micros": -1}, ValueError),
        ({"queue_capacity": 0}, ValueError),
        ({"part_interval_ms": 0}, ValueError),
        ({"jitter": "yes"}, TypeError),
        ({"metadata": {"k": 1}}, TypeError),
    ],
)
def test_bad_arguments_raise_with_a_helpful_message(kwargs: dict, error: type) -> None:
    with pytest.raises(error) as info:
        Knocker(**kwargs)
    name = next(iter(kwargs))
    assert name.split("_")[0] in str(info.value)


def test_knockknock_bad_arguments() -> None:
    with pytest.raises(ValueError, match="polling_interval_micros"):
        KnockKnock(polling_interval_micros=0)
    with pytest.raises(TypeError, match="timeout_micros"):
        KnockKnock(timeout_micros="1")


def test_start_twice_raises_and_restart_after_stop_works() -> None:
    k = Knocker(polling_interval_micros=100)
    k.start()
    with pytest.raises(RuntimeError, match="already running"):
        k.start()
    k.stop()
    for _ in range(3):
        k.start()
        time.sleep(0.01)
        k.stop()
    assert k.get_metrics().total_samples > 0


def test_get_metrics_before_start_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        Knocker().get_metrics()


def test_metrics_are_live_while_running() -> None:
    k = Knocker(polling_interval_micros=100)
    k.start()
    try:
        python_threads(1, 0.2)
        first = k.get_metrics().total_samples
        python_threads(1, 0.2)
        assert k.get_metrics().total_samples > first > 0
    finally:
        k.stop()


def test_start_and_stop_from_other_threads() -> None:
    k = Knocker(polling_interval_micros=100)
    t = threading.Thread(target=k.start)
    t.start()
    t.join()
    assert k.is_running
    time.sleep(0.02)
    t = threading.Thread(target=k.stop)
    t.start()
    t.join()
    assert not k.is_running
    assert k.get_metrics().total_samples > 0


def test_two_recorders_at_once_both_work() -> None:
    a, b = Knocker(polling_interval_micros=200), Knocker(polling_interval_micros=300)
    a.start()
    b.start()
    python_threads(2, 0.3)
    b.stop()
    a.stop()
    assert a.get_metrics().total_samples > 0
    assert b.get_metrics().total_samples > 0


def test_many_cycles_leave_no_threads_behind() -> None:
    before = native_thread_count()
    for _ in range(100):
        k = Knocker(polling_interval_micros=50)
        k.start()
        k.stop()
    # A leak grows the count by up to 100; threads of earlier tests may still be exiting.
    assert native_thread_count() <= before


def test_a_started_knocker_without_a_reference_keeps_running(trace_path) -> None:
    import gc

    gilknocker.Knocker(polling_interval_micros=100, path=trace_path).start()
    gc.collect()
    time.sleep(0.05)
    assert os.path.isdir(str(trace_path) + ".parts")
    (running,) = [k for k in gilknocker._api._live if k.path == str(trace_path)]
    assert running.is_running
    running.stop()
    assert gilknocker.read_metadata(trace_path)["complete"] is True


def test_stop_returns_quickly_with_long_pauses() -> None:
    # The knocker sleeps 10 s between windows; stop() must not wait for that.
    k = Knocker(
        polling_interval_micros=1000,
        sampling_interval_micros=2000,
        sleeping_interval_micros=10_000_000,
    )
    k.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    k.stop()
    # Generous bound (a loaded CI machine): the point is "not 10 s".
    assert time.perf_counter() - t0 < 2.0


def test_windowed_defaults_follow_042_when_only_one_window_argument_is_given() -> None:
    k = Knocker(polling_interval_micros=100, sampling_interval_micros=1000)
    k.start()
    time.sleep(0.05)
    k.stop()
    assert k.get_metrics().total_samples > 0


def test_version_and_exports() -> None:
    assert gilknocker.__version__
    assert isinstance(gilknocker.Metrics.__doc__, str)
    assert not math.isnan(KnockKnock().contention_metric)


def test_the_writer_drains_once_per_part_unless_the_queue_could_fill_sooner() -> None:
    from gilknocker._api import _drain_interval_ns

    ms = 1_000_000
    # Defaults: a quarter of the queue takes 32 s to fill at 2 ms: once per 500 ms part.
    assert _drain_interval_ns(500 * ms, 2_000_000, 1 << 16) == 500 * ms
    # Knocking every 10 µs, a quarter of the queue fills in 164 ms: drain that often.
    assert _drain_interval_ns(500 * ms, 10_000, 1 << 16) == (1 << 16) * 10_000 // 4
    # A tiny queue is drained often, but never more than once a millisecond.
    assert _drain_interval_ns(500 * ms, 1_000, 64) == ms
    # Never less often than once per part.
    assert _drain_interval_ns(50 * ms, 2_000_000, 1 << 16) == 50 * ms

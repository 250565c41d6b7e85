"""The public API: Knocker, KnockKnock, record, load, recover.

Defaults, validation and ergonomics live here; the native module takes every argument
explicitly (see ``_native.pyi``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import platform
import socket
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar, Union

from gilknocker import _native

StrPath = Union[str, "os.PathLike[str]"]
F = TypeVar("F", bound=Callable[..., Any])

#: Pause between knocks of a continuous recording (mean, with jitter). Knocking more often
#: removes noise and costs CPU while the GIL is busy: 2 ms meets the accuracy target on 6-s runs
#: at about half the CPU of 1 ms (docs/accuracy.md, "Interval settings").
DEFAULT_POLLING_INTERVAL_MICROS = 2000
#: Mean pause while the GIL stays free: every knock wakes a thread, which costs 50-70 µs of CPU
#: after a long sleep on a VM (a bare nanosleep loop: 48 µs), so an idle program is sampled at
#: 20 Hz (about 1.3 ms of CPU per second) and a busy one at 500 Hz. Each knock carries its
#: interval, so the busy fraction stays unbiased.
DEFAULT_IDLE_INTERVAL_MICROS = 50_000
#: How long after the last knock that found the GIL busy the knocker keeps the fast pace.
DEFAULT_IDLE_AFTER_MS = 250
#: A knock that waits longer than this found the GIL busy.
DEFAULT_BUSY_THRESHOLD_MICROS = _native.DEFAULT_BUSY_THRESHOLD_NS / 1000
#: Samples reach disk at least this often while recording (bounds what a crash loses).
DEFAULT_PART_INTERVAL_MS = 500
DEFAULT_QUEUE_CAPACITY = 1 << 16
#: How long stop() waits for the threads and the final merge before warning and returning.
DEFAULT_STOP_TIMEOUT_S = 60.0
# The writer never drains the queue more often than this (each wake-up costs CPU).
_MIN_DRAIN_INTERVAL_NS = 1_000_000


def _drain_interval_ns(part_interval_ns: int, polling_ns: int, queue_capacity: int) -> int:
    """How often the writer drains the queue: at least once per part, and often enough that
    the queue gets at most a quarter full at the polling rate (defaults: every 500 ms, when
    the queue would take 16 s to fill a quarter)."""
    quarter_full_ns = queue_capacity * polling_ns // 4
    return min(part_interval_ns, max(_MIN_DRAIN_INTERVAL_NS, quarter_full_ns))


__all__ = [
    "DEFAULT_POLLING_INTERVAL_MICROS",
    "KnockKnock",
    "Knocker",
    "LiveMetrics",
    "Metrics",
    "TraceFormatError",
    "label",
    "load",
    "record",
    "recover",
]

TraceFormatError = _native.TraceFormatError


@dataclass(frozen=True)
class Metrics:
    """What a knocker measured (since start, or since the last reset).

    Times are in microseconds. ``busy_fraction`` is the estimated fraction of time the GIL was
    busy, i.e. the chance that a thread asking for the GIL at a random moment had to wait;
    ``contention_metric`` is gilknocker 0.4.2's figure (total wait / total sampling time).
    ``*_acquisition_time_micros`` describe the knocks' own waits; ``*_request_wait_micros``
    describe the waits a thread asking for the GIL at a random moment would have seen (a knock
    that waited 10 ms stood for every request that arrived during those 10 ms).
    """

    total_samples: int
    avg_acquisition_time_micros: float
    max_acquisition_time_micros: float
    min_acquisition_time_micros: float
    p50_acquisition_time_micros: float
    p90_acquisition_time_micros: float
    p99_acquisition_time_micros: float
    p999_acquisition_time_micros: float
    p50_request_wait_micros: float
    p90_request_wait_micros: float
    p99_request_wait_micros: float
    p999_request_wait_micros: float
    contention_metric: float
    busy_fraction: float
    busy_fraction_ci95: tuple[float, float]
    long_wait_fraction: float
    dropped_samples: int
    skipped_busy_slots: int
    missed_late_slots: int
    preempted_knocks: int
    mean_lateness_micros: float
    max_lateness_micros: float
    duration_s: float
    path: Optional[str] = field(default=None)

    @classmethod
    def _from_native(cls, raw: dict[str, Any], path: Optional[str]) -> Metrics:
        us = 1e-3
        ci = raw["busy_fraction_ci95"]
        return cls(
            total_samples=int(raw["knocks"]),
            avg_acquisition_time_micros=float(raw["wait_ns_mean"]) * us,
            max_acquisition_time_micros=float(raw["wait_ns_max"]) * us,
            min_acquisition_time_micros=float(raw["wait_ns_min"]) * us,
            p50_acquisition_time_micros=float(raw["wait_ns_p50"]) * us,
            p90_acquisition_time_micros=float(raw["wait_ns_p90"]) * us,
            p99_acquisition_time_micros=float(raw["wait_ns_p99"]) * us,
            p999_acquisition_time_micros=float(raw["wait_ns_p99_9"]) * us,
            p50_request_wait_micros=float(raw["request_wait_ns_p50"]) * us,
            p90_request_wait_micros=float(raw["request_wait_ns_p90"]) * us,
            p99_request_wait_micros=float(raw["request_wait_ns_p99"]) * us,
            p999_request_wait_micros=float(raw["request_wait_ns_p99_9"]) * us,
            contention_metric=float(raw["contention_metric"]),
            busy_fraction=float(raw["busy_fraction"]),
            busy_fraction_ci95=(float(ci[0]), float(ci[1])),
            long_wait_fraction=float(raw["long_wait_fraction"]),
            dropped_samples=int(raw["dropped_samples"]),
            skipped_busy_slots=int(raw["skipped_busy_slots"]),
            missed_late_slots=int(raw["missed_late_slots"]),
            preempted_knocks=int(raw["preempted_knocks"]),
            mean_lateness_micros=float(raw["late_ns_mean"]) * us,
            max_lateness_micros=float(raw["late_ns_max"]) * us,
            duration_s=float(raw["duration_ns"]) * 1e-9,
            path=path,
        )

    def _repr_html_(self) -> str:
        from html import escape

        lo, hi = self.busy_fraction_ci95
        rows = [
            ("samples", f"{self.total_samples}"),
            ("duration", f"{self.duration_s:.3f} s"),
            ("busy fraction", f"{self.busy_fraction:.3f} (95% CI {lo:.3f} to {hi:.3f})"),
            ("waited ≥ 1 ms", f"{self.long_wait_fraction:.3f} of the time"),
            ("contention metric (0.4.2)", f"{self.contention_metric:.3f}"),
            ("wait mean", f"{self.avg_acquisition_time_micros:.1f} µs"),
            (
                "wait p50 / p90",
                f"{self.p50_acquisition_time_micros:.1f} / "
                f"{self.p90_acquisition_time_micros:.1f} µs",
            ),
            (
                "wait p99 / p99.9",
                f"{self.p99_acquisition_time_micros:.1f} / "
                f"{self.p999_acquisition_time_micros:.1f} µs",
            ),
            ("wait max", f"{self.max_acquisition_time_micros:.1f} µs"),
            (
                "request wait p50 / p99",
                f"{self.p50_request_wait_micros:.1f} / {self.p99_request_wait_micros:.1f} µs",
            ),
            ("dropped samples", f"{self.dropped_samples}"),
        ]
        if self.path:
            rows.append(("trace", self.path))
        body = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<table class='gilknocker-metrics'>{body}</table>"

    def __str__(self) -> str:
        lo, hi = self.busy_fraction_ci95
        lines = [
            f"samples            {self.total_samples}",
            f"duration           {self.duration_s:.3f} s",
            f"busy fraction      {self.busy_fraction:.3f} (95% CI {lo:.3f}-{hi:.3f})",
            f"waited >= 1 ms     {self.long_wait_fraction:.3f} of the time",
            f"contention metric  {self.contention_metric:.3f} (gilknocker 0.4.2)",
            "wait (µs)          "
            f"mean {self.avg_acquisition_time_micros:.1f}  "
            f"p50 {self.p50_acquisition_time_micros:.1f}  "
            f"p90 {self.p90_acquisition_time_micros:.1f}  "
            f"p99 {self.p99_acquisition_time_micros:.1f}  "
            f"p99.9 {self.p999_acquisition_time_micros:.1f}  "
            f"max {self.max_acquisition_time_micros:.1f}",
            "request wait (µs)  "
            f"p50 {self.p50_request_wait_micros:.1f}  "
            f"p90 {self.p90_request_wait_micros:.1f}  "
            f"p99 {self.p99_request_wait_micros:.1f}  "
            f"p99.9 {self.p999_request_wait_micros:.1f}",
        ]
        if self.dropped_samples:
            lines.append(f"dropped samples    {self.dropped_samples}")
        if self.path:
            lines.append(f"trace              {self.path}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LiveMetrics:
    """Figures for long-running services, computed in Rust and never reset.

    ``busy_fraction`` covers the last ``window_s`` seconds (time-weighted, never above 1) and
    counts a knock that is still waiting, so it reads 1.0 while something pins the GIL.
    ``gil_wait_seconds_total`` and ``knocks_total`` only grow: scrape them and take rate().
    """

    busy_fraction: float
    gil_wait_seconds_total: float
    knocks_total: int
    window_s: float


def _micros(name: str, value: object, *, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int (microseconds), got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of microseconds, got {value}")
    return value


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


def _gil_enabled() -> Optional[bool]:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return bool(is_enabled()) if is_enabled is not None else None


# Running knockers. Held strongly: `Knocker(...).start()` without keeping a reference must go
# on recording until stop() or interpreter exit (as gilknocker 0.4.2's atexit hook does).
_live: set[Knocker] = set()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        running = list(_live)
    for knocker in running:
        with contextlib.suppress(Exception):
            knocker.stop()


def _forget_all_in_child() -> None:
    # The parent's threads do not exist in the child; never join them or write the parent's
    # trace from here.
    for knocker in list(_live):
        knocker._native._after_fork_child()
    _live.clear()


atexit.register(_stop_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all_in_child)


class Knocker:
    """Measure GIL contention with a native thread that knocks on the GIL.

    Without ``sampling_interval_micros``/``sleeping_interval_micros`` it knocks continuously,
    on average every ``polling_interval_micros`` (exponentially distributed intervals when
    ``jitter``, so periodic workloads cannot fool it), slowing to ``idle_interval_micros``
    once the GIL has stayed free for ``idle_after_ms`` (``idle_interval_micros=None`` keeps
    the pace). With them it follows gilknocker 0.4.2's
    schedule: knock every ``polling_interval_micros`` during windows of
    ``sampling_interval_micros``, pausing ``sleeping_interval_micros`` between windows.

    With ``path`` the samples are also written to a Parquet trace.
    """

    def __init__(
        self,
        polling_interval_micros: int = DEFAULT_POLLING_INTERVAL_MICROS,
        sampling_interval_micros: Optional[int] = None,
        sleeping_interval_micros: Optional[int] = None,
        *,
        path: Optional[StrPath] = None,
        jitter: bool = True,
        idle_interval_micros: Optional[int] = DEFAULT_IDLE_INTERVAL_MICROS,
        idle_after_ms: float = DEFAULT_IDLE_AFTER_MS,
        busy_threshold_micros: float = DEFAULT_BUSY_THRESHOLD_MICROS,
        metadata: Optional[dict[str, str]] = None,
        part_interval_ms: float = DEFAULT_PART_INTERVAL_MS,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        seed: Optional[int] = None,
    ) -> None:
        polling = _micros("polling_interval_micros", polling_interval_micros)
        sampling = _micros("sampling_interval_micros", sampling_interval_micros, allow_none=True)
        sleeping = _micros("sleeping_interval_micros", sleeping_interval_micros, allow_none=True)
        assert polling is not None
        if (sampling is None) != (sleeping is None):
            # One given: the other takes gilknocker 0.4.2's default.
            sampling = sampling if sampling is not None else 10 * polling
            sleeping = sleeping if sleeping is not None else 100 * polling
        idle = _micros("idle_interval_micros", idle_interval_micros, allow_none=True)
        if sampling is not None or idle is None:
            idle = None  # windows (gilknocker 0.4.2's schedule) keep their pace
        elif idle < polling:
            idle = polling
        idle_after = _positive_number("idle_after_ms", idle_after_ms)
        if not isinstance(jitter, bool):
            raise TypeError(f"jitter must be True or False, got {type(jitter).__name__}")
        threshold = float(busy_threshold_micros)
        if isinstance(busy_threshold_micros, bool) or not threshold >= 0:
            raise ValueError(f"busy_threshold_micros must be >= 0, got {busy_threshold_micros}")
        part_interval = _positive_number("part_interval_ms", part_interval_ms)
        if isinstance(queue_capacity, bool) or not isinstance(queue_capacity, int):
            raise TypeError("queue_capacity must be an int")
        if queue_capacity < 1:
            raise ValueError(f"queue_capacity must be at least 1, got {queue_capacity}")
        self._stop_timeout_s = _positive_number("stop_timeout_s", stop_timeout_s)
        user = {}
        for key, value in (metadata or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("metadata must map str to str")
            user[key] = value
        if path is not None:
            path = os.fspath(path)
            if not isinstance(path, str):
                raise TypeError("path must be a str or os.PathLike[str]")
        self._path: Optional[str] = path
        from gilknocker import __version__

        self._native = _native.Recorder(
            polling_interval_ns=polling * 1000,
            sampling_interval_ns=None if sampling is None else sampling * 1000,
            sleeping_interval_ns=None if sleeping is None else sleeping * 1000,
            jitter=jitter,
            idle_interval_ns=None if idle is None else idle * 1000,
            idle_after_ns=round(idle_after * 1e6),
            busy_threshold_ns=round(threshold * 1000),
            path=path,
            part_interval_ns=round(part_interval * 1e6),
            drain_interval_ns=_drain_interval_ns(
                round(part_interval * 1e6), polling * 1000, queue_capacity
            ),
            queue_capacity=queue_capacity,
            seed=seed if seed is not None else int.from_bytes(os.urandom(8), "little"),
            python_version=platform.python_version(),
            python_implementation=platform.python_implementation(),
            gil_enabled=_gil_enabled(),
            switch_interval_s=sys.getswitchinterval(),
            pid=os.getpid(),
            host=socket.gethostname(),
            argv=[str(a) for a in getattr(sys, "argv", [])],
            recorder_version=__version__,
            user=user,
        )

    @property
    def path(self) -> Optional[str]:
        """Where the trace goes (None when not recording to a file)."""
        return self._path

    def start(self) -> None:
        """Start knocking (and recording, with a path). Raises RuntimeError when running."""
        self._native.start()
        with _live_lock:
            _live.add(self)

    def stop(self) -> None:
        """Stop, finish the trace, and return. Safe to call twice, from any thread.

        Never raises because of the recording: problems (a full disk, a timeout) become a
        RuntimeWarning.
        """
        message = self._native.stop(self._stop_timeout_s)
        with _live_lock:
            _live.discard(self)
        pending = self._native.take_warning()
        for text in (pending, message):
            if text:
                warnings.warn(f"gilknocker: {text}", RuntimeWarning, stacklevel=2)

    @property
    def is_running(self) -> bool:
        return self._native.is_running

    @property
    def contention_metric(self) -> float:
        """gilknocker 0.4.2's metric (total wait / total sampling time), live while running."""
        return self._native.contention_metric

    def reset_contention_metric(self) -> None:
        """Forget what was measured so far (the trace file keeps every sample)."""
        self._native.reset()

    def get_metrics(self) -> Metrics:
        """Metrics since start (or reset); live while running, frozen after stop."""
        raw = self._native.metrics()
        if raw is None:
            raise RuntimeError("no metrics yet: start() the knocker first")
        return Metrics._from_native(raw, self._path)

    def live_metrics(self, window_s: float = 10.0) -> LiveMetrics:
        """Windowed busy fraction and monotonic wait counters (see :class:`LiveMetrics`).

        Cheap (no GIL wait, no allocation in Rust) and safe to call from a metrics endpoint.
        """
        window = _positive_number("window_s", window_s)
        busy, wait_s, knocks, covered = self._native.live(window)
        return LiveMetrics(busy, wait_s, knocks, covered)

    def __enter__(self) -> Knocker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        target = f" path={self._path!r}" if self._path else ""
        return f"<gilknocker.Knocker {state}{target}>"


class KnockKnock:
    """Drop-in replacement for gilknocker 0.4.2's ``KnockKnock``.

    ``contention_metric`` is total wait / total sampling time since start or the last reset,
    live while running and frozen after ``stop()``. ``start()`` arranges a stop at interpreter
    exit; ``stop()`` is idempotent.
    """

    def __init__(
        self,
        polling_interval_micros: Optional[int] = None,
        sampling_interval_micros: Optional[int] = None,
        sleeping_interval_micros: Optional[int] = None,
        timeout_micros: Optional[int] = None,
    ) -> None:
        polling = _micros("polling_interval_micros", polling_interval_micros, allow_none=True)
        polling = polling if polling is not None else 1000
        sampling = _micros("sampling_interval_micros", sampling_interval_micros, allow_none=True)
        sampling = sampling if sampling is not None else 10 * polling
        sleeping = _micros("sleeping_interval_micros", sleeping_interval_micros, allow_none=True)
        sleeping = sleeping if sleeping is not None else 100 * polling
        timeout = _micros("timeout_micros", timeout_micros, allow_none=True)
        # 0.4.2's default timeout; ours only bounds stop(), which normally takes microseconds.
        timeout = timeout if timeout is not None else max(sampling, sleeping) + 1000
        self._knocker = Knocker(
            polling,
            sampling,
            sleeping,
            jitter=False,
            stop_timeout_s=timeout * 1e-6,
        )

    def start(self) -> None:
        """Start knocking. Calling it again restarts (the metric starts again at 0)."""
        if self._knocker.is_running:
            self._knocker.stop()
        self._knocker.start()

    def stop(self) -> None:
        """Stop knocking. Safe to call more than once."""
        self._knocker.stop()

    @property
    def contention_metric(self) -> float:
        return self._knocker.contention_metric

    def reset_contention_metric(self) -> None:
        self._knocker.reset_contention_metric()

    @property
    def is_running(self) -> bool:
        return self._knocker.is_running

    def get_metrics(self) -> Metrics:
        return self._knocker.get_metrics()


class record(contextlib.ContextDecorator):
    """Record a Parquet trace of a block (``with``) or of each call (decorator).

    ``with gilknocker.record("run.parquet") as rec: ...`` then ``rec.metrics``. Keyword
    arguments are those of :class:`Knocker`.
    """

    def __init__(self, path: StrPath, **options: Any) -> None:
        self.path = os.fspath(path)
        self._options = options
        # Validate now, at the call site, not when the block starts.
        Knocker(path=None, **options)
        self._knocker: Optional[Knocker] = None
        self._metrics: Optional[Metrics] = None

    def __enter__(self) -> record:
        if self._knocker is not None and self._knocker.is_running:
            raise RuntimeError(f"already recording to {self.path}")
        self._knocker = Knocker(path=self.path, **self._options)
        self._metrics = None
        self._knocker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        knocker = self._knocker
        if knocker is None:
            return
        knocker.stop()
        self._metrics = knocker.get_metrics()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    @property
    def metrics(self) -> Metrics:
        """Live while recording, final after the block."""
        if self._metrics is not None:
            return self._metrics
        if self._knocker is None:
            raise RuntimeError("nothing recorded yet")
        return self._knocker.get_metrics()


class label(contextlib.ContextDecorator):
    """Mark a phase of the program: ``with gilknocker.label("load-data"):`` or
    ``@gilknocker.label("train")``. Every knock records the label active when it began.

    Labels are process-wide: a knock records the most recently entered label that is still
    active, whichever thread entered it. Nested labels mark the innermost phase and restore the
    outer one on exit. Labels cost nothing when no recorder runs.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"label name must be a str, got {type(name).__name__}")
        if not name or len(name) > 1000:
            raise ValueError("label name must be 1 to 1000 characters long")
        self.name = name
        # Tokens per thread: the same label object may be active in several threads at once.
        self._tokens = threading.local()

    def __enter__(self) -> label:
        stack = self._tokens.__dict__.setdefault("stack", [])
        stack.append(_native.label_enter(self.name))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _native.label_exit(self._tokens.stack.pop())

    def __repr__(self) -> str:
        return f"gilknocker.label({self.name!r})"


def _parse_value(key: str, value: str) -> Any:
    if key == "argv":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def read_metadata(path: StrPath) -> dict[str, Any]:
    """A trace's run metadata (keys without the ``gilknocker.`` prefix, values typed).

    Raises TraceFormatError if the file is not a gilknocker trace this version reads.
    """
    raw = _native.read_metadata(os.fspath(path))
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[len("gilknocker.") :] if key.startswith("gilknocker.") else key
        out[name] = _parse_value(name, value)
    return out


def load(path: StrPath) -> Any:
    """Load a trace as a pandas DataFrame (``time``, ``wait_ns``, ``interval_ns``) with the run
    metadata in ``df.attrs``. Also reads the parts and spool of an unfinished recording. The
    dtypes do not depend on the rows: nullable integer columns are float64 (NaN where null),
    nullable booleans object (None where null). Needs pandas and pyarrow
    (``pip install gilknocker[pandas]``).
    """
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    path = os.fspath(path)
    attrs = read_metadata(path)
    table = pq.read_table(path) if os.path.exists(path) else _read_unfinished(path)
    df = table.to_pandas()
    _stable_nullable_dtypes(df, [field.name for field in table.schema if field.nullable])
    df.attrs.update(attrs)
    return df


def _stable_nullable_dtypes(df: Any, nullable: list[str]) -> None:
    """Give the nullable columns the dtypes pandas gives them when they hold a null (float64
    with NaN for integers, object with None for booleans), so that a DataFrame's dtypes do not
    depend on its rows: a short or busy stretch of a trace may have no null in a column."""
    for name in nullable:
        kind = df[name].dtype.kind
        if kind in "iu":
            df[name] = df[name].astype("float64")
        elif kind == "b":
            df[name] = df[name].astype(object)


def _read_unfinished(path: str) -> Any:
    """The samples of an unfinished recording as one pyarrow Table: its Parquet parts, then
    the complete batches of its spool (the newest samples, an Arrow IPC stream)."""
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.ipc  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    retries = 2
    while True:
        try:
            return _read_files(pa, pq, _native.unfinished_files(path))
        except FileNotFoundError:
            # A recording in progress turned its spool into a part meanwhile: list again.
            if retries == 0:
                raise
            retries -= 1


def _read_files(pa: Any, pq: Any, files: list[tuple[Any, bool]]) -> Any:
    """Parquet parts whole; a spool's complete batches (a torn last message is skipped)."""
    tables = []
    for file, is_spool in files:
        if not is_spool:
            tables.append(pq.read_table(file))
            continue
        batches = []
        with pa.OSFile(os.fspath(file)) as f:
            reader = pa.ipc.open_stream(f)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError):
                    break  # the message being appended when the process died
        if batches:
            tables.append(pa.Table.from_batches(batches, schema=reader.schema))
    # The spool stores labels as plain strings; the parts as a dictionary.
    schema = tables[0].schema.remove_metadata()
    return pa.concat_tables([t.replace_schema_metadata().cast(schema) for t in tables])


def recover(path: StrPath) -> tuple[int, int]:
    """Finish a trace whose recording process died: merge the parts left in
    ``<path>.parts`` (its parts and spool) into ``path``. Returns (files merged, rows)."""
    parts, rows = _native.recover(os.fspath(path))
    return parts, rows

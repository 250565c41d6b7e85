"""One measurement in a fresh interpreter; run by benchmarks/run.py, prints one JSON object.

    python benchmarks/_worker.py '{"kind": "accuracy", "tool": "ours", ...}'

Works with our gilknocker and with gilknocker 0.4.2 (same import name; run.py picks the
interpreter), so every workload below is the same code for both tools.
"""

from __future__ import annotations

import abc
import ctypes
import json
import os
import random
import sys
import threading
import time
from typing import Any, Callable, Optional

QS = (0.5, 0.9, 0.99)


class Helper:
    """benchmarks/gilhold.c, loaded twice: PyDLL keeps the GIL in calls, CDLL releases it."""

    def __init__(self, path: str) -> None:
        self.py = ctypes.PyDLL(path)
        self.c = ctypes.CDLL(path)
        for lib in (self.py, self.c):
            lib.gh_now.restype = ctypes.c_int64
            lib.gh_sleep.restype = ctypes.c_int64
            lib.gh_sleep.argtypes = [ctypes.c_int64]
            lib.gh_spin.restype = ctypes.c_int64
            lib.gh_spin.argtypes = [ctypes.c_int64]
        self.py.gh_restore_after_sleeps.restype = None
        self.py.gh_restore_after_sleeps.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.py.gh_duty.restype = ctypes.c_int64
        self.py.gh_duty.argtypes = [
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_void_p,
        ]


class Workload(abc.ABC):
    """A background load started before the recorder and stopped after it."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class Idle(Workload):
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class DutyHog(Workload):
    """A thread that holds the GIL `hold_us` of every `period_us`, on a fixed grid."""

    def __init__(self, helper: Helper, hold_us: int, period_us: int, max_s: float) -> None:
        self.helper = helper
        self.hold_ns = hold_us * 1000
        self.period_ns = period_us * 1000
        self.max_s = max_s
        self.capacity = int(max_s * 1e9 / self.period_ns * 1.2) + 1000 if hold_us else 1
        self.buf = (ctypes.c_int64 * (2 * self.capacity))()
        self.flag = ctypes.c_int32(0)
        self.count = 0
        self.thread = threading.Thread(target=self._run, name="hog", daemon=True)

    def _run(self) -> None:
        until = time.monotonic_ns() + int(self.max_s * 1e9)
        self.count = self.helper.py.gh_duty(
            self.hold_ns,
            self.period_ns,
            until,
            ctypes.addressof(self.buf),
            self.capacity,
            ctypes.addressof(self.flag),
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.flag.value = 1
        self.thread.join()
        if self.count > self.capacity:
            raise RuntimeError(f"hold buffer too small: {self.count} > {self.capacity}")

    def holds(self) -> list[tuple[int, int]]:
        return [(self.buf[2 * i], self.buf[2 * i + 1]) for i in range(self.count)]


class Threads(Workload):
    """n threads running `body(stop_event)` until stopped."""

    def __init__(self, n: int, body: Callable[[threading.Event], None]) -> None:
        self.event = threading.Event()
        self.threads = [
            threading.Thread(target=body, args=(self.event,), daemon=True) for _ in range(n)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.event.set()
        for t in self.threads:
            t.join()


def python_body(event: threading.Event) -> None:
    total = 0
    while not event.is_set():
        for i in range(5_000):
            total += i


def release_op() -> Callable[[], None]:
    """One chunk of GIL-releasing work: a numpy ufunc on 2M floats (hashlib without numpy)."""
    try:
        import numpy as np

        a = np.random.default_rng(1).random(2_000_000)
        out = np.empty_like(a)
        return lambda: np.sqrt(a, out=out)  # type: ignore[no-any-return]
    except ImportError:
        import hashlib

        data = b"x" * (4 << 20)
        return lambda: hashlib.sha256(data).digest()  # type: ignore[no-any-return]


def release_body(event: threading.Event) -> None:
    op = release_op()
    while not event.is_set():
        op()


class Probe:
    """A real thread: returns from a GIL-releasing C call (a sleep), then notes when it holds
    the GIL again. Its waits are what a thread doing I/O experiences (closed loop)."""

    def __init__(self, helper: Helper, mean_gap_us: float, seed: int = 1) -> None:
        self.helper = helper
        self.mean_gap_ns = mean_gap_us * 1000
        self.rng = random.Random(seed)
        self.waits: list[int] = []
        self.times: list[int] = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def _run(self) -> None:
        sleep, now = self.helper.c.gh_sleep, self.helper.py.gh_now
        waits, times, draw = self.waits, self.times, self.rng.expovariate
        rate = 1.0 / self.mean_gap_ns
        while not self.stop_flag:
            returned = sleep(int(draw(rate)))
            held = now()
            waits.append(held - returned)
            times.append(returned)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_flag = True
        self.thread.join()


# --- the tools ------------------------------------------------------------------------------


def make_knocker(tool: str, options: dict[str, Any], path: Optional[str]) -> Any:
    import gilknocker

    if tool == "ours":
        return gilknocker.Knocker(path=path, **options)
    if gilknocker.__version__ != "0.4.2":
        raise RuntimeError(f"expected gilknocker 0.4.2, imported {gilknocker.__version__}")
    return gilknocker.KnockKnock(**options)


def ours_metrics(knocker: Any) -> dict[str, Any]:
    m = knocker.get_metrics()
    return {
        "knocks": m.total_samples,
        "busy_fraction": m.busy_fraction,
        "busy_fraction_ci95": list(m.busy_fraction_ci95),
        "contention_metric": m.contention_metric,
        "wait_p50_ns": m.p50_acquisition_time_micros * 1e3,
        "wait_p90_ns": m.p90_acquisition_time_micros * 1e3,
        "wait_p99_ns": m.p99_acquisition_time_micros * 1e3,
        "wait_mean_ns": m.avg_acquisition_time_micros * 1e3,
        "dropped": m.dropped_samples,
        "mean_lateness_us": m.mean_lateness_micros,
        "request_p50_ns": m.p50_request_wait_micros * 1e3,
        "request_p90_ns": m.p90_request_wait_micros * 1e3,
        "request_p99_ns": m.p99_request_wait_micros * 1e3,
        "missed_late_slots": m.missed_late_slots,
    }


def clock_offset_ns() -> int:
    """wall - monotonic, from the tightest of a few paired reads."""
    best: Optional[tuple[int, int]] = None
    for _ in range(20):
        a = time.monotonic_ns()
        w = time.time_ns()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) // 2)
    assert best is not None
    return best[1]


def quantiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)
    return {f"p{round(q * 100)}": float(s[min(len(s) - 1, int(q * len(s)))]) for q in QS} | {
        "max": float(s[-1]),
        "n": float(len(s)),
    }


def make_workload(spec: dict[str, Any], helper: Optional[Helper], max_s: float) -> Workload:
    w = spec["workload"]
    if w["type"] == "duty":
        assert helper is not None
        return DutyHog(helper, w["hold_us"], w["period_us"], max_s)
    if w["type"] == "python":
        return Threads(w.get("threads", 2), python_body)
    if w["type"] == "release":
        return Threads(w.get("threads", 2), release_body)
    return Idle()


# --- measurements -----------------------------------------------------------------------------


def accuracy(spec: dict[str, Any]) -> dict[str, Any]:
    """Run a workload for `seconds` under a knocker; ground truth from the hog's holds."""
    helper = Helper(spec["helper"])
    seconds = float(spec["seconds"])
    # The hog ends by itself after `seconds`: a hog that releases and re-takes the GIL without
    # pause (100% duty) starves every other thread, this one included, until it ends.
    workload = make_workload(spec, helper, seconds)
    knocker = make_knocker(spec["tool"], spec.get("options", {}), spec.get("trace"))
    offset = clock_offset_ns()
    before = set(tasks())
    # The recorder runs before the load starts and until after it ends, so it sees the whole
    # window even when the load starves this thread.
    knocker.start()
    t0 = time.monotonic_ns()
    # A recorder's threads may come and go (gilknocker 0.4.2's do): count those that live
    # through the window.
    cpu0 = {tid: alive_task_cpu_ns(tid) for tid in tasks() if tid not in before}
    workload.start()
    time.sleep(max(0.0, seconds - (time.monotonic_ns() - t0) / 1e9))
    t1 = time.monotonic_ns()
    cpu1 = {tid: alive_task_cpu_ns(tid) for tid in cpu0}
    used = sum(
        c1 - c0 for tid, c1 in cpu1.items() if c1 is not None and (c0 := cpu0[tid]) is not None
    )
    out: dict[str, Any] = {
        "window_s": (t1 - t0) / 1e9,
        "recorder_cpu_ms_per_s": used / 1e6 / ((t1 - t0) / 1e9),
    }
    if spec["tool"] != "ours":
        out["contention_metric"] = knocker.contention_metric
    knocker.stop()
    workload.stop()
    if spec["tool"] == "ours":
        out.update(ours_metrics(knocker))
    if isinstance(workload, DutyHog):
        import numpy as np

        from _latency import (
            busy_estimate,
            clip_holds,
            handoff,
            handover_reference_quantiles,
            per_knock_handoff,
            reference_quantiles,
            usable_gaps,
        )

        holds = clip_holds(np.array(workload.holds(), dtype=np.int64).reshape(-1, 2), t0, t1)
        held = int((holds[:, 1] - holds[:, 0]).sum()) if len(holds) else 0
        out["truth_busy"] = held / (t1 - t0)
        out["holds"] = len(holds)
        h, free = 0.0, 0.0
        usable = None
        if spec.get("trace"):
            import pandas as pd

            df = pd.read_parquet(spec["trace"])
            waits = df["wait_ns"].to_numpy(dtype=np.int64)
            times = df["time"].astype("int64").to_numpy() - offset
            inside = (times >= t0) & (times < t1)
            threshold = 5_000.0
            h, free, matched = handoff(holds, times[inside], waits[inside], threshold)
            usable = usable_gaps(holds, times[inside], waits[inside], h)
            import gilknocker

            default_us = gilknocker.DEFAULT_POLLING_INTERVAL_MICROS
            interval = float(spec["options"].get("polling_interval_micros", default_us)) * 1e3
            # The estimate re-done offline from the trace (check: equals get_metrics()); without
            # the hand-off estimate (runnable time only: the recorder before `handoff_ns`);
            # with neither; and with each busy knock's exact hand-off (from the recorded holds)
            # counted as free: what is left of the error once the hand-off is out.
            mono = df["time"].astype("int64").to_numpy() - offset
            iv = df["interval_ns"].to_numpy(dtype=np.float64)
            wt = waits.astype(np.float64)
            pre = (df["blocked"] == False).to_numpy()  # noqa: E712 (nullable column)
            runnable = df["runnable_ns"].fillna(0).to_numpy(dtype=np.float64)
            estimated = df["handoff_ns"].fillna(0).to_numpy(dtype=np.float64)
            not_busy = runnable + estimated
            exact = per_knock_handoff(holds, mono, waits, threshold)
            long = wt > threshold
            seen = exact > 0
            est = {
                "offline": busy_estimate(wt, iv, pre, not_busy, interval, threshold),
                "offline_runnable_only": busy_estimate(wt, iv, pre, runnable, interval, threshold),
                "offline_no_runnable": busy_estimate(wt, iv, pre, 0 * wt, interval, threshold),
                "exact_handoff_removed": busy_estimate(wt, iv, pre, exact, interval, threshold),
                "exact_handoff_mean_ns": float(exact[seen].mean()) if seen.any() else 0,
                # Over the same knocks: the recorder's estimate of the hand-off (`runnable_ns`
                # plus `handoff_ns`, as the estimator takes it).
                "estimated_handoff_mean_ns": float(not_busy[seen].mean()) if seen.any() else 0,
                "runnable_mean_ns": float(runnable[long].mean()) if long.any() else 0,
            }
            size = os.path.getsize(spec["trace"])
            with open(spec["trace"], "rb") as f:
                f.seek(-8, os.SEEK_END)
                footer = int.from_bytes(f.read(4), "little") + 8
            out["trace"] = {
                "columns": column_sizes(spec["trace"]),
                "rows": len(df),
                "bytes": size,
                "bytes_per_sample": size / max(len(df), 1),
                # The footer (schema, run metadata, statistics) is a fixed cost per file.
                "footer_bytes": footer,
                "data_bytes_per_sample": (size - footer - 4) / max(len(df), 1),
                "handoff_ns": h,
                "free_wait_ns": free,
                "matched_knocks": matched,
                # Gaps between holds a waiter could use (judged per gap, see usable_gaps), and
                # how many the median hand-off alone would have counted.
                "usable_gaps": int(usable[:-1].sum()) if len(usable) else 0,
                "usable_gaps_by_median": int(
                    (holds[1:, 0] - holds[:-1, 1] >= h).sum() if len(holds) > 1 else 0
                ),
                "gaps": max(len(holds) - 1, 0),
                "estimates": est,
            }
        # The reference: CPython's hand-over rule applied to the recorded holds; the naive
        # model (every release hands the GIL over) beside it, for comparison.
        switch_ns = sys.getswitchinterval() * 1e9
        out["switch_interval_ns"] = switch_ns
        out["reference"] = dict(
            zip(
                ("p50", "p90", "p99"),
                handover_reference_quantiles(holds, t0, t1, h, free, switch_ns, QS, usable),
            )
        )
        out["reference_naive"] = dict(
            zip(("p50", "p90", "p99"), reference_quantiles(holds, t0, t1, h, free, QS))
        )
    return out


def probe_only(spec: dict[str, Any]) -> dict[str, Any]:
    """A real thread's closed-loop waits under a workload, with no recorder running (so that
    neither the probe nor the knocker changes what the other sees)."""
    helper = Helper(spec["helper"])
    seconds = float(spec["seconds"])
    workload = make_workload(spec, helper, seconds)
    probe = Probe(helper, spec["probe_gap_us"])
    t0 = time.monotonic_ns()
    workload.start()
    probe.start()
    time.sleep(max(0.0, seconds - (time.monotonic_ns() - t0) / 1e9))
    t1 = time.monotonic_ns()
    probe.stop()
    workload.stop()
    sel = [w for w, t in zip(probe.waits, probe.times) if t0 <= t < t1]
    return {"window_s": (t1 - t0) / 1e9, "probe": quantiles(sel)}


def task_cpu_ns(tid: int) -> int:
    """CPU time of one thread, ns (schedstat; /proc/<>/stat ticks as a fallback)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")


def alive_task_cpu_ns(tid: int) -> Optional[int]:
    """CPU time of a thread that may have ended (None then)."""
    try:
        return task_cpu_ns(tid)
    except OSError:
        return None


def tasks() -> dict[int, str]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def cost_idle(spec: dict[str, Any]) -> dict[str, Any]:
    """The recorder's own CPU with the program idle: per thread, and process minus idle."""
    seconds = float(spec["seconds"])
    p0 = time.process_time_ns()
    time.sleep(seconds)
    idle_process_ns = time.process_time_ns() - p0
    before = set(tasks())
    knocker = make_knocker(spec["tool"], spec.get("options", {}), spec.get("trace"))
    knocker.start()
    # Measure the steady state: past the recorder's first idle_after_ms (250 ms) at the fast
    # pace, a one-off cost reported separately (start_cpu_ms).
    settle = float(spec.get("settle_s", 1.0))
    time.sleep(0.05)
    new = {tid: name for tid, name in tasks().items() if tid not in before}
    s0 = {tid: task_cpu_ns(tid) for tid in new}
    time.sleep(max(0.0, settle - 0.05))
    c0 = {tid: task_cpu_ns(tid) for tid in new}
    p0, w0 = time.process_time_ns(), time.monotonic_ns()
    knocks0 = knocker.get_metrics().total_samples if spec["tool"] == "ours" else 0
    time.sleep(seconds)
    c1 = {tid: task_cpu_ns(tid) for tid in new}
    p1, w1 = time.process_time_ns(), time.monotonic_ns()
    out: dict[str, Any] = {"start_cpu_ms": sum(c0[t] - s0[t] for t in new) / 1e6}
    if spec["tool"] == "ours":
        m = ours_metrics(knocker)
        out["knocks"] = m["knocks"] - knocks0
        out["wait_p50_ns"] = m["wait_p50_ns"]
        out["wait_mean_ns"] = m["wait_mean_ns"]
        out["busy_fraction"] = m["busy_fraction"]
    knocker.stop()
    wall = (w1 - w0) / 1e9
    out.update(
        {
            "wall_s": wall,
            "threads": {
                name or str(tid): (c1[tid] - c0[tid]) / 1e6 / wall for tid, name in new.items()
            },
            "thread_cpu_ms_per_s": sum(c1[t] - c0[t] for t in new) / 1e6 / wall,
            "process_cpu_ms_per_s": (p1 - p0) / 1e6 / wall,
            "idle_process_cpu_ms_per_s": idle_process_ns / 1e6 / seconds,
        }
    )
    return out


def column_sizes(path: str) -> dict[str, dict[str, float]]:
    """Per column: bytes per sample as stored (compressed column chunks, page headers and
    dictionaries included) and the order-0 entropy of its values in bytes per sample (for time,
    of the deltas between knock times; a null counts as a value): what a coder of each value on
    its own would need if the values' frequencies came for free. An optimistic floor for
    encodings like Parquet's, which code values one by one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    stored: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            stored[chunk.path_in_schema] = (
                stored.get(chunk.path_in_schema, 0) + chunk.total_compressed_size
            )
    table = pq.read_table(path)
    rows = max(table.num_rows, 1)
    out: dict[str, dict[str, float]] = {}
    for name in table.column_names:
        column = table[name].combine_chunks()
        if name == "time":
            ns = column.cast(pa.int64()).to_numpy()
            column = pa.array(np.diff(ns, prepend=ns[:1]))
        elif pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        counts = pc.value_counts(column).field("counts").to_numpy().astype(np.float64)
        p = counts / counts.sum() if counts.sum() else counts
        bits = max(0.0, float(-(p * np.log2(p)).sum())) if len(p) else 0.0
        out[name] = {"stored": stored.get(name, 0) / rows, "entropy": bits / 8}
    return out


def knock_cost(spec: dict[str, Any]) -> dict[str, Any]:
    """What a knock on a free GIL costs, at each pace, beside its floor: CPython's own
    acquisition (PyEval_RestoreThread alone, from C) after sleeps drawn the same way
    (exponential, same mean), interleaved in this process with the program otherwise idle.

    Ours: the knocks' waits from a trace, grouped by the interval each knock was scheduled
    with. 0.4.2 keeps no per-knock figure: its knock time is estimated from its metric, total
    wait / sampling time, as metric x polling interval (a lower bound: its sleeps overshoot).
    """
    import numpy as np

    rng = np.random.default_rng(int(spec.get("seed", 1)))
    budget_s = float(spec.get("seconds", 2.0))
    out: dict[str, Any] = {"paces": []}
    if spec["tool"] != "ours":
        for interval_us in spec["paces_us"]:
            knocker = make_knocker("v042", {"polling_interval_micros": int(interval_us)}, None)
            knocker.start()
            time.sleep(budget_s)
            knocker.stop()
            metric = knocker.contention_metric
            out["paces"].append(
                {
                    "interval_us": interval_us,
                    "metric": metric,
                    "knock_ns": metric * interval_us * 1e3,
                }
            )
        return out
    import pyarrow.parquet as pq

    from gilknocker._api import DEFAULT_IDLE_INTERVAL_MICROS

    helper = Helper(spec["helper"])
    for i, interval_us in enumerate(spec["paces_us"]):
        mean_ns = interval_us * 1e3
        n = max(20, min(4000, int(budget_s * 1e9 / mean_ns)))
        sleeps = rng.exponential(mean_ns, n).astype(np.int64)
        waits = np.zeros(n, dtype=np.int64)
        helper.py.gh_restore_after_sleeps(sleeps.ctypes.data, n, 0, None, waits.ctypes.data)
        idle = interval_us == DEFAULT_IDLE_INTERVAL_MICROS
        # The idle pace: defaults, the program idle (it slows down after 250 ms); a fast pace:
        # that polling interval without the idle pace.
        options = (
            {}
            if idle
            else {"polling_interval_micros": int(interval_us), "idle_interval_micros": None}
        )
        path = f"{spec['trace']}.{i}.parquet"
        knocker = make_knocker("ours", options, path)
        knocker.start()
        time.sleep(budget_s + (0.5 if idle else 0.0))
        knocker.stop()
        table = pq.read_table(path, columns=["wait_ns", "interval_ns"])
        ours = table["wait_ns"].to_numpy()[table["interval_ns"].to_numpy() == int(mean_ns)]
        out["paces"].append(
            {
                "interval_us": interval_us,
                "floor_ns": waits.tolist(),
                "ours_ns": ours.tolist(),
            }
        )
    return out


def fixed_work(spec: dict[str, Any]) -> dict[str, Any]:
    """Process CPU and wall time of a fixed job with/without a knocker, interleaved, plus an
    A/A control (a second run without)."""
    kind, scale = spec["work"], float(spec.get("scale", 1.0))
    op = release_op()
    py_n = int(1_500_000 * scale)
    rel_n = max(1, int(40 * scale))

    def py_job() -> None:
        total = 0
        for i in range(py_n):
            total += i

    def rel_job() -> None:
        for _ in range(rel_n):
            op()

    jobs = {"python": [py_job, py_job], "release": [rel_job, rel_job], "mixed": [py_job, rel_job]}

    def once() -> tuple[int, int]:
        threads = [threading.Thread(target=j) for j in jobs[kind]]
        p, w = time.process_time_ns(), time.perf_counter_ns()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.process_time_ns() - p, time.perf_counter_ns() - w

    def measured(with_knocker: bool) -> tuple[int, int]:
        if not with_knocker:
            return once()
        knocker = make_knocker(spec["tool"], spec.get("options", {}), None)
        knocker.start()
        time.sleep(0.02)
        try:
            return once()
        finally:
            knocker.stop()

    once()  # warm up
    rounds = []
    for r in range(int(spec["rounds"])):
        order = [True, False, False] if r % 2 == 0 else [False, False, True]
        results = {}
        for with_knocker in order:
            label = "with" if with_knocker else ("without" if "without" not in results else "aa")
            results[label] = measured(with_knocker)
        rounds.append({k: {"cpu_ns": v[0], "wall_ns": v[1]} for k, v in results.items()})
    return {"rounds": rounds}


def stop_block(spec: dict[str, Any]) -> dict[str, Any]:
    """How long stop() takes and the longest GIL wait a probe thread sees during it."""
    helper = Helper(spec["helper"])
    reps = []
    for rep in range(int(spec["reps"])):
        path = spec.get("trace")
        if path:
            path = f"{path}.{rep}.parquet"
        knocker = make_knocker(spec["tool"], spec.get("options", {}), path)
        probe = Probe(helper, 50, seed=rep)
        probe.start()
        knocker.start()
        time.sleep(float(spec["seconds"]))
        a = time.monotonic_ns()
        knocker.stop()
        b = time.monotonic_ns()
        time.sleep(0.02)
        probe.stop()
        during = [w for w, t in zip(probe.waits, probe.times) if t + w >= a and t <= b]
        reps.append({"stop_ms": (b - a) / 1e6, "max_probe_wait_ms": max(during, default=0) / 1e6})
    return {"reps": reps}


def main() -> None:
    spec = json.loads(sys.argv[1])
    kinds: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "accuracy": accuracy,
        "probe": probe_only,
        "cost_idle": cost_idle,
        "knock_cost": knock_cost,
        "fixed_work": fixed_work,
        "stop": stop_block,
    }
    result = kinds[spec["kind"]](spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

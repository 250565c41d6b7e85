"""Accuracy and cost of gilknocker against ground truth and against gilknocker 0.4.2 (issue 4).

    python benchmarks/run.py            # full run (~25 min), writes docs/accuracy.md
    python benchmarks/run.py --smoke    # a few hundred ms per workload (tests use this)

Ground truth comes from benchmarks/gilhold.c, compiled with gcc into a temporary directory: a
thread holds the GIL for exactly known, recorded intervals. Every measurement runs in a fresh
subprocess (benchmarks/_worker.py): ours with this interpreter (gilknocker must be importable),
gilknocker 0.4.2 with a virtual environment made here in ~/.cache/gilknocker-bench (it has the
same import name as ours). Runs of the two tools are interleaved; costs are medians of
interleaved with/without pairs beside an A/A (without/without) control.

Results go to docs/accuracy.md (the tables; the explanations around them are in the template
below) and, with --json, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("GILKNOCKER_BENCH_CACHE", Path.home() / ".cache" / "gilknocker-bench"))
V042 = "0.4.2"

# (hold µs, period µs): duty cycles 0..100 %, chunks 100 µs .. 30 ms.
DUTY = [
    (0, 1000),
    (100, 1000),
    (1000, 10000),
    (100, 400),
    (1000, 4000),
    (10000, 40000),
    (100, 200),
    (1000, 2000),
    (10000, 20000),
    (30000, 60000),
    (300, 400),
    (3000, 4000),
    (30000, 40000),
    (900, 1000),
    (9000, 10000),
    (1000, 1000),
    (10000, 10000),
]
SMOKE_DUTY = [(0, 1000), (100, 200), (1000, 2000), (10000, 20000)]
ALIAS = [(500, 1000), (500, 1001), (250, 500)]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- set-up ----------------------------------------------------------------------------------


def compile_helper(tmp: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("gcc not found: the ground-truth helper benchmarks/gilhold.c needs it")
    out = tmp / "gilhold.so"
    subprocess.run(
        [gcc, "-O2", "-shared", "-fPIC", "-o", str(out), str(HERE / "gilhold.c")],
        check=True,
        timeout=60,
    )
    return out


def python311() -> Optional[str]:
    """An interpreter for which gilknocker 0.4.2 has a wheel (CPython 3.11 from pyenv)."""
    roots = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.append(
                subprocess.run(
                    [pyenv, "root"], capture_output=True, text=True, timeout=10, check=True
                ).stdout.strip()
            )
        except (subprocess.SubprocessError, OSError):
            pass
    roots.append(str(Path.home() / ".pyenv"))
    for root in roots:
        versions = sorted(Path(root, "versions").glob("3.11.*"))
        for v in reversed(versions):
            exe = v / "bin" / "python"
            if exe.exists():
                return str(exe)
    return shutil.which("python3.11")


def venv_042(offline: bool) -> tuple[Optional[str], str]:
    """(python of a venv with gilknocker 0.4.2 and numpy, or None, note)."""
    venv = CACHE / "venv-0.4.2"
    exe = venv / "bin" / "python"
    check = "import gilknocker, sys; sys.exit(gilknocker.__version__ != '0.4.2')"
    if exe.exists() and subprocess.run([str(exe), "-c", check], timeout=60).returncode == 0:
        return str(exe), f"cached venv {venv}"
    base = python311()
    if base is None:
        return None, "no CPython 3.11 found (gilknocker 0.4.2 has no wheel for others)"
    try:
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = [str(exe), "-m", "pip", "install", "-q"] + (["--no-index"] if offline else [])
        subprocess.run([*pip, f"gilknocker=={V042}"], check=True, timeout=300)
        # numpy is optional (the GIL-releasing work falls back to hashlib).
        subprocess.run([*pip, "numpy"], timeout=300)
    except (subprocess.SubprocessError, OSError) as e:
        shutil.rmtree(venv, ignore_errors=True)
        return None, f"could not build the gilknocker 0.4.2 venv ({e})"
    return str(exe), f"new venv {venv}"


class Runner:
    def __init__(self, helper: Path, tmp: Path, ours: str, old: Optional[str]) -> None:
        self.helper, self.tmp, self.ours, self.old = helper, tmp, ours, old
        self.n = 0

    def __call__(self, tool: str, spec: dict[str, Any], timeout: float) -> Optional[dict[str, Any]]:
        exe = self.ours if tool == "ours" else self.old
        if exe is None:
            return None
        self.n += 1
        spec = {**spec, "tool": tool, "helper": str(self.helper)}
        if spec.pop("trace", False):
            spec["trace"] = str(self.tmp / f"run{self.n}.parquet")
        try:
            proc = subprocess.run(
                [exe, str(HERE / "_worker.py"), json.dumps(spec)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            log(f"  timed out: {tool} {spec['kind']}")
            return {"error": "timeout"}
        lines = proc.stdout.strip().splitlines()
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        if proc.returncode != 0 and not (lines and lines[-1].startswith("{")):
            log(f"  failed: {tool} {spec}\n{proc.stderr[-2000:]}")
            return {"error": last}
        result: dict[str, Any] = json.loads(lines[-1])
        if proc.returncode != 0:
            # Measured, then crashed at exit (gilknocker 0.4.2 does, sometimes): keep both.
            log(f"  exited with {proc.returncode} after measuring: {tool} {spec['kind']}: {last}")
            result["exit_error"] = f"exit status {proc.returncode}: {last}"
        return result


# --- measurements ----------------------------------------------------------------------------


def duty_name(hold: int, period: int) -> str:
    return f"duty {100 * hold / period:.0f}% ({hold} / {period} µs)"


# What a run measures, in order; `--only` picks among these.
SECTIONS = (
    "accuracy",
    "intervals",
    "aliasing",
    "idle_cost",
    "knock_cost",
    "fixed_work",
    "stop",
    "recording",
    "writer",
)


def measure_accuracy(run: Runner, seconds: float, duty: list[tuple[int, int]]) -> list[dict]:
    workloads: list[tuple[str, dict[str, Any]]] = [
        (duty_name(h, p), {"type": "duty", "hold_us": h, "period_us": p}) for h, p in duty
    ]
    workloads += [
        ("2 pure-Python threads", {"type": "python", "threads": 2}),
        ("2 GIL-releasing numpy threads", {"type": "release", "threads": 2}),
    ]
    rows = []
    for i, (name, workload) in enumerate(workloads):
        log(f"accuracy: {name}")
        spec = {"kind": "accuracy", "seconds": seconds, "workload": workload}
        ours_spec = {**spec, "options": {}, "trace": workload["type"] == "duty"}
        old_spec = {**spec, "options": {}}
        pair = [("ours", ours_spec), ("v042", old_spec)]
        results = {}
        for tool, s in pair if i % 2 == 0 else pair[::-1]:
            results[tool] = run(tool, s, timeout=seconds + 60)
        if workload["type"] == "duty":
            # The probe runs on its own, without a recorder: a second waiter changes the waits
            # of the first (each one's switches restart the other's switch-interval timer).
            probe_spec = {"kind": "probe", "seconds": seconds, "workload": workload}
            results["probe"] = run("ours", {**probe_spec, "probe_gap_us": 2000}, seconds + 60)
        rows.append({"name": name, "workload": workload, **results})
    return rows


# The default (2000 µs) row comes from the main accuracy table and the idle-cost runs.
DEFAULT_POLLING_US = 2000
INTERVALS = [200, 1000, 5000]


def measure_intervals(
    run: Runner, seconds: float, idle_seconds: float, duty: list[tuple[int, int]]
) -> list[dict]:
    """The polling-interval trade-off: accuracy on the duty workloads, and idle cost."""
    rows = []
    for polling in INTERVALS:
        options = {"polling_interval_micros": polling}
        log(f"interval settings: polling {polling} µs")
        acc = []
        for hold, period in duty:
            spec = {
                "kind": "accuracy",
                "seconds": seconds,
                "workload": {"type": "duty", "hold_us": hold, "period_us": period},
                "options": options,
            }
            r = run("ours", spec, timeout=seconds + 60)
            if ok(r):
                acc.append(r)
        idle = run("ours", {"kind": "cost_idle", "seconds": idle_seconds, "options": options}, 120)
        rows.append({"polling_us": polling, "accuracy": acc, "idle": idle})
    return rows


def measure_aliasing(run: Runner, seconds: float, reps: int) -> list[dict]:
    rows = []
    for hold, period in ALIAS:
        for jitter in (False, True):
            log(f"aliasing: {hold}/{period} jitter={jitter}")
            results = []
            for _ in range(reps):
                spec = {
                    "kind": "accuracy",
                    "seconds": seconds,
                    "workload": {"type": "duty", "hold_us": hold, "period_us": period},
                    "options": {"jitter": jitter},
                }
                results.append(run("ours", spec, timeout=seconds + 60))
            rows.append({"hold_us": hold, "period_us": period, "jitter": jitter, "runs": results})
    return rows


COST_CONFIGS = [
    ("ours", "ours, defaults (2000 µs, jitter)", {}, False),
    ("ours", "ours, defaults + trace file", {}, True),
    (
        "ours",
        "ours, 1000 µs without the idle pace",
        {"polling_interval_micros": 1000, "idle_interval_micros": None},
        False,
    ),
    (
        "ours",
        "ours, 100 µs without the idle pace",
        {"polling_interval_micros": 100, "idle_interval_micros": None},
        False,
    ),
    ("v042", "0.4.2, polling 1000 µs (default)", {"polling_interval_micros": 1000}, False),
    ("v042", "0.4.2, polling 100 µs", {"polling_interval_micros": 100}, False),
]


def measure_idle_cost(
    run: Runner, seconds: float, reps: int, trace_seconds: Optional[float] = None
) -> list[dict]:
    """Idle cost per configuration. Our default configurations, with and without a trace file,
    run `trace_seconds` (default: long enough that the writer turns its spool into a part twice
    inside the measured window, every 10 s, so that cost is in the figure; the same length for
    both, since the cost of a wake-up grows the longer a program has been idle on this VM)."""
    trace_seconds = 21.0 if trace_seconds is None else trace_seconds
    out: dict[str, list[dict]] = {label: [] for _, label, _, _ in COST_CONFIGS}
    for rep in range(reps):
        configs = COST_CONFIGS if rep % 2 == 0 else COST_CONFIGS[::-1]
        for tool, label, options, trace in configs:
            log(f"idle cost: {label} (rep {rep + 1})")
            length = trace_seconds if label.startswith("ours, defaults") else seconds
            spec = {"kind": "cost_idle", "seconds": length, "options": options, "trace": trace}
            r = run(tool, spec, timeout=2 * length + 60)
            if r is not None and "error" not in r:
                out[label].append(r)
    return [{"label": label, "runs": runs} for label, runs in out.items()]


def measure_knock_cost(run: Runner, seconds: float, reps: int) -> dict[str, Any]:
    """A knock on a free GIL at each pace (ours: 100 µs, the default 2 ms, the 50-ms idle pace;
    0.4.2: 100 µs and its default 1 ms), ours beside CPython's own acquisition after the same
    sleeps in the same process (the floor). Pooled over `reps` interleaved runs."""
    # 100 µs, the default polling interval, the default idle pace (the worker runs that one
    # with defaults, the program idle).
    ours_paces = [100, 2000, 50_000]
    pooled: dict[int, dict[str, list[int]]] = {
        p: {"ours_ns": [], "floor_ns": []} for p in ours_paces
    }
    old: dict[int, list[float]] = {100: [], 1000: []}
    for rep in range(reps):
        log(f"knock cost (rep {rep + 1})")
        spec = {"kind": "knock_cost", "seconds": seconds, "seed": rep + 1, "trace": True}
        r = run(
            "ours", {**spec, "paces_us": ours_paces}, timeout=len(ours_paces) * 4 * seconds + 60
        )
        if r is not None and "error" not in r:
            for pace in r["paces"]:
                for key in ("ours_ns", "floor_ns"):
                    pooled[pace["interval_us"]][key] += pace[key]
        v = run("v042", {**spec, "trace": False, "paces_us": list(old)}, timeout=4 * seconds + 60)
        if v is not None and "error" not in v:
            for pace in v["paces"]:
                old[pace["interval_us"]].append(pace["knock_ns"])
    return {
        "ours": [{"interval_us": p, **pooled[p]} for p in ours_paces],
        "v042": [{"interval_us": p, "knock_ns": ks} for p, ks in old.items()],
    }


WORK_CONFIGS = [
    ("ours", "ours, defaults", {}),
    ("ours", "ours, 100 µs", {"polling_interval_micros": 100}),
    ("v042", "0.4.2, defaults", {}),
]


def measure_fixed_work(run: Runner, rounds: int, scale: float) -> list[dict]:
    rows = []
    for work in ("python", "release", "mixed"):
        for tool, label, options in WORK_CONFIGS:
            log(f"fixed work: {work} / {label}")
            spec = {
                "kind": "fixed_work",
                "work": work,
                "rounds": rounds,
                "scale": scale,
                "options": options,
            }
            r = run(tool, spec, timeout=rounds * 30 * max(scale, 0.2) + 60)
            rows.append({"work": work, "label": label, "result": r})
    return rows


def measure_stop(run: Runner, reps: int, seconds: float) -> list[dict]:
    rows = []
    for tool, label, trace in (
        ("ours", "ours, defaults", False),
        ("ours", "ours, defaults + trace file", True),
        ("v042", "0.4.2, defaults", False),
    ):
        log(f"stop: {label}")
        spec = {"kind": "stop", "reps": reps, "seconds": seconds, "options": {}, "trace": trace}
        rows.append({"label": label, "result": run(tool, spec, timeout=reps * 5 + 60)})
    return rows


def measure_writer(samples: int, interval_ns: int) -> Optional[dict]:
    cargo = shutil.which("cargo")
    if cargo is None:
        return None
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target-bench"))
    cmd = [cargo, "run", "--quiet", "--release", "-p", "gilknocker-trace"]
    cmd += ["--example", "writer_throughput", "--", str(samples), str(interval_ns)]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=True
        )
    except (subprocess.SubprocessError, OSError) as e:
        log(f"writer benchmark failed: {e}")
        return None
    result: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_recording(run: Runner, seconds: float) -> Optional[dict[str, Any]]:
    log("real recording: 10 µs polling, duty 50% (1000 / 2000 µs)")
    return run(
        "ours",
        {
            "kind": "accuracy",
            "seconds": seconds,
            "workload": {"type": "duty", "hold_us": 1000, "period_us": 2000},
            "options": {"polling_interval_micros": 10},
            "trace": True,
        },
        timeout=seconds + 60,
    )


def git_commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


# --- rendering ---------------------------------------------------------------------------------


def fmt(x: Optional[float], digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def us(ns: Optional[float]) -> str:
    return "—" if ns is None else f"{ns / 1e3:.0f}"


def ok(r: Optional[dict]) -> bool:
    return r is not None and "error" not in r


def median(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def offline_estimate(o: Optional[dict[str, Any]], key: str) -> Optional[float]:
    """One of the offline re-computations of our estimate (see _worker.py, "estimates")."""
    if not ok(o) or "trace" not in o:
        return None
    value: Optional[float] = o["trace"].get("estimates", {}).get(key)
    return value


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Targets and headline figures, computed from the raw results."""
    s: dict[str, Any] = {}
    errors = []
    for row in results["accuracy"]:
        o = row.get("ours")
        if row["workload"]["type"] == "duty" and ok(o):
            errors.append(abs(o["busy_fraction"] - o["truth_busy"]))
    for key in ("exact_handoff_removed", "offline_runnable_only", "offline_no_runnable"):
        errs = []
        for row in results["accuracy"]:
            o = row.get("ours")
            value = offline_estimate(o, key)
            if row["workload"]["type"] == "duty" and ok(o) and value is not None:
                errs.append(abs(value - o["truth_busy"]))
        if errs:
            s[f"{key}_mae"] = statistics.mean(errs)
            s[f"{key}_max_error"] = max(errs)
    if errors:
        s["duty_mae"] = statistics.mean(errors)
        s["duty_max_error"] = max(errors)
        s["busy_target_met"] = s["duty_mae"] <= 0.01 and s["duty_max_error"] <= 0.02
    old_errors = []
    for row in results["accuracy"]:
        o, v = row.get("ours"), row.get("v042")
        if row["workload"]["type"] == "duty" and ok(o) and ok(v):
            old_errors.append(abs(v["contention_metric"] - o["truth_busy"]))
    if old_errors:
        s["v042_mae"] = statistics.mean(old_errors)
        s["v042_max_error"] = max(old_errors)
    return s


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Accuracy and cost",
        "",
        "Measured by `python benchmarks/run.py` "
        + ("(**smoke run: durations too short to mean anything**)" if meta["smoke"] else "")
        + f" on {meta['host']} ({meta['cpus']} CPUs), {meta['python']}, "
        f"{meta['date']}; gilknocker 0.4.2: {meta['v042']}.",
        "The explanations below the tables are in `benchmarks/accuracy_notes.md`, copied here by "
        "the benchmark.",
        "",
    ]
    for update in meta.get("updated", []):
        lines[-1:-1] = [
            f"Re-measured later ({update['date']}, at {update.get('commit') or 'an unknown commit'}"
            f", CPython {update.get('python', '?')} on {update.get('host', '?')}, "
            f"`--only ... --merge`): {', '.join(update['sections'])}."
        ]
    s = results["summary"]
    lines += ["## Busy fraction against ground truth", ""]
    lines += [
        f"Default settings (`gilknocker.Knocker()`), {meta['seconds']:.1f} s per workload. "
        "Ground truth: the time benchmarks/gilhold.c held the GIL / wall time of the window. "
        "0.4.2: `KnockKnock()` defaults, its `contention_metric`.",
        "",
        "| workload | ground truth | ours | ours 95% CI | error | 0.4.2 contention_metric |"
        " 0.4.2 error | knocks | hand-off µs mean: exact / ours | ours without the hand-off "
        "estimate (offline) | ours, exact hand-off removed (offline) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["accuracy"]:
        o, v = row.get("ours"), row.get("v042")
        truth = o.get("truth_busy") if ok(o) else None
        if truth is None and row["workload"]["type"] == "python":
            truth_s, truth = "≈1 (nominal)", 1.0
        elif truth is None and row["workload"]["type"] == "release":
            truth_s, truth = "≈0 (nominal)", 0.0
        else:
            truth_s = fmt(truth)
        ours = o["busy_fraction"] if ok(o) else None
        ci = f"{o['busy_fraction_ci95'][0]:.3f}-{o['busy_fraction_ci95'][1]:.3f}" if ok(o) else "—"
        old = v["contention_metric"] if ok(v) else None
        err = None if ours is None or truth is None else ours - truth
        old_err = None if old is None or truth is None else old - truth
        knocks = str(o["knocks"]) if ok(o) else "—"
        corr = offline_estimate(o, "exact_handoff_removed")
        raw = offline_estimate(o, "offline_runnable_only")
        h = offline_estimate(o, "exact_handoff_mean_ns")
        h_ours = offline_estimate(o, "estimated_handoff_mean_ns")
        lines.append(
            f"| {row['name']} | {truth_s} | {fmt(ours)} | {ci} | {fmt(err, 3)} | {fmt(old)} "
            f"| {fmt(old_err)} | {knocks} | {us(h)} / {us(h_ours)} | {fmt(raw)} | {fmt(corr)} |"
        )
    if "duty_mae" in s:
        met = "met" if s["busy_target_met"] else "MISSED"
        lines += [
            "",
            f"Duty workloads: ours mean absolute error **{s['duty_mae']:.4f}**, max "
            f"**{s['duty_max_error']:.4f}** (target: mean <= 0.01, every one within ±0.02: "
            f"**{met}**).",
        ]
    if "offline_runnable_only_mae" in s:
        lines.append(
            f"Without the hand-off estimate (`handoff_ns`; offline, same knocks, `runnable_ns` "
            f"only): mean {s['offline_runnable_only_mae']:.4f}, max "
            f"{s['offline_runnable_only_max_error']:.4f}."
        )
    if "offline_no_runnable_mae" in s:
        lines.append(
            f"With neither correction (every busy wait counted as busy): mean "
            f"{s['offline_no_runnable_mae']:.4f}, max {s['offline_no_runnable_max_error']:.4f}."
        )
    if "exact_handoff_removed_mae" in s:
        lines.append(
            f"With each busy knock's exact hand-off counted as free (offline, from the recorded "
            f"holds; not available to the recorder): mean {s['exact_handoff_removed_mae']:.4f}, "
            f"max {s['exact_handoff_removed_max_error']:.4f}."
        )
    if "v042_mae" in s:
        lines.append(
            f"0.4.2's contention_metric: mean absolute difference {s['v042_mae']:.3f}, "
            f"max {s['v042_max_error']:.3f}."
        )

    lines += ["", "## Acquisition latency", ""]
    lines += [
        "Reference: the wait of a request at a uniformly random instant, computed exactly from "
        "the recorded holds under CPython's hand-over rule: the request gets the GIL at the "
        "first release followed by a gap a woken waiter could use, or at its own forced switch "
        "(the first release more than a switch interval after it last woke), plus the "
        "hand-off. A gap is usable when a knock got the GIL in it, not when a knock waited all "
        "through it, and otherwise when it is at least the measured hand-off (columns: usable "
        "gaps / gaps). Naive model, for comparison: every release hands the GIL over "
        "(remaining hold + hand-off); the two differ only where the holder re-takes the GIL at "
        "once. Ours (request-weighted): `get_metrics().p90_request_wait_micros` / "
        "`p99_request_wait_micros`, what the recorder reports for a request at a random "
        "instant (the target: within 10% or 100 µs of the reference). Ours (per knock): "
        "`p90/p99_acquisition_time_micros`, one value per knock. Probe: a real thread "
        "returning from a GIL-releasing sleep (mean 2 ms, closed loop), in a separate run of "
        "the same workload without a recorder. µs.",
        "",
        "| workload | hand-off | usable gaps | ref p90 | ref p99 | naive p90 | naive p99 "
        "| ours req. p90 | ours req. p99 | within 10% / 100 µs | per knock p90 | per knock p99 "
        "| probe p90 | probe p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    latency_pass = []
    for row in results["accuracy"]:
        o = row.get("ours")
        if not ok(o) or "reference" not in o or row["workload"].get("hold_us", 0) == 0:
            continue
        ref = o["reference"]
        naive = o.get("reference_naive", {})
        tr = o.get("trace", {})
        # Older result files ran the probe inside the recorder's run.
        pr = (row.get("probe") or {}).get("probe") or o.get("probe", {})

        def gaps(tr: dict) -> str:
            if "usable_gaps" not in tr:
                return "—"
            return f"{tr['usable_gaps']}/{tr['gaps']}"

        def close(mine: Optional[float], want: float) -> bool:
            return mine is not None and abs(mine - want) <= max(0.1 * want, 100_000)

        req90, req99 = o.get("request_p90_ns"), o.get("request_p99_ns")
        req_ok = close(req90, ref["p90"]) and close(req99, ref["p99"])
        rep_ok = close(o["wait_p90_ns"], ref["p90"]) and close(o["wait_p99_ns"], ref["p99"])
        latency_pass.append((req_ok, rep_ok))
        lines.append(
            f"| {row['name']} | {us(tr.get('handoff_ns'))} | {gaps(tr)} "
            f"| {us(ref['p90'])} | {us(ref['p99'])} "
            f"| {us(naive.get('p90'))} | {us(naive.get('p99'))} "
            f"| {us(req90)} | {us(req99)} | {'yes' if req_ok else 'no'} "
            f"| {us(o['wait_p90_ns'])} | {us(o['wait_p99_ns'])} "
            f"| {us(pr.get('p90'))} | {us(pr.get('p99'))} |"
        )
    if latency_pass:
        lines += [
            "",
            f"Within tolerance: request-weighted {sum(a for a, _ in latency_pass)}/"
            f"{len(latency_pass)} (target: all); per knock "
            f"{sum(b for _, b in latency_pass)}/{len(latency_pass)}.",
        ]

    if results.get("intervals"):
        lines += ["", "## Interval settings: accuracy against cost", ""]
        lines += [
            "`Knocker(polling_interval_micros=...)`, other settings default (jitter, idle pace). "
            "Busy-fraction error over the duty workloads of the first table (one run each; the "
            f"{DEFAULT_POLLING_US} µs row, the default, is that table); "
            "recorder CPU: its threads while those workloads ran; "
            "idle cost: its threads with the program idle (the idle pace applies to every "
            "setting, so idle cost hardly depends on it).",
            "",
            "| polling interval | mean abs. error | max error | knocks/s (busy workloads) "
            "| recorder CPU ms/s (busy workloads) | idle CPU ms/s | idle knocks/s |",
            "|---|---|---|---|---|---|---|",
        ]
        default_idle = next(
            (
                r["runs"]
                for r in results.get("idle_cost", [])
                if r["label"].startswith("ours, defaults (")
            ),
            [],
        )
        default_row = {
            "polling_us": DEFAULT_POLLING_US,
            "accuracy": [
                row["ours"]
                for row in results["accuracy"]
                if row["workload"]["type"] == "duty" and ok(row.get("ours"))
            ],
            "idle": default_idle[0] if default_idle else None,
        }
        for row in sorted([default_row, *results["intervals"]], key=lambda r: r["polling_us"]):
            errs = [abs(r["busy_fraction"] - r["truth_busy"]) for r in row["accuracy"]]
            rates = [r["knocks"] / r["window_s"] for r in row["accuracy"]]
            cpus = [
                r["recorder_cpu_ms_per_s"] for r in row["accuracy"] if "recorder_cpu_ms_per_s" in r
            ]
            idle = row["idle"] if ok(row["idle"]) else None
            lines.append(
                f"| {row['polling_us']} µs | {fmt(statistics.mean(errs) if errs else None, 4)} "
                f"| {fmt(max(errs) if errs else None, 4)} "
                f"| {fmt(statistics.mean(rates) if rates else None, 0)} "
                f"| {fmt(statistics.mean(cpus) if cpus else None, 1)} "
                f"| {fmt(idle['thread_cpu_ms_per_s'] if idle else None, 2)} "
                f"| {fmt(idle['knocks'] / idle['wall_s'] if idle else None, 0)} |"
            )

    lines += ["", "## Aliasing: holds periodic at the knock interval", ""]
    lines += [
        "Ours at `polling_interval_micros=1000`, `jitter=False` vs `jitter=True`; one row per run.",
        "",
        "| workload | jitter | ground truth | ours per run | max error |",
        "|---|---|---|---|---|",
    ]
    for row in results["aliasing"]:
        runs = [r for r in row["runs"] if ok(r)]
        if not runs:
            continue
        errs = [abs(r["busy_fraction"] - r["truth_busy"]) for r in runs]
        lines.append(
            f"| hold {row['hold_us']} µs every {row['period_us']} µs | {row['jitter']} | "
            + ", ".join(f"{r['truth_busy']:.3f}" for r in runs)
            + " | "
            + ", ".join(f"{r['busy_fraction']:.3f}" for r in runs)
            + f" | {max(errs):.3f} |"
        )

    lines += ["", "## Cost with the program idle", ""]
    lines += [
        "CPU of the recorder's own threads (from /proc/self/task/<tid>/schedstat) per second of "
        "wall time; median over interleaved runs, [min-max]. Per knock: thread CPU / knocks "
        "(ours counts its knocks; 0.4.2's are estimated as wall x 10/110 / polling interval).",
        "",
        "| configuration | runs | recorder threads CPU ms/s | process CPU ms/s (idle "
        "baseline) | knocks/s | CPU per knock µs | idle wait p50 ns |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["idle_cost"]:
        runs = row["runs"]
        if not runs:
            continue
        cpu = [r["thread_cpu_ms_per_s"] for r in runs]
        proc = [r["process_cpu_ms_per_s"] for r in runs]
        base = [r["idle_process_cpu_ms_per_s"] for r in runs]
        if "knocks" in runs[0]:
            rate = [r["knocks"] / r["wall_s"] for r in runs]
            wait = median([r["wait_p50_ns"] for r in runs])
        else:
            poll = 1000 if "1000" in row["label"] else 100
            rate = [1e6 / poll * 10 / 110 for _ in runs]
            wait = None
        per_knock = [c * 1e3 / k for c, k in zip(cpu, rate) if k > 0]
        lines.append(
            f"| {row['label']} | {len(runs)} | {median(cpu):.2f} [{min(cpu):.2f}-{max(cpu):.2f}] "
            f"| {median(proc):.2f} ({median(base):.2f}) | {median(rate):.0f} "
            f"| {fmt(median(per_knock), 2)} | {fmt(wait, 0)} |"
        )

    kc = results.get("knock_cost")
    if kc:
        lines += ["", "## A knock on a free GIL", ""]
        lines += [
            "The knock itself: from the moment the knocker asks for the GIL to the moment it "
            "has it, with the program idle (the GIL free). Ours: `wait_ns` of the knocks in a "
            "trace, by the pace they were scheduled at (100 µs and 2 ms: "
            "`polling_interval_micros` without the idle pace; 50 ms: defaults, the idle pace). "
            "Floor: CPython's own acquisition, `PyEval_RestoreThread` timed alone from C "
            "(benchmarks/gilhold.c) after sleeps drawn the same way, in the same process, "
            "interleaved. p10 / p50 / p90 ns.",
            "",
            "| pace (mean sleep before the knock) | knocks | ours | floor: CPython's acquisition"
            " alone | ours minus floor, p50 |",
            "|---|---|---|---|---|",
        ]

        def pct(xs: list[int]) -> str:
            if not xs:
                return "—"
            q = statistics.quantiles(xs, n=10, method="inclusive")
            return f"{q[0]:.0f} / {statistics.median(xs):.0f} / {q[8]:.0f}"

        for row in kc["ours"]:
            o, f = row["ours_ns"], row["floor_ns"]
            diff = statistics.median(o) - statistics.median(f) if o and f else None
            pace = (
                f"{row['interval_us'] / 1000:g} ms"
                if row["interval_us"] >= 1000
                else f"{row['interval_us']} µs"
            )
            lines.append(f"| {pace} | {len(o)} | {pct(o)} | {pct(f)} | {fmt(diff, 0)} |")
        est = [
            f"{row['interval_us']} µs: {statistics.median(row['knock_ns']):.0f} ns"
            for row in kc["v042"]
            if row["knock_ns"]
        ]
        if est:
            lines += [
                "",
                "gilknocker 0.4.2 (no per-knock figure; mean knock estimated as its "
                "`contention_metric` x polling interval, the program idle): "
                + ", ".join(est)
                + ".",
            ]

    lines += ["", "## Cost on fixed work", ""]
    lines += [
        "Process CPU (all threads) and wall time of a fixed job, with / without the recorder "
        "started 20 ms before; interleaved rounds; median ratio [min-max]. A/A: a second run "
        "without the recorder / the first: a ratio inside the A/A spread is noise; a slowdown "
        "counts as real when the ratio is above 1 and above the whole A/A spread.",
        "",
        "| work | recorder | rounds | CPU with/without | CPU A/A | wall with/without "
        "| wall A/A | real CPU slowdown? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["fixed_work"]:
        r = row["result"]
        if not ok(r):
            continue
        rounds = r["rounds"]

        def ratios(a: str, b: str, key: str, rounds: list = rounds) -> list[float]:
            return [x[a][key] / x[b][key] for x in rounds]

        cw, ca = ratios("with", "without", "cpu_ns"), ratios("aa", "without", "cpu_ns")
        ww, wa = ratios("with", "without", "wall_ns"), ratios("aa", "without", "wall_ns")
        # A slowdown is a ratio above 1 that also stands above the whole A/A spread (a ratio
        # of 1.000 next to an A/A spread of 0.95-0.99 is no slowdown).
        m = statistics.median(cw)
        real = m > 1.0 and m > max(ca)

        def span(xs: list[float]) -> str:
            return f"{statistics.median(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"

        lines.append(
            f"| {row['work']} | {row['label']} | {len(rounds)} | {span(cw)} | {span(ca)} "
            f"| {span(ww)} | {span(wa)} | {'yes' if real else 'no'} |"
        )

    lines += ["", "## stop() never blocks other threads", ""]
    lines += [
        "A probe thread returns from a 50 µs sleep in a loop while the main thread calls "
        "stop() after the recorder ran; max over reps of the longest probe wait overlapping "
        "stop().",
        "",
        "| recorder | reps | stop() ms median [max] | longest probe wait during stop() ms |",
        "|---|---|---|---|",
    ]
    for row in results["stop"]:
        r = row["result"]
        if not ok(r):
            continue
        stops = [x["stop_ms"] for x in r["reps"]]
        waits = [x["max_probe_wait_ms"] for x in r["reps"]]
        lines.append(
            f"| {row['label']} | {len(stops)} | {median(stops):.3f} [{max(stops):.3f}] "
            f"| {max(waits):.3f} |"
        )

    lines += ["", "## Trace writer", ""]
    w = results.get("writer")
    sizes = [
        row["ours"]["trace"]["bytes_per_sample"]
        for row in results["accuracy"]
        if ok(row.get("ours")) and "trace" in row["ours"] and row["ours"]["trace"]["rows"] > 1000
    ]
    if w:
        lines += [
            f"`cargo run --release -p gilknocker-trace --example writer_throughput -- "
            f"{w['samples']} {w['mean_interval_ns']}`: {w['samples']:,} samples shaped like a "
            f"busy recording (exponential intervals, mean {w['mean_interval_ns']} ns; waits "
            f"mostly ~0.2 µs with {w['busy_percent']}% busy waits up to 10 ms), `write_part` "
            f"every {w['part_samples']:,} samples (0.5 s worth at 1 M samples/s), then "
            f"`finish`: **{w['rows_per_s'] / 1e6:.1f} M rows/s** "
            f"({w['seconds']:.2f} s including the final merge), "
            f"**{w['bytes_per_sample']:.2f} bytes/sample**.",
        ]
    else:
        lines.append("Writer benchmark not run (smoke run or no cargo).")
    rec = results.get("recording")
    if ok(rec) and "trace" in rec:
        t = rec["trace"]
        lines.append(
            f"A real recording at `polling_interval_micros=10` (duty 50%, 1000 / 2000 µs, "
            f"{rec['window_s']:.1f} s): {t['rows']:,} samples "
            f"({t['rows'] / rec['window_s']:,.0f}/s), {rec['dropped']} dropped, "
            f"**{t['bytes_per_sample']:.2f} bytes/sample**."
        )
    if sizes:
        data = [
            row["ours"]["trace"]["data_bytes_per_sample"]
            for row in results["accuracy"]
            if ok(row.get("ours")) and "data_bytes_per_sample" in row["ours"].get("trace", {})
        ]
        footers = [
            row["ours"]["trace"]["footer_bytes"]
            for row in results["accuracy"]
            if ok(row.get("ours")) and "footer_bytes" in row["ours"].get("trace", {})
        ]
        lines.append(
            f"Recordings of the duty workloads above (default settings, a few thousand samples "
            f"each, so the file's fixed overhead counts): "
            f"{median(sizes):.2f} bytes/sample median [{min(sizes):.2f}-{max(sizes):.2f}]"
            + (
                f"; without the footer (schema, run metadata, statistics: "
                f"{median(footers) / 1024:.1f} KiB per file, whatever the length of the run) "
                f"{median(data):.2f} bytes/sample median [{min(data):.2f}-{max(data):.2f}]."
                if data and footers
                else "."
            )
        )
    per_column: dict[str, list[tuple[float, float]]] = {}
    for row in results["accuracy"]:
        o = row.get("ours")
        if ok(o) and "columns" in o.get("trace", {}):
            for name, c in o["trace"]["columns"].items():
                per_column.setdefault(name, []).append((c["stored"], c["entropy"]))
    if per_column:
        lines += [
            "",
            "Per column, median over those recordings: bytes/sample as stored (column chunks, "
            "compressed, page headers and dictionaries included) beside the order-0 entropy of "
            "the column's values (of the deltas, for `time`; a null counts as a value), the "
            "bytes a coder of each value on its own would need if the values' frequencies came "
            "for free: an optimistic floor, biased low for columns with few repeats.",
            "",
            "| column | stored bytes/sample | order-0 entropy bytes/sample |",
            "|---|---|---|",
        ]
        for name, pairs in per_column.items():
            lines.append(
                f"| `{name}` | {median([a for a, _ in pairs]):.2f} "
                f"| {abs(median([b for _, b in pairs]) or 0.0):.2f} |"
            )
        lines.append(
            f"| all | {sum(median([a for a, _ in v]) or 0 for v in per_column.values()):.2f} "
            f"| {sum(median([b for _, b in v]) or 0 for v in per_column.values()):.2f} |"
        )
    notes = HERE / "accuracy_notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred ms per workload")
    parser.add_argument("--out", default=str(ROOT / "docs" / "accuracy.md"))
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--skip-042", action="store_true", help="no gilknocker 0.4.2 runs")
    parser.add_argument("--skip-writer", action="store_true", help="no Rust writer benchmark")
    parser.add_argument("--seconds", type=float, help="per accuracy workload (default 12)")
    parser.add_argument("--render", metavar="JSON", help="only re-render results saved by --json")
    parser.add_argument(
        "--only", action="append", metavar="SECTION", help="measure only this section (repeatable)"
    )
    parser.add_argument(
        "--merge",
        metavar="JSON",
        help="start from results saved by --json: the sections measured now replace theirs, and "
        "the report says which sections were re-measured when",
    )
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        saved["summary"] = summarize(saved)
        Path(args.out).write_text(render(saved))
        return 0
    unknown = sorted(set(args.only or ()) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if args.only and not args.merge:
        parser.error("--only needs --merge JSON: the report is made of every section")
    smoke = args.smoke
    # 12 s: a 6-s run's sampling noise alone (SD ~0.008 at 25-75% busy) puts one of the 17
    # duty workloads past ±0.02 in about one run of five; at 12 s that is about one in a hundred.
    seconds = args.seconds or (0.3 if smoke else 12.0)

    with tempfile.TemporaryDirectory(prefix="gilknocker-bench-") as tmp_name:
        tmp = Path(tmp_name)
        helper = compile_helper(tmp)
        if args.skip_042:
            old, note = None, "skipped (--skip-042)"
        else:
            old, note = venv_042(offline=smoke)
        log(f"gilknocker 0.4.2: {note}")
        run = Runner(helper, tmp, sys.executable, old)
        started = time.monotonic()
        results: dict[str, Any] = {
            "meta": {
                "smoke": smoke,
                "seconds": seconds,
                "host": os.uname().nodename,
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "date": time.strftime("%Y-%m-%d"),
                "v042": note if old else f"not measured: {note}",
            }
        }
        duty = SMOKE_DUTY if smoke else DUTY
        sections: dict[str, Callable[[], Any]] = {
            "accuracy": lambda: measure_accuracy(run, seconds, duty),
            "intervals": lambda: measure_intervals(
                run, min(seconds, 6.0), 0.3 if smoke else 6.0, duty
            ),
            "aliasing": lambda: measure_aliasing(run, 0.3 if smoke else 2.0, 1 if smoke else 3),
            "idle_cost": lambda: measure_idle_cost(
                run, 0.3 if smoke else 4.0, 1 if smoke else 3, 0.3 if smoke else None
            ),
            "knock_cost": lambda: measure_knock_cost(run, 0.3 if smoke else 3.0, 1 if smoke else 3),
            "fixed_work": lambda: measure_fixed_work(
                run, rounds=1 if smoke else 8, scale=0.1 if smoke else 1.0
            ),
            "stop": lambda: measure_stop(
                run, reps=1 if smoke else 5, seconds=0.1 if smoke else 0.5
            ),
            "recording": lambda: measure_recording(run, seconds),
            "writer": lambda: (
                None if smoke or args.skip_writer else measure_writer(10_000_000, 1000)
            ),
        }
        assert tuple(sections) == SECTIONS
        only = args.only or list(SECTIONS)
        if args.merge:
            now = results["meta"]
            results = json.loads(Path(args.merge).read_text())
            results["meta"].setdefault("updated", []).append(
                {
                    "sections": only,
                    "date": now["date"],
                    "python": now["python"],
                    "host": now["host"],
                    "commit": git_commit(),
                }
            )
        for name in only:
            result = sections[name]()
            if result is not None:
                results[name] = result
        results["summary"] = summarize(results)
        if not args.merge:
            results["meta"]["elapsed_s"] = time.monotonic() - started

    text = render(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

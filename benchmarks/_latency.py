"""Exact wait distributions for the latency comparison (numpy only; used by _worker.py).

All times are nanoseconds. Quantiles are found by bisection on an exact CDF, so no sampling
error is added on top of what the knocks themselves carry.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _quantile(cdf: Callable[[float], float], q: float, hi: float) -> float:
    lo = 0.0
    if cdf(hi) < q:
        return hi
    for _ in range(80):
        mid = (lo + hi) / 2
        if cdf(mid) >= q:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1.0:
            break
    return hi


def _clipped_sum(sorted_lengths: np.ndarray, cumsum: np.ndarray, y: float) -> float:
    """sum(min(max(y, 0), L) for L in lengths)."""
    if y <= 0:
        return 0.0
    k = int(np.searchsorted(sorted_lengths, y, side="right"))
    below = float(cumsum[k - 1]) if k > 0 else 0.0
    return below + y * (len(sorted_lengths) - k)


def clip_holds(holds: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """Hold intervals (n x 2, start/end) cut to the window [t0, t1]."""
    if len(holds) == 0:
        return holds.reshape(0, 2)
    clipped = np.clip(holds, t0, t1)
    return clipped[clipped[:, 1] > clipped[:, 0]]


def reference_quantiles(
    holds: np.ndarray, t0: int, t1: int, handoff_ns: float, free_wait_ns: float, qs: Sequence[float]
) -> list[float]:
    """Quantiles of the wait of a request made at a uniformly random instant of [t0, t1].

    Inside a hold [s, e) a request at t waits e - t plus the hand-off (the time the waiting
    thread needs to run once the holder lets go); outside it waits ``free_wait_ns``.
    """
    window = float(t1 - t0)
    lengths = np.sort((holds[:, 1] - holds[:, 0]).astype(np.float64))
    cumsum = np.cumsum(lengths)
    free = 1.0 - float(cumsum[-1]) / window if len(lengths) else 1.0

    def cdf(x: float) -> float:
        f = free if x >= free_wait_ns else 0.0
        return f + _clipped_sum(lengths, cumsum, x - handoff_ns) / window

    hi = (float(lengths[-1]) if len(lengths) else 0.0) + handoff_ns + free_wait_ns + 1.0
    return [_quantile(cdf, q, hi) for q in qs]


def _inside_holds(holds: np.ndarray, knock_mono_ns: np.ndarray) -> np.ndarray:
    """Which knocks began inside a hold."""
    inside = np.zeros(len(knock_mono_ns), dtype=bool)
    if len(holds) == 0:
        return inside
    i = np.searchsorted(holds[:, 0], knock_mono_ns, side="right") - 1
    ok = i >= 0
    inside[ok] = knock_mono_ns[ok] < holds[i[ok], 1]
    return inside


def handoff(
    holds: np.ndarray, knock_mono_ns: np.ndarray, waits_ns: np.ndarray, threshold_ns: float
) -> tuple[float, float, int]:
    """(median hand-off, median free wait, knocks matched to a hold) from knocks in holds
    (hand-off as in :func:`per_knock_handoff`)."""
    inside = _inside_holds(holds, knock_mono_ns)
    free_waits = waits_ns[~inside]
    free = float(np.median(free_waits)) if len(free_waits) else 0.0
    matched = inside & (waits_ns > threshold_ns)
    if not matched.any():
        return 0.0, free, 0
    h = per_knock_handoff(holds, knock_mono_ns, waits_ns, threshold_ns)[matched]
    return float(np.median(h)), free, int(matched.sum())


def per_knock_handoff(
    holds: np.ndarray, knock_mono_ns: np.ndarray, waits_ns: np.ndarray, threshold_ns: float
) -> np.ndarray:
    """Each busy knock's exact hand-off (0 for the others): the part of its wait after the
    last hold that ended before the knock got the GIL, i.e. time the GIL was free while the
    knocker had not yet run. (A wait that spans several holds, because the knocker slept
    through a short release, also has free time in between; that is not counted here.)"""
    out = np.zeros(len(waits_ns), dtype=np.float64)
    matched = _inside_holds(holds, knock_mono_ns) & (waits_ns > threshold_ns)
    if not matched.any():
        return out
    ends = knock_mono_ns[matched] + waits_ns[matched]
    # Holds end in order: the last hold end at or before the knock's end.
    j = np.searchsorted(holds[:, 1], ends, side="right") - 1
    last_end = holds[np.maximum(j, 0), 1]
    h = np.where(j >= 0, ends - last_end, 0)
    out[matched] = np.clip(h, 0, waits_ns[matched])
    return out


def busy_estimate(
    waits_ns: np.ndarray,
    intervals_ns: np.ndarray,
    preempted: np.ndarray,
    not_busy_ns: np.ndarray,
    nominal_ns: float,
    threshold_ns: float,
) -> float:
    """The recorder's busy-fraction estimator (trace/src/estimate.rs), re-done offline so the
    part of busy knocks' waits given in ``not_busy_ns`` can be counted as free time."""
    own = intervals_ns / nominal_ns
    busy = ~preempted & (waits_ns > threshold_ns)
    slots = np.where(preempted & (waits_ns > threshold_ns), own, own + waits_ns / nominal_ns)
    gil = np.maximum(waits_ns - not_busy_ns, 0)
    busy_slots = np.where(busy, own + gil / nominal_ns, 0.0)
    return float(busy_slots.sum() / slots.sum())

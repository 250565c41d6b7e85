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


def clip_holds(holds: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """Hold intervals (n x 2, start/end) cut to the window [t0, t1]."""
    if len(holds) == 0:
        return holds.reshape(0, 2)
    clipped = np.clip(holds, t0, t1)
    return clipped[clipped[:, 1] > clipped[:, 0]]


def reference_quantiles(
    holds: np.ndarray, t0: int, t1: int, handoff_ns: float, free_wait_ns: float, qs: Sequence[float]
) -> list[float]:
    """Quantiles of the wait of a request made at a uniformly random instant of [t0, t1], if the
    waiter got the GIL whenever a hold ends (the naive model; see
    :func:`handover_reference_quantiles` for what CPython does).

    Inside a hold [s, e) a request at t waits e - t plus the hand-off (the time the waiting
    thread needs to run once the holder lets go); outside it waits ``free_wait_ns``.
    """
    lengths = (holds[:, 1] - holds[:, 0]).astype(np.float64)
    return _pieces_quantiles(
        np.full(len(lengths), handoff_ns), lengths + handoff_ns, t0, t1, free_wait_ns, qs
    )


def usable_gaps(
    holds: np.ndarray,
    knock_mono_ns: np.ndarray,
    waits_ns: np.ndarray,
    handoff_ns: float,
    tolerance_ns: float = 5_000.0,
) -> np.ndarray:
    """Which gaps between the hog's holds a woken waiter could use (the gap after hold i; the
    last one, free till the window's end, always), judged per gap from what the knocker did:

    * a knock got the GIL inside the gap: usable (another thread did take it);
    * a knock was waiting all through the gap and did not get it: not usable (a real sleeping
      waiter was signalled at the release and the hog re-took the GIL before it ran);
    * no knock was there: usable when the gap is at least the hand-off ``handoff_ns``.

    The hand-off of the knocks that met a hold is a poor judge of the gaps on its own: at 100%
    duty it comes from the few knocks that got the GIL, mostly at forced switches, where the
    waiter was awake already (short), not from a waiter woken out of its sleep by the release
    (long). Knock times come from the trace (start floored to 1024 ns, wall clock mapped to the
    monotonic clock): ``tolerance_ns`` absorbs that.
    """
    n = len(holds)
    usable = np.ones(n, dtype=bool)
    if n < 2:
        return usable
    gap_start = holds[:-1, 1].astype(np.float64)
    gap_end = holds[1:, 0].astype(np.float64)
    usable[:-1] = gap_end - gap_start >= handoff_ns
    starts = knock_mono_ns.astype(np.float64)
    ends = starts + waits_ns.astype(np.float64)
    # Knocks that got the GIL in a gap: the gap whose (widened) span holds the knock's end.
    j = np.searchsorted(gap_start - tolerance_ns, ends, side="right") - 1
    ok = (j >= 0) & (ends <= gap_end[np.maximum(j, 0)] + tolerance_ns)
    taken = np.zeros(n - 1, dtype=bool)
    taken[j[ok]] = True
    # Knocks waiting all through a gap: started before it began and got the GIL after it ended.
    # A knock spans the gaps from the first one starting after its start to the last one
    # ending before its end.
    first = np.searchsorted(gap_start, starts, side="left")
    last = np.searchsorted(gap_end + tolerance_ns, ends, side="left") - 1
    spanned = np.zeros(n, dtype=np.int64)  # difference array over gap indices
    span = last >= first
    np.add.at(spanned, first[span], 1)
    np.add.at(spanned, last[span] + 1, -1)
    waited_through = np.cumsum(spanned)[: n - 1] > 0
    usable[:-1] = np.where(taken, True, np.where(waited_through, False, usable[:-1]))
    return usable


def handover_pieces(
    holds: np.ndarray,
    t1: int,
    handoff_ns: float,
    switch_interval_ns: float,
    usable: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The waits of requests arriving inside the holds, under CPython's hand-over rule, as
    uniform pieces: a request arriving at t in hold i waits ``T_i + h - t`` for t in a stretch of
    the hold, so its waits fill ``[lo, hi)`` uniformly; returns (lo, hi) per piece.

    The rule (``take_gil``/``drop_gil`` in CPython's Python/ceval_gil.c, 3.9-3.13): a waiter
    sleeps on the GIL's condition variable for at most the switch interval. Every release by
    the holder signals it; it runs a hand-off ``h`` later and takes the GIL if it is still free,
    otherwise it waits again with a fresh timeout. Only when a whole switch interval passes
    without a signal (and without a switch) does it set the drop request, and then the holder's
    next release hands the GIL to it. So a request arriving at t gets the GIL at the first
    release after t that is followed by a gap of at least ``h`` (the holder did not re-take the
    GIL at once: it paused, or another waiter was handed the GIL), or at the first release that
    comes more than a switch interval after its last wake-up (its own forced switch), whichever
    is first. With gaps everywhere (duty below 100%) that is the end of the current hold, as in
    :func:`reference_quantiles`; a holder that re-takes the GIL at once is only left at a
    forced switch or at a gap some other waiter made.

    ``usable`` (from :func:`usable_gaps`) says per gap whether a waiter could use it; without
    it, a gap is usable when it is at least ``handoff_ns`` long.
    """
    n = len(holds)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    start = holds[:, 0].astype(np.float64)
    end = holds[:, 1].astype(np.float64)
    gap = np.append(start[1:] - end[:-1], np.inf)  # after the last hold: free till t1
    h, s = float(handoff_ns), float(switch_interval_ns)
    # Releases a waiter can use: followed by a gap of at least the hand-off.
    if usable is None:
        usable = gap >= h
    # From hold i on, the first usable release (indices; n = none).
    idx = np.arange(n)
    next_usable = np.minimum.accumulate(np.where(usable, idx, n)[::-1])[::-1]
    # A waiter woken (h after) release k-1 times out before release k when that hold lasts
    # longer than the switch interval: release k is then its forced switch.
    long_after = np.append(end[1:] - (end[:-1] + h) > s, False)  # index k-1 -> release k
    forced_from = np.where(long_after, idx + 1, n)  # the forced release after a wake at i
    next_forced = np.minimum.accumulate(forced_from[::-1])[::-1]
    last = float(t1)

    def release(i: np.ndarray) -> np.ndarray:
        return np.where(i < n, end[np.minimum(i, n - 1)], last)

    # Requests more than a switch interval before the hold's end time out inside it: they get
    # the GIL at its end.
    early_hi = np.maximum(end - s, start)  # arrivals in [start, early_hi)
    los, his = [], []
    has_early = early_hi > start
    los.append((end - early_hi + h)[has_early])
    his.append((end - start + h)[has_early])
    # The others wait for the first usable release or their own forced switch.
    target = np.minimum(release(next_usable), release(next_forced))
    los.append(target - end + h)
    his.append(target - early_hi + h)
    return np.concatenate(los), np.concatenate(his)


def handover_reference_quantiles(
    holds: np.ndarray,
    t0: int,
    t1: int,
    handoff_ns: float,
    free_wait_ns: float,
    switch_interval_ns: float,
    qs: Sequence[float],
    usable: np.ndarray | None = None,
) -> list[float]:
    """Quantiles of the wait of a request made at a uniformly random instant of [t0, t1], from
    the recorded holds under CPython's hand-over rule (:func:`handover_pieces`); outside the
    holds a request waits ``free_wait_ns``. Exact: the pieces are uniform, the CDF is a sum of
    clipped linear functions."""
    lo, hi = handover_pieces(holds, t1, handoff_ns, switch_interval_ns, usable)
    return _pieces_quantiles(lo, hi, t0, t1, free_wait_ns, qs)


def _pieces_quantiles(
    lo: np.ndarray, hi: np.ndarray, t0: int, t1: int, free_wait_ns: float, qs: Sequence[float]
) -> list[float]:
    """Quantiles of a mixture: uniform pieces [lo, hi) of density 1 per ns of arrival time,
    plus the rest of the window at ``free_wait_ns``."""
    window = float(t1 - t0)
    width = np.maximum(hi - lo, 0.0)
    free = max(0.0, 1.0 - float(width.sum()) / window)

    def cdf(x: float) -> float:
        f = free if x >= free_wait_ns else 0.0
        return f + float(np.clip(x - lo, 0.0, width).sum()) / window

    top = float(hi.max()) if len(hi) else 0.0
    return [_quantile(cdf, q, top + free_wait_ns + 1.0) for q in qs]


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

"""A built-in workload with three phases of known character, for `gilknocker demo`."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable, Sequence

#: (name, what it does, expected busy fraction)
PHASES = (
    ("contended", "3 threads running pure-Python loops", "close to 1"),
    ("gil-free", "3 threads hashing 8 MB buffers (hashlib releases the GIL)", "close to 0"),
    ("mixed", "1 pure-Python thread beside 2 hashing threads", "close to 1: one thread is enough"),
)


def _python_loop(deadline: float) -> None:
    total = 0
    while time.perf_counter() < deadline:
        for i in range(10_000):
            total += i * i


def _hash_loop(deadline: float) -> None:
    data = b"\x5a" * (8 << 20)
    while time.perf_counter() < deadline:
        hashlib.sha256(data).digest()


def _run_threads(targets: Sequence[Callable[[float], None]], seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=t, args=(deadline,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run(seconds_per_phase: float, report: Callable[[str], None]) -> None:
    plans: dict[str, Sequence[Callable[[float], None]]] = {
        "contended": [_python_loop] * 3,
        "gil-free": [_hash_loop] * 3,
        "mixed": [_python_loop, _hash_loop, _hash_loop],
    }
    for name, description, _ in PHASES:
        report(f"  {name:<10} {description} ({seconds_per_phase:g} s)")
        _run_threads(plans[name], seconds_per_phase)

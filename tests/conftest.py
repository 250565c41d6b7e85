from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import pytest


def python_threads(n: int, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """n threads running pure-Python code: the GIL is always busy.

    They run for `seconds`, then on until `until()` holds (checked every 10 ms, at most 60 s):
    a test that needs some number of knocks asks for that, not for a duration that a loaded
    machine may not give it.
    """

    def spin(stop: threading.Event) -> None:
        total = 0
        while not stop.is_set():
            for i in range(5_000):
                total += i

    _run(spin, n, seconds, until)


def pin_gil(times: int, micros: int, pause: float = 0.0) -> None:
    """Hold the GIL for `micros` µs in another thread, `times` times (libc usleep through
    ctypes.PyDLL, which keeps the GIL during the call), waiting `pause` s after each."""
    import ctypes

    libc = ctypes.PyDLL(None)
    libc.usleep.argtypes = [ctypes.c_uint]
    for _ in range(times):
        pin = threading.Thread(target=libc.usleep, args=(micros,))
        pin.start()
        pin.join()
        time.sleep(pause)


def gil_free_threads(n: int, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """n threads hashing large buffers: hashlib releases the GIL while it hashes."""
    data = b"x" * (4 << 20)

    def hash_(stop: threading.Event) -> None:
        while not stop.is_set():
            hashlib.sha256(data).digest()

    _run(hash_, n, seconds, until)


def _run(
    target: Callable[[threading.Event], None],
    n: int,
    seconds: float,
    until: Callable[[], bool] | None,
) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=target, args=(stop,)) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        time.sleep(seconds)
        give_up = time.monotonic() + 60
        while until is not None and not until() and time.monotonic() < give_up:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()


def run_python(
    code: str, *, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (the one running the tests)."""
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


@pytest.fixture
def trace_path(tmp_path: Path) -> Path:
    return tmp_path / "run.parquet"


def native_thread_count() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else -1


def pytest_unconfigure(config: pytest.Config) -> None:
    """On CPython < 3.11, end the test process without interpreter finalization.

    pyarrow (19-21, with pandas) aborts at interpreter exit on CPython 3.9 and 3.10 in a few
    percent of runs ("terminate called without an active exception"; measured 6/80 with
    pyarrow 19.0.1 and 7/80 with 21.0.0 on 3.9, 2/60 on 3.10, 0/60 on 3.11, reading a Parquet
    file with pandas and nothing else, without gilknocker). That would fail a green run after
    its report is printed, so on those versions exit here with pytest's own status.
    """
    if sys.version_info < (3, 11) and "pyarrow" in sys.modules:
        status = getattr(config, "_gilknocker_exitstatus", None)
        if status is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._gilknocker_exitstatus = exitstatus  # type: ignore[attr-defined]

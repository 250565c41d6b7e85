"""pytest plugin: record GIL contention per test (or per session). Inert unless --gilknocker.

Registered through the `pytest11` entry point; importing it costs nothing until enabled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Optional

import pytest

if TYPE_CHECKING:
    from gilknocker._api import Knocker, Metrics

_SCOPES = ("test", "session")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gilknocker", "GIL contention (gilknocker)")
    group.addoption(
        "--gilknocker",
        action="store_true",
        default=None,
        help="record a GIL trace of each test (ini: gilknocker = true)",
    )
    group.addoption(
        "--gilknocker-dir",
        default=None,
        help="where the traces go (ini: gilknocker_dir; default .gilknocker)",
    )
    group.addoption(
        "--gilknocker-scope",
        choices=_SCOPES,
        default=None,
        help="one trace per test, or one for the whole session (ini: gilknocker_scope)",
    )
    group.addoption(
        "--gilknocker-top",
        type=int,
        default=None,
        help="how many tests the summary lists (ini: gilknocker_top; default 10)",
    )
    parser.addini("gilknocker", "record GIL traces (like --gilknocker)", type="bool", default=False)
    parser.addini("gilknocker_dir", "where the traces go", default=".gilknocker")
    parser.addini("gilknocker_scope", "test or session", default="test")
    parser.addini("gilknocker_top", "how many tests the summary lists", default="10")


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    return value if value is not None else config.getini(name)


def pytest_configure(config: pytest.Config) -> None:
    if not _option(config, "gilknocker"):
        return
    scope = str(_option(config, "gilknocker_scope"))
    if scope not in _SCOPES:
        raise pytest.UsageError(f"gilknocker_scope must be one of {_SCOPES}, not {scope!r}")
    try:
        top = int(_option(config, "gilknocker_top"))
    except ValueError as err:
        raise pytest.UsageError(f"gilknocker_top must be an int: {err}") from None
    directory = os.path.join(config.rootpath, str(_option(config, "gilknocker_dir")))
    config.pluginmanager.register(_Recorder(directory, scope, top), "gilknocker-recorder")


def _file_name(nodeid: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("._")
    return (safe[:150] or "test") + ".parquet"


class _Recorder:
    def __init__(self, directory: str, scope: str, top: int) -> None:
        self.directory = directory
        self.scope = scope
        self.top = top
        self.results: list[tuple[str, Metrics]] = []
        self.session_knocker: Optional[Knocker] = None

    def _knocker(self, name: str, nodeid: str) -> Knocker:
        from gilknocker import Knocker

        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, name)
        for stale in (path, path + ".parts"):
            if os.path.isdir(stale):
                import shutil

                shutil.rmtree(stale)
            elif os.path.exists(stale):
                os.remove(stale)
        return Knocker(path=path, metadata={"pytest.nodeid": nodeid})

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.scope == "session":
            self.session_knocker = self._knocker("session.parquet", "session")
            self.session_knocker.start()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.session_knocker is not None:
            self.session_knocker.stop()
            self.results.append(("session", self.session_knocker.get_metrics()))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if self.scope != "test":
            yield
            return
        knocker = self._knocker(_file_name(item.nodeid), item.nodeid)
        knocker.start()
        try:
            yield
        finally:
            knocker.stop()
            self.results.append((item.nodeid, knocker.get_metrics()))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.section("gilknocker: GIL contention")
        if not self.results:
            tr.write_line("no tests recorded")
            return
        ranked = sorted(
            self.results, key=lambda r: (r[1].p99_acquisition_time_micros, r[1].busy_fraction)
        )[::-1][: self.top]
        tr.write_line(f"{'p99 wait (ms)':>13}  {'busy':>6}  {'samples':>8}  test")
        for nodeid, m in ranked:
            tr.write_line(
                f"{m.p99_acquisition_time_micros / 1000:>13.3f}  {m.busy_fraction:>6.3f}  "
                f"{m.total_samples:>8}  {nodeid}"
            )
        tr.write_line(f"traces in {self.directory} (gilknock-analyze summary {self.directory})")


@pytest.fixture
def gilknocker_recorder(tmp_path: Any) -> Iterator[Knocker]:
    """A knocker recording this test to `tmp_path / "gilknocker.parquet"`, started before the
    test and stopped after it; `get_metrics()` works inside the test."""
    from gilknocker import Knocker

    knocker = Knocker(path=os.path.join(str(tmp_path), "gilknocker.parquet"))
    knocker.start()
    try:
        yield knocker
    finally:
        knocker.stop()

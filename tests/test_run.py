"""`gilknocker run` must be indistinguishable from `python script.py` for the script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gilknocker

VIEW = """
import json, os, sys
data = sys.stdin.read()
print(json.dumps({
    "name": __name__,
    "argv": sys.argv,
    "path0": sys.path[0],
    "stdin": data,
    "file": __file__,
    "main_module": sys.modules["__main__"].__dict__.get("__name__"),
}))
sys.stdout.flush()
code = int(sys.argv[1]) if len(sys.argv) > 1 else 0
if code == 99:
    raise ValueError("boom from the script")
if code == 98:
    raise KeyboardInterrupt
sys.exit(code)
"""


def _run(cmd: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)


def _view(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout.strip().splitlines()[0])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "view.py").write_text(textwrap.dedent(VIEW))
    pkg = tmp_path / "viewpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(textwrap.dedent(VIEW))
    return tmp_path


@pytest.mark.parametrize("code", [0, 3])
def test_script_sees_the_same_world(project: Path, code: int) -> None:
    args = ["sub/view.py", str(code), "--flag", "x y"]
    plain = _run([sys.executable, *args], project, stdin="hello\n")
    traced = _run(
        [sys.executable, "-m", "gilknocker", "run", "-o", "t.parquet", *args],
        project,
        stdin="hello\n",
    )
    assert traced.returncode == plain.returncode == code
    assert _view(traced) == _view(plain)
    assert _view(traced)["name"] == "__main__"
    assert "trace written to t.parquet" in traced.stderr
    assert "gilknock-analyze summary t.parquet" in traced.stderr
    assert gilknocker.read_metadata(project / "t.parquet")["complete"] is True


def test_module_sees_the_same_world(project: Path) -> None:
    plain = _run([sys.executable, "-m", "viewpkg", "5"], project, stdin="x")
    traced = _run(
        [sys.executable, "-m", "gilknocker", "run", "-o", "m.parquet", "-m", "viewpkg", "5"],
        project,
        stdin="x",
    )
    assert traced.returncode == plain.returncode == 5
    assert _view(traced) == _view(plain)


def test_uncaught_exception_traceback_and_status_match(project: Path) -> None:
    plain = _run([sys.executable, "sub/view.py", "99"], project)
    traced = _run(
        [sys.executable, "-m", "gilknocker", "run", "-o", "e.parquet", "sub/view.py", "99"],
        project,
    )
    assert traced.returncode == plain.returncode == 1
    tb_plain = plain.stderr.strip().splitlines()
    tb_traced = traced.stderr.split("\ngilknocker:")[0].strip().splitlines()
    assert tb_traced == tb_plain
    assert "runpy" not in traced.stderr and "_run.py" not in traced.stderr


def test_keyboard_interrupt_dies_of_sigint_like_python(project: Path) -> None:
    plain = _run([sys.executable, "sub/view.py", "98"], project)
    traced = _run(
        [sys.executable, "-m", "gilknocker", "run", "-o", "k.parquet", "sub/view.py", "98"],
        project,
    )
    assert plain.returncode == traced.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in traced.stderr
    assert gilknocker.read_metadata(project / "k.parquet")["complete"] is True


def test_default_name_never_overwrites(project: Path) -> None:
    for _ in range(2):
        result = _run([sys.executable, "-m", "gilknocker", "run", "sub/view.py"], project)
        assert result.returncode == 0, result.stderr
    traces = sorted(p.name for p in project.glob("gilknocker-view-*.parquet"))
    assert len(traces) == 2
    assert all(f"-{os.uname().nodename}-" in name or "-" in name for name in traces)


def test_missing_script_is_an_error_like_python(project: Path) -> None:
    plain = _run([sys.executable, "nope.py"], project)
    traced = _run([sys.executable, "-m", "gilknocker", "run", "nope.py"], project)
    assert traced.returncode == plain.returncode == 2
    assert "can't open file" in traced.stderr
    assert not list(project.glob("gilknocker-*.parquet"))


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "gilknocker"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert gilknocker.__version__ in result.stdout

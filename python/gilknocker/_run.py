"""`gilknocker run`: record an unmodified program, which must not notice the difference.

The script runs in this interpreter exactly as `python script.py` (or `python -m module`)
would run it: `__name__ == "__main__"`, `sys.argv`, `sys.path[0]`, stdin, the exit status,
and an uncaught exception's traceback (without gilknocker's own frames).
"""

from __future__ import annotations

import datetime
import os
import re
import runpy
import signal
import socket
import sys
import traceback
from types import TracebackType
from typing import Any, Optional

from gilknocker import _api


def default_trace_path(target: str, directory: str = ".") -> str:
    """`gilknocker-<target>-<UTC time>-<host>-<pid>.parquet`: sorts by target then time, and
    never collides with a trace of another process; never an existing file."""
    stem = os.path.splitext(os.path.basename(target))[0] if target.endswith(".py") else target
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "program"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname()) or "host"
    base = os.path.join(directory, f"gilknocker-{stem}-{stamp}-{host}-{os.getpid()}")
    path, n = base + ".parquet", 1
    while os.path.exists(path) or os.path.exists(path + ".parts"):
        path, n = f"{base}-{n}.parquet", n + 1
    return path


def _strip_own_frames(tb: Optional[TracebackType], first_user_file: str) -> Optional[TracebackType]:
    """Drop the frames of gilknocker and runpy in front of the user's code."""
    current = tb
    while current is not None:
        filename = current.tb_frame.f_code.co_filename
        if os.path.abspath(filename) == first_user_file:
            return current
        current = current.tb_next
    return tb


def run(
    target: str,
    args: list[str],
    *,
    module: bool,
    output: Optional[str],
    knocker_options: dict[str, Any],
) -> int:
    path = output or default_trace_path(target)
    if module:
        # As `python -m`: sys.path[0] is the current directory; runpy sets sys.argv[0].
        sys.argv = [target, *args]
        sys.path[0] = os.getcwd()
        spec_file = _module_file(target)
    else:
        script = os.path.abspath(target)
        if not os.path.exists(script):
            print(
                f"{sys.executable}: can't open file {target!r}: "
                "[Errno 2] No such file or directory",
                file=sys.stderr,
            )
            return 2
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(script)
        spec_file = script

    knocker = _api.Knocker(path=path, **knocker_options)
    knocker.start()
    status: Any = 0
    interrupted = False
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            _run_script(spec_file)
    except SystemExit as exc:
        status = exc.code
    except KeyboardInterrupt as exc:
        interrupted = True
        _print_exception(exc, spec_file)
    except BaseException as exc:
        _print_exception(exc, spec_file)
        status = 1
    finally:
        sys.stdout.flush()
        knocker.stop()
        metrics = knocker.get_metrics()
        print(
            f"\ngilknocker: {metrics.total_samples} samples, busy fraction "
            f"{metrics.busy_fraction:.3f}, trace written to {path}\n"
            f"gilknocker: look at it with: gilknock-analyze summary {path}",
            file=sys.stderr,
        )
    if interrupted:
        # Die of SIGINT, as Python does after an uncaught KeyboardInterrupt.
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return _exit_code(status)


def _run_script(script: str) -> None:
    """Run `script` as `python script` does. Not runpy.run_path: that would set sys.argv[0] to
    the path, where Python keeps it as typed. `__file__` is absolute (as since Python 3.9), and
    so are the file names in tracebacks."""
    import builtins
    import importlib.machinery
    import io
    import types

    with io.open_code(script) as f:
        source = f.read()
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
    main.__spec__ = None
    main.__dict__["__cached__"] = None
    sys.modules["__main__"] = main
    code = compile(source, script, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def _module_file(name: str) -> str:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    origin = spec.origin if spec else None
    if spec and spec.submodule_search_locations:
        main = importlib.util.find_spec(f"{name}.__main__")
        origin = main.origin if main else origin
    return os.path.abspath(origin) if origin else ""


def _print_exception(exc: BaseException, first_user_file: str) -> None:
    tb = _strip_own_frames(exc.__traceback__, first_user_file)
    traceback.print_exception(type(exc), exc, tb)


def _exit_code(code: Any) -> int:
    # SystemExit semantics: None -> 0, int -> itself, anything else is printed -> 1.
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1

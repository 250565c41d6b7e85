"""`%%gilknock` cell magic: record the cell, show the summary and the timeline inline."""

from __future__ import annotations

import os
import shlex
import tempfile
from typing import Any


def register(ipython: Any) -> None:
    from IPython.core.magic import register_cell_magic

    @register_cell_magic
    def gilknock(line: str, cell: str) -> None:
        """%%gilknock [-o trace.parquet] [--no-timeline]: record this cell's GIL contention."""
        run_cell(ipython, line, cell)

    del gilknock


def run_cell(ipython: Any, line: str, cell: str) -> Any:
    from IPython.display import HTML, SVG, display

    from gilknocker import _api, _native

    args = shlex.split(line)
    path = None
    timeline = True
    while args:
        arg = args.pop(0)
        if arg in ("-o", "--output") and args:
            path = args.pop(0)
        elif arg == "--no-timeline":
            timeline = False
        else:
            raise ValueError(f"%%gilknock: unknown argument {arg!r} (use -o PATH, --no-timeline)")
    if path is None:
        fd, path = tempfile.mkstemp(prefix="gilknock-", suffix=".parquet")
        os.close(fd)
        os.remove(path)
    with _api.record(path) as rec:
        result = ipython.run_cell(cell)
    display(HTML(rec.metrics._repr_html_()))
    if timeline and rec.metrics.total_samples > 0:
        svg = path[: -len(".parquet")] + ".timeline.svg"
        code = _native.analyze(["gilknock-analyze", "timeline", path, "-o", svg])
        if code == 0:
            with open(svg, encoding="utf-8") as f:
                display(SVG(f.read()))
    return result

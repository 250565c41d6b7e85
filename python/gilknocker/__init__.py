"""gilknocker: is the GIL my bottleneck?

A native thread knocks on the GIL (asks for it, times how long that took, gives it back) and
streams the samples to a Parquet trace. See https://github.com/gilknocker/gilknocker.
"""

from gilknocker._api import (
    DEFAULT_POLLING_INTERVAL_MICROS,
    Knocker,
    KnockKnock,
    Metrics,
    TraceFormatError,
    label,
    load,
    read_metadata,
    record,
    recover,
)
from gilknocker._native import __version__

__all__ = [
    "DEFAULT_POLLING_INTERVAL_MICROS",
    "KnockKnock",
    "Knocker",
    "LiveMetrics",
    "Metrics",
    "TraceFormatError",
    "__version__",
    "label",
    "load",
    "read_metadata",
    "record",
    "recover",
]


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext gilknocker` registers the `%%gilknock` cell magic."""
    from gilknocker._jupyter import register

    register(ipython)

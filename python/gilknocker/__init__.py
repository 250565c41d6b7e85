"""gilknocker: is the GIL my bottleneck?

A native thread knocks on the GIL (asks for it, times how long that took, gives it back) and
streams the samples to a Parquet trace. See https://github.com/gilknocker/gilknocker.
"""

from gilknocker._native import __version__
from gilknocker._api import (
    DEFAULT_POLLING_INTERVAL_MICROS,
    KnockKnock,
    Knocker,
    Metrics,
    TraceFormatError,
    load,
    read_metadata,
    record,
    recover,
)

__all__ = [
    "DEFAULT_POLLING_INTERVAL_MICROS",
    "KnockKnock",
    "Knocker",
    "Metrics",
    "TraceFormatError",
    "__version__",
    "load",
    "read_metadata",
    "record",
    "recover",
]

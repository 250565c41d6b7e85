from os import PathLike
from pathlib import Path
from typing import Optional, Union, final

__all__ = [
    "DEFAULT_BUSY_THRESHOLD_NS",
    "FORMAT_VERSION",
    "Recorder",
    "TraceFormatError",
    "__version__",
    "analyze",
    "current_label",
    "label_enter",
    "label_exit",
    "parts_dir",
    "read_metadata",
    "recover",
    "unfinished_files",
]

__version__: str
FORMAT_VERSION: int
DEFAULT_BUSY_THRESHOLD_NS: int

class TraceFormatError(ValueError): ...

@final
class Recorder:
    def __new__(
        cls,
        *,
        polling_interval_ns: int,
        sampling_interval_ns: Optional[int],
        sleeping_interval_ns: Optional[int],
        jitter: bool,
        idle_interval_ns: Optional[int],
        idle_after_ns: int,
        busy_threshold_ns: int,
        path: Optional[Union[str, PathLike[str]]],
        part_interval_ns: int,
        drain_interval_ns: int,
        queue_capacity: int,
        seed: int,
        python_version: str,
        python_implementation: str,
        gil_enabled: Optional[bool],
        switch_interval_s: float,
        pid: int,
        host: str,
        argv: list[str],
        recorder_version: str,
        user: dict[str, str],
    ) -> Recorder: ...
    def start(self) -> None: ...
    def stop(self, timeout_s: float) -> Optional[str]: ...
    @property
    def is_running(self) -> bool: ...
    @property
    def contention_metric(self) -> float: ...
    def reset(self) -> None: ...
    def take_warning(self) -> Optional[str]: ...
    @property
    def error(self) -> Optional[str]: ...
    def metrics(self) -> Optional[dict[str, object]]: ...
    def live(self, window_s: float) -> tuple[float, float, int, float]: ...
    def _after_fork_child(self) -> None: ...
    @property
    def path(self) -> Optional[str]: ...

def read_metadata(path: Union[str, PathLike[str]]) -> dict[str, str]: ...
def recover(path: Union[str, PathLike[str]]) -> tuple[int, int]: ...
def parts_dir(path: Union[str, PathLike[str]]) -> Path: ...
def unfinished_files(path: Union[str, PathLike[str]]) -> list[tuple[Path, bool]]: ...
def analyze(argv: list[str]) -> int: ...
def label_enter(name: str) -> int: ...
def label_exit(token: int) -> bool: ...
def current_label() -> Optional[str]: ...

"""Progress of a pull as plain events, so the CLI's Rich bar and the TUI read the same thing.

huggingface_hub reports progress through a tqdm-like class (`tqdm_class=`); `TqdmBridge`
is that class, turning its `update(n)` calls into `PullEvent`s for one listener.
The listener may also cancel the pull: `Cancel.set()` makes the next update raise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Stage = Literal["fetch", "verify", "done"]


def eta_text(seconds: float) -> str:
    """Time left as a person reads it: '6:05', or '1:02:03' past an hour (the CLI and the TUI)."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class PullEvent:
    """Where one file of a pull stands. `index` counts from 1 up to `count` files."""

    file: str
    stage: Stage
    bytes_done: int
    bytes_total: int
    speed: float | None = None  # bytes per second over this run's transfer
    eta: float | None = None  # seconds left at that speed
    resumed_from: int = 0  # bytes already on disk when this run began
    index: int = 1
    count: int = 1


class ProgressListener(Protocol):
    def __call__(self, event: PullEvent, /) -> None: ...


def ignore(event: PullEvent) -> None:
    """The listener for callers that want no progress."""


class PullCancelled(Exception):
    """Raised inside the download loop when the listener's side asked to stop."""


class Reporter:
    """Sends one file's events: measures speed and ETA from the bytes of this run alone."""

    def __init__(self, listener: ProgressListener, file: str, total: int, *, index: int, count: int,
                 cancel: threading.Event | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.listener, self.file, self.total = listener, file, total
        self.index, self.count, self.cancel, self.clock = index, count, cancel, clock
        self.started = clock()
        self.resumed_from = 0
        self.done = 0

    def begin(self, stage: Stage, done: int) -> None:
        self.started, self.resumed_from, self.done = self.clock(), done, done
        self.emit(stage)

    def advance(self, stage: Stage, n: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise PullCancelled(self.file)
        self.done += n
        self.emit(stage)

    def emit(self, stage: Stage) -> None:
        elapsed = self.clock() - self.started
        moved = self.done - self.resumed_from
        speed = moved / elapsed if elapsed > 0 and moved > 0 else None
        eta = (self.total - self.done) / speed if speed else None
        self.listener(PullEvent(self.file, stage, self.done, self.total, speed, eta,
                                self.resumed_from, self.index, self.count))


class TqdmBridge:
    """What huggingface_hub's `http_get` expects of `tqdm_class`: built with keywords, a context, `update(n)`.

    Pass `functools.partial(TqdmBridge, reporter)`; huggingface_hub calls a non-tqdm class
    with `unit`, `unit_scale`, `total`, `initial` and `desc` only.
    """

    def __init__(self, reporter: Reporter, *, initial: int = 0, **_: object) -> None:
        self.reporter = reporter
        self.n = initial

    def __enter__(self) -> TqdmBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int | float = 1) -> None:
        # A negative update means the server ignored Range and the file restarts from 0.
        self.n += int(n)
        self.reporter.advance("fetch", int(n))

    def close(self) -> None:
        return None

"""Progress of a pull as plain events, so the CLI's Rich bar and the TUI read the same thing.

The fetch loop and the sha256 check call `Reporter.advance(n)` for every piece; the
listener gets an event each `EMIT_EVERY` bytes (and at the end), so a fast link does not
flood a UI, and a stall leaves the last megabyte, at most, unshown. The listener's side
may also cancel the pull: setting its cancel event makes the next piece raise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Stage = Literal["fetch", "verify", "done"]
EMIT_EVERY = 1 << 20  # bytes between two progress events of one file


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
        self._shown = -EMIT_EVERY

    def begin(self, stage: Stage, done: int) -> None:
        self.started, self.resumed_from, self.done = self.clock(), done, done
        self.emit(stage)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise PullCancelled(self.file)

    def advance(self, stage: Stage, n: int) -> None:
        self.check_cancel()
        self.done += n
        if self.done - self._shown >= EMIT_EVERY or self.done >= self.total:
            self.emit(stage)

    def emit(self, stage: Stage) -> None:
        self._shown = self.done
        elapsed = self.clock() - self.started
        moved = self.done - self.resumed_from
        speed = moved / elapsed if elapsed > 0 and moved > 0 else None
        eta = (self.total - self.done) / speed if speed else None
        self.listener(PullEvent(self.file, stage, self.done, self.total, speed, eta,
                                self.resumed_from, self.index, self.count))

"""Holding the state a test asserts, instead of racing a live thread for it.

`Gate` pauses a real engine's streams after N deltas until the test releases them, so
"an answer in flight" is a state the test holds: a test double of timing only, the
tokens are the engine's own. A stream cancelled while held goes on at once, into its
cancel, as it would between two tokens. `wait_until` is the one polling loop for
threads and processes: it ends in an assertion that names what never came.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from localqwen.engine.stream import Stream
from localqwen.engine.types import Delta

HOLD_AT_MOST = 60.0  # seconds a gate holds a stream nobody releases; the test has failed by then


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class Gate:
    """Armed (`arm(n)`, or `Gate(n)`): every stream it wraps pauses after n deltas until `release()`."""

    def __init__(self, after: int | None = None) -> None:
        self.after: int | None = None
        self.held = threading.Event()
        """Set once a stream is paused here (it holds its engine's context meanwhile)."""
        self.streams: list[Stream] = []
        """The real streams it has wrapped, oldest first: their stats are the final states to assert."""
        self._open = threading.Event()
        self._calls_open = threading.Event()
        self._calls_open.set()
        self.call_held = threading.Event()
        """Set once an engine call (building a stream) waits at this gate: see `hold_calls`."""
        if after is not None:
            self.arm(after)

    def hold_calls(self) -> None:
        """From now on a held engine's chat/fim/complete call waits at its start until
        `release_calls()`: the time a prompt takes to build, held."""
        self.call_held, self._calls_open = threading.Event(), threading.Event()

    def release_calls(self) -> None:
        self._calls_open.set()

    def wait_to_call(self) -> None:
        if not self._calls_open.is_set():
            self.call_held.set()
            self._calls_open.wait(HOLD_AT_MOST)

    def arm(self, after: int) -> None:
        self.after, self.held, self._open = after, threading.Event(), threading.Event()

    def release(self) -> None:
        """Let every held stream go on; streams started from now on pass."""
        self.after = None
        self._open.set()

    def hold(self, real: Stream) -> Stream:
        self.streams.append(real)
        return HeldStream(real, self._deltas(real, self.after, self._open))

    def _deltas(self, real: Stream, after: int | None, opened: threading.Event) -> Iterator[Delta]:
        for n, delta in enumerate(real, 1):
            yield delta
            if n == after:
                self.held.set()
                deadline = time.monotonic() + HOLD_AT_MOST
                while not (opened.wait(0.01) or real.cancelled.is_set() or time.monotonic() > deadline):
                    pass


class HeldStream(Stream):
    """A real stream's deltas through a gate; its stats, cancel and prompt limit are the real stream's."""

    def __init__(self, real: Stream, deltas: Iterator[Delta]) -> None:  # no Stream.__init__: the state is real's
        self.real = real
        self.stats, self.prompt_tokens, self.cancelled = real.stats, real.prompt_tokens, real.cancelled
        self._held = deltas

    @property
    def prompt_time_limit_s(self) -> float | None:  # type: ignore[override]
        return self.real.prompt_time_limit_s

    @prompt_time_limit_s.setter
    def prompt_time_limit_s(self, value: float | None) -> None:
        self.real.prompt_time_limit_s = value

    def __next__(self) -> Delta:
        return next(self._held)

    def close(self) -> None:
        self._held.close()
        self.real.close()


class HeldEngine:
    """A real engine (llama.cpp on the tiny model) whose streams pass through `gate`; all else is the engine's."""

    def __init__(self, engine: object, gate: Gate) -> None:
        self.engine, self.gate = engine, gate

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)

    def chat(self, *args: object, **options: object) -> Stream:
        self.gate.wait_to_call()
        return self.gate.hold(self.engine.chat(*args, **options))  # type: ignore[attr-defined]

    def fim(self, *args: object, **options: object) -> Stream:
        self.gate.wait_to_call()
        return self.gate.hold(self.engine.fim(*args, **options))  # type: ignore[attr-defined]

    def complete(self, *args: object, **options: object) -> Stream:
        self.gate.wait_to_call()
        return self.gate.hold(self.engine.complete(*args, **options))  # type: ignore[attr-defined]

    def close(self) -> None:
        self.gate.release()
        self.gate.release_calls()
        self.engine.close()  # type: ignore[attr-defined]


def held_engines(open_engine: Callable[..., object], gate: Gate) -> Callable[..., HeldEngine]:
    """A TUI `open_engine` service whose engines' streams pass through `gate`."""

    def open_held(path: Path, *args: object, **options: object) -> HeldEngine:
        return HeldEngine(open_engine(path, *args, **options), gate)

    return open_held

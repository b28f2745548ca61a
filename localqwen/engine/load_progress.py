"""How far llama.cpp has come loading a model (0 to 1), for faces that show a long load.

llama.cpp calls the model parameters' `progress_callback` as it reads the tensors, which
is most of a big load; llama-cpp-python's `Llama` has no argument for it, so it goes in
as a params hook (`weights.ParamsHook`). Whoever waits on a load says how to hear of it
with `reporting(fn)` around the call that loads (the TUI's load worker): the loader is
reached through `launch`'s planned sides, and those should not each carry a callback.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import llama_cpp

Report = Callable[[float], None]
_report: ContextVar[Report | None] = ContextVar("localqwen_load_report", default=None)


@contextlib.contextmanager
def reporting(report: Report) -> Iterator[None]:
    """Loads made in this block (this thread) tell `report` how far they are."""
    token = _report.set(report)
    try:
        yield
    finally:
        _report.reset(token)


class LoadProgress:
    def __init__(self, report: Report) -> None:
        self.report = report
        self._callback = llama_cpp.llama_progress_callback(self._called)  # alive as long as this object

    def _called(self, fraction: float, _user_data: ctypes.c_void_p) -> bool:
        try:
            self.report(min(max(float(fraction), 0.0), 1.0))
        except Exception:  # noqa: BLE001 - nothing may raise into llama.cpp's C++
            pass
        return True  # False would abort the load

    def install(self, params: llama_cpp.llama_model_params) -> None:
        params.progress_callback = self._callback


def current() -> LoadProgress | None:
    """The progress hook for a load made now, if someone is listening."""
    report = _report.get()
    return LoadProgress(report) if report is not None else None

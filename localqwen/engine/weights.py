"""One copy of a GGUF's weights per process, however many contexts run over it.

`serve` without `--fim-model` runs completions on a second context over the chat
model's file. llama-cpp-python's `Llama` loads its own model each time: on the CPU the
mmap shares the pages, but the file was parsed twice (a second start-up) and on a GPU
the weights went to the card twice, while the plan keeps room for a second context only.
llama.cpp lets any number of contexts share one `llama_model`; this lends the loaded
model to every `Llama` opened over the same file with the same model parameters, and
frees it when the last of them is closed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import llama_cpp
import llama_cpp._internals as internals


class ParamsHook(Protocol):
    """Something llama-cpp-python's `Llama` has no argument for, set on the model's
    parameters just before llama.cpp loads it (tensor overrides, a progress callback)."""

    def install(self, params: llama_cpp.llama_model_params) -> None: ...


@dataclass
class _Held:
    model: internals.LlamaModel
    users: int
    hooks: Sequence[ParamsHook] = ()  # kept alive with the model llama.cpp loaded with them


_lock = threading.Lock()  # also guards the swap of llama-cpp-python's model class below
_held: dict[Hashable, _Held] = {}


def open_llama(key: Hashable, make: Callable[[], llama_cpp.Llama], hooks: Sequence[ParamsHook] = ()) -> llama_cpp.Llama:
    """`make()` a `Llama`; if one over the same weights (`key`) is open, its model is lent
    instead of loading the file again. A model loaded here loads with `hooks` installed in
    its parameters (`key` must tell apart loads whose hooks place tensors differently).
    Close the `Llama`, then `release(key)`."""
    with _lock:
        held = _held.get(key)
        if held is None:
            with _installing(hooks):
                llm = make()
            # A model frees itself, and every context over it, when a `Llama` closes it:
            # from now on that happens here, when its last user is gone.
            llm._model.close = lambda: None
            _held[key] = _Held(llm._model, 1, tuple(hooks))
            return llm
        with _lending(held.model):
            llm = make()
        held.users += 1
        return llm


def release(key: Hashable) -> None:
    """One user of these weights is closed; the last one frees them."""
    with _lock:
        held = _held.get(key)
        if held is None:
            return
        held.users -= 1
        if held.users == 0:
            del _held[key]
            held.model._exit_stack.close()  # contexts still open first (none, if all were closed), then the model


def users(key: Hashable) -> int:
    with _lock:
        held = _held.get(key)
        return 0 if held is None else held.users


@contextlib.contextmanager
def _installing(hooks: Sequence[ParamsHook]) -> Iterator[None]:
    """While a `Llama` is made, its model loads with `hooks` installed in its parameters,
    and without llama-cpp-python's quiet mode. That mode points the process's stdout and
    stderr (fds 1 and 2) at /dev/null for the whole load, and so hid every frame the TUI
    drew meanwhile: its loading line froze at "0 s". llama.cpp's own log still goes
    through llama-cpp-python's log callback, which the `Llama`'s `verbose` keeps to errors."""
    original = internals.LlamaModel

    def load(*, path_model: str, params: llama_cpp.llama_model_params, verbose: bool = True) -> internals.LlamaModel:
        for hook in hooks:
            hook.install(params)
        return original(path_model=path_model, params=params, verbose=True)  # True: no fd redirect

    internals.LlamaModel = load  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        internals.LlamaModel = original  # type: ignore[misc]


@contextlib.contextmanager
def _lending(model: internals.LlamaModel) -> Iterator[None]:
    """While a `Llama` is made, its "load the model" hands over this one (whose own
    close does nothing: `open_llama` took that over)."""
    original = internals.LlamaModel
    internals.LlamaModel = lambda **_: model  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        internals.LlamaModel = original  # type: ignore[misc]

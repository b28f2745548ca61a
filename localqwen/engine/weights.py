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
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import llama_cpp
import llama_cpp._internals as internals

from localqwen.engine.tensor_overrides import CpuOverrides


@dataclass
class _Held:
    model: internals.LlamaModel
    users: int
    overrides: CpuOverrides | None = None  # kept alive with the model llama.cpp loaded with them


_lock = threading.Lock()  # also guards the swap of llama-cpp-python's model class below
_held: dict[Hashable, _Held] = {}


def open_llama(key: Hashable, make: Callable[[], llama_cpp.Llama],
               overrides: CpuOverrides | None = None) -> llama_cpp.Llama:
    """`make()` a `Llama`; if one over the same weights (`key`) is open, its model is lent
    instead of loading the file again. A model loaded here places the tensors `overrides`
    names in RAM (`key` must tell such a load apart). Close the `Llama`, then `release(key)`."""
    with _lock:
        held = _held.get(key)
        if held is None:
            if overrides is None or not overrides.patterns:
                llm = make()
            else:
                with _overriding(overrides):
                    llm = make()
            # A model frees itself, and every context over it, when a `Llama` closes it:
            # from now on that happens here, when its last user is gone.
            llm._model.close = lambda: None
            _held[key] = _Held(llm._model, 1, overrides)
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
def _overriding(overrides: CpuOverrides) -> Iterator[None]:
    """While a `Llama` is made, its model loads with `overrides` in its parameters
    (`Llama` has no argument for them)."""
    original = internals.LlamaModel

    def load(*, path_model: str, params: llama_cpp.llama_model_params, verbose: bool = True) -> internals.LlamaModel:
        overrides.install(params)
        return original(path_model=path_model, params=params, verbose=verbose)

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

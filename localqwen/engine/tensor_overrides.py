"""MoE expert tensors kept in RAM while the rest of the model goes to the GPU.

llama.cpp's `--n-cpu-moe N`: the expert FFN tensors (`blk.I.ffn_{gate,up,down}_exps`) of
the first N layers get the CPU buffer type, everything else goes where `n_gpu_layers`
sends it. Only ~3 B of a 30B-A3B's parameters are read per token, so a model several
times larger than the card runs at a good share of its full-GPU speed.

llama-cpp-python's `Llama` has no argument for it: its `llama_model_params` declares
`tensor_buft_overrides` as an untyped pointer ("unused"). llama.cpp reads it as a
NULL-terminated array of {regex pattern, buffer type}; the CPU buffer type comes from
`ggml_backend_cpu_buffer_type`, exported by the ggml-base library llama-cpp-python
ships. All of that ctypes work is here, and `tests/test_moe.py` loads a real MoE GGUF
through it and reads llama.cpp's own log, so an upgrade that moves a field fails there.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

import llama_cpp

from localqwen.catalog.gguf_header import EXPERTS_REGEX
from localqwen.engine.build import ggml_library


def expert_patterns(n_layers: int) -> tuple[str, ...]:
    """One pattern per layer 0..n_layers-1, as `--n-cpu-moe N` writes them; the escaped dot
    after the number keeps layer 1's pattern off layer 10."""
    return tuple(rf"blk\.{i}{EXPERTS_REGEX}" for i in range(n_layers))


class _Override(ctypes.Structure):
    """`struct llama_model_tensor_buft_override` (include/llama.h)."""

    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


@functools.cache
def cpu_buffer_type() -> int:
    """The address of ggml's CPU buffer type, the one llama.cpp compares overrides with."""
    fn = ggml_library("ggml-base").ggml_backend_cpu_buffer_type
    fn.restype = ctypes.c_void_p
    fn.argtypes = []
    address = fn()
    if not address:
        raise RuntimeError("ggml_backend_cpu_buffer_type returned NULL")
    return address


class CpuOverrides:
    """A NULL-terminated override array for `patterns`, every one to the CPU buffer type.

    Keep the object alive as long as llama.cpp may read the array (the model's load)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._encoded = [p.encode() for p in self.patterns]
        self._array = (_Override * (len(self._encoded) + 1))()
        for slot, pattern in zip(self._array, self._encoded):  # no patterns: ggml's library is not even looked up
            slot.pattern = pattern
            slot.buft = cpu_buffer_type()
        # the last slot stays zeroed: pattern NULL ends the list

    def install(self, params: llama_cpp.llama_model_params) -> None:
        """Point `params` at the array (an empty list installs nothing)."""
        if self.patterns:
            params.tensor_buft_overrides = ctypes.cast(self._array, ctypes.c_void_p).value

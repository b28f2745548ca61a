"""What the installed llama.cpp build can do. Importing this loads llama.cpp's library.

Row split (`--split-mode row`) needs a backend that exports `ggml_backend_split_buffer_type`.
CUDA's did until llama.cpp replaced it with `--split-mode tensor`; the llama.cpp that
llama-cpp-python 0.3.36 vendors asks for it and throws "does not support split buffers"
when it is missing, so the plan asks here instead of finding out at load time.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

import llama_cpp


@dataclass(frozen=True)
class Backend:
    name: str  # "CPU", "CUDA", ...
    row_split: bool  # exports ggml_backend_split_buffer_type


def ggml_library(stem: str) -> ctypes.CDLL:
    """One of the ggml libraries llama-cpp-python ships (the process already has it loaded);
    libllama itself where a build links ggml into it."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    for name in (f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
        if (lib_dir / name).exists():
            return ctypes.CDLL(str(lib_dir / name))
    return llama_cpp.llama_cpp._lib


@functools.cache
def _ggml() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """libggml (the registry) and libggml-base (backends, devices), their calls declared, and
    every backend a dynamic build loads registered."""
    ggml, base = ggml_library("ggml"), ggml_library("ggml-base")
    for lib, name, args, result in (
        (ggml, "ggml_backend_reg_count", [], ctypes.c_size_t),
        (ggml, "ggml_backend_reg_get", [ctypes.c_size_t], ctypes.c_void_p),
        (ggml, "ggml_backend_dev_count", [], ctypes.c_size_t),
        (ggml, "ggml_backend_dev_get", [ctypes.c_size_t], ctypes.c_void_p),
        (base, "ggml_backend_reg_name", [ctypes.c_void_p], ctypes.c_char_p),
        (base, "ggml_backend_reg_get_proc_address", [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_void_p),
        (base, "ggml_backend_dev_type", [ctypes.c_void_p], ctypes.c_int),
    ):
        call = getattr(lib, name)
        call.argtypes, call.restype = args, result
    llama_cpp.llama_backend_init()
    return ggml, base


@functools.cache
def backends() -> tuple[Backend, ...]:
    """Every backend this llama.cpp registered, and whether it can split rows."""
    ggml, base = _ggml()
    found = []
    for i in range(ggml.ggml_backend_reg_count()):
        reg = ggml.ggml_backend_reg_get(i)
        split = base.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_split_buffer_type")
        found.append(Backend(base.ggml_backend_reg_name(reg).decode(), bool(split)))
    return tuple(found)


GPU_DEVICE = 1  # ggml_backend_dev_type's GGML_BACKEND_DEVICE_TYPE_GPU


def gpu_device(index: int) -> int | None:
    """The `index`-th GPU llama.cpp lists, the card `main_gpu` names, as a ggml device (a
    pointer for a C call); None where there is no such card (a CPU build has none)."""
    ggml, base = _ggml()
    devices = (ggml.ggml_backend_dev_get(i) for i in range(ggml.ggml_backend_dev_count()))
    gpus = [device for device in devices if base.ggml_backend_dev_type(device) == GPU_DEVICE]
    return gpus[index] if 0 <= index < len(gpus) else None


def row_split() -> bool:
    """Can this llama.cpp split rows across cards (`--split-mode row`)?"""
    return any(b.row_split for b in backends())


def reads_images() -> bool:
    """Was this llama-cpp-python built with mtmd, llama.cpp's multimodal library (not with
    -DLLAVA_BUILD=OFF)? Without it vision models chat as text models."""
    try:
        importlib.import_module("llama_cpp.mtmd_cpp")  # loads libmtmd
    except (ImportError, OSError):
        return False
    return True


def build_info() -> dict[str, object]:
    return {
        "llama_cpp_version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "backends": [b.name for b in backends()],
        "row_split": row_split(),
        "reads_images": reads_images(),
    }

"""What the installed llama.cpp build can do. Importing this loads llama.cpp's library."""

from __future__ import annotations

import llama_cpp


def build_info() -> dict[str, object]:
    return {
        "llama_cpp_version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
    }

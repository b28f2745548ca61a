"""Where a build would run, judged by its file size alone: for listing many Hub repos at
once (`localqwen search`), where reading every header to plan each exactly would fetch
megabytes a repo. `localqwen plan` and `pull` plan from the header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from localqwen.catalog.types import Build
from localqwen.hardware.types import Hardware

ROOM = 1.2
"""Weights take this share of what a build needs, the rest going to a modest context and
llama.cpp's compute buffers."""
Where = Literal["GPU", "GPU+RAM", "RAM"]
_ORDER: tuple[Where, ...] = ("GPU", "GPU+RAM", "RAM")


def where_it_fits(size_bytes: int, hw: Hardware) -> Where | None:
    need = size_bytes * ROOM
    offload = bool(hw.gpus) and hw.gpu_offload is not False
    if offload and need <= hw.total_vram_bytes:
        return "GPU"
    if offload and need <= hw.total_vram_bytes + hw.ram_available_bytes:
        return "GPU+RAM"
    if need <= hw.ram_available_bytes:
        return "RAM"
    return None


def best_by_size(builds: Sequence[Build], hw: Hardware) -> tuple[Build, Where] | None:
    """The largest build in the best place any fits (all on the GPUs, else split with
    RAM, else RAM): the most quality that place holds."""
    placed = [(b, where_it_fits(b.size_bytes, hw)) for b in builds if b.format == "gguf"]
    for where in _ORDER:
        here = [b for b, w in placed if w == where]
        if here:
            return max(here, key=lambda b: b.size_bytes), where
    return None

"""What a machine has, as plain data: detected live or read from a hardware profile.

No I/O here, so `plan` can import it and stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LinkKind = Literal["nvlink", "pcie"]


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    bandwidth_gbs: float | None = None  # memory bandwidth, GB/s (1e9 bytes)
    compute_capability: tuple[int, int] | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None


@dataclass(frozen=True)
class Link:
    """A connection between two GPUs (by index)."""

    a: int
    b: int
    kind: LinkKind
    bandwidth_gbs: float | None = None


@dataclass(frozen=True)
class Hardware:
    name: str
    gpus: tuple[Gpu, ...]
    ram_total_bytes: int
    ram_available_bytes: int
    cpu_cores: int  # physical cores: llama.cpp's generation threads
    links: tuple[Link, ...] = ()
    ram_bandwidth_gbs: float | None = None  # for CPU decode speed estimates
    gpu_offload: bool | None = None  # can the installed llama.cpp use a GPU? None: unknown
    # Can it split rows across cards (`--split-mode row`)? The llama.cpp we ship cannot: its
    # CUDA backend dropped split buffers for `--split-mode tensor`. False: split by layers.
    row_split: bool = False
    vllm_available: bool = False
    cpu_threads: int | None = None  # logical CPUs this process may use (batch threads); None: cpu_cores
    source: Literal["detected", "profile"] = "detected"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def logical_cpus(self) -> int:
        return self.cpu_threads or self.cpu_cores

    @property
    def total_vram_bytes(self) -> int:
        return sum(gpu.total_bytes for gpu in self.gpus)

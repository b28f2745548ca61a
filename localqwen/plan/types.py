"""What the plan says about one build on one machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from localqwen.catalog.types import Build, ModelSpec
from localqwen.hardware.types import Hardware
from localqwen.plan.placement import Placement

Verdict = Literal["fits", "partial", "needs_vllm", "needs_gpu", "too_big"]
VERDICT_ORDER: dict[str, int] = {"fits": 0, "needs_vllm": 1, "partial": 2, "needs_gpu": 3, "too_big": 4}
VERDICT_STYLE: dict[str, str] = {"fits": "green", "partial": "yellow", "needs_vllm": "cyan", "needs_gpu": "magenta",
                                 "too_big": "red"}
CANNOT_RUN = frozenset({"needs_gpu", "too_big"})
"""Verdicts with no placement on this machine: "needs_gpu" is an AWQ build (vLLM) where
there is no NVIDIA GPU, whatever the memory; "too_big" is memory."""
"""The colour (a Rich/Textual style name) every face shows a verdict in, so the CLI and the TUI agree."""


def cpu_text(hw: Hardware) -> str:
    """The CPUs in the words every face uses: "8 cores, 16 threads"."""
    cores = f"{hw.cpu_cores} core{'s' if hw.cpu_cores != 1 else ''}"
    return cores if hw.logical_cpus == hw.cpu_cores else f"{cores}, {hw.logical_cpus} threads"


def threads_text(p: Placement) -> str:
    """llama.cpp's thread counts for a placement: "threads 8 (prompts 16)"."""
    if p.n_threads is None:
        return "threads: llama.cpp's choice"
    batch = p.n_threads_batch or p.n_threads
    return f"threads {p.n_threads}" + (f" (prompts {batch})" if batch != p.n_threads else "")


@dataclass(frozen=True)
class DeviceUse:
    """What the plan puts on one GPU; `index` is the card's (`Gpu.index`), what faces match it by."""

    name: str
    bytes: int
    capacity_bytes: int
    index: int


@dataclass(frozen=True)
class Candidate:
    model: ModelSpec
    build: Build
    verdict: Verdict
    placement: Placement | None
    devices: tuple[DeviceUse, ...] = ()
    host_bytes: int = 0
    est_decode_tok_s: float | None = None
    note: str = ""
    text_only: bool = False
    """A vision build planned without room for its image projector: it chats, sees nothing."""

    @property
    def n_ctx(self) -> int | None:
        return self.placement.n_ctx if self.placement else None

    @property
    def ram_share(self) -> float:
        """Share of the model's memory in system RAM (partial offload)."""
        gpu = sum(d.bytes for d in self.devices)
        total = gpu + self.host_bytes
        return self.host_bytes / total if total else 0.0

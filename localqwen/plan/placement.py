"""How a model is laid out on this machine: what the plan produces and the engine loads.

The plan's output type, so it lives in `plan`; `engine` imports it (plan has no I/O,
so importing it costs the engine nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SplitMode = Literal["none", "layer", "row", "tensor"]
KvType = Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"]

SPLIT_MODES: tuple[str, ...] = ("none", "layer", "row", "tensor")
KV_TYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")
UNQUANTIZED_KV: frozenset[str] = frozenset({"f32", "f16", "bf16"})
N_UBATCH = 512
"""llama.cpp's micro-batch: the compute buffer the plan charges is sized for it, and the
engine loads with it (never above `n_batch`), so estimate and load use one number."""
MIN_CTX = 16


@dataclass(frozen=True)
class Placement:
    """One model's layout: layers on GPU, how they split across cards, context and KV cache.

    `n_gpu_layers=-1` means every layer; `tensor_split` holds one share per card
    (any scale, llama.cpp normalises); `n_threads` generates tokens, `n_threads_batch`
    evaluates prompts (None: this machine's physical cores / logical CPUs);
    `n_ubatch` is the micro-batch the compute buffer is sized for (llama.cpp uses at
    most `n_batch` of it); `n_cpu_moe` keeps the expert tensors of the first N layers
    in RAM while the rest of those layers is on the GPU (llama.cpp's `--n-cpu-moe N`).
    """

    n_gpu_layers: int = -1
    split_mode: SplitMode = "layer"
    tensor_split: tuple[float, ...] = field(default_factory=tuple)
    main_gpu: int = 0
    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = N_UBATCH
    type_k: KvType = "f16"
    type_v: KvType = "f16"
    flash_attn: bool = False
    n_threads: int | None = None
    n_threads_batch: int | None = None
    n_cpu_moe: int = 0
    image_max_tokens: int = 0
    """A vision model: the most tokens one image may become (llama.cpp scales a larger
    picture down to it); 0: the projector's own limit."""
    projector_gpu: int | None = 0
    """A vision model: the card its projector runs on (counted there by the plan); None: in
    RAM, on the CPU."""

    def __post_init__(self) -> None:
        if self.split_mode not in SPLIT_MODES:
            raise ValueError(f"split_mode {self.split_mode!r} is not one of {', '.join(SPLIT_MODES)}")
        for name in ("type_k", "type_v"):
            if getattr(self, name) not in KV_TYPES:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {', '.join(KV_TYPES)}")
        if self.type_v not in UNQUANTIZED_KV and not self.flash_attn:
            raise ValueError(f"a quantized V cache ({self.type_v}) needs flash_attn=True in llama.cpp")
        if self.n_ctx < MIN_CTX:
            raise ValueError(f"n_ctx {self.n_ctx} is too small (at least {MIN_CTX})")
        if self.n_batch < 1:
            raise ValueError(f"n_batch {self.n_batch} must be at least 1")
        for name in ("n_threads", "n_threads_batch"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)} must be at least 1")
        if self.n_cpu_moe < 0:
            raise ValueError(f"n_cpu_moe {self.n_cpu_moe} must not be negative")
        if self.image_max_tokens < 0:
            raise ValueError(f"image_max_tokens {self.image_max_tokens} must not be negative")
        if self.n_ubatch < 1:
            raise ValueError(f"n_ubatch {self.n_ubatch} must be at least 1")
        if any(share < 0 for share in self.tensor_split):
            raise ValueError("tensor_split shares must not be negative")

"""How a model is laid out on this machine: what the plan produces and the engine loads.

It lives outside both `plan` and `engine` so that each imports it without importing
the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SplitMode = Literal["none", "layer", "row", "tensor"]
KvType = Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"]

SPLIT_MODES: tuple[str, ...] = ("none", "layer", "row", "tensor")
KV_TYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")
UNQUANTIZED_KV: frozenset[str] = frozenset({"f32", "f16", "bf16"})
MIN_N_CTX = 16
"""The smallest context a placement accepts; the CLI's `--ctx` flags take their minimum from it."""


@dataclass(frozen=True)
class Placement:
    """One model's layout: layers on GPU, how they split across cards, context and KV cache.

    `n_gpu_layers=-1` means every layer; `tensor_split` holds one share per card
    (any scale, llama.cpp normalises); `n_threads=None` lets llama.cpp choose.
    """

    n_gpu_layers: int = -1
    split_mode: SplitMode = "layer"
    tensor_split: tuple[float, ...] = field(default_factory=tuple)
    main_gpu: int = 0
    n_ctx: int = 4096
    n_batch: int = 512
    type_k: KvType = "f16"
    type_v: KvType = "f16"
    flash_attn: bool = False
    n_threads: int | None = None

    def __post_init__(self) -> None:
        if self.split_mode not in SPLIT_MODES:
            raise ValueError(f"split_mode {self.split_mode!r} is not one of {', '.join(SPLIT_MODES)}")
        for name in ("type_k", "type_v"):
            if getattr(self, name) not in KV_TYPES:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {', '.join(KV_TYPES)}")
        if self.type_v not in UNQUANTIZED_KV and not self.flash_attn:
            raise ValueError(f"a quantized V cache ({self.type_v}) needs flash_attn=True in llama.cpp")
        if self.n_ctx < MIN_N_CTX:
            raise ValueError(f"n_ctx {self.n_ctx} is too small (at least {MIN_N_CTX})")
        if self.n_batch < 1:
            raise ValueError(f"n_batch {self.n_batch} must be at least 1")
        if any(share < 0 for share in self.tensor_split):
            raise ValueError("tensor_split shares must not be negative")

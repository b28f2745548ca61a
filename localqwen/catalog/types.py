"""The catalog as plain data: models, their architecture numbers, their builds. No I/O."""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Literal

Format = Literal["gguf", "awq", "fp8", "bf16"]
FORMATS: tuple[str, ...] = ("gguf", "awq", "fp8", "bf16")
VLLM_FORMATS = ("awq", "fp8", "bf16")
"""Safetensors checkpoints (AWQ-INT4, FP8, BF16) that run on vLLM, which downloads them."""
ThinkingMode = Literal["hybrid", "template", "always", "never"]
THINKING_MODES: tuple[str, ...] = ("hybrid", "template", "always", "never")
"""How a model thinks. hybrid: Qwen3 (April 2025): on by default, `enable_thinking` or
`/think` / `/no_think` in a message switch it. template: Qwen3.5/3.6: on by default,
only the template's `enable_thinking` switches it (the soft switches are just text to
them). always: a -Thinking-2507 model, whose template opens `<think>` every turn.
never: Instruct-2507, Qwen2.5, the coders."""


@dataclass(frozen=True)
class ArchNumbers:
    """What the memory estimate needs from a model's architecture."""

    layers: int
    attention_layers: int  # layers that keep a KV cache; fewer than `layers` in hybrid models
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    vocab: int
    experts: int = 0
    experts_active: int = 0

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        return self.attention_layers * self.kv_heads * self.head_dim * 2 * bytes_per_element


@dataclass(frozen=True)
class Vision:
    """How a vision-language model sees: its images go through a vision encoder and
    projector (the "mmproj" GGUF, loaded beside the text model by llama.cpp's mtmd) and
    become tokens in the text model's context, one per `patch * merge` pixels square
    (Qwen2.5-VL: 14 x 2 = 28; Qwen3-VL: 16 x 2 = 32), at most `max_image_tokens` an image
    (llama.cpp's default for Qwen-VL projectors, clip.cpp `set_limit_image_tokens(8, 4096)`)."""

    patch: int
    merge: int = 2
    max_image_tokens: int = 4096

    def image_tokens(self, width: int, height: int, max_tokens: int | None = None) -> int:
        """Tokens an image of width x height pixels costs: llama.cpp resizes it, keeping its
        shape, to whole blocks of `patch * merge` pixels, at least MIN_IMAGE_TOKENS and at
        most `max_tokens` of them (None: `max_image_tokens`), as mtmd-image.cpp's
        calc_size_preserved_ratio does; the +2: the start and end markers around it."""
        side = self.patch * self.merge
        least, most = MIN_IMAGE_TOKENS * side * side, (max_tokens or self.max_image_tokens) * side * side
        w, h = max(side, _round_half_up(width / side) * side), max(side, _round_half_up(height / side) * side)
        if w * h > most:
            beta = math.sqrt(width * height / most)
            w, h = max(side, math.floor(width / beta / side) * side), max(side, math.floor(height / beta / side) * side)
        elif w * h < least:
            beta = math.sqrt(least / (width * height))
            w, h = math.ceil(width * beta / side) * side, math.ceil(height * beta / side) * side
        return (w // side) * (h // side) + 2


MIN_IMAGE_TOKENS = 8
"""llama.cpp's least for a Qwen-VL image (clip.cpp `set_limit_image_tokens(8, 4096)`): a small
picture is scaled up to it."""


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)  # C's std::round on positive numbers (Python's round() rounds half to even)


@dataclass(frozen=True)
class SamplingPreset:
    temperature: float
    top_p: float
    top_k: int
    min_p: float = 0.0
    presence_penalty: float = 0.0


@dataclass(frozen=True)
class Build:
    quant: str
    format: Format
    repo: str
    files: tuple[str, ...]
    size_bytes: int
    expert_bytes: int = 0
    """Of `size_bytes`, the routed MoE experts' (0: not known; the plan estimates it). The
    tensors a GPU with too little memory leaves in RAM first."""
    mmproj: str = ""
    """A vision model's projector file in `repo` ("" for text models)."""
    mmproj_bytes: int = 0

    @property
    def runtime(self) -> str:
        return "vllm" if self.format in VLLM_FORMATS else "llama.cpp"

    @property
    def community(self) -> bool:
        """Uploaded by someone other than Qwen (unsloth, a person's AWQ quantisation): their
        conversion and quantisation, which a person may want to know before trusting it."""
        return self.repo.split("/", 1)[0].lower() != "qwen"

    @property
    def source_text(self) -> str:
        """'unsloth/Qwen3-8B-GGUF (community upload)' or 'Qwen/Qwen3-8B-GGUF (Qwen's own)'."""
        who = "community upload" if self.community else "Qwen's own"
        return f"{self.repo} ({who})"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    family: str
    context: int
    thinking: bool
    fim: bool
    params_b: float
    active_params_b: float
    arch: ArchNumbers
    builds: tuple[Build, ...] = ()
    sampling: dict[str, SamplingPreset] = field(default_factory=dict)
    source: str = ""
    thinking_mode: ThinkingMode = "hybrid"
    thinking_default: bool = True  # hybrid and template models: thinks when nothing switches it (Qwen3.5-0.8B: not)
    architecture: str = ""  # the GGUF's general.architecture (qwen3moe, qwen35, ...); "" not known
    vision: Vision | None = None  # a vision-language model: how its images become tokens

    def __post_init__(self) -> None:
        if self.thinking_mode not in THINKING_MODES:
            raise ValueError(f"{self.id}: thinking_mode should be one of {', '.join(THINKING_MODES)}, not {self.thinking_mode!r}")
        if (self.thinking_mode == "never") == self.thinking:
            raise ValueError(f"{self.id}: thinking = {str(self.thinking).lower()} contradicts thinking_mode {self.thinking_mode!r}")

    def build(self, quant: str) -> Build | None:
        wanted = quant.lower()
        return next((b for b in self.builds if b.quant.lower() == wanted), None)

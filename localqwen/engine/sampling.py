"""Qwen's published sampling presets, and each catalog model's own (its card's) where it has them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localqwen.catalog.types import ModelSpec, SamplingPreset
from localqwen.engine.types import Sampling


@dataclass(frozen=True)
class Presets:
    thinking: Sampling
    non_thinking: Sampling
    fim: Sampling

    def for_chat(self, thinking: bool) -> Sampling:
        return self.thinking if thinking else self.non_thinking


QWEN_PRESETS = Presets(
    thinking=Sampling(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0),
    non_thinking=Sampling(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, presence_penalty=1.5),
    # Editors want the likeliest completion, the same for the same context.
    fim=Sampling(temperature=0.0, top_p=1.0, top_k=1),
)


def _sampling(preset: SamplingPreset) -> Sampling:
    return Sampling(temperature=preset.temperature, top_p=preset.top_p, top_k=preset.top_k,
                    min_p=preset.min_p, presence_penalty=preset.presence_penalty)


def presets_for(model: ModelSpec | None, base: Presets = QWEN_PRESETS) -> Presets:
    """The chat presets `model`'s card gives; a model with one mode (a coder) uses it for both.

    Modes the catalog leaves out, and FIM (editors want the likeliest completion), come from `base`.
    """
    if model is None:
        return base
    thinking = model.sampling.get("thinking") or model.sampling.get("non_thinking")
    non_thinking = model.sampling.get("non_thinking") or model.sampling.get("thinking")
    return Presets(
        thinking=_sampling(thinking) if thinking else base.thinking,
        non_thinking=_sampling(non_thinking) if non_thinking else base.non_thinking,
        fim=base.fim,
    )


def catalog_model_for(path: str | Path, header_name: str | None) -> ModelSpec | None:
    """The catalog model a GGUF about to load is (a catalog build, or the model its header
    names); None: neither, or a catalog that cannot be read (its own commands report it)."""
    from localqwen.catalog.loader import load_catalog
    from localqwen.errors import LocalQwenError

    try:
        return load_catalog().for_gguf(path, header_name)
    except LocalQwenError:
        return None

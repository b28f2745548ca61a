"""Qwen's published sampling presets; a model profile may carry its own."""

from __future__ import annotations

from dataclasses import dataclass

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

"""Response bodies in the shapes clients parse: llama.cpp's result object and its timings."""

from __future__ import annotations

from dataclasses import dataclass

from localqwen.engine.types import GenerationStats

LLAMA_STOP_TYPES = {"eos": "eos", "stop": "word", "length": "limit", "prefill": "limit",
                    "prompt_timeout": "limit", "cancelled": "none", None: "none"}
OPENAI_FINISH = {"eos": "stop", "stop": "stop", "length": "length", "prefill": "length",
                 "prompt_timeout": "length", "cancelled": "stop", None: "stop"}


@dataclass
class Outcome:
    text: str
    stats: GenerationStats
    guard_stopped: bool
    has_new_line: bool
    stops: list[str]

    @property
    def stop_type(self) -> str:
        return "limit" if self.guard_stopped else LLAMA_STOP_TYPES.get(self.stats.stop_reason, "none")

    @property
    def finish_reason(self) -> str:
        return "stop" if self.guard_stopped else OPENAI_FINISH.get(self.stats.stop_reason, "stop")


def _per(n: int, ms: float) -> tuple[float, float]:
    per_token_ms = ms / n if n else 0.0
    per_second = 1000.0 * n / ms if ms > 0 else 0.0
    return per_token_ms, per_second


def timings(stats: GenerationStats) -> dict[str, float]:
    prompt_per_token, prompt_per_s = _per(stats.evaluated_n, stats.prompt_ms)
    predicted_per_token, predicted_per_s = _per(stats.predicted_n, stats.predicted_ms)
    return {
        "cache_n": stats.cached_n,
        "prompt_n": stats.evaluated_n,
        "prompt_ms": round(stats.prompt_ms, 3),
        "prompt_per_token_ms": round(prompt_per_token, 3),
        "prompt_per_second": round(prompt_per_s, 2),
        "predicted_n": stats.predicted_n,
        "predicted_ms": round(stats.predicted_ms, 3),
        "predicted_per_token_ms": round(predicted_per_token, 3),
        "predicted_per_second": round(predicted_per_s, 2),
    }


def llama_result(outcome: Outcome, *, model: str, index: int = 0, id_slot: int = -1) -> dict[str, object]:
    stats = outcome.stats
    return {
        "index": index,
        "content": outcome.text,
        "id_slot": max(id_slot, 0),
        "stop": True,
        "model": model,
        "tokens_predicted": stats.predicted_n,
        "tokens_evaluated": stats.prompt_n,
        "tokens_cached": stats.cached_n,
        "truncated": stats.truncated,
        "has_new_line": outcome.has_new_line,
        "stop_type": outcome.stop_type,
        "stopping_word": outcome.stops[0] if stats.stop_reason == "stop" and len(outcome.stops) == 1 else "",
        "timings": timings(stats),
    }


def flatten_fields(result: dict[str, object], fields: list[str]) -> dict[str, object]:
    """llama.cpp's `response_fields`: only these, keyed by their literal path ("timings/prompt_n")."""
    flat: dict[str, object] = {}
    for path in fields:
        value: object = result
        for key in path.split("/"):
            if not isinstance(value, dict) or key not in value:
                break
            value = value[key]
        else:
            flat[path] = value
    return flat

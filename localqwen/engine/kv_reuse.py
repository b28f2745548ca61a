"""Reuse a shifted chunk of the KV cache when text before it went away (llama.cpp's `--cache-reuse`).

A FIM prefix window (fim.PREFIX_CAP) loses its first line when the cursor moves down
one; deleting a line above the cursor leaves everything after it in the cache, only at
positions a few tokens too far right. Either way the chunk is moved left instead of
evaluated again. The moved keys are re-rotated (RoPE) exactly, but they were computed
with the old text before them, so the result is an approximation, as llama.cpp's FIM
preset accepts it (`--cache-reuse 256`, the completion side's default here).

Insertions cannot be served this way: llama.cpp (as bundled with llama-cpp-python
0.3.36) requires every new batch to continue after the last cached position, so new
tokens can never be placed before a kept chunk. Typing needs none of this: the cursor's
line comes last in a FIM prompt (fim.py), so a keystroke only changes the tail.
Pure planning over token lists; the engine carries the plan out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ShiftPlan:
    common: int  # the unchanged prefix, reused as it is
    src: int  # the chunk's start in the cache; it moves to `common`
    length: int

    @property
    def reused(self) -> int:
        return self.common + self.length


def plan_shift(cache: Sequence[int], new: Sequence[int], common: int, min_chunk: int) -> ShiftPlan | None:
    """After `common`, the new prompt continues with a later part of the cache (text was
    deleted): find that chunk, at least `min_chunk` long. The last prompt token is always
    left to evaluate, so sampling gets fresh logits."""
    last = len(new) - 1
    if min_chunk <= 0 or last - common < min_chunk:
        return None
    head = new[common]
    for src in range(common + 1, len(cache) - min_chunk + 1):
        if cache[src] != head:
            continue
        length = 0
        while common + length < last and src + length < len(cache) and cache[src + length] == new[common + length]:
            length += 1
        if length >= min_chunk:
            return ShiftPlan(common, src, length)
    return None

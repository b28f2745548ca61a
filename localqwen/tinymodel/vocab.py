"""A small byte-level BPE vocabulary shaped like Qwen's.

256 byte tokens in GPT-2's byte-to-unicode alphabet, merges learnt from a short
built-in corpus (so ordinary words tokenize into a few tokens, as with a real
model), then Qwen's special tokens with Qwen's token types: control tokens for
the chat and FIM markers, user-defined (always parsed, always printed) for
`<think>` and `</think>`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import gguf

CONTROL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
USER_DEFINED_TOKENS = ("<think>", "</think>")
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")
"""Qwen-VL's image markers: llama.cpp's mtmd wraps an image's embeddings in the first two."""
FIM_TOKENS = frozenset(t for t in CONTROL_TOKENS if t.startswith(("<|fim_", "<|repo_name", "<|file_sep")))

CORPUS = """
def main():
    return hello world
import os
import sys
class Model:
    def __init__(self, name):
        self.name = name
for item in items:
    if item is None:
        continue
    print(item)
the quick brown fox jumps over the lazy dog
you are a helpful assistant. the answer is that the model runs on the machine.
hello, how are you? i am fine, thank you. what is the weather like today?
"""


@lru_cache(maxsize=1)
def byte_alphabet() -> tuple[str, ...]:
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = 256 + extra
            extra += 1
    return tuple(chr(mapping[b]) for b in range(256))


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """The inverse of `byte_alphabet`: character to byte value."""
    return {ch: b for b, ch in enumerate(byte_alphabet())}


def _learn_merges(corpus: str, n_merges: int) -> list[tuple[str, str]]:
    alphabet = byte_alphabet()
    words = Counter()
    for raw in corpus.replace("\n", " \n").split(" "):
        if raw:
            words[tuple(alphabet[b] for b in (" " + raw).encode())] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        # Highest count first; ties broken by the pair itself so the result is stable.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


@dataclass(frozen=True)
class Vocab:
    tokens: tuple[str, ...]
    types: tuple[int, ...]
    merges: tuple[str, ...]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A dict, not `tokens.index`: a Qwen-sized vocabulary has 151,936 tokens.
        object.__setattr__(self, "_ids", {text: i for i, text in enumerate(self.tokens)})

    def id_of(self, text: str) -> int:
        return self._ids[text]

    def is_printable_text(self, token_id: int) -> bool:
        """A normal token whose bytes are plain printable ASCII (what the tiny model may emit)."""
        if self.types[token_id] != gguf.TokenType.NORMAL:
            return False
        decoder = byte_decoder()
        return all(32 <= decoder[ch] < 127 for ch in self.tokens[token_id])


@lru_cache(maxsize=4)
def build_vocab(n_merges: int = 200, *, fim_tokens: bool = True, vision_tokens: bool = False) -> Vocab:
    """`fim_tokens=False` leaves out the FIM markers: a chat-only model. `vision_tokens`
    adds Qwen-VL's image markers, last, so the other models' ids and weights stay as they were."""
    merges = _learn_merges(CORPUS, n_merges)
    tokens = list(byte_alphabet())
    seen = set(tokens)
    for left, right in merges:
        if left + right not in seen:
            tokens.append(left + right)
            seen.add(left + right)
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    for text in CONTROL_TOKENS:
        if not fim_tokens and text in FIM_TOKENS:
            continue
        tokens.append(text)
        types.append(int(gguf.TokenType.CONTROL))
    for text in USER_DEFINED_TOKENS:
        tokens.append(text)
        types.append(int(gguf.TokenType.USER_DEFINED))
    for text in VISION_TOKENS if vision_tokens else ():
        tokens.append(text)
        types.append(int(gguf.TokenType.CONTROL))
    return Vocab(tuple(tokens), tuple(types), tuple(f"{a} {b}" for a, b in merges))

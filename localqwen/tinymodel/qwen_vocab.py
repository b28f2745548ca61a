"""A byte-level BPE vocabulary the size and shape of Qwen2.5's and Qwen3's.

151,936 tokens, laid out as in a real Qwen GGUF:

- ids 0..255: the 256 byte tokens (GPT-2's byte-to-unicode alphabet);
- ids 256..151642: one token per merge, 151,387 merges, so 151,643 normal tokens;
- ids 151643..151668: Qwen's special tokens at their real ids, with the token
  types llama.cpp's converter gives them (CONTROL for `<|...|>`, USER_DEFINED for
  the tags Qwen does not mark special: `<tool_call>`, `<think>`, ...);
- ids 151669..151935: `[PAD<id>]` tokens of type UNUSED, as the converter pads
  the vocabulary to the embedding matrix's rows.

Each merge appends one byte character to an existing token, so both halves of
`"A B"` are tokens and the merge makes the token `AB`: valid BPE that
llama.cpp's tokenizer accepts and applies to any text. Which tokens: best first
by a byte bigram model of the built-in corpus's words (split as the
pre-tokenizer splits them, with their leading space), so that ordinary words
are one or a few tokens, as with a real vocabulary. (Breadth first would spend
65,536 merges on every two-byte pair and stop at three bytes.) A token always
ranks after its prefix, because its score is its prefix's times a probability.
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import gguf

from localqwen.tinymodel.vocab import CORPUS, FIM_TOKENS, Vocab, byte_alphabet

QWEN_VOCAB_SIZE = 151_936
QWEN_N_MERGES = 151_387

_C, _U = int(gguf.TokenType.CONTROL), int(gguf.TokenType.USER_DEFINED)
# From 151643 on, in id order. Up to `<|file_sep|>` (151664) as in a real
# Qwen2.5-Coder GGUF; Qwen3 adds the last four.
QWEN_SPECIAL_TOKENS: tuple[tuple[str, int], ...] = (
    ("<|endoftext|>", _C),
    ("<|im_start|>", _C),
    ("<|im_end|>", _C),
    ("<|object_ref_start|>", _C),
    ("<|object_ref_end|>", _C),
    ("<|box_start|>", _C),
    ("<|box_end|>", _C),
    ("<|quad_start|>", _C),
    ("<|quad_end|>", _C),
    ("<|vision_start|>", _C),
    ("<|vision_end|>", _C),
    ("<|vision_pad|>", _C),
    ("<|image_pad|>", _C),
    ("<|video_pad|>", _C),
    ("<tool_call>", _U),
    ("</tool_call>", _U),
    ("<|fim_prefix|>", _C),
    ("<|fim_middle|>", _C),
    ("<|fim_suffix|>", _C),
    ("<|fim_pad|>", _C),
    ("<|repo_name|>", _C),
    ("<|file_sep|>", _C),
    ("<tool_response>", _U),
    ("</tool_response>", _U),
    ("<think>", _U),
    ("</think>", _U),
)

# Add-`SMOOTHING` counts: every byte pair stays possible, the corpus's pairs come first.
SMOOTHING = 0.01


def _corpus_words() -> list[bytes]:
    """The corpus split into words with their leading space, as `_learn_merges` splits it."""
    return [(" " + raw).encode() for raw in CORPUS.replace("\n", " \n").split(" ") if raw]


def _bigram_model() -> tuple[list[float], list[list[float]]]:
    """P(first byte) and P(next byte | byte) over the corpus's words, smoothed."""
    unigram = [SMOOTHING] * 256
    bigram = [[SMOOTHING] * 256 for _ in range(256)]
    for word in _corpus_words():
        for b in word:
            unigram[b] += 1
        for a, b in zip(word, word[1:]):
            bigram[a][b] += 1
    total = sum(unigram)
    rows = [sum(row) for row in bigram]
    return [c / total for c in unigram], [[c / rows[a] for c in bigram[a]] for a in range(256)]


@lru_cache(maxsize=1)
def qwen_merges(n_merges: int = QWEN_N_MERGES) -> tuple[tuple[str, str], ...]:
    """`n_merges` merges `(token, byte character)`, most probable new token first.

    Every token keeps one entry in a heap: its best extension not yet taken. Popping
    one adds a token, advances its parent to the next byte and gives the new token
    its own entry, so the work is O(n log n).
    """
    alphabet = byte_alphabet()
    p_first, p_next = _bigram_model()
    order = [sorted(range(256), key=lambda b, row=row: (-row[b], b)) for row in p_next]
    # (-score of the extension, token, its last byte, index into order[last], score of the token)
    heap = [(-p_first[b] * p_next[b][order[b][0]], alphabet[b], b, 0, p_first[b]) for b in range(256)]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        neg_score, token, last, k, score = heapq.heappop(heap)
        b = order[last][k]
        merges.append((token, alphabet[b]))
        if k + 1 < 256:
            heapq.heappush(heap, (-score * p_next[last][order[last][k + 1]], token, last, k + 1, score))
        heapq.heappush(heap, (neg_score * p_next[b][order[b][0]], token + alphabet[b], b, 0, -neg_score))
    return tuple(merges)


def build_qwen_vocab(*, fim_tokens: bool = True) -> Vocab:
    """`fim_tokens=False` turns the FIM markers into padding: a chat-only model."""
    return _build_qwen_vocab(fim_tokens)  # one cache entry per variant, however it is called


@lru_cache(maxsize=2)
def _build_qwen_vocab(fim_tokens: bool) -> Vocab:
    merges = qwen_merges()
    tokens = list(byte_alphabet()) + [left + right for left, right in merges]
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    for text, token_type in QWEN_SPECIAL_TOKENS:
        if not fim_tokens and text in FIM_TOKENS:
            text, token_type = f"[PAD{len(tokens)}]", int(gguf.TokenType.UNUSED)
        tokens.append(text)
        types.append(token_type)
    for token_id in range(len(tokens), QWEN_VOCAB_SIZE):
        tokens.append(f"[PAD{token_id}]")
        types.append(int(gguf.TokenType.UNUSED))
    assert len(set(tokens)) == len(tokens), "a generated token spells a special or padding token"
    return Vocab(tuple(tokens), tuple(types), tuple(f"{a} {b}" for a, b in merges))

"""The decode loop's pieces in llama.cpp's own terms: its sampler chain, a one-token
batch, and each token's text and end-of-generation flag looked up once.

llama-cpp-python's `Llama.generate` costs a few hundred microseconds of Python a
token (a new batch filled field by field, a cache-trim call, bookkeeping) on top of
the decode itself: on a 0.5B model that is several percent of the rate llama.cpp's
own server reaches. These keep the per-token work to one sample and one decode call.
"""

from __future__ import annotations

import bisect
import ctypes

import llama_cpp
import numpy as np

from localqwen.engine.errors import BackendError, GrammarError
from localqwen.engine.types import Sampling

PENALTY_LAST_N = 64  # llama.cpp's default `--repeat-last-n`
_ENDS = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL


class SamplerChain:
    """One request's sampler chain: penalties, top-k, top-p, min-p, temperature, a seeded
    draw (greedy at temperature 0), as llama-cpp-python built it, so answers stay the same."""

    def __init__(self, sampling: Sampling, seed: int, vocab: llama_cpp.llama_vocab_p) -> None:
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        add = lambda sampler: llama_cpp.llama_sampler_chain_add(self._chain, sampler)  # noqa: E731
        if sampling.grammar is not None:  # first: every later sampler sees only what the grammar allows
            add(grammar_sampler(vocab, sampling.grammar))
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        add(llama_cpp.llama_sampler_init_penalties(
            n_vocab, PENALTY_LAST_N, sampling.repeat_penalty, 0.0, sampling.presence_penalty
        ))
        if sampling.temperature == 0:
            add(llama_cpp.llama_sampler_init_greedy())
            return
        add(llama_cpp.llama_sampler_init_top_k(sampling.top_k))
        add(llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
        add(llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
        add(llama_cpp.llama_sampler_init_temp(sampling.temperature))
        add(llama_cpp.llama_sampler_init_dist(seed))

    def sample(self, ctx: llama_cpp.llama_context_p) -> int:
        """The next token from the last logits; the chain records it (penalties)."""
        return llama_cpp.llama_sampler_sample(self._chain, ctx, -1)

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None

    def __enter__(self) -> "SamplerChain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grammar_sampler(vocab: llama_cpp.llama_vocab_p, grammar: str) -> llama_cpp.llama_sampler_p:
    """llama.cpp's grammar sampler; a grammar it cannot parse is a GrammarError."""
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        raise GrammarError("llama.cpp could not parse the grammar (GBNF with a `root` rule is expected)")
    return sampler


class OneToken:
    """A batch of one token, allocated once per engine and reused for every decode step."""

    def __init__(self) -> None:
        self._batch = llama_cpp.llama_batch_init(1, 0, 1)
        self._batch.n_tokens = 1
        self._batch.n_seq_id[0] = 1
        self._batch.seq_id[0][0] = 0
        self._batch.logits[0] = 1

    def decode(self, ctx: llama_cpp.llama_context_p, token: int, pos: int) -> None:
        self._batch.token[0] = token
        self._batch.pos[0] = pos
        code = llama_cpp.llama_decode(ctx, self._batch)
        if code != 0:
            raise BackendError(f"llama.cpp could not decode a token (llama_decode returned {code})")

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None


class Vocabulary:
    """Each generated token's bytes and whether it ends generation, asked of llama.cpp once."""

    def __init__(self, vocab: llama_cpp.llama_vocab_p) -> None:
        self._vocab = vocab
        self._pieces: dict[int, bytes] = {}
        self._ends: dict[int, bool] = {}
        self._buffer = ctypes.create_string_buffer(64)
        self._n = llama_cpp.llama_vocab_n_tokens(vocab)
        self._sorted: tuple[list[bytes], np.ndarray] | None = None

    def starting_with(self, text: bytes) -> np.ndarray:
        """The ids of every token whose text begins with `text` (control tokens have none).

        The vocabulary's texts are sorted once (about a second for Qwen's 151,936), after
        which each lookup is two binary searches."""
        if self._sorted is None:
            ordered = sorted((self.piece(token), token) for token in range(self._n))
            self._sorted = [piece for piece, _ in ordered], np.array([token for _, token in ordered], dtype=np.int64)
        texts, ids = self._sorted
        return ids[bisect.bisect_left(texts, text):bisect.bisect_left(texts, _after_all_starting_with(text))]

    def allow_only(self, ctx: llama_cpp.llama_context_p, tokens: np.ndarray) -> None:
        """Make every token but these impossible in the last logits, before sampling."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(self._n,))
        kept = logits[tokens]
        logits.fill(-np.inf)
        logits[tokens] = kept

    def piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
            if n < 0:  # longer than the buffer: llama.cpp says how long
                self._buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
            piece = self._pieces[token] = self._buffer.raw[:n]
        return piece

    def ends_generation(self, token: int) -> bool:
        """End-of-generation tokens, and any control token (a template's marker, never text)."""
        ends = self._ends.get(token)
        if ends is None:
            ends = self._ends[token] = bool(
                llama_cpp.llama_vocab_is_eog(self._vocab, token)
                or llama_cpp.llama_vocab_get_attr(self._vocab, token) & _ENDS
            )
        return ends


def _after_all_starting_with(text: bytes) -> bytes:
    """The least bytes string above every string that begins with `text` (b"\\xff" * 999
    when there is none: no token is that long)."""
    stripped = text.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else b"\xff" * 999

"""Fill-in-the-middle prompts built from the vocabulary's own FIM tokens.

Layout (Qwen2.5-Coder's repo-level format, as llama.cpp's server builds it):
`<|repo_name|>REPO\\n<|file_sep|>FILE\\nTEXT…<|file_sep|>FILE\\n<|fim_prefix|>PREFIX<|fim_suffix|>SUFFIX<|fim_middle|>`.
Context from other files goes first so it stays in the KV cache while a person types.
Pure functions over token lists: the tokenizer is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from localqwen.engine.types import ExtraChunk, FimTokens
from localqwen.engine.errors import PromptTooLongError

FIM_TEXTS = {
    "prefix": "<|fim_prefix|>",
    "suffix": "<|fim_suffix|>",
    "middle": "<|fim_middle|>",
    "pad": "<|fim_pad|>",
    "repo_name": "<|repo_name|>",
    "file_sep": "<|file_sep|>",
}
FIM_METADATA_KEYS = {
    "prefix": "tokenizer.ggml.fim_pre_token_id",
    "suffix": "tokenizer.ggml.fim_suf_token_id",
    "middle": "tokenizer.ggml.fim_mid_token_id",
    "pad": "tokenizer.ggml.fim_pad_token_id",
    "repo_name": "tokenizer.ggml.fim_rep_token_id",
    "file_sep": "tokenizer.ggml.fim_sep_token_id",
}
# Share of the room left for the cursor's file that goes to the text before the cursor.
PREFIX_SHARE = 0.75
SUFFIX_CAP = 256
"""Tokens for the cursor's line and the suffix after it, with their two markers, as
llama.cpp's FIM preset keeps them (a quarter of its 1024 batch; the suffix gets what the
line leaves). Qwen's FIM is prefix-suffix-middle only, so every keystroke evaluates these
again: their length is what a keystroke costs, and the lines nearest the cursor are the
ones that shape the completion."""
PREFIX_CAP = 768
"""Tokens kept from the lines before the cursor's line, as llama.cpp's FIM preset keeps
them (three quarters of its batch). Every token kept is attended to by each suffix token
evaluated again and each token generated, on every keystroke. The cursor's line is
tokenized on its own after this window, so typing in it never moves the window; moving
to another line moves it by a line, which the completion context's cache reuse shifts
rather than evaluates again (see kv_reuse.py)."""


def find_fim_tokens(
    metadata: Mapping[str, str], special_token_id: Callable[[str], int | None]
) -> FimTokens | None:
    """FIM ids from GGUF metadata; failing that, from the vocabulary by their text.

    Many GGUFs in the wild lack the `fim_*_token_id` keys although the vocabulary
    holds the tokens. `special_token_id(text)` returns the id of a single special
    token spelled `text`, or None.
    """
    ids: dict[str, int | None] = {}
    for role, key in FIM_METADATA_KEYS.items():
        raw = metadata.get(key)
        ids[role] = int(raw) if raw not in (None, "", "-1") else None
    source = "metadata"
    if None in (ids["prefix"], ids["suffix"], ids["middle"]):
        source = "vocab"
        ids = {role: special_token_id(text) for role, text in FIM_TEXTS.items()}
        if None in (ids["prefix"], ids["suffix"], ids["middle"]):
            return None
    else:
        for role in ("pad", "repo_name", "file_sep"):
            if ids[role] is None:
                ids[role] = special_token_id(FIM_TEXTS[role])
    return FimTokens(
        prefix=ids["prefix"],  # type: ignore[arg-type]
        suffix=ids["suffix"],  # type: ignore[arg-type]
        middle=ids["middle"],  # type: ignore[arg-type]
        pad=ids["pad"],
        repo_name=ids["repo_name"],
        file_sep=ids["file_sep"],
        source=source,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class FimPrompt:
    tokens: list[int]
    truncated: bool
    extra_used: int
    extra_dropped: int
    cursor_line_at: int
    """Where the cursor's line starts: what follows it (the line, the suffix) changes with
    every keystroke; what comes before stays cached while a person types."""


def split_cursor_line(prefix: str) -> tuple[str, str]:
    """(the lines before the cursor's line, that line up to the cursor). Editors send
    them so (llama.vim's `input_prefix` and `prompt`); a prefix in one piece is cut at
    its last newline, where Qwen's pre-tokenizer splits anyway."""
    cut = prefix.rfind("\n") + 1
    return prefix[:cut], prefix[cut:]


@dataclass(frozen=True)
class _Context:
    """Other files before the cursor's file, each tokenized once: the repo header, one
    piece per extra chunk (oldest first), the cursor's file header."""

    head: list[int]
    chunks: list[list[int]]
    tail: list[int]

    def tokens(self, dropped: int) -> list[int]:
        """Without the `dropped` oldest chunks; nothing at all once every chunk is gone."""
        kept = self.chunks[dropped:]
        return self.head + [t for chunk in kept for t in chunk] + self.tail if kept else []


def _context(
    tokenize: Callable[[str], list[int]],
    fim: FimTokens,
    extra: Sequence[ExtraChunk],
    repo_name: str,
    filename: str,
) -> _Context:
    if not extra or fim.file_sep is None:
        return _Context([], [], [])
    head = [fim.repo_name] + tokenize(repo_name + "\n") if fim.repo_name is not None else []
    chunks = [[fim.file_sep] + tokenize(f"{chunk.filename}\n{chunk.text}") for chunk in extra]
    return _Context(head, chunks, [fim.file_sep] + tokenize(f"{filename}\n"))


def build_fim_prompt(
    tokenize: Callable[[str], list[int]],
    fim: FimTokens,
    prefix: str,
    suffix: str,
    *,
    budget: int,
    extra: Sequence[ExtraChunk] = (),
    repo_name: str = "project",
    filename: str = "file",
    prefix_cap: int | None = PREFIX_CAP,
    suffix_cap: int | None = SUFFIX_CAP,
) -> FimPrompt:
    """Build the FIM prompt in at most `budget` tokens.

    The lines before the cursor's line keep their last `prefix_cap` tokens, the suffix
    its first `suffix_cap` less the cursor's line and two markers (None: all). Too long:
    the oldest extra chunks go first, then the far ends of prefix and suffix (about 3:1),
    keeping the text nearest the cursor.
    """
    lines, line = split_cursor_line(prefix)
    before = tokenize(lines)
    if prefix_cap is not None:
        before = before[max(0, len(before) - prefix_cap):]
    line_ids = tokenize(line)
    prefix_ids = before + line_ids
    suffix_ids = tokenize(suffix)
    if suffix_cap is not None:
        suffix_ids = suffix_ids[: max(0, suffix_cap - 2 - len(line_ids))]
    markers = 3
    context = _context(tokenize, fim, extra, repo_name, filename)
    # Drop the oldest chunks while the cursor's file does not fit beside the context
    # (a running total: each chunk is tokenized once, however many there are).
    context_len = len(context.head) + sum(map(len, context.chunks)) + len(context.tail)
    dropped = 0
    while dropped < len(context.chunks) and context_len + markers + len(prefix_ids) + len(suffix_ids) > budget:
        context_len -= len(context.chunks[dropped])
        dropped += 1
    context_tokens = context.tokens(dropped)
    context_len = len(context_tokens)

    room = budget - markers - context_len
    if room < 1:
        raise PromptTooLongError(
            f"a FIM prompt needs at least {markers + context_len + 1} tokens but only {budget} fit the context"
        )
    truncated = dropped > 0
    if len(prefix_ids) + len(suffix_ids) > room:
        truncated = True
        keep_suffix = min(len(suffix_ids), room - int(room * PREFIX_SHARE))
        keep_prefix = min(len(prefix_ids), room - keep_suffix)
        keep_suffix = min(len(suffix_ids), room - keep_prefix)
        prefix_ids = prefix_ids[len(prefix_ids) - keep_prefix:]
        suffix_ids = suffix_ids[:keep_suffix]

    tokens = context_tokens + [fim.prefix, *prefix_ids, fim.suffix, *suffix_ids, fim.middle]
    line_at = len(tokens) - 2 - len(suffix_ids) - min(len(line_ids), len(prefix_ids))
    return FimPrompt(tokens=tokens, truncated=truncated, extra_used=len(context.chunks) - dropped,
                     extra_dropped=dropped, cursor_line_at=line_at)

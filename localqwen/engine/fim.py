"""Fill-in-the-middle prompts built from the vocabulary's own FIM tokens.

Layout (Qwen2.5-Coder's repo-level format):
`<|repo_name|>REPO\n<|file_sep|>FILE\nTEXT…<|file_sep|>FILE\n<|fim_prefix|>LINES<|fim_suffix|>SUFFIX<|fim_middle|>LINE`,
where LINES are the lines before the cursor's line and LINE is that line up to the cursor.
Context from other files goes first so it stays in the KV cache while a person types.

llama.cpp's server puts LINE at the end of the prefix instead, so every keystroke changes
what comes before the suffix and the whole suffix is evaluated again (Qwen knows only
prefix-suffix-middle order). Here LINE opens the middle: the model is asked for the
middle from the start of the line, of which it is given the beginning, which is the same
question, and a keystroke evaluates only what was typed. Both layouts answer held-out
lines alike (bench/fim_quality.py).
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
"""Tokens for the suffix with its two markers, as llama.cpp's FIM preset keeps them (a
quarter of its 1024 batch, where the cursor's line must fit too). The lines nearest the
cursor are the ones that shape the completion; the suffix is evaluated again each time
the cursor moves to another line."""
PREFIX_CAP = 768
"""Tokens kept from the lines before the cursor's line, as llama.cpp's FIM preset keeps
them (three quarters of its batch). Every token kept is attended to by each token
evaluated after it and each token generated. Typing in a line never moves this window;
moving to another line moves it by a line, which the completion context's cache reuse
shifts rather than evaluates again (see kv_reuse.py)."""


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
    suffix_at: int
    """Where the suffix marker is: the suffix and the cursor's line after it are what the
    completion depends on most, so a time limit may cut the prompt only before here."""
    heal: int | None = None
    """The cursor's line's last token, left out of `tokens`. A word typed half way ends
    in a token the model never saw followed by the rest of that word (training text was
    tokenized whole), so it would start a new word instead: the first token generated
    must begin with this one's text, and that text is not part of the answer."""


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
    heal: bool = True,
) -> FimPrompt:
    """Build the FIM prompt in at most `budget` tokens.

    The lines before the cursor's line keep their last `prefix_cap` tokens, the suffix
    its first `suffix_cap` less two markers (None: all). Too long: the oldest extra chunks
    go first, then the far ends of the lines before and the suffix (about 3:1), keeping
    the text nearest the cursor; the cursor's line goes last, its last token left for
    the answer to heal (`FimPrompt.heal`) unless `heal` is False.
    """
    lines, line = split_cursor_line(prefix)
    before = tokenize(lines)
    if prefix_cap is not None:
        before = before[max(0, len(before) - prefix_cap):]
    line_ids = tokenize(line)
    suffix_ids = tokenize(suffix)
    if suffix_cap is not None:
        suffix_ids = suffix_ids[: max(0, suffix_cap - 2)]
    markers = 3
    context = _context(tokenize, fim, extra, repo_name, filename)
    # Drop the oldest chunks while the cursor's file does not fit beside the context
    # (a running total: each chunk is tokenized once, however many there are).
    file_len = markers + len(before) + len(line_ids) + len(suffix_ids)
    context_len = len(context.head) + sum(map(len, context.chunks)) + len(context.tail)
    dropped = 0
    while dropped < len(context.chunks) and context_len + file_len > budget:
        context_len -= len(context.chunks[dropped])
        dropped += 1
    context_tokens = context.tokens(dropped)

    room = budget - markers - len(context_tokens)
    if room < 1:
        raise PromptTooLongError(
            f"a FIM prompt needs at least {markers + len(context_tokens) + 1} tokens but only {budget} fit the context"
        )
    truncated = dropped > 0
    if len(line_ids) > room:
        truncated = True
        line_ids = line_ids[len(line_ids) - room:]
    room -= len(line_ids)
    if len(before) + len(suffix_ids) > room:
        truncated = True
        keep_suffix = min(len(suffix_ids), room - int(room * PREFIX_SHARE))
        keep_before = min(len(before), room - keep_suffix)
        keep_suffix = min(len(suffix_ids), room - keep_before)
        before = before[len(before) - keep_before:]
        suffix_ids = suffix_ids[:keep_suffix]

    healed = line_ids.pop() if heal and line_ids else None
    head = context_tokens + [fim.prefix, *before]
    tokens = head + [fim.suffix, *suffix_ids, fim.middle, *line_ids]
    return FimPrompt(tokens=tokens, truncated=truncated, extra_used=len(context.chunks) - dropped,
                     extra_dropped=dropped, suffix_at=len(head), heal=healed)

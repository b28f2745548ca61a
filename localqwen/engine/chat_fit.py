"""Fit a conversation into the loaded context: one rule for every chat face (the TUI, the REPL).

The rule: keep a leading system message and the latest message; leave out the oldest
exchange (a question and its answer) until the prompt leaves room for the reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from localqwen.engine.backend import Backend
from localqwen.engine.errors import PromptTooLongError
from localqwen.engine.stream import Stream
from localqwen.engine.types import ChatMessage

MIN_REPLY_ROOM = 64  # tokens a prompt must leave free for the answer


def open_chat(
    engine: Backend, messages: Sequence[ChatMessage], *, thinking: bool | None, max_tokens: int | None
) -> tuple[Stream, int]:
    """Start the reply to the last message, leaving out the oldest exchanges where the context is short.

    Returns the stream and how many earlier messages were left out (never the system
    message). Raises `PromptTooLongError` when the last message alone does not fit.
    """
    n_ctx = engine.info.n_ctx
    room = min(MIN_REPLY_ROOM, n_ctx // 4) if max_tokens is None else min(max_tokens, n_ctx // 4)
    system = list(messages[:1]) if messages and messages[0].role == "system" else []
    kept = list(messages[len(system):])
    dropped = 0
    while True:
        prompt_n = None
        try:
            stream = engine.chat(system + kept, thinking=thinking, max_tokens=max_tokens)
            prompt_n = len(stream.prompt_tokens)
            if prompt_n + room <= n_ctx:
                return stream, dropped
            stream.close()
        except PromptTooLongError:
            pass
        if len(kept) <= 1:
            size = f"{prompt_n} tokens" if prompt_n else "more tokens than the context holds"
            raise PromptTooLongError(
                f"the message is too long: with the chat template it is {size}; the context holds {n_ctx}",
                fix="shorten it, or load the model with a larger context",
            )
        n = 2 if len(kept) > 2 else 1  # the oldest exchange: a question and its answer
        del kept[:n]
        dropped += n

"""The one interface the faces (CLI, TUI, server) speak to: llama.cpp, a remote server, vLLM.

Everything the server and the faces use is here, so a third backend written to it
works. There is no "stop whatever runs": each request is a `Stream` with its own
`cancel()`, and whoever started a stream decides when it is stale (the server's host
cancels the completion a newer one replaces; the TUI's Esc cancels its own answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from localqwen.engine.sampling import Presets
from localqwen.engine.stream import Stream
from localqwen.engine.types import ChatMessage, ExtraChunk, Image, ModelInfo, Sampling, ToolUse


class Backend(Protocol):
    info: ModelInfo
    """Name, context length, FIM tokens: what the server reports and checks requests against."""
    presets: Presets
    """The sampling presets the routes start from (thinking, non-thinking, FIM)."""

    @property
    def busy(self) -> bool:
        """A stream is running on it now."""
        ...

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        thinking: bool | None = None,
        sampling: Sampling | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        tools: ToolUse | None = None,
    ) -> Stream:
        """`tools`: OpenAI function tools offered to the model, and whether a call is
        required; its calls come back as text in the template's own form (engine/tool_calls.py
        reads them). A message's `images` are read where the model can see (`info.vision`),
        refused where not."""
        ...

    def fim(
        self,
        prefix: str,
        suffix: str,
        *,
        extra: Sequence[ExtraChunk] = (),
        repo_name: str = "project",
        filename: str = "file",
        max_tokens: int = 128,
        sampling: Sampling | None = None,
        stop: Sequence[str] = (),
    ) -> Stream: ...

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        stop: Sequence[str] = (),
        images: Sequence[Image] = (),
    ) -> Stream:
        """A raw prompt; each MEDIA_MARKER in it is where the next of `images` goes."""
        ...

    def close(self) -> None:
        """Stop its streams and free it; it is not used afterwards."""
        ...

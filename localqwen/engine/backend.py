"""The one interface the faces (CLI, TUI, server) speak to; llama.cpp implements it now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from localqwen.engine.stream import Stream
from localqwen.engine.types import ChatMessage, ExtraChunk, ModelInfo, Sampling


class Backend(Protocol):
    info: ModelInfo

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        thinking: bool | None = None,
        sampling: Sampling | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Stream: ...

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
    ) -> Stream: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...

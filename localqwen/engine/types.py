"""Plain data that crosses the engine's boundary: messages, sampling, deltas, stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant", "tool"]
DeltaKind = Literal["reasoning", "content"]
StopReason = Literal["eos", "stop", "length", "cancelled", "prefill", "prompt_timeout"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str
    """A JSON object as text, as OpenAI's API carries it."""
    id: str = ""


@dataclass(frozen=True)
class ToolUse:
    """The tools a chat offers and what the request asks of them, as OpenAI's fields say it:
    a local model is held to it by a grammar, a remote server is asked in the same words."""

    tools: tuple[dict, ...] = ()
    choice: str = "auto"
    """Whether to call: "auto" (the model decides), "required" (one call at least), or the
    name of the one function to call."""
    parallel: bool = True
    """More than one call in an answer (`parallel_tool_calls`)."""

    @property
    def forced(self) -> bool:
        """The answer is calls and nothing else."""
        return bool(self.tools) and self.choice != "auto"


MEDIA_MARKER = "<__media__>"
"""Where an image sits in a message's content (llama.cpp mtmd's marker): one per image."""


@dataclass(frozen=True)
class Image:
    """An image file sent with a message, as its bytes (PNG, JPEG, GIF or BMP)."""

    data: bytes = field(repr=False)
    name: str = "image"
    """How an error names it: a path, `messages[0].content[1]`."""


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant turn's calls, rendered back through the template with their results."""
    tool_call_id: str | None = None
    """A tool turn: the call it answers."""
    images: tuple[Image, ...] = ()
    """The images `content` shows, in order, each where a MEDIA_MARKER is."""


def message_with_images(role: Role, parts: Sequence[str | Image]) -> ChatMessage:
    """One message from text and images in the order a person gave them. The marker is
    taken out of the text, so typing it cannot make an image of nothing."""
    images = tuple(part for part in parts if isinstance(part, Image))
    content = "".join(MEDIA_MARKER if isinstance(part, Image) else part.replace(MEDIA_MARKER, "") for part in parts)
    return ChatMessage(role, content, images=images)



@dataclass(frozen=True)
class Sampling:
    """Sampler settings for one request. temperature 0 means greedy."""

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.0
    presence_penalty: float = 0.0
    repeat_penalty: float = 1.0
    seed: int | None = None
    grammar: str | None = None  # GBNF the answer must follow (structured output); None: free text

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")


GREEDY = Sampling(temperature=0.0, top_p=1.0, top_k=1)


@dataclass(frozen=True)
class Delta:
    """A piece of streamed output, either thinking (`reasoning`) or the answer (`content`)."""

    kind: DeltaKind
    text: str


@dataclass
class GenerationStats:
    """What one request cost; `cached_n` prompt tokens were reused from the KV cache."""

    prompt_n: int = 0
    cached_n: int = 0
    left_n: int = 0  # prompt tokens not evaluated: the prompt was cut short (time limit, cancel)
    read_n: int = 0  # prompt tokens in the cache so far, while it is read: how far a long prompt has come
    predicted_n: int = 0
    prompt_ms: float = 0.0
    predicted_ms: float = 0.0
    stop_reason: StopReason | None = None
    truncated: bool = False

    @property
    def evaluated_n(self) -> int:
        return self.prompt_n - self.cached_n - self.left_n


@dataclass(frozen=True)
class FimTokens:
    """Ids of the FIM markers, and where we found them (GGUF metadata or vocabulary text)."""

    prefix: int
    suffix: int
    middle: int
    pad: int | None = None
    repo_name: int | None = None
    file_sep: int | None = None
    source: Literal["metadata", "vocab"] = "metadata"


@dataclass(frozen=True)
class ModelInfo:
    path: str
    name: str
    architecture: str
    n_ctx: int
    n_ctx_train: int
    n_vocab: int
    chat_template: str | None
    fim: FimTokens | None
    metadata: dict[str, str] = field(default_factory=dict, repr=False)
    n_threads: int | None = None  # llama.cpp's, as the context runs them; None: a remote server
    n_threads_batch: int | None = None
    thinking_mode: str = "hybrid"  # catalog/types.py THINKING_MODES; a remote server's: not known, so Qwen3's
    thinking_default: bool = True
    tool_form: str | None = None
    """How the answer writes tool calls ("json" or "xml") where the template cannot tell: a
    remote server's calls come back rewritten in Qwen's JSON form. None: read the template."""
    vision: bool = False
    """It reads images sent with a message (a projector is loaded, or the remote server can)."""

    @property
    def supports_fim(self) -> bool:
        return self.fim is not None


@dataclass(frozen=True)
class ExtraChunk:
    """Context from another file, placed before the cursor's file in a FIM prompt."""

    filename: str
    text: str

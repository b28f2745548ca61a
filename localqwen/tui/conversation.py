"""A chat's logic without the screen: streaming in batches, code blocks, the status line.

Fitting the conversation into the context is `engine.chat_fit`, the rule the REPL uses too.

No Textual here; the chat screen's worker calls these and turns what they report
into messages.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from localqwen.engine.chat_template import SOFT_SWITCH
from localqwen.engine.stream import Stream
from localqwen.engine.types import ChatMessage, GenerationStats, message_with_images
from localqwen.tui.history import Turn

FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
FLUSH_SECONDS = 1 / 30  # how often streamed text reaches the screen at most


def messages_for(turns: Sequence[Turn]) -> list[ChatMessage]:
    """The conversation for the engine; a restored turn's images (names only) are not sent."""
    return [message_with_images(t.role, [*(image for image in t.images if image.data), t.content]) if t.images
            else ChatMessage(t.role, t.content) for t in turns]


def thinking_for(text: str, toggle: bool) -> bool | None:
    """None lets `/think` or `/no_think` in the message decide; otherwise the toggle does."""
    return None if SOFT_SWITCH.search(text) else toggle


class Stopper:
    """Esc's link to this chat's own stream: it cancels that stream only, never another
    request on the same engine (the Server screen's clients), even if Esc comes first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self.stopped = False

    def attach(self, stream: Stream) -> None:
        with self._lock:
            self._stream = stream
            stopped = self.stopped
        if stopped:
            stream.cancel()

    def stop(self) -> None:
        with self._lock:
            self.stopped, stream = True, self._stream
        if stream is not None:
            stream.cancel()

    @property
    def stream(self) -> Stream | None:
        """The stream, once the worker has opened it: its stats say how far the prompt is read."""
        return self._stream


@dataclass(frozen=True)
class Reply:
    reasoning: str
    content: str
    stats: GenerationStats


def stream_reply(
    stream: Stream,
    emit: Callable[[str, str, int, float], object],
    cancelled: Callable[[], bool],
    *,
    flush_seconds: float = FLUSH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Reply:
    """Run `stream` to its end, handing text to `emit(kind, text, tokens, seconds)`: the
    tokens and seconds since the first token, so their ratio is the decode rate (counting
    from the request showed the prompt's time as slow decoding: 1.6 tok/s live, 19.6 at the end).

    The first piece goes out at once; later ones at most every `flush_seconds`, so a
    fast model does not flood the screen with one message per token. `cancelled()`
    is asked after every token; once true the stream is cancelled and ends within
    one more token.
    """
    parts: dict[str, list[str]] = {"reasoning": [], "content": []}
    pending: list[str] = []
    pending_kind = ""
    first_at, first_n = 0.0, 0
    last = float("-inf")

    def flush() -> None:
        nonlocal pending, last
        if pending:
            last = clock()
            emit(pending_kind, "".join(pending), stream.stats.predicted_n - first_n, last - first_at)
            pending = []

    try:
        for delta in stream:
            if not first_n:
                first_at, first_n = clock(), stream.stats.predicted_n
            if cancelled():
                stream.cancel()
            parts[delta.kind].append(delta.text)
            if pending and delta.kind != pending_kind:
                flush()
            pending_kind = delta.kind
            pending.append(delta.text)
            if clock() - last >= flush_seconds:
                flush()
        flush()
    finally:
        stream.close()
    return Reply("".join(parts["reasoning"]), "".join(parts["content"]), stream.stats)


def last_code_block(text: str) -> str | None:
    """The body of the last fenced code block in Markdown `text`."""
    blocks = FENCE.findall(text)
    return blocks[-1][1] if blocks else None


def status_line(
    model: str,
    loading: bool,
    n_ctx: int | None,
    used: int | None,
    speed: float | None,
    *,
    thinking: bool | None,
    generating: bool,
    reading: tuple[int, int] | None = None,
    loading_s: float | None = None,
    loaded_share: float | None = None,
) -> str:
    """'tiny · ctx 218/4,096 (5%) · 52.3 tok/s · thinking on', short enough for 80 columns;
    `thinking` None: a model without a thinking mode, nothing said of it. `reading`: (read,
    all) of a prompt still being read; `loading_s`: how long the model has been loading,
    `loaded_share`: how much of it llama.cpp has read."""
    if loading:
        share = f" {100 * loaded_share:.0f}%" if loaded_share is not None else ""
        waited = f"{' ·' if share else ''} {loading_s:.0f} s" if loading_s is not None else ""
        parts = [f"loading {model}…{share}{waited}"]
    else:
        parts = [model or "no model loaded"]
    if n_ctx is not None and not loading:
        parts.append(f"ctx —/{n_ctx:,}" if used is None else f"ctx {used:,}/{n_ctx:,} ({100 * used // n_ctx}%)")
        parts.append("— tok/s" if not speed else f"{speed:.0f} tok/s" if speed >= 100 else f"{speed:.1f} tok/s")
    if thinking is not None:
        parts.append(f"thinking {'on' if thinking else 'off'}")
    if generating:
        parts.append(f"reading the prompt {reading[0]:,}/{reading[1]:,}…" if reading else "answering…")
    return " · ".join(parts)


def speed_of(stats: GenerationStats) -> float | None:
    if stats.predicted_n == 0 or stats.predicted_ms <= 0:
        return None
    return stats.predicted_n * 1000 / stats.predicted_ms

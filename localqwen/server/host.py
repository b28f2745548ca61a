"""The models behind the server: loaded in the background so `/health` can say "loading".

Chat and FIM get separate contexts (two engines), so a long chat never holds a
completion back and a completion never evicts the chat's KV cache. Without
`--fim-model` the FIM engine is a second context over the same loaded weights
(engine/weights.py), on the CPU and on a GPU alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from localqwen.engine.backend import Backend
from localqwen.engine.stream import Stream
from localqwen.errors import LocalQwenError


class CompletionGroup:
    """One editor request's completions (llama.vscode asks for several). A newer request's
    group makes this one stale: its streams are cancelled, and so is any it starts later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: list[Stream] = []
        self.stale = False

    def track(self, stream: Stream) -> Stream:
        with self._lock:
            self._streams.append(stream)
            stale = self.stale
        if stale:
            stream.cancel()
        return stream

    def cancel(self) -> None:
        with self._lock:
            self.stale, streams = True, list(self._streams)
        for stream in streams:
            stream.cancel()


@dataclass
class ModelHost:
    name: str
    load_chat: Callable[[], Backend]
    load_fim: Callable[[], Backend] | None = None
    state: str = "loading"
    error: str | None = None
    chat: Backend | None = None
    fim: Backend | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _completion: CompletionGroup | None = None
    _completion_lock: threading.Lock = field(default_factory=threading.Lock)

    def newest_completion(self) -> CompletionGroup:
        """An editor's newer completion request makes the one in flight stale: cancel its
        streams, and only those (a chat on the same backend runs on). Routes `track` the
        streams they start on the group this returns."""
        group = CompletionGroup()
        with self._completion_lock:
            stale, self._completion = self._completion, group
        if stale is not None:
            stale.cancel()
        return group

    def load(self) -> None:
        """Load both engines; a failure is kept for /health and the log, not raised."""
        try:
            self.chat = self.load_chat()
            self.fim = self.load_fim() if self.load_fim else self.chat
            self.state = "ready"
        except LocalQwenError as exc:
            self.state, self.error = "failed", exc.one_line()
        except Exception as exc:  # a loader bug must still show in /health
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.load, name="localqwen-load", daemon=True)
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        engines = {id(e): e for e in (self.chat, self.fim) if e is not None}
        for engine in engines.values():
            engine.close()

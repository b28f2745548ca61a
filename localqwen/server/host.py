"""The models behind the server: loaded in the background so `/health` can say "loading".

Chat and FIM get separate contexts (two engines), so a long chat never holds a
completion back and a completion never evicts the chat's KV cache. Without
`--fim-model` the FIM engine is a second context over the same file: on the CPU the
weights are shared through mmap; on a GPU they are loaded twice, so a small FIM model
is the better choice there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from localqwen.engine.backend import Backend
from localqwen.engine.stream import Stream
from localqwen.errors import LocalQwenError


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
    _completion: Stream | None = None
    _completion_lock: threading.Lock = field(default_factory=threading.Lock)

    def newest_completion(self, stream: Stream) -> Stream:
        """An editor's newer completion makes the one in flight stale: cancel that stream,
        and only it (a chat on the same backend runs on), then remember this one."""
        with self._completion_lock:
            stale, self._completion = self._completion, stream
        if stale is not None and stale is not stream:
            stale.cancel()
        return stream

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

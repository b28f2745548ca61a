"""A running generation: an iterator of `Delta`s with stats and a cancel switch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from localqwen.engine.types import Delta, GenerationStats


class Stream:
    """Iterate it for deltas; `stats` fill in as it runs; `cancel()` from any thread.

    It holds the engine's context while it runs: iterate it to the end, or close it
    (it is a context manager) so the next request can start.
    """

    def __init__(self, run: Callable[["Stream"], Iterator[Delta]], prompt_tokens: list[int]) -> None:
        self.stats = GenerationStats(prompt_n=len(prompt_tokens))
        self.prompt_tokens = prompt_tokens
        self.cancelled = threading.Event()
        # Set before iterating: stop evaluating the prompt after this long (what is
        # evaluated stays cached for the next request), e.g. an editor's t_max_prompt_ms.
        self.prompt_time_limit_s: float | None = None
        # The time limit stops evaluation only before this token. A FIM prompt's suffix and
        # cursor line are what its answer depends on most and change as the cursor moves:
        # cut short, they would only be left for the next request to evaluate again, so
        # once reached they are evaluated whole.
        self.cut_before = len(prompt_tokens)
        # The first token generated must begin with these bytes, which the answer leaves
        # out: the text of a prompt token held back so the model may finish its word.
        self.heal = b""
        self._iterator = run(self)

    def __iter__(self) -> Iterator[Delta]:
        return self

    def __next__(self) -> Delta:
        return next(self._iterator)

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        self._iterator.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self) -> tuple[str, str]:
        """Run to the end; return (reasoning, content)."""
        reasoning: list[str] = []
        content: list[str] = []
        for delta in self:
            (reasoning if delta.kind == "reasoning" else content).append(delta.text)
        return "".join(reasoning), "".join(content)

"""Contexts computing at once in one process share the CPU instead of fighting over it.

`serve` runs a chat context and a completion context side by side. Each would run
llama.cpp's CPU work on every core with its own OpenMP thread team; two teams on the
same cores spin at their barriers waiting for threads the other team holds, and
both slow down (on 2 cores, chat decode about halved while a completion ran; measured
on a busy machine, so take the figure as a direction). So while more than one stream
computes, each context runs its share of the threads, set before every llama.cpp call;
alone, it gets them all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CpuShare:
    """How many streams are computing now, so each can take its part of the threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._computing = 0

    @contextmanager
    def computing(self) -> Iterator[None]:
        with self._lock:
            self._computing += 1
        try:
            yield
        finally:
            with self._lock:
                self._computing -= 1

    @property
    def sharers(self) -> int:
        return max(1, self._computing)

    def part(self, threads: int) -> int:
        """One stream's share of `threads` while the others compute too (at least one)."""
        return max(1, threads // self.sharers)


PROCESS_CPU = CpuShare()
"""The one share for every engine in this process."""

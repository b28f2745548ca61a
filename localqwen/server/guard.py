"""llama.cpp's early stops for editor completions, applied to text as it streams.

- `n_indent`: once a new line starts with less indentation than the cursor's line,
  the completion has left the block: stop, and drop that line.
- `t_max_predict_ms`: once that long has passed since the first token, stop at the end
  of the line being written (a few good lines now beat many lines late; a line cut in
  the middle is no good at all). As llama-server, which checks it on new lines only.
The start of each line is held back until its indentation is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class EditorGuard:
    def __init__(self, n_indent: int = 0, t_max_predict_ms: int = 0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.n_indent = n_indent
        self.t_max_predict_ms = t_max_predict_ms
        self.clock = clock
        self.has_new_line = False
        self.stopped = False
        self._line_start = False  # inside the leading whitespace of a new line
        self._held = ""
        self._first_token_at: float | None = None

    def feed(self, chunk: str) -> str:
        """Text safe to emit now; sets `stopped` when the completion should end."""
        if self._first_token_at is None:
            self._first_token_at = self.clock()
        out: list[str] = []
        for ch in chunk:
            if self.stopped:
                break
            if ch == "\n":
                out.append(self._held + ch)
                self._held, self._line_start, self.has_new_line = "", True, True
                self.stopped = self._past_time_limit()
            elif self._line_start and ch in " \t":
                self._held += ch
            elif self._line_start:
                self._line_start = False
                if self.n_indent > 0 and len(self._held) < self.n_indent:
                    self.stopped = True
                    self._held = ""
                    break
                out.append(self._held + ch)
                self._held = ""
            else:
                out.append(ch)
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _past_time_limit(self) -> bool:
        if self.t_max_predict_ms <= 0 or self._first_token_at is None:
            return False
        return (self.clock() - self._first_token_at) * 1000 > self.t_max_predict_ms

"""Decode speeds measured here, per machine and build: the Models table and the build
detail show them beside the estimate (which came out at ~42 tok/s for a build that ran at
17-25 on a shared 2-core machine). Kept in `measured.json` in the TUI's data folder."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from localqwen.paths import write_text_atomic

KEEP = 5  # the last few answers: one slow answer (a busy machine) does not set the figure
MIN_TOKENS = 16  # shorter answers time the first tokens' overhead more than the decoding


class MeasuredSpeeds:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "measured.json"
        self._data: dict[str, dict[str, list[float]]] | None = None

    def _load(self) -> dict[str, dict[str, list[float]]]:
        if self._data is None:
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = raw if isinstance(raw, dict) else {}
            except (OSError, ValueError):
                self._data = {}  # none yet, or unreadable: measured again from now on
        return self._data

    def get(self, machine: str, key: str) -> float | None:
        """The median of the last answers' decode rates for this build on this machine."""
        samples = self._load().get(machine, {}).get(key)
        return statistics.median(samples) if samples else None

    def record(self, machine: str, key: str, tok_s: float, tokens: int) -> None:
        if tokens < MIN_TOKENS or tok_s <= 0:
            return
        data = self._load()
        samples = data.setdefault(machine, {}).setdefault(key, [])
        samples[:] = (samples + [round(tok_s, 2)])[-KEEP:]
        write_text_atomic(self.path, json.dumps(data, indent=1))

"""One file of a download: its name, a progress bar, and bytes, speed and ETA as text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static

from localqwen.pull import FileOutcome, PullEvent
from localqwen.pull.events import eta_text
from localqwen.units import rate, size

def event_text(event: PullEvent) -> str:
    """'12.0 MiB / 43.0 MiB · 5.2 MiB/s · ETA 0:06', or what the stage is."""
    sizes = f"{size(event.bytes_done)} / {size(event.bytes_total)}"
    if event.stage == "verify":
        return f"{sizes} · checking sha256…"
    if event.stage == "done":
        return f"{sizes} · done"
    parts = [sizes]
    if event.resumed_from:
        parts.append(f"resumed at {size(event.resumed_from)}")
    if event.speed:
        parts.append(rate(event.speed))
    if event.eta is not None:
        parts.append(f"ETA {eta_text(event.eta)}")
    return " · ".join(parts)


def outcome_text(outcome: FileOutcome) -> str:
    """How a finished file ended: fetched and checked, already there, resumed."""
    how = {"fetched": "fetched", "present": "already on disk", "checked": "on disk, checked now",
           "replaced": "damaged copy fetched again"}[outcome.action]  # fmt: skip
    if outcome.resumed_from:
        how += f", resumed at {size(outcome.resumed_from)}"
    mark = "✔ sha256 verified" if outcome.verified else "▲ not verified"
    return f"{size(outcome.size)} · {how} · {mark}"


class FileProgress(Horizontal):
    """A row per file; `show` moves it to the latest event."""

    def __init__(self, file: str) -> None:
        super().__init__(classes="file-progress")
        self.file = file
        # Made here, not in compose: events may arrive before the row is mounted.
        self.bar = ProgressBar(total=None, show_eta=False, classes="file-bar")
        self.stats = Static("waiting…", classes="file-stats", markup=False)

    def compose(self) -> ComposeResult:
        yield Label(self.file, classes="file-name", markup=False)
        yield self.bar
        yield self.stats

    def show(self, event: PullEvent) -> None:
        if event.bytes_total:
            done = event.bytes_total if event.stage == "done" else event.bytes_done
            self.bar.update(total=event.bytes_total, progress=done)
        self.stats.update(event_text(event))

    def finish(self, outcome: FileOutcome) -> None:
        self.bar.update(total=max(outcome.size, 1), progress=max(outcome.size, 1))
        self.stats.update(outcome_text(outcome))

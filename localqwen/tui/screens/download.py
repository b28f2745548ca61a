"""Screen 3, Download: pull a catalog build with a bar per file, speed and ETA; cancel, resume, verify.

The pull runs in a thread worker; its listener posts `Progress` messages (the
thread never touches a widget). Esc sets the pull's cancel event, which stops it at
the next piece received; what was fetched is kept, so pulling again resumes. A
finished pull makes the app plan again, so the models table says "on disk".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

from localqwen.errors import LocalQwenError
from localqwen.pull import PullError, PullEvent, PullInterrupted, PullResult
from localqwen.tui.crashlog import keep_traceback, where_kept
from localqwen.tui.rows import PlanRow
from localqwen.tui.widgets.file_progress import FileProgress
from localqwen.units import size

if TYPE_CHECKING:
    from localqwen.tui.app import LocalQwenApp

IDLE = "Nothing is downloading. In Models (F2), Ctrl+D downloads the highlighted build."


class DownloadScreen(Screen[None]):
    TITLE = "Download"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="download.cancel"),
        Binding("escape", "back", "Back to Models", id="download.back"),
        Binding("r", "again", "Pull again", tooltip="Pull the same build again: what was fetched is kept and resumed",
                id="download.again"),
    ]

    running: reactive[bool] = reactive(False, init=False)

    @dataclass
    class Progress(Message):
        event: PullEvent

    @dataclass
    class Finished(Message):
        result: PullResult

    @dataclass
    class Failed(Message):
        error: LocalQwenError

    def __init__(self) -> None:
        super().__init__()
        self.row: PlanRow | None = None
        self.cancel: threading.Event | None = None
        self.result: PullResult | None = None
        self.error: LocalQwenError | None = None
        self.rows: dict[str, FileProgress] = {}
        self.fetched = 0  # the most bytes of a file this pull has on disk: is there anything to resume?
        self.then_load = False

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(IDLE, id="download-title")
        yield VerticalScroll(id="download-files")
        yield Static("", id="download-status")
        with Horizontal(id="download-buttons"):
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Button("Resume", id="again", disabled=True)
        yield Footer(compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "back":
            return not self.running
        if action == "again":
            return not self.running and self.row is not None and self.result is None
        return True

    def watch_running(self, running: bool) -> None:
        self.query_one("#cancel", Button).disabled = not running
        self.query_one("#again", Button).disabled = running or self.row is None or self.result is not None
        self.refresh_bindings()

    # --- starting and stopping -------------------------------------------------------

    def start(self, row: PlanRow, then_load: bool = False) -> None:
        """Pull the row's build; a row pulled before resumes where it stopped. `then_load`:
        load it once it is whole (the first screen's Enter)."""
        if self.running:
            self.notify(f"Still downloading {self.label}: cancel it first (Esc).", severity="warning")
            return
        if self.main.services.pull is None:
            self.notify("Downloads are off in this session.", severity="warning")
            return
        self.row, self.result, self.error, self.fetched = row, None, None, 0
        self.then_load = then_load
        self.cancel = threading.Event()
        c = row.candidate
        self.query_one("#download-title", Static).update(
            Text.assemble(("Downloading ", ""), (self.label, "bold"), f" · {size(c.build.size_bytes)} from {c.build.source_text}")
        )
        self.query_one("#download-files", VerticalScroll).remove_children()
        self.rows = {}
        self.query_one("#download-status", Static).update("Asking the Hub for the files…")
        self.running = True
        self.pull(row, self.cancel)

    @property
    def label(self) -> str:
        return f"{self.row.label} {self.row.candidate.build.quant}" if self.row else ""

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.running and self.cancel is not None and not self.cancel.is_set():
            self.cancel.set()
            self.query_one("#download-status", Static).update("Stopping at the next piece received…")

    def action_back(self) -> None:
        if not self.running:
            self.app.switch_mode("models")

    @on(Button.Pressed, "#again")
    def action_again(self) -> None:
        if self.row is not None and not self.running:
            self.start(self.row)

    def on_unmount(self) -> None:
        if self.cancel is not None:
            self.cancel.set()

    # --- the worker ------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="pull")
    def pull(self, row: PlanRow, cancel: threading.Event) -> None:
        pull = self.main.services.pull
        assert pull is not None

        def listener(event: PullEvent) -> None:
            # Every event is shown: they come every 10 MiB fetched or 8 MiB checked. A throttle
            # dropped the last ones before a stall, and the bar stayed at 0 MB through it.
            self.post_message(self.Progress(event))

        c = row.candidate
        try:
            result = pull(c.model, c.build, listener, cancel)
        except LocalQwenError as exc:
            self.post_message(self.Failed(exc))
            return
        except Exception as exc:  # a bug, ours or a library's: named as one (never "Bad input"), its traceback kept
            kept = keep_traceback(exc, f"pulling {c.model.id}:{c.build.quant}", self.main.data_dir)
            self.post_message(self.Failed(PullError(f"unexpected error {type(exc).__name__}: {exc}", fix=where_kept(kept))))
            return
        self.post_message(self.Finished(result))

    # --- what the worker reports -----------------------------------------------------

    def file_row(self, file: str) -> FileProgress:
        line = self.rows.get(file)
        if line is None:
            line = self.rows[file] = FileProgress(file)
            self.query_one("#download-files", VerticalScroll).mount(line)
        return line

    def on_download_screen_progress(self, message: Progress) -> None:
        event = message.event
        self.fetched = max(self.fetched, event.bytes_done)
        self.file_row(event.file).show(event)
        if self.running and not (self.cancel and self.cancel.is_set()):
            doing = {"fetch": "fetching", "verify": "checking", "done": "done with"}[event.stage]
            self.query_one("#download-status", Static).update(f"File {event.index} of {event.count}: {doing} {event.file}")

    def on_download_screen_finished(self, message: Finished) -> None:
        self.result, self.running = message.result, False
        for outcome in message.result.files:
            self.file_row(outcome.file).finish(outcome)
        verified = all(f.verified for f in message.result.files)
        status = Text("✔ Verified: " if verified else "▲ Not verified: ", style="bold green" if verified else "bold yellow")
        status.append(f"{len(message.result.files)} file(s), {size(message.result.size_bytes)}, "
                      f"{size(message.result.fetched_bytes)} fetched now.\n")
        status.append(f"{message.result.path}", style="dim")
        self.query_one("#download-status", Static).update(status)
        self.notify(f"{self.label} is on disk{' and verified' if verified else ''}.")
        if self.main.hardware is not None:
            self.main.make_plan(self.main.hardware)  # the models table learns it is on disk
        if self.then_load and self.row is not None and self.row.candidate.placement is not None:
            c = self.row.candidate
            self.main.open_model(f"{c.model.id}:{c.build.quant}", c.placement.n_ctx, self.label)

    def on_download_screen_failed(self, message: Failed) -> None:
        self.error, self.running = message.error, False
        stopped = isinstance(message.error, PullInterrupted)
        style = "bold yellow" if stopped else "bold red"
        self.query_one("#download-title", Static).update(Text.assemble((f"{message.error.title} · ", style), (self.label, "bold")))
        status = Text(f"{message.error.title}: ", style=style)
        status.append(message.error.one_line())
        again = ("Press r (Resume) to pull again from where it stopped" if self.fetched else "Press r to try again")
        self.query_one("#again", Button).label = "Resume" if self.fetched else "Try again"
        status.append(f"\n{again}; Esc goes back to Models.", style="dim")
        self.query_one("#download-status", Static).update(status)
        if not stopped:
            self.notify(message.error.one_line(), title=message.error.title, severity="error")

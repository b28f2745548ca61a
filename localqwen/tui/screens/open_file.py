"""Open a GGUF that is already on this disk, by its path: a newcomer's downloads folder
holds one more often than not, and the TUI had no way in but `localqwen import`."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.errors import LocalQwenError


class OpenFileScreen(ModalScreen[Path | None]):
    """A path in; the file's header is read before it is taken, so a wrong path or a file
    that is no GGUF is said here, in one line, and the person can type again."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="open.close")]
    DEFAULT_CSS = """
    OpenFileScreen { align: center middle; }
    OpenFileScreen > Vertical {
        width: 80%; max-width: 90; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    OpenFileScreen #open-problem { color: $error; height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Open a GGUF file"
            yield Label("Path of a .gguf on this disk (Enter opens it in the chat, Esc closes):")
            yield Input(placeholder="~/Downloads/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", id="open-path")
            yield Static("", id="open-problem")

    def on_mount(self) -> None:
        self.query_one("#open-path", Input).focus()

    @on(Input.Submitted, "#open-path")
    def chosen(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#open-problem", Static).update("Type a path first.")
            return
        path = Path(text).expanduser()
        try:
            read_gguf_header(path)  # a missing, unreadable or broken file: one line, here
        except LocalQwenError as exc:
            self.query_one("#open-problem", Static).update(exc.one_line())
            return
        self.dismiss(path)

"""A file on this disk, by its path: a GGUF to open (a newcomer's downloads folder holds
one more often than not) or an image for the chat's next message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.errors import LocalQwenError

T = TypeVar("T")


class PathScreen(ModalScreen[T | None], Generic[T]):
    """A path in; `read` takes the file (or raises a LocalQwenError) before the screen
    closes with what it read, so a wrong path or a file of the wrong kind is said here,
    in one line, and the person can type again."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="open.close")]
    DEFAULT_CSS = """
    PathScreen { align: center middle; }
    PathScreen > Vertical {
        width: 80%; max-width: 90; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    PathScreen #open-problem { color: $error; height: auto; }
    """

    def __init__(self, title: str, prompt: str, example: str, read: Callable[[Path], T]) -> None:
        super().__init__()
        self.title_text, self.prompt, self.example, self.read = title, prompt, example, read

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Label(self.prompt)
            yield Input(placeholder=self.example, id="open-path")
            yield Static("", id="open-problem")

    def on_mount(self) -> None:
        self.query_one("#open-path", Input).focus()

    @on(Input.Submitted, "#open-path")
    def chosen(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#open-problem", Static).update("Type a path first.")
            return
        try:
            taken = self.read(Path(text).expanduser())
        except LocalQwenError as exc:
            self.query_one("#open-problem", Static).update(exc.one_line())
            return
        self.dismiss(taken)


def open_file_screen() -> PathScreen[Path]:
    def read(path: Path) -> Path:
        read_gguf_header(path)  # a missing, unreadable or broken file: one line, here
        return path

    return PathScreen("Open a GGUF file", "Path of a .gguf on this disk (Enter opens it in the chat, Esc closes):",
                      "~/Downloads/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", read)

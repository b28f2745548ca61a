"""Pick one of a model's saved conversations; the result is its id, or None."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from localqwen.tui.history import Conversation


class HistoryPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="history.close")]
    DEFAULT_CSS = """
    HistoryPicker { align: center middle; }
    HistoryPicker > Vertical {
        width: 80%; max-width: 90; height: auto; max-height: 80%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HistoryPicker OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, model: str, conversations: list[Conversation]) -> None:
        super().__init__()
        self.model = model
        self.conversations = conversations

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Saved conversations with {self.model}"
            if not self.conversations:
                yield Label("None yet: a conversation is saved after each answer.")
            yield OptionList(
                *(
                    Option(Text(f"{c.created.replace('T', ' ')}  {c.title}  ({len(c.turns)} turns)"), id=c.id)
                    for c in self.conversations
                )
            )

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

"""The turns of a chat: a person's message, and an answer with its thinking above it.

An answer streams by `Markdown.append`, which parses only the document's tail rather
than re-rendering all of it per piece; each piece is appended before the next message
is read, so when the answer's end arrives all of it is on screen. (`Markdown.get_stream`
appends from a task of its own, which its `stop()` cancels: a piece still being appended
then could be left half laid out, and once the note under the answer never showed.)
The thinking sits in a collapsible block that is open while the model thinks and folds
away once the answer starts.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Label, Markdown, Static


class UserTurn(Static):
    def __init__(self, text: str, images: tuple[str, ...] = ()) -> None:
        """`images`: the names of the pictures sent with it, listed above the text."""
        super().__init__("".join(f"[image {name}]\n" for name in images) + text, markup=False, classes="user-turn")
        self.border_title = "you"


class AnswerTurn(Vertical):
    """One answer. `write` streams into it; `finish` notes how it ended, where that is news."""

    def __init__(self, model: str, reasoning: str = "", content: str = "", *, done: bool = False) -> None:
        super().__init__(classes="answer-turn")
        self.border_title = model
        self._saved = (reasoning, content)
        self._done = done
        self.reasoning = reasoning
        self.content = content

    def compose(self) -> ComposeResult:
        reasoning, content = self._saved
        with Collapsible(title="Thinking", collapsed=self._done, classes="thinking") as box:
            box.display = bool(reasoning)
            yield Markdown(reasoning, classes="thinking-text")
        yield Markdown(content, classes="answer-text")
        meta = Label("", classes="answer-meta")
        meta.display = False
        yield meta

    async def write(self, kind: str, text: str) -> None:
        box = self.query_one(".thinking", Collapsible)
        if kind == "reasoning":
            box.display = True
            self.reasoning += text
        else:
            if not self.content and box.display:
                box.collapsed = True  # the answer has started: fold the thinking away
            self.content += text
        await self.query_one(".thinking-text" if kind == "reasoning" else ".answer-text", Markdown).append(text)

    def finish(self, note: str = "") -> None:
        if note:
            meta = self.query_one(".answer-meta", Label)
            meta.update(note)
            meta.display = True

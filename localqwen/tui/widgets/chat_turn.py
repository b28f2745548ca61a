"""The turns of a chat: a person's message, and an answer with its thinking above it.

An answer streams through `Markdown.get_stream`, which appends to the document
rather than re-rendering all of it per token. The thinking sits in a collapsible
block that is open while the model thinks and folds away once the answer starts.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream


class UserTurn(Static):
    def __init__(self, text: str, images: tuple[str, ...] = ()) -> None:
        """`images`: the names of the pictures sent with it, listed above the text."""
        super().__init__("".join(f"[image {name}]\n" for name in images) + text, markup=False, classes="user-turn")
        self.border_title = "you"


class AnswerTurn(Vertical):
    """One answer. `write` streams into it; `finish` ends the streams."""

    def __init__(self, model: str, reasoning: str = "", content: str = "", *, done: bool = False) -> None:
        super().__init__(classes="answer-turn")
        self.border_title = model
        self._saved = (reasoning, content)
        self._done = done
        self._streams: dict[str, MarkdownStream] = {}
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

    def _stream(self, kind: str) -> MarkdownStream:
        if kind not in self._streams:
            target = ".thinking-text" if kind == "reasoning" else ".answer-text"
            self._streams[kind] = Markdown.get_stream(self.query_one(target, Markdown))
        return self._streams[kind]

    async def write(self, kind: str, text: str) -> None:
        box = self.query_one(".thinking", Collapsible)
        if kind == "reasoning":
            box.display = True
            self.reasoning += text
        else:
            if "content" not in self._streams and box.display:
                box.collapsed = True  # the answer has started: fold the thinking away
            self.content += text
        await self._stream(kind).write(text)

    async def finish(self, note: str = "") -> None:
        for stream in self._streams.values():
            await stream.stop()
        self._streams.clear()
        self._done = True
        if note:
            meta = self.query_one(".answer-meta", Label)
            meta.update(note)
            meta.display = True

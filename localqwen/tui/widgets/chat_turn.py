"""The turns of a chat: a person's message, and an answer with its thinking above it.

An answer streams by `Markdown.append`, which parses only the document's tail rather
than re-rendering all of it per piece; each piece is appended before the next message
is read, so when the answer's end arrives all of it has been laid out. (`Markdown.get_stream`
appends from a task of its own, which its `stop()` cancels: a piece still being appended
then could be left half done.)
The thinking sits in a collapsible block that is open while the model thinks and folds
away once the answer starts.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.visual import VisualType
from textual.widgets import Collapsible, Label, Markdown, Static
from textual.widgets.markdown import MarkdownBlock


class GrowingParagraph(Markdown.BLOCKS["paragraph_open"]):  # Markdown's own paragraph (its class is not exported)
    """A paragraph whose text may grow in place, piece by piece, from its first moment on screen.

    Textual 8.2.8 counts a widget's layout request (the count keys its cached size) only
    when none is pending. A paragraph given its text before it is mounted leaves one
    pending until its first idle; a layout run before then caches the paragraph's height,
    and text that grows before then keeps that height until it grows again. At an
    answer's end nothing does: its last lines and the note under it stayed off screen
    (`test_a_paragraph_that_grows_at_once_shows_all_its_lines`). So before it is mounted
    the paragraph's text is set without a layout request; mounting lays it out anyway.
    """

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout and self.is_mounted)


class StreamedMarkdown(Markdown):
    """Markdown that is appended to as an answer streams: its paragraphs are `GrowingParagraph`s."""

    def get_block_class(self, block_name: str) -> type[MarkdownBlock]:
        return GrowingParagraph if block_name == "paragraph_open" else super().get_block_class(block_name)


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
            yield StreamedMarkdown(reasoning, classes="thinking-text")
        yield StreamedMarkdown(content, classes="answer-text")
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
        await self.query_one(".thinking-text" if kind == "reasoning" else ".answer-text", StreamedMarkdown).append(text)

    def finish(self, note: str = "") -> None:
        if note:
            meta = self.query_one(".answer-meta", Label)
            meta.update(note)
            meta.display = True

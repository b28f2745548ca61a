"""Screen 4, Chat: a streamed Markdown answer under its folded thinking, stats in the status line.

The reply runs in a worker thread that reports by messages (`Chunk`, `Finished`, …);
Esc cancels that worker and its own stream (never another request on the engine, such
as the Server screen's clients), which ends within one token.
Every finished answer saves the conversation (per model, JSON in the data dir).
A vision model's images are attached by path (Ctrl+O) and go with the next message.
"""

from __future__ import annotations

import time

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from localqwen.engine.backend import Backend
from localqwen.engine.chat_fit import open_chat
from localqwen.engine.errors import ImageError
from localqwen.engine.images import ImageFacts, check_image, load_image
from localqwen.engine.types import ChatMessage, Image
from localqwen.errors import LocalQwenError
from localqwen.units import size
from localqwen.tui.conversation import (
    Reply,
    Stopper,
    last_code_block,
    messages_for,
    speed_of,
    status_line,
    stream_reply,
    thinking_for,
)
from localqwen.tui.history import Conversation, HistoryError, Turn
from localqwen.tui.messages import LoadedModel
from localqwen.tui.screens.history_picker import HistoryPicker
from localqwen.tui.screens.open_file import PathScreen
from localqwen.tui.widgets.chat_turn import AnswerTurn, UserTurn

if TYPE_CHECKING:
    from localqwen.tui.app import LocalQwenApp

PLACEHOLDER = "Message · Enter sends"
THINK_HINTS = {"hybrid": " · /think or /no_think switch thinking", "template": " · Ctrl+T switches thinking"}
NO_MODEL = "No model loaded. Pick one in Models (F2): Enter on a row, then Load. Or start with `localqwen ui --model FILE.gguf`."
STOP_NOTES = {"cancelled": "stopped", "length": "cut at the token limit"}


class ChatScreen(Screen[None]):
    TITLE = "Chat"
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop"),
        Binding("ctrl+t", "toggle_thinking", "Think", id="chat.thinking"),
        Binding("ctrl+y", "copy_code", "Copy", tooltip="Copy the last code block", id="chat.copy-code"),
        Binding("ctrl+n", "new_chat", "New", tooltip="A new conversation", id="chat.new"),
        Binding("ctrl+r", "history", "History", id="chat.history"),
        Binding("ctrl+o", "attach", "Image", tooltip="Attach an image to the next message", id="chat.attach"),
        Binding("ctrl+g", "drop_images", "Drop", tooltip="Take the attached images off", id="chat.drop-images"),
    ]

    thinking: reactive[bool] = reactive(True)
    generating: reactive[bool] = reactive(False)

    @dataclass
    class Chunk(Message):
        kind: str
        text: str
        predicted_n: int
        seconds: float
        used: int  # the context the conversation fills now: its prompt and the answer so far

    @dataclass
    class Trimmed(Message):
        dropped: int
        n_ctx: int

    @dataclass
    class Refused(Message):
        error: LocalQwenError

    @dataclass
    class Finished(Message):
        reply: Reply

    @dataclass
    class Failed(Message):
        problem: str

    def __init__(self) -> None:
        super().__init__()
        self.conversation: Conversation | None = None
        self.answer: AnswerTurn | None = None
        self.used: int | None = None
        self.speed: float | None = None
        self.stopper = Stopper()
        self.attached: list[tuple[Image, ImageFacts]] = []
        """Images for the next message, with what their headers say."""

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="chat-log"):
            yield Static(NO_MODEL, id="chat-empty", markup=False)
        yield Static(id="chat-attached", markup=False)
        yield Input(placeholder=PLACEHOLDER + THINK_HINTS["hybrid"], id="prompt")
        yield Static(id="chat-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_attached()
        self.query_one("#prompt", Input).cursor_blink = self.main.settings.cursor_blink
        self.query_one("#chat-log", VerticalScroll).anchor()
        self.watch(self.main, "loaded", self.model_changed)
        self.watch(self.main, "loading", lambda _: self.show_status())
        self.query_one("#prompt", Input).focus()
        # Long waits say how far they have come: loading (seconds) and reading a long prompt (tokens).
        self.set_interval(0.5, lambda: self.show_status() if self.main.loading or self.reading() else None)

    # --- state shown -----------------------------------------------------------------

    async def model_changed(self, loaded: LoadedModel | None) -> None:
        if loaded is not None and (self.conversation is None or self.conversation.model != self.key(loaded)):
            self.thinking = loaded.engine.info.thinking_default  # each model starts as it thinks by default
            await self.start_conversation(Conversation(self.key(loaded)))
        self.query_one("#prompt", Input).placeholder = PLACEHOLDER + THINK_HINTS.get(self.thinking_mode, "")
        self.show_status()
        self.refresh_bindings()

    @property
    def thinking_mode(self) -> str:
        """How the loaded model thinks (catalog/types.py THINKING_MODES); none loaded yet:
        as if it could be switched."""
        loaded = self.main.loaded
        return "hybrid" if loaded is None else loaded.engine.info.thinking_mode

    @property
    def switchable(self) -> bool:
        return self.thinking_mode in ("hybrid", "template")

    def thinking_shown(self) -> bool | None:
        """The status line's "thinking on/off": None for a model that never thinks, and while
        none is loaded (a Qwen2.5 said "thinking on" all through its load)."""
        if self.main.loaded is None:
            return None
        mode = self.thinking_mode
        return None if mode == "never" else True if mode == "always" else self.thinking

    @staticmethod
    def key(loaded: LoadedModel) -> str:  # conversations are kept per model name
        return loaded.engine.info.name

    async def start_conversation(self, conversation: Conversation) -> None:
        self.conversation, self.used, self.speed = conversation, None, None
        log = self.query_one("#chat-log", VerticalScroll)
        await log.remove_children(".user-turn, .answer-turn")
        self.query_one("#chat-empty").display = not conversation.turns
        label = self.main.loaded.label if self.main.loaded else conversation.model
        self.query_one("#chat-empty", Static).update(f"{label} is ready. Type a message below.")
        await log.mount_all(
            UserTurn(t.content, tuple(i.name for i in t.images)) if t.role == "user"
            else AnswerTurn(label, t.reasoning, t.content, done=True)
            for t in conversation.turns
        )
        self.show_status()  # the last conversation's context and speed are not this one's
        log.scroll_end(animate=False)

    def show_status(self) -> None:
        loaded, loading = self.main.loaded, self.main.loading
        n_ctx = loaded.engine.info.n_ctx if loaded else None
        since = self.main.loading_since
        line = status_line(loading or (loaded.label if loaded else ""), bool(loading), n_ctx, self.used, self.speed,
                           thinking=self.thinking_shown(), generating=self.generating,
                           reading=self.reading(), loading_s=time.monotonic() - since if loading and since else None,
                           loaded_share=self.main.loading_fraction if loading else None)
        self.query_one("#chat-status", Static).update(line)
        if loaded is None:
            self.query_one("#chat-empty", Static).update(f"Loading {loading}…" if loading else NO_MODEL)

    def reading(self) -> tuple[int, int] | None:
        """(read, all) while this answer's prompt is still being read, before its first token."""
        stream = self.stopper.stream if self.generating else None
        if stream is None or stream.stats.predicted_n or self.speed:
            return None
        stats = stream.stats
        return (stats.read_n, stats.prompt_n) if stats.read_n < stats.prompt_n else None

    def watch_thinking(self) -> None:
        self.show_status()

    def watch_generating(self) -> None:
        self.show_status()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Stop shows while an answer runs; New and History while none does."""
        if action == "stop":
            return self.generating
        if action in ("new_chat", "history"):
            return not self.generating
        if action == "toggle_thinking":
            return self.switchable
        if action == "attach":
            return self.sees
        if action == "drop_images":
            return bool(self.attached)
        return True

    @property
    def sees(self) -> bool:
        """The loaded model reads images (a vision model with its projector)."""
        loaded = self.main.loaded
        return loaded is not None and loaded.engine.info.vision

    def show_attached(self) -> None:
        line = self.query_one("#chat-attached", Static)
        line.display = bool(self.attached)
        line.update("  ".join(f"[image {image.name} · {facts.format} {facts.width}x{facts.height} · "
                              f"{size(len(image.data))}]" for image, facts in self.attached)
                    + " goes with your next message · Ctrl+G takes it off")
        self.refresh_bindings()

    # --- sending ---------------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    async def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        loaded = self.main.loaded
        if not text:
            self.notify("Type a message first: an empty message is not sent.", severity="warning")
            return
        if text in ("/think", "/no_think"):
            self.thinking = text == "/think"
            event.input.clear()
            self.notify(f"Thinking {'on' if self.thinking else 'off'}.")
            return
        if loaded is None or self.conversation is None:
            self.notify(f"Still loading {self.main.loading}." if self.main.loading else NO_MODEL, severity="warning")
            return
        if self.generating:
            self.notify("Still answering: Esc stops it.", severity="warning")
            return
        event.input.clear()
        images = tuple(image for image, _ in self.attached)
        self.attached = []
        self.show_attached()
        self.conversation.turns.append(Turn("user", text, images=images))
        self.answer = AnswerTurn(loaded.label)
        self.query_one("#chat-empty").display = False
        log = self.query_one("#chat-log", VerticalScroll)
        await log.mount_all([UserTurn(text, tuple(image.name for image in images)), self.answer])
        log.anchor()  # follow the new answer, though the person had scrolled up to read
        self.generating = True
        self.speed = None
        max_tokens = self.main.settings.max_tokens
        self.stopper = Stopper()
        self.generate(loaded.engine, messages_for(self.conversation.turns), thinking_for(text, self.thinking), max_tokens,
                      self.stopper)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def generate(self, engine: Backend, messages: list[ChatMessage], thinking: bool | None, max_tokens: int | None,
                 stopper: Stopper) -> None:
        worker = get_current_worker()
        try:
            stream, dropped = open_chat(engine, messages, thinking=thinking, max_tokens=max_tokens)
            stopper.attach(stream)
        except LocalQwenError as exc:
            self.post_message(self.Refused(exc))
            return
        except Exception as exc:  # a template or llama.cpp failure: a notice, not a crash
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
            return
        if dropped:
            self.post_message(self.Trimmed(dropped, engine.info.n_ctx))
        try:
            reply = stream_reply(
                stream,
                lambda kind, text, n, seconds: self.post_message(
                    self.Chunk(kind, text, n, seconds, stream.stats.prompt_n + stream.stats.predicted_n)),
                lambda: worker.is_cancelled or stopper.stopped,
            )
        except Exception as exc:
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Finished(reply))

    async def on_chat_screen_chunk(self, message: Chunk) -> None:
        if self.answer is not None:
            await self.answer.write(message.kind, message.text)
        self.used = message.used  # it showed "—", or the last answer's, until this one ended
        if message.seconds > 0:
            self.speed = message.predicted_n / message.seconds
        self.show_status()

    def on_chat_screen_trimmed(self, message: Trimmed) -> None:
        self.notify(
            f"The {message.dropped} oldest messages were left out so the conversation fits the context ({message.n_ctx:,} tokens).",
            severity="warning",
        )

    async def on_chat_screen_refused(self, message: Refused) -> None:
        await self.withdraw()
        self.notify(message.error.one_line(), title=message.error.title, severity="error")

    async def on_chat_screen_failed(self, message: Failed) -> None:
        await self.withdraw()
        self.notify(message.problem, title="The answer failed", severity="error")

    async def withdraw(self) -> None:
        """Take back the message that got no answer, into the input for another try."""
        if self.conversation and self.conversation.turns and self.conversation.turns[-1].role == "user":
            turn = self.conversation.turns.pop()
            self.query_one("#prompt", Input).value = turn.content
            self.attached = _checked(turn.images) + self.attached  # the pictures go back with the text
            self.show_attached()
        for widget in list(self.query(".user-turn, .answer-turn"))[-2:]:
            await widget.remove()
        self.answer, self.generating = None, False

    async def on_chat_screen_finished(self, message: Finished) -> None:
        reply, stats = message.reply, message.reply.stats
        self.used = stats.prompt_n + stats.predicted_n
        self.speed = speed_of(stats)
        loaded, hw = self.main.loaded, self.main.hardware
        if self.speed and loaded is not None and loaded.key and hw is not None and hw.source == "detected":
            try:
                self.main.measured.record(hw.name, loaded.key, self.speed, stats.predicted_n)
            except OSError:
                pass  # a read-only data folder: the figure is simply not kept
        if self.answer is not None:
            self.answer.finish(STOP_NOTES.get(stats.stop_reason or "", ""))
        if self.conversation is not None:
            self.conversation.turns.append(Turn("assistant", reply.content, reply.reasoning))
            try:
                self.main.history.save(self.conversation)
            except OSError as exc:
                self.notify(f"The conversation was not saved: {exc}", severity="warning")
        self.answer, self.generating = None, False

    # --- actions ---------------------------------------------------------------------

    def action_stop(self) -> None:
        if not self.generating:
            return
        self.stopper.stop()  # this answer's stream only
        self.workers.cancel_group(self, "generate")

    def action_attach(self) -> None:
        if not self.sees:
            self.notify("This model reads no images: open a vision model (Qwen2.5-VL, Qwen3-VL) with its projector.",
                        severity="warning")
            return

        def attached(taken: tuple[Image, ImageFacts] | None) -> None:
            if taken is not None:
                self.attached.append(taken)
                self.show_attached()
                self.query_one("#prompt", Input).focus()

        self.app.push_screen(PathScreen("Attach an image", "Path of a PNG, JPEG, GIF or BMP (Enter attaches it, "
                                        "Esc closes):", "~/Pictures/screenshot.png", load_image), attached)

    def action_drop_images(self) -> None:
        self.attached = []
        self.show_attached()

    def action_toggle_thinking(self) -> None:
        self.thinking = not self.thinking
        self.notify(f"Thinking {'on' if self.thinking else 'off'}.")

    def action_copy_code(self) -> None:
        answers = [t for t in (self.conversation.turns if self.conversation else []) if t.role == "assistant"]
        code = last_code_block(answers[-1].content) if answers else None
        if code is None:
            self.notify("The last answer has no code block.", severity="warning")
            return
        self.app.copy_to_clipboard(code)
        self.notify(f"Copied the last code block ({len(code.splitlines())} lines).")

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify("Stop the answer first (Esc).", severity="warning")
        elif self.main.loaded is None:
            self.notify(NO_MODEL, severity="warning")
        else:
            await self.start_conversation(Conversation(self.key(self.main.loaded)))

    def action_history(self) -> None:
        loaded = self.main.loaded
        if loaded is None or self.generating:
            self.notify(NO_MODEL if loaded is None else "Stop the answer first (Esc).", severity="warning")
            return
        key = self.key(loaded)
        self.app.push_screen(HistoryPicker(key, self.main.history.conversations(key)), self.restore)

    async def restore(self, conversation_id: str | None) -> None:
        if conversation_id is None or self.main.loaded is None:
            return
        try:
            conversation = self.main.history.load(self.key(self.main.loaded), conversation_id)
        except HistoryError as exc:
            self.notify(exc.one_line(), title=exc.title, severity="error")
            return
        await self.start_conversation(conversation)
        self.show_status()


def _checked(images: tuple[Image, ...]) -> list[tuple[Image, ImageFacts]]:
    """The images whose bytes are at hand (a restored conversation keeps names only), with their facts."""
    out = []
    for image in images:
        try:
            out.append((image, check_image(image.data, image.name)))
        except ImageError:
            continue
    return out

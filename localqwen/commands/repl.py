"""`localqwen chat PATH --plain`: a line REPL on stdin/stdout, for scripts and bare terminals.

Thinking is shown dimmed on a terminal, between `<think>` lines when piped, or
hidden with `--no-think` (which also turns it off in the model). `/image PATH`
attaches a picture to the next message, for a vision model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from localqwen.engine.backend import Backend
from localqwen.engine.chat_fit import open_chat
from localqwen.engine.errors import ImageError
from localqwen.engine.images import load_image
from localqwen.engine.types import ChatMessage, Image, message_with_images
from localqwen.errors import UserInputError
from localqwen.units import size

DIM, RESET = "\x1b[2m", "\x1b[0m"
HELP = "commands: /exit  /reset  /image PATH  (add /think or /no_think to a message to switch thinking)"


@dataclass
class ReplOptions:
    thinking: bool | None = None  # None: the model's default, or /think /no_think per message
    show_thinking: bool = True
    max_tokens: int | None = 1024
    system: str | None = None


class PlainChat:
    def __init__(self, engine: Backend, options: ReplOptions, out: TextIO, *, tty: bool) -> None:
        self.engine = engine
        self.options = options
        self.out = out
        self.tty = tty
        self.history: list[ChatMessage] = []
        self.images: list[Image] = []
        """Attached with /image, sent with the next message."""

    def _conversation(self) -> list[ChatMessage]:
        system = [ChatMessage("system", self.options.system)] if self.options.system else []
        return system + self.history

    def attach(self, path: str) -> str:
        """Read an image for the next message; what to tell the person."""
        if not self.engine.info.vision:
            raise UserInputError(f"{self.engine.info.name} reads no images",
                                 fix="open a vision model (Qwen2.5-VL, Qwen3-VL) with its mmproj file")
        image, facts = load_image(path)
        self.images.append(image)
        return f"[attached {image.name}: {facts.format} {facts.width}x{facts.height}, {size(len(image.data))}; " \
               "it goes with your next message]"

    def ask(self, text: str) -> str:
        """Send one user message (with the images attached since the last), stream the
        reply to `out`, return the answer text."""
        self.history.append(message_with_images("user", [*self.images, text]))
        try:
            stream, dropped = open_chat(self.engine, self._conversation(), thinking=self.options.thinking,
                                        max_tokens=self.options.max_tokens)
        except UserInputError as exc:
            self.history.pop()
            if isinstance(exc, ImageError):
                self.images.clear()  # the picture it names is not sent again
            raise
        self.images.clear()
        if dropped:  # the rule the TUI follows too: the oldest exchanges go first
            del self.history[:dropped]
            self.out.write(f"[{dropped} oldest messages left out to fit the context]\n")
        answer: list[str] = []
        in_reasoning = False
        try:
            for delta in stream:
                if delta.kind == "reasoning":
                    if not self.options.show_thinking:
                        continue
                    if not in_reasoning:
                        self.out.write(DIM if self.tty else "<think>\n")
                        in_reasoning = True
                    self.out.write(delta.text)
                else:
                    if in_reasoning:
                        self.out.write(RESET + "\n" if self.tty else "\n</think>\n")
                        in_reasoning = False
                    answer.append(delta.text)
                    self.out.write(delta.text)
                self.out.flush()
        except KeyboardInterrupt:
            stream.cancel()
            stream.close()
            self.out.write("\n[stopped]")
        if in_reasoning:
            self.out.write(RESET if self.tty else "\n</think>")
        self.out.write("\n")
        self.out.flush()
        reply = "".join(answer)
        self.history.append(ChatMessage("assistant", reply))
        return reply


def run_repl(
    engine: Backend,
    options: ReplOptions,
    read_line: Callable[[str], str],
    out: TextIO,
    *,
    tty: bool,
) -> int:
    """Read messages until EOF or /exit. `read_line` is `input` on a terminal."""
    chat = PlainChat(engine, options, out, tty=tty)
    if tty:
        out.write(f"{engine.info.name} ({engine.info.architecture}, context {engine.info.n_ctx}). {HELP}\n")
    while True:
        try:
            line = read_line("you> " if tty else "")
        except EOFError:
            return 0
        except KeyboardInterrupt:
            out.write("\n")
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            chat.history.clear()
            chat.images.clear()
            out.write("[conversation cleared]\n")
            continue
        if text == "/image" or text.startswith("/image "):
            path = text[len("/image"):].strip()
            try:
                out.write((chat.attach(path) if path else "[usage: /image PATH, then your message]") + "\n")
            except UserInputError as exc:
                out.write(f"[not attached: {exc.one_line()}]\n")
            continue
        try:
            chat.ask(text)
        except UserInputError as exc:
            out.write(f"[not sent: {exc.one_line()}]\n")

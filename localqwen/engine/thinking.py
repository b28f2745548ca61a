"""Split a streamed answer into thinking (inside `<think>…</think>`) and content.

Tags can arrive cut across chunks ("<thi" + "nk>"), so text that may be the start of
a tag is held back until the next chunk settles it.
"""

from __future__ import annotations

from localqwen.engine.types import Delta

OPEN, CLOSE = "<think>", "</think>"


def partial_tag_len(text: str, tag: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkSplitter:
    """Feed text chunks, get `Delta`s. Start inside a think block when the prompt opened one.

    `enabled=False` passes everything through as content (FIM and raw completions).
    """

    def __init__(self, in_think: bool = False, *, enabled: bool = True) -> None:
        self.in_think = in_think
        self.enabled = enabled
        self._held = ""
        self._strip_leading = False  # drop the newline(s) right after a tag

    def feed(self, chunk: str) -> list[Delta]:
        if not self.enabled:
            return [Delta("content", chunk)] if chunk else []
        text = self._held + chunk
        self._held = ""
        out: list[Delta] = []
        while text:
            tag = CLOSE if self.in_think else OPEN
            pos = text.find(tag)
            if pos >= 0:
                self._emit(out, text[:pos])
                text = text[pos + len(tag):]
                self.in_think = not self.in_think
                self._strip_leading = True
                continue
            keep = partial_tag_len(text, tag)
            self._emit(out, text[: len(text) - keep])
            self._held = text[len(text) - keep:]
            break
        return out

    def flush(self) -> list[Delta]:
        out: list[Delta] = []
        self._emit(out, self._held)
        self._held = ""
        return out

    def _emit(self, out: list[Delta], text: str) -> None:
        if self._strip_leading:
            text = text.lstrip("\n")
            if not text:
                return
            self._strip_leading = False
        if not text:
            return
        kind = "reasoning" if self.in_think else "content"
        if out and out[-1].kind == kind:
            out[-1] = Delta(kind, out[-1].text + text)
        else:
            out.append(Delta(kind, text))


def split_thinking(text: str, in_think: bool = False) -> tuple[str, str]:
    """Whole-text form: (reasoning, content)."""
    splitter = ThinkSplitter(in_think)
    deltas = splitter.feed(text) + splitter.flush()
    reasoning = "".join(d.text for d in deltas if d.kind == "reasoning")
    content = "".join(d.text for d in deltas if d.kind == "content")
    return reasoning, content

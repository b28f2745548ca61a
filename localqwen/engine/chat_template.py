"""Render a GGUF's own Jinja chat template, with template variables such as `enable_thinking`.

llama-cpp-python's `create_chat_completion` cannot pass template variables, so we
render the text ourselves in a sandbox (templates come from downloaded files) and
complete it as a raw prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from localqwen.engine.types import ChatMessage
from localqwen.engine.errors import ChatTemplateError

SOFT_SWITCH = re.compile(r"(?<!\S)/(no_think|think)\b")
"""Qwen3's soft switch in a message; the TUI asks it too, so both read one pattern."""


def _raise(message: str) -> None:
    raise ChatTemplateError(f"the model's chat template refused the conversation: {message}")


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"the model's chat template does not parse: {exc}") from exc


def render_chat(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    enable_thinking: bool,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    try:
        return _compile(template).render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=add_generation_prompt,
            enable_thinking=enable_thinking,
            bos_token=bos_token,
            eos_token=eos_token,
        )
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"the model's chat template failed: {exc}") from exc


def soft_switch(messages: Sequence[ChatMessage]) -> bool | None:
    """Qwen3's `/think` and `/no_think`: the last one in the latest user message wins."""
    for message in reversed(messages):
        if message.role == "user":
            found = SOFT_SWITCH.findall(message.content)
            return None if not found else found[-1] == "think"
    return None


def has_thinking(template: str | None) -> bool:
    """The model has a thinking mode: its template knows `<think>` or `enable_thinking`
    (Qwen3 and later; Qwen2.5's does not)."""
    return bool(template) and ("<think>" in template or "enable_thinking" in template)


def opens_thinking(prompt: str) -> bool:
    """Does the rendered prompt end inside an open `<think>` block (Qwen3.6-style templates)?"""
    return prompt.rfind("<think>") > prompt.rfind("</think>") and prompt.rstrip().endswith("<think>")

"""Render a GGUF's own Jinja chat template, with template variables such as `enable_thinking`.

llama-cpp-python's `create_chat_completion` cannot pass template variables, so we
render the text ourselves in a sandbox (templates come from downloaded files) and
complete it as a raw prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
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


def _tojson(value: object, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """`tojson` as the templates were written for (Hugging Face's): keys in their order,
    text as it is. Jinja's own sorts keys and escapes <, > and & as \\u003c…, so tools
    reached the model in another shape than it was trained on."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = _tojson
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
    tools: Sequence[Mapping] | None = None,
) -> str:
    """`tools`: OpenAI function tools ({"type": "function", "function": {...}}), which the
    template describes to the model its own way; None or empty: none offered."""
    try:
        return _compile(template).render(
            messages=[_message(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            enable_thinking=enable_thinking,
            bos_token=bos_token,
            eos_token=eos_token,
            tools=list(tools) if tools else None,
        )
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"the model's chat template failed: {exc}") from exc


def _message(message: ChatMessage) -> dict[str, object]:
    """A message as templates read it. Calls carry their arguments as an object: Qwen's
    templates write them out with `tojson` or walk their items."""
    out: dict[str, object] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [{"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": _arguments(call.arguments)}}
                             for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _arguments(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def soft_switch(messages: Sequence[ChatMessage]) -> bool | None:
    """Qwen3's `/think` and `/no_think`: the last one in the latest user message wins."""
    for message in reversed(messages):
        if message.role == "user":
            found = SOFT_SWITCH.findall(message.content)
            return None if not found else found[-1] == "think"
    return None


def resolve_thinking(mode: str, asked: bool | None, messages: Sequence[ChatMessage], default: bool = True) -> bool:
    """Does this answer think? The model's `thinking_mode` first (a -Thinking-2507 model
    always does, an Instruct-2507 never), then what was asked, then `/think` or
    `/no_think` in the latest user message (passed on as `enable_thinking`, which Qwen3.5
    and 3.6 also obey), else the model's default (on, but for the smallest Qwen3.5)."""
    if mode in ("always", "never"):
        return mode == "always"
    return next(t for t in (asked, soft_switch(messages), default) if t is not None)


def thinking_mode_of(template: str | None) -> str:
    """A GGUF the catalog does not know: Qwen3's hybrid mode where its template knows
    thinking, else none."""
    return "hybrid" if has_thinking(template) else "never"


def has_thinking(template: str | None) -> bool:
    """The model has a thinking mode: its template knows `<think>` or `enable_thinking`
    (Qwen3 and later; Qwen2.5's does not)."""
    return bool(template) and ("<think>" in template or "enable_thinking" in template)


def opens_thinking(prompt: str) -> bool:
    """Does the rendered prompt end inside an open `<think>` block (Qwen3.6-style templates)?"""
    return prompt.rfind("<think>") > prompt.rfind("</think>") and prompt.rstrip().endswith("<think>")

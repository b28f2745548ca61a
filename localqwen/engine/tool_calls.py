"""Tool calls in the model's own words: which form its template teaches, the calls read
back out of its answer, and the grammar that makes a call certain when one is required.

Qwen2.5 and Qwen3 answer `<tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>`;
Qwen3-Coder answers `<tool_call>\\n<function=NAME>\\n<parameter=P>\\nVALUE\\n</parameter>\\n
</function>\\n</tool_call>`. The form is read from each GGUF's template, never assumed.
Pure text work: no model, no I/O.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Literal

from localqwen.engine.errors import GrammarError
from localqwen.engine.thinking import partial_tag_len
from localqwen.engine.types import ToolCall, ToolUse

OPEN, CLOSE = "<tool_call>", "</tool_call>"
ToolForm = Literal["json", "xml"]


def new_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_form(template: str | None) -> ToolForm | None:
    """How the template asks for calls: Qwen3-Coder's XML, the JSON form, or none at all."""
    if not template or "tools" not in template:
        return None
    if "<function=" in template:
        return "xml"
    return "json" if OPEN in template else None


def parse_call(body: str, form: ToolForm, tools: Sequence[Mapping]) -> ToolCall | None:
    """One call from the text between the tags; None when it does not parse as one."""
    if form == "json":
        try:
            call = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return None
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):  # some answers give the arguments already as text
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return None
        if not isinstance(arguments, dict):
            return None
        return ToolCall(call["name"], json.dumps(arguments, ensure_ascii=False), new_id())
    found = re.fullmatch(r"\s*<function=([^>\n]+)>(.*?)</function>\s*", body, re.S)
    if not found:
        return None
    name = found.group(1).strip()
    types = _parameter_types(tools, name)
    arguments = {}
    for key, value in re.findall(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", found.group(2), re.S):
        arguments[key.strip()] = _typed(value, types.get(key.strip()))
    return ToolCall(name, json.dumps(arguments, ensure_ascii=False), new_id())


def _parameter_types(tools: Sequence[Mapping], name: str) -> dict[str, object]:
    for tool in tools:
        function = tool.get("function", {})
        if function.get("name") == name:
            properties = (function.get("parameters") or {}).get("properties") or {}
            return {key: spec.get("type") for key, spec in properties.items() if isinstance(spec, dict)}
    return {}


def _typed(value: str, kind: object) -> object:
    """XML parameters are text; a parameter the schema types otherwise is read as JSON."""
    if kind in (None, "string"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


class ToolCallSplitter:
    """Feed the answer's content as it streams; get text and `ToolCall`s back in order.

    Text that may be the start of `<tool_call>` (and newlines, which go with a call that
    follows) is held until the next piece settles it; a call is given once its closing
    tag has come. A block that does not parse as a
    call is given back as the text it was. With `parallel` false (`parallel_tool_calls`),
    calls after the first are dropped: a model left free may still write more."""

    def __init__(self, form: ToolForm, tools: Sequence[Mapping], parallel: bool = True) -> None:
        self.form, self.tools, self.parallel = form, tools, parallel
        self._called = False
        self._text = ""
        self._inside = False
        self._began = False  # any text given out yet
        self._bare = False  # the answer opened with "{": held whole, it may be a call without tags

    def feed(self, piece: str) -> list[str | ToolCall]:
        self._text += piece
        out: list[str | ToolCall] = []
        if not self._began and self.form == "json" and self._text.lstrip().startswith("{"):
            self._bare = True
        if self._bare:
            return out
        while self._text:
            if not self._inside:
                at = self._text.find(OPEN)
                if at < 0:  # held: what may begin the tag, and newlines a call would swallow
                    sure = self._text[: len(self._text) - partial_tag_len(self._text, OPEN)].rstrip("\n")
                    _add_text(out, sure)
                    self._text = self._text[len(sure):]
                    break
                _add_text(out, self._text[:at].rstrip("\n") if at else "")
                self._text, self._inside = self._text[at + len(OPEN):], True
            end = self._text.find(CLOSE)
            if end < 0:
                break
            body, self._text, self._inside = self._text[:end], self._text[end + len(CLOSE):].lstrip("\n"), False
            call = parse_call(body, self.form, self.tools)
            if call is None:
                out.append(OPEN + body + CLOSE)
            elif self.parallel or not self._called:
                out.append(call)
            self._called = self._called or call is not None
        self._began = self._began or bool(out)
        return out

    def flush(self) -> list[str | ToolCall]:
        """The end of the answer: what is held goes out as text (an unclosed call too)."""
        if self._bare:
            self._bare = False
            calls = self._bare_calls(self._text)
            if calls:
                self._text = ""
                return list(calls)
            self._began = True
            return self.feed("") + self.flush()
        held = (OPEN if self._inside else "") + self._text
        self._text, self._inside = "", False
        return [held] if held else []

    def _bare_calls(self, text: str) -> list[ToolCall]:
        """Small models (Qwen2.5-Coder-0.5B) often answer a call as bare JSON, without the
        tags: taken as calls only when the whole answer is such objects (one, or one a
        line), each naming an offered tool."""
        offered = {t["function"]["name"] for t in self.tools}
        bodies = [text] if _is_json(text) else [line for line in text.splitlines() if line.strip()]
        calls = [parse_call(body, "json", self.tools) for body in bodies]
        if calls and all(c is not None and c.name in offered for c in calls):
            return calls if self.parallel else calls[:1]  # type: ignore[return-value]
        return []


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _add_text(out: list[str | ToolCall], text: str) -> None:
    if text:
        out.append(text)


def one_shape(use: ToolUse | None, grammar: str | None) -> None:
    """A required call and a response format each decide the whole answer: not both."""
    if use is not None and use.forced and grammar is not None:
        raise GrammarError("a response format and a required tool call cannot both shape one answer")


def call_grammar(use: ToolUse, form: ToolForm) -> str:
    """GBNF for an answer that is calls and nothing else (`tool_choice` "required", or one
    function named), one call only where `parallel_tool_calls` is false, with arguments
    valid under each tool's parameters schema (JSON form) or naming its parameters (XML)."""
    from localqwen.engine.grammar import json_schema_grammar

    only = None if use.choice == "required" else use.choice
    chosen = [t["function"] for t in use.tools if only is None or t["function"]["name"] == only]
    if not chosen:
        raise GrammarError(f"tool_choice names {only!r}, which is not among the tools")
    root = 'root ::= block ("\\n" block)*' if use.parallel else "root ::= block"
    if form == "json":
        schema = {"anyOf": [{"type": "object", "properties": {"name": {"const": f["name"]},
                                                               "arguments": f.get("parameters") or {"type": "object"}},
                             "required": ["name", "arguments"], "additionalProperties": False} for f in chosen]}
        inner = json_schema_grammar(schema, what="the tools' parameters")
        inner = re.sub(r"^root ::=", "call ::=", inner, flags=re.M)
        return inner + f'\n{root}\nblock ::= "<tool_call>\\n" call "\\n</tool_call>"\n'
    rules = [root, 'block ::= "<tool_call>\\n<function=" function "</function>\\n</tool_call>"',
             "function ::= " + " | ".join(f"fn{i}" for i in range(len(chosen))),
             'value ::= [^<]*']
    for i, function in enumerate(chosen):
        names = list(((function.get("parameters") or {}).get("properties") or {}).keys())
        param = " | ".join(f'"<parameter={_gbnf_text(n)}>\\n" value "\\n</parameter>\\n"' for n in names)
        rules.append(f'fn{i} ::= "{_gbnf_text(function["name"])}>\\n"' + (f" ({param})*" if names else ""))
    return "\n".join(rules) + "\n"


def _gbnf_text(text: str) -> str:
    return json.dumps(text)[1:-1]

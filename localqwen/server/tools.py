"""OpenAI tool calling on `/v1/chat/completions`: `tools`, `tool_choice`, the messages that
carry calls and their results, and the `tool_calls` an answer gives back.

What the model sees and says is its template's business (engine/tool_calls.py reads
the form); here the request is checked field by field and the answer shaped as the
OpenAI SDKs read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from localqwen.engine.tool_calls import ToolForm
from localqwen.engine.types import ToolCall, ToolUse
from localqwen.server.errors import ApiError


def parse_tools(body: dict, form: ToolForm | None, model: str) -> ToolUse:
    """The request's tools and what it asks of them; none where `tool_choice` is "none"."""
    raw = body.get("tools")
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise ApiError(400, "'parallel_tool_calls' must be true or false")
    if raw is None or raw == []:
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise ApiError(400, "'tool_choice' asks for a call but 'tools' is empty")
        return ToolUse()
    if not isinstance(raw, list):
        raise ApiError(400, "'tools' must be a list")
    tools = tuple(_tool(tool, i) for i, tool in enumerate(raw))
    names = [t["function"]["name"] for t in tools]
    if len(set(names)) != len(names):
        raise ApiError(400, "'tools' names a function twice")
    choice = _choice(body.get("tool_choice", "auto"), names)
    if choice == "none":
        return ToolUse()
    if form is None:
        raise ApiError(400, f"{model}: its chat template has no tool calls, so 'tools' cannot be offered to it")
    return ToolUse(tools, choice, parallel)


def _tool(tool: object, i: int) -> dict:
    where = f"tools[{i}]"
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise ApiError(400, f"'{where}' must be an object of type \"function\"")
    function = tool.get("function")
    if not isinstance(function, dict):
        raise ApiError(400, f"'{where}.function' must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not name or len(name) > 64 or any(c in name for c in "<>\n\" "):
        raise ApiError(400, f"'{where}.function.name' must be a name of 1 to 64 characters without spaces, quotes or <>")
    description = function.get("description", "")
    if not isinstance(description, str):
        raise ApiError(400, f"'{where}.function.description' must be a string")
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise ApiError(400, f"'{where}.function.parameters' must be a JSON schema of type object")
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise ApiError(400, f"'{where}.function.strict' must be true or false")
    kept: dict[str, object] = {"name": name, "description": description, "parameters": parameters}
    if strict is not None:  # a remote server may hold the arguments to the schema only where asked
        kept["strict"] = strict
    return {"type": "function", "function": kept}


def _choice(choice: object, names: Sequence[str]) -> str:
    if choice in ("auto", "none", "required"):
        return str(choice)
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise ApiError(400, "'tool_choice' must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}")
    if name not in names:
        raise ApiError(400, f"'tool_choice.function.name' is {name!r}, which is not among the tools")
    return name


def message_calls(message: Mapping, i: int) -> tuple[ToolCall, ...]:
    """An assistant message's `tool_calls`, as the client sent them back."""
    raw = message.get("tool_calls")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ApiError(400, f"'messages[{i}].tool_calls' must be a list")
    calls = []
    for j, call in enumerate(raw):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ApiError(400, f"'{where}.function.name' must be a string")
        arguments = function.get("arguments", "{}")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        if not isinstance(arguments, str):
            raise ApiError(400, f"'{where}.function.arguments' must be a JSON object as a string")
        ident = call.get("id", "")
        if not isinstance(ident, str):
            raise ApiError(400, f"'{where}.id' must be a string")
        calls.append(ToolCall(function["name"], arguments, ident))
    return tuple(calls)


def check_results(roles: Sequence[str], calls: Sequence[tuple[ToolCall, ...]], answers: Sequence[str | None]) -> None:
    """Each tool message answers a call of the assistant turn before it (by id, where given)."""
    open_ids: set[str] | None = None
    for i, (role, made, answered) in enumerate(zip(roles, calls, answers)):
        if role == "assistant":
            open_ids = {call.id for call in made} if made else None
        elif role == "tool":
            if open_ids is None:
                raise ApiError(400, f"'messages[{i}]' is a tool result, but no assistant message with tool_calls comes before it")
            if answered is not None and answered not in open_ids:
                raise ApiError(400, f"'messages[{i}].tool_call_id' is {answered!r}, which no call before it has")
        else:
            open_ids = None


def call_object(call: ToolCall) -> dict:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def call_delta(call: ToolCall, index: int) -> dict:
    """A call as a streamed delta: whole, in one piece, which the SDKs accumulate as well."""
    return {"index": index, **call_object(call)}

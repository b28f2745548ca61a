"""OpenAI-compatible routes: `/v1/completions` (with real FIM for `suffix`), `/v1/chat/completions`, `/v1/models`.

Thinking comes back as `reasoning_content` beside `content`, as OpenAI-style servers
for Qwen do; `chat_template_kwargs.enable_thinking` is honoured because we render the
model's template ourselves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from localqwen import __version__
from localqwen.engine.backend import Backend
from localqwen.engine.chat_template import resolve_thinking
from localqwen.engine.tool_calls import ToolCallSplitter, tool_form
from localqwen.engine.types import ChatMessage, GenerationStats, Image, ModelInfo, Sampling, message_with_images
from localqwen.server import images, parse, tools
from localqwen.server.bridge import deltas, sse
from localqwen.server.errors import ApiError
from localqwen.server.results import OPENAI_FINISH

ROLES = ("system", "user", "assistant", "tool")
ROLE_NAMES = {"developer": "system"}  # OpenAI's newer name for the system message
FINGERPRINT = f"localqwen-{__version__}"  # OpenAI's system_fingerprint: which server build answered
ALIAS = "localqwen"  # listed by /v1/models, for client configs written before a model is chosen


def _route(request: Request, body: dict, default: str) -> tuple[Backend, str]:
    """The backend a request goes to, and the name its answer carries.

    Any `model` is accepted, as llama-server accepts it (clients send their own labels:
    "gpt-4o", "default", ""). Where a separate completion model is served (--fim-model),
    a name that is one of the two models goes to it; any other goes to the route's
    `default` ("chat" or "fim"). The answer names the model that served it."""
    host = request.app.state.host
    name = parse.text(body, "model", "")
    if host.fim.info.path != host.chat.info.path:  # a separate completion model (--fim-model)
        names_fim, names_chat = name == host.fim.info.name, name in (host.chat.info.name, host.name)
        if names_fim != names_chat:  # one of the two, unambiguously
            default = "fim" if names_fim else "chat"
        if default == "fim":
            return host.fim, host.fim.info.name
    return (host.fim if default == "fim" else host.chat), host.name


def _sampling(body: dict, base: Sampling) -> Sampling:
    return replace(
        base,
        temperature=parse.number(body, "temperature", base.temperature, 0.0, 2.0),
        top_p=parse.number(body, "top_p", base.top_p, 1e-6, 1.0),
        top_k=parse.integer(body, "top_k", base.top_k, 0, 100_000),
        min_p=parse.number(body, "min_p", base.min_p, 0.0, 1.0),
        presence_penalty=parse.number(body, "presence_penalty", base.presence_penalty, -2.0, 2.0),
        seed=parse.integer(body, "seed", -1, -(2**63), 2**63 - 1) if body.get("seed") is not None else None,
    )


def _usage(stats: GenerationStats) -> dict[str, int]:
    return {"prompt_tokens": stats.prompt_n, "completion_tokens": stats.predicted_n,
            "total_tokens": stats.prompt_n + stats.predicted_n}


def _wants_usage(body: dict) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def models(request: Request) -> Response:
    host = request.app.state.host
    separate = host.fim.info.path != host.chat.info.path
    names = dict.fromkeys([host.name, host.chat.info.name, host.fim.info.name, ALIAS])
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "localqwen", "max_model_len": host.chat.info.n_ctx,
             "capabilities": _capabilities(host.fim.info if separate and n == host.fim.info.name else host.chat.info)}
            for n in names]
    return JSONResponse({"object": "list", "data": data})


def _capabilities(info: ModelInfo) -> list[str]:
    """As llama-server lists them: clients look for "multimodal" before they send an image."""
    return ["completion", "multimodal"] if info.vision else ["completion"]


async def completions(request: Request) -> Response:
    body = parse.parse_json(await request.body())
    engine, model = _route(request, body, "fim")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be a string (one prompt per request)")
    _one_choice_no_logprobs(body)
    if parse.flag(body, "echo"):
        raise ApiError(400, "'echo' is not supported")
    max_tokens = parse.integer(body, "max_tokens", 16, 0, engine.info.n_ctx)
    sampling = _sampling(body, Sampling(temperature=1.0, top_p=1.0, top_k=0))
    stop = parse.stop_list(body)
    suffix = parse.text(body, "suffix", None) if body.get("suffix") is not None else None
    group = request.app.state.host.newest_completion()  # the completion in flight is stale now
    # The prompt is tokenized off the event loop, so /health and other requests are answered meanwhile.
    if suffix is not None:
        stream = await asyncio.to_thread(engine.fim, prompt, suffix, max_tokens=max_tokens, sampling=sampling, stop=stop)
    else:
        stream = await asyncio.to_thread(engine.complete, prompt, max_tokens=max_tokens, sampling=sampling, stop=stop)
    group.track(stream)
    ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

    def envelope(text: str, finish: str | None) -> dict:
        return {"id": ident, "object": "text_completion", "created": created, "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}

    if not parse.flag(body, "stream"):
        text = "".join([d.text async for d in deltas(stream, request)])
        request.state.stats = stream.stats
        result = envelope(text, OPENAI_FINISH.get(stream.stats.stop_reason, "stop"))
        return JSONResponse({**result, "usage": _usage(stream.stats)})

    async def events() -> AsyncIterator[bytes]:
        async for delta in deltas(stream, request):
            yield sse(envelope(delta.text, None))
        request.state.stats = stream.stats
        yield sse(envelope("", OPENAI_FINISH.get(stream.stats.stop_reason, "stop")))
        if _wants_usage(body):
            yield sse({**envelope("", None), "choices": [], "usage": _usage(stream.stats)})
        yield sse("[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream")


def _messages(body: dict, allow_image_urls: bool) -> list[ChatMessage]:
    """The conversation; images are decoded (and, where allowed, fetched) here, so this
    runs off the event loop."""
    raw = parse.objects(body, "messages")
    if not raw:
        raise ApiError(400, "'messages' must be a non-empty list")
    out = []
    for i, message in enumerate(raw):
        role = message.get("role")
        role = ROLE_NAMES.get(role, role) if isinstance(role, str) else role
        if role not in ROLES:
            raise ApiError(400, f"messages[{i}].role must be one of {', '.join(ROLES)} (or developer)")
        content = message.get("content")
        images: tuple[Image, ...] = ()
        if isinstance(content, list):
            with_images = _parts(content, i, role, allow_image_urls)
            content, images = with_images.content, with_images.images
        if content is None and role == "assistant":
            content = ""
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts")
        calls = tools.message_calls(message, i) if role == "assistant" else ()
        answers = message.get("tool_call_id") if role == "tool" else None
        if answers is not None and not isinstance(answers, str):
            raise ApiError(400, f"messages[{i}].tool_call_id must be a string")
        out.append(ChatMessage(role, content, calls, answers, images))
    tools.check_results([m.role for m in out], [m.tool_calls for m in out], [m.tool_call_id for m in out])
    return out


def _parts(content: list, i: int, role: str, allow_image_urls: bool) -> ChatMessage:
    """Content parts: text, and images in a user message; any other part is refused, never dropped unseen."""
    parts: list[str | Image] = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict):
            raise ApiError(400, f"messages[{i}].content parts must be objects")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "image_url" and role == "user":
            parts.append(images.image_part(part, where, allow_image_urls))
        elif kind == "image_url":
            raise ApiError(400, f"{where}: images go in user messages, not in a {role} message")
        else:
            raise ApiError(400, f"{where} is a {kind!r} part: text and image_url parts are read")
    return message_with_images("user", parts)


def _one_choice_no_logprobs(body: dict) -> None:
    """What the engine cannot give is refused, not silently ignored."""
    if body.get("n") not in (None, 1):
        raise ApiError(400, "'n' other than 1 is not supported: one choice per request")
    for name in ("logprobs", "top_logprobs"):
        if body.get(name) not in (None, False, 0):
            raise ApiError(400, f"'{name}' is not supported")


def _response_format(body: dict) -> str | None:
    """OpenAI's `response_format` as a grammar: json_object (any object), json_schema, or text (none)."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise ApiError(400, "'response_format.type' must be text, json_object or json_schema")
    if kind == "text":
        return None
    from localqwen.engine.grammar import ANY_OBJECT, json_schema_grammar  # llama.cpp's converter: loaded when asked for

    if kind == "json_object":
        return json_schema_grammar(ANY_OBJECT)
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return json_schema_grammar(schema, what="'response_format.json_schema.schema'")


def _thinking(body: dict) -> bool | None:
    kwargs = body.get("chat_template_kwargs")
    if kwargs is None:
        return None
    if not isinstance(kwargs, dict):
        raise ApiError(400, "'chat_template_kwargs' must be an object")
    value = kwargs.get("enable_thinking")
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, "'chat_template_kwargs.enable_thinking' must be true or false")
    return value


async def chat_completions(request: Request) -> Response:
    body = parse.parse_json(await request.body())
    engine, model = _route(request, body, "chat")
    _one_choice_no_logprobs(body)
    messages = await asyncio.to_thread(_messages, body, request.app.state.settings.allow_image_urls)
    thinking = _thinking(body)
    limit = engine.info.n_ctx
    field = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = parse.integer(body, field, 0, 1, limit) if body.get(field) is not None else None
    grammar = _response_format(body)
    form = engine.info.tool_form or tool_form(engine.info.chat_template)
    offered = tools.parse_tools(body, form, model)
    if grammar is not None or offered.forced:
        thinking = False  # the grammar holds from the first token: no <think> part before the JSON
    info = engine.info
    preset_thinking = resolve_thinking(info.thinking_mode, thinking, messages, info.thinking_default)  # as the prompt will
    sampling = replace(_sampling(body, engine.presets.for_chat(preset_thinking)), grammar=grammar)
    stream = await asyncio.to_thread(engine.chat, messages, thinking=thinking, sampling=sampling, max_tokens=max_tokens,
                                     stop=parse.stop_list(body), tools=offered)  # tokenized off the event loop
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    include_usage = _wants_usage(body)

    def chunk(delta: dict, finish: str | None) -> dict:
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    calls = ToolCallSplitter(form, offered.tools, offered.parallel) if offered.tools and form is not None else None

    def finish(made_calls: bool) -> str:
        return "tool_calls" if made_calls else OPENAI_FINISH.get(stream.stats.stop_reason, "stop")

    if not parse.flag(body, "stream"):
        parts: dict[str, list[str]] = {"reasoning": [], "content": []}
        async for delta in deltas(stream, request):
            parts[delta.kind].append(delta.text)
        request.state.stats = stream.stats
        content, made = "".join(parts["content"]), []
        if calls is not None:
            items = calls.feed(content) + calls.flush()
            content = "".join(item for item in items if isinstance(item, str))
            made = [item for item in items if not isinstance(item, str)]
        message: dict[str, object] = {"role": "assistant", "content": content if content or not made else None}
        if parts["reasoning"]:
            message["reasoning_content"] = "".join(parts["reasoning"])
        if made:
            message["tool_calls"] = [tools.call_object(call) for call in made]
        return JSONResponse({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "message": message, "finish_reason": finish(bool(made))}],
            "usage": _usage(stream.stats),
        })

    async def events() -> AsyncIterator[bytes]:
        yield sse(chunk({"role": "assistant", "content": ""}, None))
        made = 0

        def content_events(items: list) -> list[bytes]:
            nonlocal made
            out = []
            for item in items:
                if isinstance(item, str):
                    out.append(sse(chunk({"content": item}, None)))
                else:
                    out.append(sse(chunk({"tool_calls": [tools.call_delta(item, made)]}, None)))
                    made += 1
            return out

        async for delta in deltas(stream, request):
            if delta.kind == "reasoning":
                yield sse(chunk({"reasoning_content": delta.text}, None))
                continue
            for event in content_events(calls.feed(delta.text) if calls is not None else [delta.text]):
                yield event
        for event in content_events(calls.flush() if calls is not None else []):
            yield event
        request.state.stats = stream.stats
        yield sse(chunk({}, finish(made > 0)))
        if include_usage:
            yield sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "system_fingerprint": FINGERPRINT, "choices": [], "usage": _usage(stream.stats)})
        yield sse("[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream")

"""llama.cpp server's own routes, as editors send them: `/infill` and `/completion`.

`/infill` is what llama.vim and llama.vscode post on every pause in typing;
`/completion` is what Continue's llama.cpp provider posts with a FIM prompt it
rendered itself (special tokens written in the text are parsed as tokens).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from localqwen.engine.stream import Stream
from localqwen.engine.types import MEDIA_MARKER, ExtraChunk, Image, Sampling
from localqwen.server import images, parse
from localqwen.server.bridge import deltas, sse
from localqwen.server.errors import ApiError
from localqwen.server.guard import EditorGuard
from localqwen.server.results import Outcome, flatten_fields, llama_result

MAX_CMPL = 8
MAX_EXTRA_CHUNKS = 256
"""`input_extra` chunks one request may carry: llama.vim keeps 16 (its ring buffer), and each
chunk costs a tokenizer call, so a body of thousands is refused, not worked through."""
INFILL_PREDICT = 128
"""Tokens an `/infill` without `n_predict` may generate (llama.vim asks for 128): reserving
the whole context for the answer left room for ~1 prompt token."""


@dataclass
class GenParams:
    n_predict: int
    sampling: Sampling
    stop: list[str]
    stream: bool
    n_indent: int = 0
    t_max_prompt_ms: int = 0
    t_max_predict_ms: int = 0
    id_slot: int = -1
    n_cmpl: int = 1
    response_fields: list[str] = field(default_factory=list)


def parse_gen(body: dict, n_ctx: int, default_temperature: float) -> GenParams:
    n_predict = parse.integer(body, "n_predict", -1, -1, n_ctx)
    n_cmpl = parse.integer(body, "n_cmpl", 1, 1, MAX_CMPL)
    temperature = parse.number(body, "temperature", None, 0.0, 5.0)
    if temperature is None:
        temperature = default_temperature if n_cmpl == 1 else 0.8
    sampling = Sampling(
        temperature=temperature,
        top_k=parse.integer(body, "top_k", 40, 0, 100_000),
        top_p=parse.number(body, "top_p", 0.95, 1e-6, 1.0) or 1.0,
        min_p=parse.number(body, "min_p", 0.05, 0.0, 1.0) or 0.0,
        presence_penalty=parse.number(body, "presence_penalty", 0.0, -2.0, 2.0) or 0.0,
        repeat_penalty=parse.number(body, "repeat_penalty", 1.0, 0.0, 10.0) or 1.0,
        seed=parse.integer(body, "seed", -1, -1, 2**32 - 1) if body.get("seed", -1) != -1 else None,
    )
    parse.flag(body, "cache_prompt", True)  # always on; checked only for its type
    grammar = _grammar(body)
    if grammar is not None:
        sampling = replace(sampling, grammar=grammar)
    parse.string_list(body, "samplers")
    return GenParams(
        n_predict=n_predict,
        sampling=sampling,
        stop=parse.stop_list(body),
        stream=parse.flag(body, "stream"),
        n_indent=parse.integer(body, "n_indent", 0, 0, 10_000),
        t_max_prompt_ms=parse.integer(body, "t_max_prompt_ms", 0, 0, 10_000_000),
        t_max_predict_ms=parse.integer(body, "t_max_predict_ms", 0, 0, 10_000_000),
        id_slot=parse.integer(body, "id_slot", -1, -1, 1_000_000),
        n_cmpl=n_cmpl,
        response_fields=parse.string_list(body, "response_fields"),
    )


def _grammar(body: dict) -> str | None:
    """llama-server's structured output: `json_schema` (an object) or `grammar` (GBNF text)."""
    schema = body.get("json_schema")
    if schema is not None:
        from localqwen.engine.grammar import json_schema_grammar  # llama.cpp's converter: loaded when asked for

        if body.get("grammar") is not None:
            raise ApiError(400, "give 'json_schema' or 'grammar', not both")
        return json_schema_grammar(schema, what="'json_schema'")
    text = parse.text(body, "grammar", None)
    return text or None


def parse_extra(body: dict) -> list[ExtraChunk]:
    chunks = []
    items = parse.objects(body, "input_extra")
    if len(items) > MAX_EXTRA_CHUNKS:
        raise ApiError(400, f"'input_extra' has {len(items)} chunks; at most {MAX_EXTRA_CHUNKS} are taken")
    for item in items:
        chunks.append(ExtraChunk(parse.text(item, "filename", ""), parse.text(item, "text", "")))
    return chunks


class Run:
    """One stream driven to its end through the editor guard; `outcome` is set when done."""

    def __init__(self, stream: Stream, params: GenParams, request: Request) -> None:
        if params.t_max_prompt_ms and params.n_predict != 0:  # a warm-up (n_predict 0) exists to fill the cache
            stream.prompt_time_limit_s = params.t_max_prompt_ms / 1000
        self.stream = stream
        self.params = params
        self.request = request
        self.outcome: Outcome | None = None

    async def texts(self) -> AsyncIterator[str]:
        guard = EditorGuard(self.params.n_indent, self.params.t_max_predict_ms)
        pieces: list[str] = []
        async with aclosing(deltas(self.stream, self.request)) as streamed:  # a stop ends the stream before its stats are read
            async for delta in streamed:
                released = guard.feed(delta.text)
                if released:
                    pieces.append(released)
                    yield released
                if guard.stopped:
                    self.stream.cancel()
                    break
        tail = guard.flush()
        if tail:
            pieces.append(tail)
            yield tail
        self.outcome = Outcome("".join(pieces), self.stream.stats, guard.stopped, guard.has_new_line, self.params.stop)
        self.request.state.outcome = self.outcome

    async def finish(self) -> Outcome:
        async for _ in self.texts():
            pass
        assert self.outcome is not None
        return self.outcome


async def infill(request: Request) -> Response:
    host = request.app.state.host
    body = parse.parse_json(await request.body())
    engine = host.fim
    params = parse_gen(body, engine.info.n_ctx, engine.presets.fim.temperature)
    prefix = parse.text(body, "input_prefix") + parse.text(body, "prompt", "")
    suffix = parse.text(body, "input_suffix")
    extra = parse_extra(body)
    parse.text(body, "model", "")
    group = host.newest_completion()  # the request in flight is stale now

    def start(i: int) -> Stream:
        sampling = params.sampling if i == 0 else _reseeded(params.sampling, i)
        max_tokens = INFILL_PREDICT if params.n_predict < 0 else params.n_predict
        return group.track(engine.fim(prefix, suffix, extra=extra, max_tokens=max_tokens, sampling=sampling, stop=params.stop))

    return await _respond(request, params, start, engine.info.name)


async def completion(request: Request) -> Response:
    host = request.app.state.host
    body = parse.parse_json(await request.body())
    prompt, pictures = await asyncio.to_thread(_prompt_and_images, body)
    engine = host.chat if pictures else host.fim  # the model with the projector reads images
    params = parse_gen(body, engine.info.n_ctx, 0.8)
    group = host.newest_completion()

    def start(i: int) -> Stream:
        max_tokens = None if params.n_predict < 0 else params.n_predict
        return group.track(engine.complete(prompt, max_tokens=max_tokens, sampling=_reseeded(params.sampling, i),
                                           stop=params.stop, images=pictures))

    return await _respond(request, params, start, engine.info.name)


IMAGE_TAG = re.compile(r"\[img-(\d+)\]")


def _prompt_and_images(body: dict) -> tuple[str, list[Image]]:
    """The prompt and its images: llama-server's `{"prompt_string", "multimodal_data": [base64]}`
    with a MEDIA_MARKER for each, or its older `image_data: [{"data", "id"}]` with `[img-ID]`
    in the prompt text."""
    prompt = body.get("prompt")
    if isinstance(prompt, dict):
        text, media = prompt.get("prompt_string"), prompt.get("multimodal_data", [])
        if not isinstance(text, str) or not isinstance(media, list):
            raise ApiError(400, "a 'prompt' object needs 'prompt_string' (a string) and 'multimodal_data' (a list)")
        return text, [images.image_from_base64(item, f"prompt.multimodal_data[{i}]") for i, item in enumerate(media)]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' is required and must be a string (or llama-server's multimodal prompt object)")
    given = body.get("image_data")
    if given is None:
        return prompt, []
    if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
        raise ApiError(400, "'image_data' must be a list of {\"data\": base64, \"id\": N} objects")
    by_id = {item.get("id"): (i, item.get("data")) for i, item in enumerate(given)}
    pictures: list[Image] = []
    for tag in IMAGE_TAG.finditer(prompt):
        if int(tag[1]) not in by_id:
            raise ApiError(400, f"the prompt names {tag[0]} but 'image_data' has no image with id {tag[1]}")
        i, data = by_id[int(tag[1])]
        pictures.append(images.image_from_base64(data, f"image_data[{i}]"))
    return IMAGE_TAG.sub(lambda _: MEDIA_MARKER, prompt.replace(MEDIA_MARKER, "")), pictures


def _reseeded(sampling: Sampling, i: int) -> Sampling:
    if i == 0:
        return sampling
    return replace(sampling, seed=(sampling.seed or 0) + i)


async def _respond(request: Request, params: GenParams, start, model: str) -> Response:
    def shape(outcome: Outcome, index: int) -> dict:
        result = llama_result(outcome, model=model, index=index, id_slot=params.id_slot)
        return flatten_fields(result, params.response_fields) if params.response_fields else result

    # Building a prompt tokenizes the whole body: off the event loop, so /health and the
    # other requests are answered meanwhile.
    if not params.stream:
        results = [shape(await Run(await asyncio.to_thread(start, i), params, request).finish(), i)
                   for i in range(params.n_cmpl)]
        return JSONResponse(results[0] if params.n_cmpl == 1 else results)

    first = await asyncio.to_thread(start, 0)  # a prompt too long or the like is a 400 before the stream opens

    async def events() -> AsyncIterator[bytes]:
        for i in range(params.n_cmpl):
            run = Run(first if i == 0 else await asyncio.to_thread(start, i), params, request)
            async for text in run.texts():
                yield sse({"index": i, "content": text, "stop": False})
            assert run.outcome is not None
            final = shape(run.outcome, i)
            if "content" in final:
                final["content"] = ""  # as llama-server: the text came in the chunks; clients append them
            yield sse(final)

    return StreamingResponse(events(), media_type="text/event-stream")

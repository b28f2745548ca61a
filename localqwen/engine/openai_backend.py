"""Any OpenAI-compatible server (vLLM, llama-server, another localqwen) behind the `Backend` interface.

Chat streams `/v1/chat/completions` and splits `reasoning_content` (vLLM: `reasoning`) from `content`
(with a `<think>` splitter for servers that inline it); FIM goes through
`/v1/completions` with the model's FIM markers written in the prompt, which
llama.cpp-based servers and vLLM parse as special tokens for Qwen models. Closing
the HTTP stream is the cancel: servers that watch for disconnects stop generating.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import httpx

from localqwen.engine.fim import FIM_TEXTS
from localqwen.engine.sampling import QWEN_PRESETS, Presets
from localqwen.engine.stream import Stream
from localqwen.engine.thinking import ThinkSplitter
from localqwen.engine.tool_calls import one_shape
from localqwen.engine.images import check_image
from localqwen.engine.types import (
    MEDIA_MARKER, ChatMessage, Delta, ExtraChunk, FimTokens, Image, ModelInfo, Sampling, ToolUse,
)
from localqwen.engine.errors import BackendError, ImagesUnsupportedError

UNKNOWN_CTX = 32768  # when the server does not say (vLLM and localqwen report max_model_len)
TEXT_FIM = FimTokens(prefix=-1, suffix=-1, middle=-1, source="vocab")  # markers sent as text


class OpenAIBackend:
    def __init__(self, base_url: str, *, api_key: str | None = None, model: str | None = None,
                 presets: Presets = QWEN_PRESETS, timeout: float = 600.0,
                 on_close: Callable[[], None] | None = None) -> None:
        """`on_close` runs after the client closes: e.g. stopping the vLLM child behind it."""
        self.base_url = base_url.rstrip("/")
        self._on_close = on_close
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=10))
        self.presets = presets
        self._active: set[Stream] = set()
        self._guard = threading.Lock()
        entry = self._model_entry(model)
        n_ctx = int(entry.get("max_model_len") or UNKNOWN_CTX)
        self.info = ModelInfo(path=self.base_url, name=entry["id"], architecture="remote", n_ctx=n_ctx,
                              n_ctx_train=n_ctx, n_vocab=0, chat_template=None, fim=TEXT_FIM, tool_form="json",
                              vision=_sees(entry))

    def _model_entry(self, wanted: str | None) -> dict:
        try:
            response = self._http.get("/models")
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.base_url}: cannot reach the server ({exc})") from None
        if response.status_code == 401:
            raise BackendError(f"{self.base_url}: the server wants an API key (--backend-api-key)")
        try:
            data = response.json().get("data") or []
        except (ValueError, AttributeError):
            data = []
        if response.status_code != 200 or not data:
            raise BackendError(f"{self.base_url}/models: not an OpenAI-compatible server (HTTP {response.status_code})")
        for entry in data:
            if wanted is None or entry.get("id") == wanted:
                return entry
        names = ", ".join(str(e.get("id")) for e in data)
        raise BackendError(f"{self.base_url}: no model {wanted!r}; it serves {names}")

    # --- requests ---------------------------------------------------------------------

    def chat(self, messages: Sequence[ChatMessage], *, thinking: bool | None = None, sampling: Sampling | None = None,
             max_tokens: int | None = None, stop: Sequence[str] = (), tools: ToolUse | None = None) -> Stream:
        """`tools` go to the server in OpenAI's words (`tool_choice`, `parallel_tool_calls`),
        for its own tool parser to hold the answer to them; its answer's calls (structured
        fields) come back as Qwen's JSON `<tool_call>` text (`info.tool_form`), which the
        caller reads as it reads a local model's."""
        sampling = sampling or self.presets.for_chat(thinking is not False)
        body: dict[str, object] = {"messages": [_message(m) for m in messages], **self._sampling(sampling),
                                   "stop": list(stop) or None}
        one_shape(tools, sampling.grammar)
        if tools is not None and tools.tools:
            body.update(_tool_fields(tools))
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": thinking}
        return self._stream("/chat/completions", body, chat=True)

    def fim(self, prefix: str, suffix: str, *, extra: Sequence[ExtraChunk] = (), repo_name: str = "project",
            filename: str = "file", max_tokens: int = 128, sampling: Sampling | None = None,
            stop: Sequence[str] = ()) -> Stream:
        """llama.cpp's own layout, the cursor's line closing the prefix: the local engine's
        (engine/fim.py: the line opens the middle) needs its last token healed, which a
        text prompt cannot ask of a remote server. At a line's start the two are the same."""
        context = ""
        if extra:
            context = f"{FIM_TEXTS['repo_name']}{repo_name}\n"
            context += "".join(f"{FIM_TEXTS['file_sep']}{c.filename}\n{c.text}" for c in extra)
            context += f"{FIM_TEXTS['file_sep']}{filename}\n"
        prompt = f"{context}{FIM_TEXTS['prefix']}{prefix}{FIM_TEXTS['suffix']}{suffix}{FIM_TEXTS['middle']}"
        return self.complete(prompt, max_tokens=max_tokens, sampling=sampling or self.presets.fim, stop=stop)

    def complete(self, prompt: str, *, max_tokens: int | None = None, sampling: Sampling | None = None,
                 stop: Sequence[str] = (), images: Sequence[Image] = ()) -> Stream:
        if images:
            raise ImagesUnsupportedError("images go with a chat message to a remote server; /v1/completions takes text only")
        body: dict[str, object] = {"prompt": prompt, **self._sampling(sampling or self.presets.non_thinking),
                                   "stop": list(stop) or None, "max_tokens": max_tokens if max_tokens is not None else 256}
        return self._stream("/completions", body, chat=False)

    @property
    def busy(self) -> bool:
        return bool(self._active)

    def close(self) -> None:
        """Stop this client's streams, then close it (and the child behind it)."""
        with self._guard:
            for stream in list(self._active):
                stream.cancel()
        self._http.close()
        if self._on_close is not None:
            self._on_close()

    # --- the wire ---------------------------------------------------------------------

    def _sampling(self, s: Sampling) -> dict[str, object]:
        out: dict[str, object] = {"temperature": s.temperature, "top_p": s.top_p, "presence_penalty": s.presence_penalty}
        if s.top_k:
            out["top_k"] = s.top_k  # vLLM and llama.cpp accept it beside OpenAI's fields
        if s.seed is not None:
            out["seed"] = s.seed
        if s.grammar is not None:  # llama-server reads `grammar`, vLLM `guided_grammar`
            out["grammar"] = out["guided_grammar"] = s.grammar
        return out

    def _stream(self, path: str, body: dict[str, object], *, chat: bool) -> Stream:
        payload = {**{k: v for k, v in body.items() if v is not None}, "model": self.info.name, "stream": True,
                   "stream_options": {"include_usage": True}}

        def run(stream: Stream) -> Iterator[Delta]:
            with self._guard:
                self._active.add(stream)
            started = time.perf_counter()
            splitter = ThinkSplitter(enabled=chat)
            calls: dict[int, dict[str, str]] = {}  # the answer's tool calls, by index, as their pieces arrive
            stream.stats.stop_reason = "eos"
            try:
                with self._http.stream("POST", path, json=payload) as response:
                    if response.status_code != 200:
                        response.read()
                        raise BackendError(f"{self.base_url}{path}: HTTP {response.status_code}: {_error_text(response)}")
                    for event in _events(response):
                        if stream.cancelled.is_set():
                            stream.stats.stop_reason = "cancelled"
                            break
                        yield from self._deltas(event, stream, splitter, chat, started, calls)
                yield from splitter.flush()
                yield from (Delta("content", _call_text(call)) for _, call in sorted(calls.items()))
            except httpx.HTTPError as exc:
                raise BackendError(f"{self.base_url}{path}: {exc}") from None
            finally:
                stream.stats.predicted_ms = (time.perf_counter() - started) * 1000
                with self._guard:
                    self._active.discard(stream)

        return Stream(run, [])

    def _deltas(self, event: dict, stream: Stream, splitter: ThinkSplitter, chat: bool, started: float,
                calls: dict[int, dict[str, str]]) -> Iterator[Delta]:
        usage = event.get("usage")
        if isinstance(usage, dict):
            stream.stats.prompt_n = int(usage.get("prompt_tokens") or 0)
            stream.stats.predicted_n = int(usage.get("completion_tokens") or 0)
        for choice in event.get("choices") or []:
            if stream.stats.prompt_ms == 0.0:
                stream.stats.prompt_ms = (time.perf_counter() - started) * 1000
            if chat:
                delta = choice.get("delta") or {}
                # vLLM from 0.1x on names it `reasoning`; llama-server and older vLLM `reasoning_content`
                if reasoning := delta.get("reasoning_content") or delta.get("reasoning"):
                    yield Delta("reasoning", reasoning)
                if delta.get("content"):
                    yield from splitter.feed(delta["content"])
                for piece in delta.get("tool_calls") or []:
                    _gather_call(calls, piece)
            elif choice.get("text"):
                yield Delta("content", choice["text"])
            if choice.get("finish_reason") == "length":
                stream.stats.stop_reason = "length"


def _message(m: ChatMessage) -> dict[str, object]:
    """A message as OpenAI's API carries it: an assistant turn's calls, a tool turn's call
    id, images as data: URLs among the text (the server there decides if it reads them)."""
    out: dict[str, object] = {"role": m.role, "content": _content(m) if m.images else m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in m.tool_calls]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _tool_fields(use: ToolUse) -> dict[str, object]:
    out: dict[str, object] = {"tools": list(use.tools)}
    if use.choice == "required":
        out["tool_choice"] = "required"
    elif use.choice != "auto":
        out["tool_choice"] = {"type": "function", "function": {"name": use.choice}}
    if not use.parallel:
        out["parallel_tool_calls"] = False
    return out


def _sees(entry: dict) -> bool:
    """Whether images may go to the model: llama-server (and localqwen) list "multimodal"
    among a model's capabilities; a server that lists none (vLLM) decides for itself, and
    its refusal comes back as its own error."""
    capabilities = entry.get("capabilities")
    return "multimodal" in capabilities if isinstance(capabilities, list) else True


def _content(m: ChatMessage) -> list[dict[str, object]]:
    texts = m.content.split(MEDIA_MARKER)
    parts: list[dict[str, object]] = [{"type": "text", "text": texts[0]}] if texts[0] else []
    for image, text in zip(m.images, texts[1:]):
        kind = check_image(image.data, image.name).format.lower()
        url = f"data:image/{kind};base64,{base64.b64encode(image.data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
        parts.extend([{"type": "text", "text": text}] if text else [])
    return parts


def _gather_call(calls: dict[int, dict[str, str]], piece: object) -> None:
    """One streamed piece of a call: the first names it, the rest add to its arguments."""
    if not isinstance(piece, dict):
        return
    call = calls.setdefault(int(piece.get("index") or 0), {"name": "", "arguments": ""})
    function = piece.get("function") or {}
    if isinstance(function, dict):
        call["name"] += str(function.get("name") or "")
        call["arguments"] += str(function.get("arguments") or "")


def _call_text(call: dict[str, str]) -> str:
    """The call in Qwen's own JSON form, which tool_calls.ToolCallSplitter reads back."""
    try:
        arguments: object = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError:
        arguments = call["arguments"]
    return f'<tool_call>\n{json.dumps({"name": call["name"], "arguments": arguments}, ensure_ascii=False)}\n</tool_call>'


def _events(response: httpx.Response) -> Iterator[dict]:
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "error" in event:
            raise BackendError(f"the server reported: {event['error']}")
        if isinstance(event, dict):
            yield event


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]

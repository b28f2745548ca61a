"""Cancel one stream, not the backend: a chat in flight on a remote backend survives the
editor's completions, and the host cancels only the completion a newer one replaces."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

from localqwen.engine.backend import Backend
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.stream import Stream
from localqwen.engine.types import ChatMessage
from localqwen.launch import LaunchOptions, open_model
from localqwen.plan.placement import Placement
from localqwen.server.app import create_app
from localqwen.server.host import ModelHost
from localqwen.server.run import open_socket, serve_in_background
from localqwen.server.settings import ServerSettings
from tests.held import Gate


class HeldChat:
    """A third backend written to the `Backend` protocol: a real llama.cpp engine whose chat
    streams pause after `after` deltas until the test releases them (`tests/held.py`), so
    "a chat in flight" is a state the test holds rather than a race it hopes to win."""

    def __init__(self, engine: LlamaEngine, after: int = 2) -> None:
        self.engine, self.after = engine, after
        self.info, self.presets = engine.info, engine.presets
        self.gate = Gate(after)

    @property
    def busy(self) -> bool:
        return self.engine.busy

    def chat(self, messages: Sequence[ChatMessage], **options) -> Stream:
        return self.gate.hold(self.engine.chat(messages, **options))

    def fim(self, prefix: str, suffix: str, **options) -> Stream:
        return self.engine.fim(prefix, suffix, **options)

    def complete(self, prompt: str, **options) -> Stream:
        return self.engine.complete(prompt, **options)

    def close(self) -> None:
        self.gate.release()
        self.engine.close()


def serve(host: ModelHost):
    host.load()
    assert host.state == "ready", host.error
    settings = ServerSettings(port=0)
    return serve_in_background(create_app(host, settings), open_socket(settings))


def test_a_chat_on_a_remote_backend_survives_the_editors_completions(tiny_qwen3: Path) -> None:
    """`serve --backend URL`: chat and completions share one OpenAIBackend; /infill used to
    cancel every stream on it, chat answers included."""
    held = HeldChat(LlamaEngine(tiny_qwen3, Placement(n_ctx=1024, n_threads=1)))
    backend: Backend = held  # the protocol is all the server needs
    remote_host = ModelHost("tiny", lambda: backend, lambda: LlamaEngine(tiny_qwen3, Placement(n_ctx=1024, n_threads=1)))
    remote = serve(remote_host)
    opening = open_model(f"{remote.address}/v1", LaunchOptions(serving=True), lambda: None)  # type: ignore[arg-type, return-value]
    assert opening.fim is None  # one backend answers both, as `serve --backend` runs it
    host = ModelHost(opening.name, opening.chat.load)
    local = serve(host)
    body = {"messages": [{"role": "user", "content": "tell me a story"}], "max_tokens": 40, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, "chat_template_kwargs": {"enable_thinking": False}}
    try:
        with httpx.Client(base_url=local.address, timeout=60) as http:
            with http.stream("POST", "/v1/chat/completions", json=body) as chat:
                assert held.gate.held.wait(60)  # the chat is in flight, held mid-answer
                for _ in range(3):
                    infill = http.post("/infill", json={"input_prefix": "def f():\n", "input_suffix": "", "n_predict": 4})
                    assert infill.status_code == 200 and "content" in infill.json()
                completion = http.post("/v1/completions", json={"prompt": "x", "suffix": "y", "max_tokens": 4})
                assert completion.status_code == 200
                held.gate.release()
                lines = [line[5:].strip() for line in chat.iter_lines() if line.startswith("data:")]
        events = [json.loads(line) for line in lines if line != "[DONE]"]
        real = held.gate.streams[-1]
        assert real.stats.stop_reason != "cancelled"
        assert events[-1]["usage"]["completion_tokens"] == real.stats.predicted_n > held.after
        finish = [c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]]
        assert finish == ["length" if real.stats.stop_reason == "length" else "stop"]
    finally:
        local.stop()
        host.close()
        remote.stop()
        remote_host.close()


def test_the_host_cancels_only_the_completion_a_newer_one_replaces(tiny_qwen3: Path) -> None:
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=512, n_threads=1)) as engine:
        host = ModelHost("tiny", lambda: engine)
        host.load()
        chat = engine.chat([ChatMessage("user", "hi")], max_tokens=4)
        older = host.newest_completion()
        first = older.track(engine.complete("a", max_tokens=4))
        second = host.newest_completion().track(engine.complete("b", max_tokens=4))
        late = older.track(engine.complete("c", max_tokens=4))  # the stale request's next completion (n_cmpl > 1)
        assert first.cancelled.is_set() and late.cancelled.is_set()
        assert not second.cancelled.is_set() and not chat.cancelled.is_set()
        for stream in (chat, first, second, late):
            stream.collect()
        assert first.stats.stop_reason == "cancelled" and chat.stats.stop_reason != "cancelled"
        assert second.stats.stop_reason != "cancelled"


async def test_esc_in_the_tui_stops_its_own_answer_not_a_server_clients(tiny_qwen3: Path, tmp_path: Path) -> None:
    """With the Server screen running, an HTTP client's chat holds the engine; Esc used to
    cancel whatever held it (the client's answer) instead of the person's own."""
    from dataclasses import replace

    from localqwen.tui.app import make_app
    from localqwen.tui.screens.chat import ChatScreen
    from localqwen.tui.settings import TuiSettings
    from tests.test_tui_kit import pinned_services, screen_text, wait_for
    from tests.test_tui_screens import free_port

    engines: list[HeldChat] = []

    def held_engine(path: Path, placement: Placement, cache_reuse: int = 0, mmproj: Path | None = None) -> HeldChat:
        engines.append(HeldChat(LlamaEngine(path, replace(placement, n_threads=2), reuse_shifted_chunks=cache_reuse,
                                            mmproj=mmproj)))
        return engines[-1]

    services = replace(pinned_services(doctor=None), open_engine=held_engine)
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False, max_tokens=8), services)
    lines: list[str] = []
    body = {"messages": [{"role": "user", "content": "a story"}], "max_tokens": 40, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        held = engines[0]
        await pilot.press("f5")
        port = free_port()
        app.screen.query_one("#port").value = str(port)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.server is not None, "the server")

        def client() -> None:
            with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60) as answer:
                lines.extend(line[5:].strip() for line in answer.iter_lines() if line.startswith("data:"))

        reader = threading.Thread(target=client)
        reader.start()
        await wait_for(pilot, held.gate.held.is_set, "the client's answer, held mid-way")
        await pilot.press("f4")
        await pilot.press(*"hello", "enter")
        screen = app.screen
        assert isinstance(screen, ChatScreen) and screen.generating
        await pilot.press("escape")
        held.gate.release()
        await wait_for(pilot, lambda: not screen.generating, "the person's answer to stop")
        reader.join(60)
        await pilot.pause()
        assert screen.conversation.turns[-1].role == "assistant"
        await wait_for(pilot, lambda: "stopped" in screen_text(app), "the answer's note")
        client_stream, own = held.gate.streams[0], held.gate.streams[-1]
        assert own.stats.stop_reason == "cancelled" and client_stream.stats.stop_reason != "cancelled"
        events = [json.loads(line) for line in lines if line != "[DONE]"]
        assert events[-1]["usage"]["completion_tokens"] == client_stream.stats.predicted_n > held.after

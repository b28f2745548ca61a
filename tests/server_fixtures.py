"""A real localqwen server on a free loopback port, running the tiny models."""

from __future__ import annotations

import socket
import time

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from localqwen.engine.llama import LlamaEngine
from localqwen.plan.placement import Placement
from localqwen.server.app import create_app
from localqwen.server.host import ModelHost
from localqwen.server.run import BackgroundServer, open_socket, serve_in_background
from localqwen.server.settings import ServerSettings
from tests.held import Gate, HeldEngine


@dataclass
class LiveServer:
    url: str
    host: ModelHost
    background: BackgroundServer
    chat_gate: Gate
    """Open unless a test arms it: then the chat engine's streams pause mid-answer until it releases them."""
    fim_gate: Gate


@contextmanager
def live_server(chat_model: Path, fim_model: Path, settings: ServerSettings = ServerSettings(port=0), n_ctx: int = 2048,
                mmproj: Path | None = None, placement: Placement = Placement(n_threads=1)) -> Iterator[LiveServer]:
    chat_gate, fim_gate = Gate(), Gate()
    host = ModelHost(
        "localqwen-tiny",
        lambda: HeldEngine(LlamaEngine(chat_model, replace(placement, n_ctx=n_ctx), mmproj=mmproj), chat_gate),
        lambda: HeldEngine(LlamaEngine(fim_model, Placement(n_ctx=n_ctx, n_threads=1)), fim_gate),
    )
    host.load()
    assert host.state == "ready", host.error
    background = serve_in_background(create_app(host, settings), open_socket(settings))
    try:
        yield LiveServer(background.address, host, background, chat_gate, fim_gate)
    finally:
        background.stop()
        host.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60) -> None:
    """Poll GET /health until it says 200 (a child server starting up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy in {timeout} s")

"""Shared by the benchmarks: a model big enough that decode time is not noise, served in-process."""

from __future__ import annotations

import statistics
from contextlib import contextmanager
from pathlib import Path

from localqwen.engine.llama import LlamaEngine
from localqwen.plan.placement import Placement
from localqwen.server.app import create_app
from localqwen.server.host import ModelHost
from localqwen.server.run import open_socket, serve_in_background
from localqwen.server.settings import ServerSettings
from localqwen.tinymodel import TinySpec, write_tiny_gguf

# ~34M parameters in f32 (~135 MB): a few ms to tens of ms a token on a laptop CPU.
BENCH_SPEC = TinySpec(arch="qwen3", n_layer=8, n_embd=512, n_head=8, n_head_kv=4, n_ff=2048, context_length=8192)
THREADS = 2


def bench_model(folder: Path) -> Path:
    path = folder / "bench-qwen3.gguf"
    return path if path.exists() else write_tiny_gguf(path, BENCH_SPEC)


def placement(n_ctx: int = 4096) -> Placement:
    return Placement(n_ctx=n_ctx, n_threads=THREADS)


@contextmanager
def served(path: Path, *, separate_fim: bool = True, n_ctx: int = 4096):
    host = ModelHost(
        "bench",
        lambda: LlamaEngine(path, placement(n_ctx)),
        (lambda: LlamaEngine(path, placement(n_ctx))) if separate_fim else None,
    )
    host.load()
    settings = ServerSettings(port=0)
    background = serve_in_background(create_app(host, settings), open_socket(settings))
    try:
        yield background.address, host
    finally:
        background.stop()
        host.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)

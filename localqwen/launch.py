"""Open what a person named for chat or serve: a .gguf path, a pulled catalog build, or an AWQ build on vLLM.

Shared by the CLI and the TUI, so "which file, which runtime, which placement" is
decided in one place: the plan for this machine.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from localqwen.catalog.gguf_arch import spec_from_file
from localqwen.catalog.loader import Catalog, load_catalog
from localqwen.catalog.types import Build, ModelSpec
from localqwen.engine.backend import Backend
from localqwen.engine.vllm import VLLM_INSTALL, VllmMissingError, launch_for, vllm_ready
from localqwen.errors import UserInputError
from localqwen.hardware.types import Hardware
from localqwen.paths import home
from localqwen.placement import Placement
from localqwen.plan import PlanOptions, plan_model
from localqwen.plan.types import Candidate


def looks_like_file(text: str) -> bool:
    return text.endswith(".gguf") or "/" in text or text.startswith(("~", "."))


def placement_for_file(path: Path, hw: Hardware, ctx: int, reserve_bytes: int = 0) -> Placement:
    """The plan's placement for a GGUF on disk (split, layers, KV type, context)."""
    from localqwen.plan import choose

    choice = choose(plan_model(spec_from_file(path), hw, PlanOptions(ctx=ctx, reserve_bytes=reserve_bytes)))
    if choice is None or choice.placement is None:
        raise UserInputError(f"{path}: does not fit this machine (see `localqwen plan {path}`)")
    return choice.placement


def _candidate(model: ModelSpec, build: Build, hw: Hardware, ctx: int, reserve_bytes: int = 0) -> Candidate:
    options = PlanOptions(ctx=ctx, reserve_bytes=reserve_bytes)
    return next(c for c in plan_model(model, hw, options) if c.build is build)


def second_context_bytes(text: str, hw: Hardware, ctx: int, *, same_weights: bool, catalog: Catalog | None = None) -> int:
    """What the server's FIM side needs beside the chat model: a second context over the
    same weights, or a separate model with its context. The chat plan keeps it free."""
    from localqwen.plan.memory import context_bytes

    if looks_like_file(text):
        spec = spec_from_file(Path(text).expanduser())
        weights = spec.builds[0].size_bytes
    else:
        from localqwen.pull import pull_target

        spec, build = pull_target(text, catalog or load_catalog(), lambda: hw)
        weights = build.size_bytes
    return context_bytes(spec.arch, min(ctx, spec.context)) + (0 if same_weights else weights)


def _best_gguf(model: ModelSpec, hw: Hardware, ctx: int) -> Candidate | None:
    return next((c for c in plan_model(model, hw, PlanOptions(ctx=ctx))
                 if c.build.format == "gguf" and c.verdict != "too_big"), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(text: str, hw: Hardware, ctx: int, *, load_gguf: Callable[[Path, Placement], Backend],
            catalog: Catalog | None = None, reserve_bytes: int = 0) -> Callable[[], Backend]:
    """Decide now (a person's mistake is an error now), load later (it takes a while).

    `text` is a .gguf path, or NAME[:BUILD] from the catalog (without BUILD: the plan's
    choice for `hw`); GGUF builds must have been pulled; AWQ builds start vLLM.
    """
    if looks_like_file(text):
        from localqwen.catalog.gguf_header import read_gguf_header

        path = Path(read_gguf_header(Path(text).expanduser()).path)
        placement = placement_for_file(path, hw, ctx, reserve_bytes)
        return lambda: load_gguf(path, placement)
    from localqwen.pull import find_local, pull_target

    catalog = catalog or load_catalog()
    model, build = pull_target(text, catalog, lambda: hw)
    candidate = _candidate(model, build, hw, ctx, reserve_bytes)
    if build.format == "awq":
        _check_vllm(model, candidate, hw, ctx)
        return lambda: _start_vllm(candidate)
    if candidate.placement is None:
        raise UserInputError(f"{model.id}:{build.quant} does not fit {hw.name}", fix=f"see `localqwen plan {model.id}`")
    local = find_local(f"{model.id}:{build.quant}", catalog)
    placement = candidate.placement
    return lambda: load_gguf(local.path, placement)


def _check_vllm(model: ModelSpec, candidate: Candidate, hw: Hardware, ctx: int) -> None:
    missing = vllm_ready(has_cuda_gpu=bool(hw.gpus) and hw.gpu_offload is not False)
    if missing is not None or candidate.placement is None:
        best = _best_gguf(model, hw, ctx)
        instead = f"; or run the best GGUF build here: {model.id}:{best.build.quant} ({best.verdict})" if best else ""
        why = missing or f"it does not fit {hw.name}"
        raise VllmMissingError(f"{model.name} {candidate.build.quant} runs on vLLM: {why}", fix=VLLM_INSTALL + instead)


def _start_vllm(candidate: Candidate) -> Backend:
    from localqwen.engine.child import ChildServer
    from localqwen.engine.openai_backend import OpenAIBackend
    from localqwen.engine.sampling import presets_for

    launch = launch_for(candidate, free_port())
    url = f"http://127.0.0.1:{launch.port}"
    child = ChildServer(launch.argv(), url, home() / "logs" / "vllm.log")
    child.start()
    return OpenAIBackend(f"{url}/v1", model=launch.served_name, on_close=child.stop, presets=presets_for(candidate.model))

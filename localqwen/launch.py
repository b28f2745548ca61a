"""Open what a person named: a .gguf path, a catalog NAME[:BUILD] or an OpenAI-compatible backend URL.

The one way in for every face (`chat`, `serve`, the TUI and its Server screen): the
name becomes a planned placement for this machine (with room kept for the server's
completion context when serving) and loaders that start the backends. Deciding
happens now, so a person's mistake is an error now; loading happens when asked, as
it takes a while. A person who changes placement rules touches `plan` and this
module only.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from localqwen.catalog.errors import ModelFileError
from localqwen.catalog.gguf_arch import VISION_ARCHITECTURES, projector_header, spec_from_file, with_projector
from localqwen.catalog.loader import Catalog, load_catalog
from localqwen.catalog.resolve import looks_like_path
from localqwen.catalog.types import Build, ModelSpec
from localqwen.engine.backend import Backend
from localqwen.engine.errors import VllmMissingError
from localqwen.engine.vllm import VLLM_INSTALL, launch_for, vllm_ready
from localqwen.errors import UserInputError
from localqwen.hardware.types import Hardware
from localqwen.paths import home
from localqwen.plan import PlanOptions, plan_model
from localqwen.plan.placement import Placement
from localqwen.plan.types import CANNOT_RUN, Candidate

DEFAULT_FIM_CTX = 8192
DEFAULT_CACHE_REUSE = 256
"""Completions move cached chunks of this many tokens or more instead of evaluating them
again, as llama.cpp's FIM preset does (`--cache-reuse 256`): the prefix window moves by a
line whenever the cursor does (engine/fim.PREFIX_CAP)."""

LoadGguf = Callable[[Path, Placement, int, "Path | None"], Backend]
"""Load a GGUF file with a placement; the int is `cache_reuse` (0: off), the last path its
vision projector (None: text only)."""
Locate = Callable[[ModelSpec, Build], "Path | None"]
"""The file of a pulled catalog build, or None where it is not on disk."""


@dataclass(frozen=True)
class LaunchOptions:
    """How to open a model; every face fills in the same fields."""

    ctx: int = 4096
    """Upper bound on the chat context, in tokens (the plan may give less)."""
    serving: bool = False
    """Also decide the server's completion (FIM) side, and keep room for it in the chat plan."""
    fim_model: str | None = None
    """A separate model for completions; None: a second context over the chat model's file."""
    fim_ctx: int = DEFAULT_FIM_CTX
    """Context of the completion side (at most `ctx`)."""
    cache_reuse: int = DEFAULT_CACHE_REUSE
    """Completions: where text before a cached chunk changed, move chunks of N+ tokens (0: off)."""
    threads: int | None = None
    """CPU threads for llama.cpp, generation and prompts; None: the plan's (physical cores /
    logical CPUs)."""
    api_key: str | None = None
    """Bearer key for a backend URL."""
    mmproj: str | None = None
    """The chat model's vision projector (an mmproj GGUF); None: a pulled build's own, or
    the one mmproj*.gguf beside a vision model's file."""


@dataclass(frozen=True)
class Side:
    """One backend, decided: what it is, where it runs, and how to start it."""

    label: str
    load: Callable[[], Backend]
    placement: Placement | None = None
    """None for a backend URL or vLLM (the runtime places it)."""
    path: Path | None = None
    mmproj: Path | None = None
    """The vision projector loaded beside the model; None: it reads text only."""


@dataclass(frozen=True)
class Opening:
    """What `open_model` decided: the chat side and, when serving, the completion side."""

    name: str
    """What the server calls the model (`/v1/models`)."""
    chat: Side
    fim: Side | None = None
    """None: completions share the chat backend (a URL or vLLM), which cancels per stream."""


@dataclass(frozen=True)
class _Target:
    """A named model, resolved but not planned."""

    kind: str  # "url", "gguf" or "vllm"
    text: str
    model: ModelSpec | None = None
    build: Build | None = None
    path: Path | None = None
    mmproj: Path | None = None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def llama_engine(path: Path, placement: Placement, cache_reuse: int = 0, mmproj: Path | None = None) -> Backend:
    from localqwen.engine.llama import LlamaEngine

    return LlamaEngine(path, placement, reuse_shifted_chunks=cache_reuse, mmproj=mmproj)


def this_machine() -> Hardware:
    """This machine as llama.cpp will use it: detected, with what the installed build can
    do (GPU offload at all, row split across cards). Loads llama.cpp's library."""
    from localqwen.engine.build import build_info
    from localqwen.hardware import detect_hardware

    build = build_info()
    return replace(detect_hardware(), gpu_offload=bool(build["gpu_offload"]), row_split=bool(build["row_split"]))


def open_model(
    what: str,
    options: LaunchOptions,
    hardware: Callable[[], Hardware],
    *,
    catalog: Catalog | None = None,
    load_gguf: LoadGguf = llama_engine,
    locate: Locate | None = None,
) -> Opening:
    """The one way to open a model. `hardware()` is asked only where a plan is needed.

    `what` is a .gguf path, NAME[:BUILD] from the catalog (without BUILD: the plan's
    choice; GGUF builds must have been pulled, AWQ builds start vLLM), or a backend URL.
    """
    cat, hardware = _Catalog(catalog), _once(hardware)
    chat = _resolve(what, cat, hardware, locate, options.mmproj)
    fim: _Target | None = None
    if options.serving:
        fim = replace(_resolve(options.fim_model, cat, hardware, locate, None), mmproj=None) if options.fim_model else chat
        if fim.kind != "gguf" and not options.fim_model:
            fim = None  # one remote or vLLM backend serves both: no second context to plan
    fim_ctx = min(options.fim_ctx, options.ctx)
    reserve = _second_context_bytes(fim, fim_ctx, same_file=fim is chat) if fim is not None else 0
    chat_side = _side(chat, options, options.ctx, hardware, load_gguf, reserve=reserve, cache_reuse=0)
    fim_side = None
    if fim is chat and chat_side.placement is not None:
        fim_side = _second_context(chat_side, fim_ctx, load_gguf, options.cache_reuse)
    elif fim is not None:
        fim_side = _side(fim, options, fim_ctx, hardware, load_gguf, reserve=0, cache_reuse=options.cache_reuse)
    return Opening(_name(chat), chat_side, fim_side)


def _second_context(chat: Side, ctx: int, load_gguf: LoadGguf, cache_reuse: int) -> Side:
    """The completion side over the chat model's file: the chat's placement with its own
    context, so both contexts share one copy of the weights (a placement planned apart
    could put other layers or experts in RAM, and load the weights a second time)."""
    assert chat.placement is not None and chat.path is not None
    placement, path = replace(chat.placement, n_ctx=min(ctx, chat.placement.n_ctx)), chat.path
    return Side(chat.label, lambda: load_gguf(path, placement, cache_reuse, None), placement, path)


def _once(hardware: Callable[[], Hardware]) -> Callable[[], Hardware]:
    """Look at the machine at most once per opening (detection asks NVML)."""
    seen: list[Hardware] = []

    def ask() -> Hardware:
        if not seen:
            seen.append(hardware())
        return seen[0]

    return ask


class _Catalog:
    """The catalog, read once and only where a name needs it."""

    def __init__(self, catalog: Catalog | None) -> None:
        self._catalog = catalog

    def get(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog


def _resolve(text: str, catalog: _Catalog, hardware: Callable[[], Hardware], locate: Locate | None,
             mmproj: str | None) -> _Target:
    if is_url(text):
        if mmproj is not None:
            raise UserInputError("--mmproj goes with a .gguf model, not a backend URL (the server there loads its own)")
        return _Target("url", text)
    if mmproj is not None and not Path(mmproj).expanduser().is_file():
        raise UserInputError(f"--mmproj {mmproj}: no such file", fix="give the path of the model's mmproj GGUF")
    if looks_like_path(text) and not _pulled_repo(text, catalog):
        return _file_target(text, Path(text).expanduser(), mmproj)
    if (named := _imported_file(text, catalog)) is not None:
        return _file_target(text, named, mmproj)
    from localqwen.pull import pull_target

    model, build = pull_target(text, catalog.get(), hardware, offline=True)  # opening never downloads
    label = f"{model.id}:{build.quant}"
    if build.runtime == "vllm":
        return _Target("vllm", label, model, build)
    path = _pulled_file(model, build, catalog.get(), locate)
    projector = Path(mmproj).expanduser() if mmproj is not None else _projector_for(model, build, path)
    if projector is not None and (mmproj is not None or not build.mmproj_bytes):  # counted by its own size
        model = with_projector(model, projector_header(projector), build)
        build = next(b for b in model.builds if b.quant == build.quant)
    return _Target("gguf", label, model, build, path, projector)


def _file_target(text: str, path: Path, mmproj: str | None) -> _Target:
    """A GGUF on disk, planned from its header; a vision model with its projector."""
    model = spec_from_file(path)  # a missing or broken file: one line
    projector = Path(mmproj).expanduser() if mmproj is not None else _projector_for(model, model.builds[0], path)
    if projector is not None:  # counted by the plan beside the model
        model = with_projector(model, projector_header(projector))
    return _Target("gguf", text, model, model.builds[0], Path(model.source), projector)


def _imported_file(text: str, catalog: _Catalog) -> Path | None:
    """A GGUF imported under a name of its own (`import FILE --name NAME`), which no catalog
    model has: opened as its file. None for any other name."""
    from localqwen.pull.store import imported
    from localqwen.pull.target import split_name

    name, quant = split_name(text)
    if any(m.id.lower() == name.lower() for m in catalog.get().models):
        return None
    found = [e for e in imported() if e.name.lower() == name.lower() and (quant is None or e.build.lower() == quant.lower())]
    return Path(found[0].path) if len(found) == 1 else None


def _projector_beside(path: Path) -> Path | None:
    """The one mmproj*.gguf in a vision model's folder (as the Hub's repos ship them); None
    where there is none, or several to choose from (then --mmproj says which)."""
    found = [p for p in path.parent.glob("*.gguf") if "mmproj" in p.name.lower()]
    return found[0] if len(found) == 1 else None


def _projector_for(model: ModelSpec, build: Build, path: Path) -> Path | None:
    """A pulled vision build's projector (in the cache), else the one beside its file (an
    imported GGUF, its projector downloaded beside it)."""
    from localqwen.pull.local import pulled_projector

    found = pulled_projector(build) if build.mmproj else None
    if found is None and model.architecture in VISION_ARCHITECTURES:
        found = _projector_beside(path)
    return found


def _pulled_repo(text: str, catalog: _Catalog) -> bool:
    """`owner/repo[:QUANT]` that was pulled from the Hub (so it is in the catalog), not a path."""
    from localqwen.pull.hub_repo import hub_repo_name
    from localqwen.pull.target import split_name

    if Path(text).expanduser().exists():
        return False
    repo = hub_repo_name(split_name(text)[0])
    return repo is not None and repo.lower() in (m.id.lower() for m in catalog.get().models)


def _pulled_file(model: ModelSpec, build: Build, catalog: Catalog, locate: Locate | None) -> Path:
    if locate is None:
        from localqwen.pull import find_local

        return find_local(f"{model.id}:{build.quant}", catalog).path
    path = locate(model, build)
    if path is None:
        raise UserInputError(f"{model.id}:{build.quant} is not downloaded", fix=f"localqwen pull {model.id}:{build.quant}")
    if not path.is_file():
        raise ModelFileError(f"{path}: the file is no longer on disk", fix="download it again, or pick another model")
    return path


def _name(target: _Target) -> str:
    if target.kind == "url":
        return "localqwen"
    if target.path is not None and looks_like_path(target.text):
        return target.path.stem
    return target.text.split(":")[0]


def _second_context_bytes(fim: _Target, ctx: int, *, same_file: bool) -> int:
    """What the completion side needs beside the chat model: a second context over the
    same weights, or a separate model with its context. The chat plan keeps it free."""
    from localqwen.plan.memory import context_bytes

    if fim.kind != "gguf" or fim.model is None or fim.build is None:
        return 0  # a URL runs elsewhere; vLLM sizes itself
    weights = 0 if same_file else fim.build.size_bytes
    return context_bytes(fim.model.arch, min(ctx, fim.model.context)) + weights


def _side(target: _Target, options: LaunchOptions, ctx: int, hardware: Callable[[], Hardware], load_gguf: LoadGguf,
          *, reserve: int, cache_reuse: int) -> Side:
    if target.kind == "url":
        url, key = target.text, options.api_key
        return Side(url, lambda: _open_url(url, key))
    assert target.model is not None and target.build is not None
    hw = hardware()
    candidate = _candidate(target.model, target.build, hw, ctx, reserve)
    if target.kind == "vllm":
        _check_vllm(target.model, candidate, hw, ctx)
        return Side(target.text, lambda: _start_vllm(candidate))
    if candidate.placement is None:
        raise UserInputError(f"{target.text}: does not fit {hw.name}", fix=f"see `localqwen plan {target.text}`")
    placement = candidate.placement
    if options.threads is not None:
        placement = replace(placement, n_threads=options.threads, n_threads_batch=options.threads)
    path, mmproj = target.path, None if candidate.text_only else target.mmproj
    assert path is not None
    return Side(target.text, lambda: load_gguf(path, placement, cache_reuse, mmproj), placement, path, mmproj)


def _candidate(model: ModelSpec, build: Build, hw: Hardware, ctx: int, reserve: int) -> Candidate:
    options = PlanOptions(ctx=ctx, reserve_bytes=reserve)
    return next(c for c in plan_model(model, hw, options) if c.build is build)


def _open_url(url: str, api_key: str | None) -> Backend:
    from localqwen.engine.openai_backend import OpenAIBackend

    return OpenAIBackend(url, api_key=api_key)


def _best_gguf(model: ModelSpec, hw: Hardware, ctx: int) -> Candidate | None:
    return next((c for c in plan_model(model, hw, PlanOptions(ctx=ctx))
                 if c.build.format == "gguf" and c.verdict not in CANNOT_RUN), None)


def _check_vllm(model: ModelSpec, candidate: Candidate, hw: Hardware, ctx: int) -> None:
    missing = vllm_ready(has_cuda_gpu=bool(hw.gpus))  # vLLM's CUDA is its own, whatever llama.cpp's build
    if missing is not None or candidate.placement is None:
        best = _best_gguf(model, hw, ctx)
        instead = f"; or run the best GGUF build here: {model.id}:{best.build.quant} ({best.verdict})" if best else ""
        why = missing or f"it does not fit {hw.name}"
        raise VllmMissingError(f"{model.name} {candidate.build.quant} runs on vLLM: {why}", fix=VLLM_INSTALL + instead)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_vllm(candidate: Candidate) -> Backend:
    from localqwen.engine.child import ChildServer
    from localqwen.engine.openai_backend import OpenAIBackend
    from localqwen.engine.sampling import presets_for

    launch = launch_for(candidate, free_port())
    url = f"http://127.0.0.1:{launch.port}"
    child = ChildServer(launch.argv(), url, home() / "logs" / "vllm.log")
    child.start()
    return OpenAIBackend(f"{url}/v1", model=launch.served_name, on_close=child.stop, presets=presets_for(candidate.model))

"""What the terminal UI is told (settings) and what it calls into (services).

Both are passed to `LocalQwenApp`; nothing here runs at import. The defaults reach
the real parts of localqwen through lazy imports, so building them loads neither
llama.cpp nor NVML; tests pass their own services (a fixed hardware profile, a
doctor that answers at once, an engine factory with fewer threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from localqwen.catalog.loader import Catalog
from localqwen.catalog.types import Build, ModelSpec
from localqwen.engine.backend import Backend
from localqwen.hardware.types import Hardware
from localqwen.plan.placement import Placement

if TYPE_CHECKING:  # the doctor module probes the machine (psutil) when imported
    from localqwen.doctor.report import DoctorReport
    from localqwen.pull import ProgressListener, PullResult

    PullFn = Callable[[ModelSpec, Build, ProgressListener, threading.Event], PullResult]


@dataclass(frozen=True)
class TuiSettings:
    """What a person chose on the command line."""

    hardware: str | None = None
    """A hardware profile (name or .toml path) to plan for; None: look at this machine."""
    model: Path | None = None
    """A local GGUF: listed first in the models table and opened in the chat at start."""
    ctx: int = 4096
    """Context length for `model` opened straight (a plan chooses it for table rows)."""
    max_tokens: int | None = 2048
    """Longest reply in tokens; None: whatever room the context leaves."""
    threads: int | None = None
    """CPU threads for llama.cpp (`--threads`); None: the plan's choice for this machine."""
    data_dir: Path | None = None
    """Where conversations are kept (`chats/` under it); None: `LOCALQWEN_HOME`."""
    theme: str = "textual-dark"
    """A Textual theme name; `textual-light` for light terminals."""
    cursor_blink: bool = True
    """Off in snapshot tests, so a screenshot does not depend on when it is taken."""


@dataclass(frozen=True)
class Services:
    """The parts of localqwen the app calls; each call runs in a worker thread."""

    detect: Callable[[], Hardware]
    load_profile: Callable[[str], Hardware]
    list_profiles: Callable[[], list[str]]
    load_catalog: Callable[[], Catalog]
    read_local: Callable[[Path], ModelSpec]
    """A one-build model spec from a GGUF file's header."""
    locate: Callable[[ModelSpec, Build], Path | None]
    """The file of a catalog build on this disk, or None where it is not downloaded."""
    open_engine: Callable[[Path, Placement, int, "Path | None"], Backend]
    """Load a GGUF with a placement (the int: `cache_reuse`); `launch` decides what to pass."""
    build_info: Callable[[], dict[str, object]] | None = None
    """What the installed llama.cpp can do (`gpu_offload`); None: not asked."""
    doctor: Callable[[], DoctorReport] | None = None
    """The doctor's checks (a child-process canary); None: not run."""
    pull: PullFn | None = None
    """Fetch a catalog build (listener gets progress; setting the event cancels); None: downloads off."""


def _detect() -> Hardware:
    from localqwen.hardware import detect_hardware

    return detect_hardware()


def _load_profile(name: str) -> Hardware:
    from localqwen.hardware import load_profile

    return load_profile(name)


def _list_profiles() -> list[str]:
    from localqwen.hardware import list_profiles

    return list_profiles()


def _load_catalog() -> Catalog:
    from localqwen.catalog.loader import load_catalog

    return load_catalog()


def _read_local(path: Path) -> ModelSpec:
    from localqwen.catalog.gguf_arch import spec_from_file

    return spec_from_file(path)


def not_downloaded(_model: ModelSpec, _build: Build) -> Path | None:
    """For tests and profiles: no catalog build is on disk."""
    return None


def _locate(model: ModelSpec, build: Build) -> Path | None:
    """The file to load for a pulled catalog build, if all of it is on disk."""
    from localqwen.pull import local_builds

    for local in local_builds(_load_catalog()):
        if local.model.lower() == model.id.lower() and local.build.lower() == build.quant.lower() and local.complete:
            return local.path
    return None


def _open_engine(path: Path, placement: Placement, cache_reuse: int = 0, mmproj: Path | None = None) -> Backend:
    from localqwen.launch import llama_engine

    return llama_engine(path, placement, cache_reuse, mmproj)


def _pull(model: ModelSpec, build: Build, listener: ProgressListener, cancel: threading.Event) -> PullResult:
    from localqwen.pull import pull_build

    return pull_build(model, build, listener=listener, cancel=cancel)


def _build_info() -> dict[str, object]:
    """Asked in a child process: a llama.cpp build that dies on this CPU must not take the UI."""
    from localqwen.doctor.canary import probe_build

    return probe_build()


def _doctor() -> DoctorReport:
    from localqwen.doctor import run_doctor

    return run_doctor()


def default_services() -> Services:
    """The real machine, catalog, llama.cpp and doctor."""
    return Services(
        detect=_detect,
        load_profile=_load_profile,
        list_profiles=_list_profiles,
        load_catalog=_load_catalog,
        read_local=_read_local,
        locate=_locate,
        open_engine=_open_engine,
        build_info=_build_info,
        doctor=_doctor,
        pull=_pull,
    )

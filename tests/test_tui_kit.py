"""Shared by the TUI tests: pinned services, a screen-as-text reader, waiting helpers.

No tests here. The services are the real ones (profiles, catalog, llama.cpp on the
tiny GGUF) with what varies between machines pinned: "this machine" is a fixed
profile, the doctor answers a fixed report, llama.cpp uses two threads.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from localqwen.catalog.types import Build, ModelSpec
from localqwen.doctor.report import Check, DoctorReport
from localqwen.hardware import load_profile
from localqwen.hardware.types import Hardware
from localqwen.plan.placement import Placement
from localqwen.tui.settings import Services, default_services, not_downloaded

FIXED_DOCTOR = DoctorReport(
    [
        Check("python", "ok", "Python 3.11"),
        Check("llama-cpp-python", "ok", "version 0.3.36"),
        Check("nvidia", "ok", "no NVIDIA GPU found: NVML library not found; models run on the CPU"),
        Check(
            "canary",
            "fail",
            "llama.cpp crashed with SIGSEGV during the first decode: a -march=native build crashes in its AMX path",
            'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON" pip install --force-reinstall llama-cpp-python',
        ),
    ]
)


def fixed_machine() -> Hardware:
    """'This machine' for tests: a CPU-only laptop profile, marked as detected."""
    laptop = load_profile("laptop-cpu-16g")
    return replace(laptop, name="test-laptop", source="detected", notes=("no NVIDIA GPU found: NVML library not found",))


def on_disk(files: dict[tuple[str, str], Path]) -> Callable[[ModelSpec, Build], Path | None]:
    """A `locate` that finds the given (model id, quant) builds at the given paths."""

    def locate(model: ModelSpec, build: Build) -> Path | None:
        return files.get((model.id, build.quant))

    return locate


def two_threads(path: Path, placement: Placement, cache_reuse: int = 0, mmproj: Path | None = None):
    from localqwen.engine.llama import LlamaEngine

    return LlamaEngine(path, replace(placement, n_threads=2), reuse_shifted_chunks=cache_reuse, mmproj=mmproj)


def pinned_services(
    *, locate: Callable[[ModelSpec, Build], Path | None] = not_downloaded, doctor: DoctorReport | None = FIXED_DOCTOR
) -> Services:
    return replace(
        default_services(),
        detect=fixed_machine,
        locate=locate,
        open_engine=two_threads,
        build_info=lambda: {"llama_cpp_version": "0.3.36", "gpu_offload": False},
        doctor=(lambda: doctor) if doctor is not None else None,
    )


def screen_text(app: App) -> str:
    """What the terminal shows now, as plain text (the same render as a screenshot)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False, color_system="truecolor")  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens, simplify=True))
    return console.export_text(styles=False)


async def wait_for(pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


async def palette_run(pilot: Pilot, title: str) -> None:
    """Open the command palette, type `title`, and press Enter once its search has ended with `title` on top."""
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p", *title)

    def offered() -> bool:
        palette = pilot.app.screen
        if not isinstance(palette, CommandPalette) or any(w.node is palette and w.is_running for w in pilot.app.workers):
            return False
        commands = palette.query_one(CommandList)
        top = commands.highlighted
        return top is not None and str(commands.get_option_at_index(top).prompt).startswith(title)

    await wait_for(pilot, offered, f"the command palette to offer {title!r}")
    await pilot.press("enter")


async def settle(pilot: Pilot) -> None:
    """Let the workers finish and the screen catch up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()

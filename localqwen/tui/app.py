"""`LocalQwenApp`: the terminal UI, with the machine, the models and the chat as screens.

The app holds what several screens show (hardware, plan, doctor report, the loaded
model) as reactive attributes that the screens watch; workers fill them in by
posting messages back, so no widget is touched from a thread. `make_app` is the one
factory that `localqwen`, `localqwen ui` and the tests call.
"""

from __future__ import annotations

import os
import time

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.worker import get_current_worker

from localqwen.catalog.errors import ModelFileError
from localqwen.engine.errors import ModelLoadError
from localqwen.errors import LocalQwenError
from localqwen.hardware.types import Hardware
from localqwen.paths import home
from localqwen.tui.assets import stylesheets
from localqwen.tui.history import HistoryStore
from localqwen.tui.measured import MeasuredSpeeds
from localqwen.tui.messages import (
    DoctorDone,
    HardwareFailed,
    HardwareReady,
    LoadedModel,
    ModelLoaded,
    ModelLoadFailed,
    PlanFailed,
    PlanReady,
)
from localqwen.tui.palette import palette_commands
from localqwen.tui.rows import PlanRow, PlanTable, plan_table
from localqwen.tui.screens.build_detail import LoadRequest
from localqwen.tui.screens.chat import ChatScreen
from localqwen.tui.screens.download import DownloadScreen
from localqwen.tui.screens.machine import MachineScreen
from localqwen.tui.screens.models import ModelsScreen
from localqwen.tui.screens.server import ServerScreen
from localqwen.tui.settings import Services, TuiSettings, default_services

if TYPE_CHECKING:
    from localqwen.doctor.report import DoctorReport
    from localqwen.server.run import BackgroundServer


SCREEN_KEYS = (("f1", "machine", "Machine"), ("f2", "models", "Models"), ("f3", "download", "Download"),
               ("f4", "chat", "Chat"), ("f5", "server", "Server"))  # fmt: skip
NARROW_FOOTER = 100
"""Below this many columns (80x24) the footer shows the screen keys as one group, "f1 f3 f4 f5
screens": with their names the footer ran past the edge and was cut mid-word under the
command palette key. Each key has two bindings, one per width; `check_action` enables the
one that fits, so the key works at every width."""
SCREENS_GROUP = Binding.Group("screens")


class LocalQwenApp(App[int]):
    TITLE = "localqwen"
    MODES = {"machine": MachineScreen, "models": ModelsScreen, "download": DownloadScreen, "chat": ChatScreen,
             "server": ServerScreen}
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", name, id=f"app.{mode}") for key, mode, name in SCREEN_KEYS),
        *(Binding(key, f"switch_narrow('{mode}')", name, group=SCREENS_GROUP, id=f"app.{mode}.narrow")
          for key, mode, name in SCREEN_KEYS),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    hardware: var[Hardware | None] = var(None)
    hardware_source: var[str | None] = var(None)
    hardware_problem: var[str] = var("")
    llama_build: var[dict[str, object] | None] = var(None)
    doctor_report: var[DoctorReport | None] = var(None)
    plan: var[PlanTable | None] = var(None)
    plan_problem: var[str] = var("")
    profiles: var[tuple[str, ...]] = var(())
    loaded: var[LoadedModel | None] = var(None)
    loading: var[str] = var("")
    loading_since: float = 0.0  # when the model being loaded began to load (time.monotonic)
    loading_fraction: float | None = None  # how far llama.cpp is in reading it (0-1); None: not said yet

    def __init__(self, settings: TuiSettings, services: Services, history: HistoryStore) -> None:
        super().__init__(css_path=stylesheets())
        self.settings = settings
        self.services = services
        self.history = history
        self.measured = MeasuredSpeeds(settings.data_dir or home())
        self.server: BackgroundServer | None = None
        """The FIM and chat API started from the Server screen; stopped when the app ends."""
        self.set_reactive(LocalQwenApp.hardware_source, settings.hardware)

    @property
    def data_dir(self) -> Path:
        """Where the app keeps its files: conversations, the log of unexpected errors."""
        return self.settings.data_dir or home()

    def on_mount(self) -> None:
        self.theme = self.settings.theme
        self.switch_mode("chat" if self.settings.model else "machine")
        self.read_hardware(self.settings.hardware)
        if self.services.doctor is not None:
            self.run_doctor()
        if self.settings.model is not None:
            self.open_model(str(self.settings.model), self.settings.ctx, self.settings.model.stem)

    def on_unmount(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.loaded is not None:
            self.loaded.engine.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The key of the screen on show is left out of the footer; of each screen key's two
        bindings, the one for this width is on (see NARROW_FOOTER)."""
        if action in ("switch_mode", "switch_narrow"):
            if parameters and parameters[0] == self.current_mode:
                return False
            return (action == "switch_narrow") == (self.size.width < NARROW_FOOTER)
        return True

    async def action_switch_narrow(self, mode: str) -> None:
        await self.switch_mode(mode)

    def on_resize(self) -> None:
        self.refresh_bindings()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self)

    async def run_in_mode(self, mode: str, action: str) -> None:
        """Switch to a screen and run one of its actions (for the command palette)."""
        await self.switch_mode(mode)
        await self.screen.run_action(action)

    # --- hardware and plan -----------------------------------------------------------

    def use_hardware(self, source: str | None) -> None:
        """Plan for a hardware profile (name or path), or for this machine (None)."""
        self.hardware_source, self.hardware, self.plan, self.llama_build = source, None, None, None
        self.hardware_problem = self.plan_problem = ""
        self.read_hardware(source)

    @work(thread=True, exclusive=True, exit_on_error=False, group="hardware")
    def read_hardware(self, source: str | None) -> None:
        services, build = self.services, None
        try:
            hw = services.load_profile(source) if source else services.detect()
            if hw.source == "detected" and services.build_info is not None:
                try:
                    build = services.build_info() or None
                    if build is not None:
                        hw = replace(hw, gpu_offload=bool(build.get("gpu_offload")), row_split=bool(build.get("row_split")))
                except Exception:  # no usable llama.cpp: the doctor says why; the plan stays open
                    build = None
        except LocalQwenError as exc:
            self.post_message(HardwareFailed(source, exc))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(HardwareReady(hw, source, build))

    def on_hardware_ready(self, message: HardwareReady) -> None:
        if message.source == self.hardware_source:
            self.llama_build = message.llama_build
            self.hardware = message.hardware
            self.make_plan(message.hardware)

    def on_hardware_failed(self, message: HardwareFailed) -> None:
        self.hardware_problem = self.plan_problem = message.error.one_line()
        self.notify(message.error.one_line(), title=message.error.title, severity="error")
        self.hardware = None

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def make_plan(self, hw: Hardware) -> None:
        services, problems, local = self.services, [], []
        try:
            catalog = services.load_catalog()
            for path in [self.settings.model] if self.settings.model else []:
                try:
                    local.append((services.read_local(path), path))
                except LocalQwenError as exc:
                    problems.append(exc.one_line())
            table = plan_table(hw, catalog.models, local, services.locate, problems=tuple(problems))
            profiles = tuple(services.list_profiles())
        except LocalQwenError as exc:
            self.post_message(PlanFailed(exc))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(PlanReady(table, profiles))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.table.hardware == self.hardware:
            self.profiles = message.profiles
            self.plan = message.table

    def on_plan_failed(self, message: PlanFailed) -> None:
        self.plan_problem = message.error.one_line()
        self.notify(message.error.one_line(), title=message.error.title, severity="error")

    @work(thread=True, exit_on_error=False, group="doctor")
    def run_doctor(self) -> None:
        from localqwen.doctor.report import Check, DoctorReport

        assert self.services.doctor is not None
        try:
            report = self.services.doctor()
        except Exception as exc:  # the doctor runs a child process; its own failure is a finding too
            report = DoctorReport([Check("doctor", "fail", f"the checks could not run: {type(exc).__name__}: {exc}")])
        self.post_message(DoctorDone(report))

    def on_doctor_done(self, message: DoctorDone) -> None:
        self.doctor_report = message.report

    # --- downloading a build ---------------------------------------------------------

    async def download(self, row: PlanRow, then_load: bool = False) -> None:
        """Pull a catalog build on the Download screen (`then_load`: and load it when it is whole)."""
        if row.local:
            self.notify(f"{row.label} is a file on this disk: nothing to download.", severity="warning")
            return
        await self.switch_mode("download")
        screen = self.screen
        assert isinstance(screen, DownloadScreen)
        screen.start(row, then_load=then_load)

    # --- loading a model -------------------------------------------------------------

    def load_planned(self, request: LoadRequest) -> None:
        """Load a build from the models table (through `launch`, vLLM included), or say why not."""
        row, c, hw = request.row, request.candidate, self.hardware
        label = f"{row.label} {c.build.quant}"
        if c.placement is None:
            self.notify(f"{label} does not fit: {c.note}", severity="error")
        elif hw is None or hw.source == "profile":
            name = hw.name if hw else "another machine"
            self.notify(
                f"This plan is for the hardware profile {name}, not this machine: choose 'this machine' in Models to load.",
                severity="warning",
            )
        elif row.path is None and c.build.runtime == "llama.cpp":
            self.notify(f"{label} is not downloaded.", severity="warning")
        else:
            what = str(row.path) if row.local else f"{c.model.id}:{c.build.quant}"
            self.open_model(what, c.placement.n_ctx, label)

    def ask_for_file(self) -> None:
        """The palette's "Open a GGUF file": a path in, then the same opening as `ui --model`."""
        from localqwen.tui.screens.open_file import open_file_screen

        def opened(path: Path | None) -> None:
            if path is not None:
                self.open_model(str(path), self.settings.ctx, path.stem)

        self.push_screen(open_file_screen(), opened)

    def open_model(self, what: str, ctx: int, label: str) -> None:
        """Open a .gguf path or a catalog NAME:BUILD through `launch`, in a worker."""
        if self.loading:
            self.notify(f"Still loading {self.loading}.", severity="warning")
            return
        if self.server is not None:
            self.notify("The server (F5) is serving the loaded model: stop it first.", severity="warning")
            return
        old, self.loaded = self.loaded, None
        self.loading, self.loading_since, self.loading_fraction = label, time.monotonic(), None
        self.switch_mode("chat")
        self.load_model(old, what, ctx, label)

    def this_machine(self) -> Hardware:
        """What a model loads on: the detected machine, never a profile being planned for."""
        hw = self.hardware
        return hw if hw is not None and hw.source == "detected" else self.services.detect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_model(self, old: LoadedModel | None, what: str, ctx: int, label: str) -> None:
        from localqwen.engine.load_progress import reporting
        from localqwen.launch import LaunchOptions, open_model

        if old is not None:
            old.engine.close()
        services = self.services
        try:
            # serving=True: the plan keeps room for the Server screen's completion context.
            opening = open_model(what, LaunchOptions(ctx=ctx, serving=True, threads=self.settings.threads), self.this_machine,
                                 catalog=services.load_catalog(), load_gguf=services.open_engine, locate=services.locate)
            with reporting(self.loaded_so_far):
                engine = opening.chat.load()
        except LocalQwenError as exc:
            self.post_message(ModelLoadFailed(label, exc))
            return
        except Exception as exc:  # llama.cpp refusing a placement: a notice, never a crash
            self.post_message(ModelLoadFailed(label, ModelLoadError(f"{what}: {type(exc).__name__}: {exc}")))
            return
        if get_current_worker().is_cancelled:
            engine.close()
            return
        key = f"file:{what}" if what.endswith(".gguf") or Path(what).expanduser().is_file() else what
        self.post_message(ModelLoaded(LoadedModel(engine, label, opening.chat.placement, opening.fim, key)))

    def loaded_so_far(self, fraction: float) -> None:
        """llama.cpp's load progress, from the load worker; the chat status line shows it."""
        self.loading_fraction = fraction
        hold_load_for_test(fraction)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.loading = ""
        self.loaded = message.loaded
        self.notify(f"{message.loaded.label} loaded (context {message.loaded.engine.info.n_ctx:,} tokens).")

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.loading = ""
        self.notify(message.error.one_line(), title=f"{message.error.title}: {message.label}", severity="error")
        if isinstance(message.error, ModelFileError) and self.hardware is not None:
            self.make_plan(self.hardware)  # the table learns which files are gone


HOLD_LOAD_HOOK = "LOCALQWEN_TEST_HOLD_LOAD"
"""Tests only: a path; a load that is under way waits half way until the file exists, so a
test can see the progress on screen before releasing it (a tiny model loads in 0.1 s)."""


def hold_load_for_test(fraction: float) -> None:
    gate = os.environ.get(HOLD_LOAD_HOOK)
    if gate and fraction >= 0.5:
        deadline = time.monotonic() + 120
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def make_app(settings: TuiSettings | None = None, services: Services | None = None) -> LocalQwenApp:
    """The one factory: the CLI and the tests build the app here."""
    settings = settings or TuiSettings()
    return LocalQwenApp(settings, services or default_services(), HistoryStore(settings.data_dir or home()))


def run_app(settings: TuiSettings | None = None, services: Services | None = None) -> int:
    app = make_app(settings, services)
    app.run()
    return app.return_code or 0

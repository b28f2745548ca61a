"""Screen 1, Machine: the GPUs as cards, RAM and cores, the llama.cpp build, the doctor's warnings.

It shows at once with a placeholder; the app's workers fill it in when detection
(and later the doctor) answer.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from localqwen.hardware.types import Hardware
from localqwen.plan.types import cpu_text
from localqwen.tui.rows import VERDICT_LABEL, PlanTable, Recommendation, recommend
from localqwen.units import gib
from localqwen.tui.screens.build_detail import LoadRequest
from localqwen.tui.widgets.gpu_card import GpuCard

if TYPE_CHECKING:
    from localqwen.doctor.report import DoctorReport
    from localqwen.tui.app import LocalQwenApp

# Fixes for what detection notes, where the note alone does not say what to do.
NOTE_FIXES = {
    "NVML library not found": "install the NVIDIA driver (it ships libnvidia-ml); without an NVIDIA GPU, ignore this",
    "NVIDIA driver not loaded": "load the driver (reboot after installing it), or check `nvidia-smi`",
    "nvidia-ml-py is not installed": "pip install nvidia-ml-py",
    "no permission to query NVML": "run as a user in the video group",
}
MARKS = {"ok": ("✔", "green"), "warn": ("▲", "yellow"), "fail": ("✖", "red")}


def next_step_text(rec: Recommendation) -> Text:
    """The recommendation in words: what Enter does, the completion model, what is on disk."""
    out = Text()
    chat = rec.chat
    if chat is None:
        out.append("No model runs at a usable speed here. Models (F2) lists every build and why.")
        return out
    c = chat.candidate
    speed = f", ~{c.est_decode_tok_s:.0f} tok/s" if c.est_decode_tok_s else ""
    what = Text.assemble((f"{chat.label} {c.build.quant}", "bold"), f" ({VERDICT_LABEL[c.verdict]}{speed})")
    if chat.path is not None:
        out.append("Ready on this disk: ")
        out.append_text(what)
        out.append("\nPress Enter to load it and chat.", style="bold green")
    else:
        out.append("Recommended for this machine: ")
        out.append_text(what)
        out.append(f"\nPress Enter to download it ({gib(c.build.size_bytes)}, needs the network), then chat.",
                   style="bold")
    fim = rec.completions
    if fim is not None:
        where = "on disk" if fim.path is not None else f"to download, {gib(fim.candidate.build.size_bytes)}"
        out.append(f"\nFor editor completions: {fim.label} {fim.candidate.build.quant} ({where}); serve it with F5.")
    if rec.on_disk:
        out.append("\nOn disk: " + ", ".join(f"{r.label} {r.candidate.build.quant}" for r in rec.on_disk[:4]))
        if len(rec.on_disk) > 4:
            out.append(f" and {len(rec.on_disk) - 4} more")
    out.append("\nModels (F2) lists every build; Ctrl+P opens the command palette.", style="dim")
    return out


def note_fix(note: str) -> str | None:
    return next((fix for known, fix in NOTE_FIXES.items() if known in note), None)


def warning_text(mark: str, text: str, fix: str | None) -> Text:
    symbol, style = MARKS[mark]
    out = Text.assemble((f"{symbol} ", style), text)
    if fix:
        out.append("\n  fix: ", style="bold")
        out.append(fix)
    return out


class MachineScreen(Screen[None]):
    TITLE = "Machine"
    BINDINGS = [Binding("enter", "start", "Load it", id="machine.start",
                        tooltip="Load the recommended model and chat (downloading it first when it is not on disk)")]

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="machine"):
            yield Static("Looking at this machine…", id="machine-title")
            with Vertical(id="next", classes="card") as next_step:
                next_step.border_title = "Next step"
                yield Static("Planning which models fit…", id="next-text")
            yield Grid(id="gpus")
            with Vertical(id="system", classes="card") as system:
                system.border_title = "System"
                yield Static(id="system-text")
            with Vertical(id="doctor", classes="card") as doctor:
                doctor.border_title = "Doctor"
                yield Static(id="doctor-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.main, "hardware", self.show_hardware)
        self.watch(self.main, "hardware_problem", lambda _: self.show_title(self.main.hardware))
        self.watch(self.main, "doctor_report", self.show_doctor)
        self.watch(self.main, "plan", self.show_next)

    # --- the next step: what to run here, and the one key that runs it ------------------

    @property
    def recommendation(self) -> Recommendation | None:
        table = self.main.plan
        if table is None or table.hardware.source != "detected":
            return None
        return recommend(table, partial(self.main.measured.get, table.hardware.name))

    def show_next(self, table: PlanTable | None) -> None:
        text = self.query_one("#next-text", Static)
        self.refresh_bindings()
        if table is None:
            text.update("Planning which models fit…")
            return
        if table.hardware.source == "profile":
            text.update("Planning for a hardware profile: in Models (F2), choose 'this machine' to load a model here.")
            return
        rec = self.recommendation
        if rec is not None:
            text.update(next_step_text(rec))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            rec = self.recommendation
            return rec is not None and rec.chat is not None
        return True

    def action_start(self) -> None:
        rec = self.recommendation
        if rec is None or rec.chat is None:
            return
        row = rec.chat
        if row.path is not None:
            self.main.load_planned(LoadRequest(row, row.candidate))
        else:
            self.main.run_worker(self.main.download(row, then_load=True), exclusive=False)

    def show_title(self, hw: Hardware | None) -> None:
        title = self.query_one("#machine-title", Static)
        if hw is None:
            problem = self.main.hardware_problem
            title.update(warning_text("fail", problem, None) if problem else Text("Looking at this machine…"))
        elif hw.source == "profile":
            title.update(Text.assemble("Planning for the hardware profile ", (hw.name, "bold"), f": {hw.notes[0]}" if hw.notes else ""))
        else:
            title.update(Text.assemble("This machine: ", (hw.name, "bold")))

    async def show_hardware(self, hw: Hardware | None) -> None:
        self.show_title(hw)
        gpus = self.query_one("#gpus", Grid)
        await gpus.remove_children()
        if hw is None:
            self.query_one("#system-text", Static).update("")
            return
        if hw.gpus:
            await gpus.mount_all(GpuCard(gpu) for gpu in hw.gpus)
        else:
            card = Vertical(Static("No NVIDIA GPU: models run on the CPU, from RAM.", classes="card-line"), classes="card gpu-card")
            card.border_title = "GPU"
            await gpus.mount(card)
        self.query_one("#system-text", Static).update(self.system_text(hw))

    def system_text(self, hw: Hardware) -> Text:
        ram_bw = f" · RAM {hw.ram_bandwidth_gbs:.0f} GB/s" if hw.ram_bandwidth_gbs else ""
        out = Text(f"RAM {gib(hw.ram_total_bytes)} ({gib(hw.ram_available_bytes)} available) · {cpu_text(hw)}{ram_bw}")
        for link in hw.links:
            speed = f" {link.bandwidth_gbs:.0f} GB/s" if link.bandwidth_gbs else ""
            out.append(f"\nGPU{link.a} ↔ GPU{link.b}: {'NVLink' if link.kind == 'nvlink' else 'PCIe'}{speed}")
        out.append("\nllama.cpp: ")
        build = self.main.llama_build
        offload = bool(build.get("gpu_offload")) if build is not None else hw.gpu_offload
        version = f"{build.get('llama_cpp_version')}, " if build is not None else ""
        if offload is None:
            out.append("build not checked yet")
        elif offload:
            out.append(f"{version}GPU offload", style="green")
            if len(hw.gpus) > 1:
                out.append(", cards split by rows" if hw.row_split else ", cards split by layers (this build has no row split)")
        else:
            out.append(f"{version}CPU only", style="yellow" if hw.gpus else "")
            out.append(" (models run on the CPU)" if not hw.gpus else " (this build cannot use the GPUs)")
        if hw.source == "detected":
            for note in hw.notes:
                out.append("\n")
                out.append_text(warning_text("warn", note, note_fix(note)))
        return out

    def show_doctor(self, report: DoctorReport | None) -> None:
        text = self.query_one("#doctor-text", Static)
        if not self.main.services.doctor:
            self.query_one("#doctor").display = False
            return
        if report is None:
            text.update("Checking: a tiny model decodes in a child process…")
            return
        problems = [c for c in report.checks if c.status != "ok"]
        out = Text()
        if not problems:
            out.append_text(warning_text("ok", f"all {len(report.checks)} checks passed", None))
        for check in problems:
            if out:
                out.append("\n")
            out.append_text(warning_text(check.status, f"{check.name}: {check.detail}", check.fix))
        text.update(out)

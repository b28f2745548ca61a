"""Screen 1, Machine: the GPUs as cards, RAM and cores, the llama.cpp build, the doctor's warnings.

It shows at once with a placeholder; the app's workers fill it in when detection
(and later the doctor) answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from localqwen.hardware.types import Hardware
from localqwen.plan.types import cpu_text
from localqwen.tui.rows import gb
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

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="machine"):
            yield Static("Looking at this machine…", id="machine-title")
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
        out = Text(f"RAM {gb(hw.ram_total_bytes)} ({gb(hw.ram_available_bytes)} available) · {cpu_text(hw)}{ram_bw}")
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

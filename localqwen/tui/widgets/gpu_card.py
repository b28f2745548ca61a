"""One GPU as a card: its name, a memory bar (used and free), bandwidth and bus."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from localqwen.hardware.types import Gpu
from localqwen.units import gib
from localqwen.tui.widgets.bar import Bar


def gpu_facts(gpu: Gpu) -> str:
    facts = [f"{gpu.bandwidth_gbs:.0f} GB/s" if gpu.bandwidth_gbs else "bandwidth unknown"]
    if gpu.pcie_gen:
        facts.append(f"PCIe {gpu.pcie_gen} x{gpu.pcie_width}" if gpu.pcie_width else f"PCIe {gpu.pcie_gen}")
    if gpu.compute_capability:
        facts.append("sm " + ".".join(map(str, gpu.compute_capability)))
    return " · ".join(facts)


class GpuCard(Vertical):
    """The card for one GPU; `Bar` shows used memory against the total."""

    def __init__(self, gpu: Gpu) -> None:
        super().__init__(classes="card gpu-card")
        self.gpu = gpu
        self.border_title = f"GPU{gpu.index}"

    def compose(self) -> ComposeResult:
        gpu = self.gpu
        used = gpu.total_bytes - gpu.free_bytes
        yield Label(gpu.name, classes="card-name", markup=False)
        yield Bar(used / gpu.total_bytes if gpu.total_bytes else 0.0, f"{gib(used)} used")
        yield Label(f"{gib(gpu.free_bytes)} free of {gib(gpu.total_bytes)}", classes="card-line")
        yield Label(gpu_facts(gpu), classes="card-line dim")

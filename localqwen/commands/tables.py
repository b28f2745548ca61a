"""Rich tables for the CLI: the machine and the plan. Faces only; no logic here."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from localqwen.hardware.types import Hardware
from localqwen.plan.types import VERDICT_STYLE, Candidate, cpu_text
from localqwen.units import gib


def hardware_table(hw: Hardware) -> Table:
    title = f"{hw.name} ({'profile' if hw.source == 'profile' else 'this machine'})"
    table = Table(title=title, title_justify="left")
    for column in ("device", "memory", "free", "bandwidth", "notes"):
        table.add_column(column)
    for gpu in hw.gpus:
        cc = ".".join(map(str, gpu.compute_capability)) if gpu.compute_capability else ""
        pcie = f"PCIe {gpu.pcie_gen} x{gpu.pcie_width}" if gpu.pcie_gen else ""
        bw = f"{gpu.bandwidth_gbs:.0f} GB/s" if gpu.bandwidth_gbs else "?"
        table.add_row(escape(f"GPU{gpu.index} {gpu.name}"), gib(gpu.total_bytes), gib(gpu.free_bytes), bw,
                      " ".join(x for x in (f"sm {cc}" if cc else "", pcie) if x))
    ram_bw = f"{hw.ram_bandwidth_gbs:.0f} GB/s" if hw.ram_bandwidth_gbs else "?"
    table.add_row("RAM", gib(hw.ram_total_bytes), gib(hw.ram_available_bytes), ram_bw, cpu_text(hw))
    for link in hw.links:
        table.add_row(f"link GPU{link.a}-GPU{link.b}", "", "", f"{link.bandwidth_gbs:.0f} GB/s" if link.bandwidth_gbs else "", link.kind)
    return table


def plan_table(candidates: list[Candidate], choice: Candidate | None, *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("", "model", "build", "size", "verdict", "memory per device", "context", "~tok/s*", "how"):
        table.add_column(column, overflow="fold")
    for c in candidates:
        memory = ", ".join(f"GPU{d.index} {gib(d.bytes)}" for d in c.devices)
        if c.host_bytes:
            memory = ", ".join(x for x in (memory, f"RAM {gib(c.host_bytes)}") if x)
        style = VERDICT_STYLE[c.verdict]
        how = c.note
        if c.placement and c.placement.tensor_split:
            how += f"; tensor_split {list(c.placement.tensor_split)}"
        table.add_row(
            "→" if c is choice else "",
            c.model.name,
            c.build.quant,
            gib(c.build.size_bytes),
            f"[{style}]{c.verdict}[/{style}]",
            memory,
            f"{c.n_ctx:,}" if c.n_ctx else "",
            f"{c.est_decode_tok_s:g}" if c.est_decode_tok_s else "",
            escape(how),
        )
    table.caption = "* decode speed is an estimate from memory bandwidth, not a measurement"
    return table


def print_table(table: Table) -> None:
    Console(width=max(Console().width, 120)).print(table)

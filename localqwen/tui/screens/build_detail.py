"""A build's detail: how it is placed, with context length and split mode to try live.

Each change replans the build in a worker (the plan is pure, but it stays off the
UI thread like all the work) and the cards, layers and estimate follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from localqwen.hardware.types import Hardware
from localqwen.plan import Candidate, PlanOptions
from localqwen.plan.types import VERDICT_STYLE, threads_text
from localqwen.tui.rows import VERDICT_LABEL, PlanRow, ctx_text, disk_text, layers_text, replan
from localqwen.units import gib, gib_number
from localqwen.tui.widgets.bar import Bar

if TYPE_CHECKING:
    from localqwen.tui.app import LocalQwenApp

SPLITS = (("auto", "auto"), ("none: one card", "none"), ("layer", "layer"), ("row", "row"),
          ("tensor (experimental)", "tensor"))


@dataclass(frozen=True)
class LoadRequest:
    row: PlanRow
    candidate: Candidate
    download: bool = False
    """Download the build rather than load it."""


def placement_text(c: Candidate) -> Text:
    p = c.placement
    if p is None:
        return Text(c.note or "does not fit", style="red")
    cards = len(c.devices)
    split = "one card" if cards == 1 else "no GPU" if cards == 0 else f"split {p.split_mode} over {cards} cards"
    if c.verdict == "needs_vllm":
        split = f"vLLM tensor parallel over {cards} card{'s' if cards > 1 else ''}"
    kv = p.type_k if p.type_k == p.type_v else f"{p.type_k}/{p.type_v}"
    main = f" · main GPU {p.main_gpu}" if cards > 1 and p.split_mode == "row" else ""
    out = Text(f"{split}{main} · layers: {layers_text(c)} · KV cache {kv}")
    if p.flash_attn:
        out.append(" · flash attention")
    out.append(f" · {threads_text(p)}")
    if c.host_bytes:
        out.append(f"\nin RAM: {gib(c.host_bytes)}")
    return out


def estimate_text(c: Candidate, measured: float | None = None) -> Text:
    out = Text()
    out.append(f"context {ctx_text(c)}", style="bold")
    if c.est_decode_tok_s:
        out.append(f" · ~{c.est_decode_tok_s:g} tok/s", style="bold")
        out.append(" (an estimate from memory bandwidth)", style="dim")
    if measured:
        out.append(f" · {measured:.1f} tok/s measured here", style="bold green")
    return out


class CardLine(Horizontal):
    """One GPU in the placement: its share of the split and its memory."""

    def __init__(self, name: str) -> None:
        super().__init__(classes="card-line-row")
        self.card_name = name

    def compose(self) -> ComposeResult:
        yield Label(self.card_name, classes="card-label", markup=False)
        yield Bar(0.0, "", classes="share")
        yield Bar(0.0, "", classes="memory")

    def show(self, share: float | None, used: int | None, capacity: int) -> None:
        self.query_one(".share", Bar).fraction = share or 0.0
        self.query_one(".share", Bar).label = f"{share:.0%}" if share is not None else "unused"
        self.query_one(".memory", Bar).fraction = (used or 0) / capacity if capacity else 0.0
        self.query_one(".memory", Bar).label = f"{gib_number(used)}/{gib(capacity)}" if used is not None else "—"


class BuildDetailScreen(ModalScreen[LoadRequest | None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="detail.close"),
        Binding("ctrl+l", "load", "Load", id="detail.load"),
        Binding("ctrl+d", "download", "Download", id="detail.download", priority=True),  # over the Input's delete-right
    ]

    @dataclass
    class Replanned(Message):
        candidate: Candidate

    def __init__(self, row: PlanRow, hardware: Hardware) -> None:
        super().__init__()
        self.row = row
        self.hardware = hardware
        self.candidate = row.candidate

    def compose(self) -> ComposeResult:
        c, multi = self.candidate, len(self.hardware.gpus) > 1
        with VerticalScroll(id="detail") as box:
            box.border_title = f"{self.row.label} · {c.build.quant}"
            yield Static(self.heading(), id="detail-heading")
            with Horizontal(id="detail-controls"):
                yield Label("Context", classes="control-label")
                yield Input(str(c.n_ctx or c.model.context), type="integer", id="ctx", max_length=7)
                yield Label("Split", classes="control-label")
                yield Select(SPLITS, value="auto", allow_blank=False, id="split", disabled=not multi)
            yield Static(id="placement")
            with Vertical(id="cards") as cards:
                cards.display = bool(self.hardware.gpus)
                yield Label("card            share of the split         memory", classes="dim")
                for gpu in self.hardware.gpus:
                    yield CardLine(f"GPU{gpu.index} {gpu.name.removeprefix('NVIDIA ').removeprefix('GeForce ')}")
            yield Static(id="estimate")
            yield Static(id="detail-file")
            with Horizontal(id="detail-buttons"):
                yield Button("Load", id="load", variant="primary")
                yield Button("Download", id="download")
                yield Button("Close", id="close")
        yield Footer(compact=True)  # this screen's own keys (Ctrl+L, Ctrl+D) were nowhere to be seen

    def on_mount(self) -> None:
        self.query_one("#ctx", Input).cursor_blink = cast("LocalQwenApp", self.app).settings.cursor_blink
        self.show(self.candidate)
        self.query_one("#ctx", Input).focus()  # the one thing to set here; Load was three Tabs away from it

    def why_not_loadable(self) -> str | None:
        """None where Load can load this build now; else what stands in the way, and the key for it."""
        c = self.candidate
        if self.hardware.source == "profile":
            return (f"planned for the hardware profile {self.hardware.name}, not this machine: "
                    "choose 'this machine' in Models to load")
        if c.placement is None:
            return f"does not fit: {c.note}" if c.note else "does not fit"
        if self.row.path is None and c.build.runtime == "llama.cpp":
            return "not on disk: Ctrl+D downloads it"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "download":
            return self.row.path is None and not self.row.local and self.candidate.build.runtime == "llama.cpp"
        return True

    def heading(self) -> Text:
        c = self.candidate
        out = Text(f"{gib(c.build.size_bytes)} · {c.build.format.upper()} on {c.build.runtime} · ")
        out.append(VERDICT_LABEL[c.verdict], style=f"bold {VERDICT_STYLE[c.verdict]}")
        if c.note:
            out.append(f" · {c.note}", style="dim")
        out.append(f"\nfrom {c.build.source_text}", style="yellow" if c.build.community else "dim")
        return out

    def show(self, c: Candidate) -> None:
        self.candidate = c
        self.query_one("#detail-heading", Static).update(self.heading())
        self.query_one("#placement", Static).update(placement_text(c))
        shares = c.placement.tensor_split if c.placement else ()
        used = [d.index for d in c.devices]
        for gpu, line in zip(self.hardware.gpus, self.query(CardLine), strict=True):
            device = next((d for d in c.devices if d.index == gpu.index), None)
            share = None
            if device is not None:
                position = used.index(device.index)
                share = shares[position] if position < len(shares) else 1.0 / len(c.devices)
            line.show(share, device.bytes if device else None, gpu.total_bytes)
        measured = self.app.measured.get(self.hardware.name, self.row.key) if self.hardware.source == "detected" else None
        estimate = estimate_text(c, measured)
        asked = self.asked_ctx()
        if asked is not None and c.n_ctx and c.n_ctx < asked:
            estimate.append(f"\ncontext {asked:,} does not fit: {c.n_ctx:,} is the most that does", style="yellow")
        self.query_one("#estimate", Static).update(estimate)
        path = self.row.path
        self.query_one("#detail-file", Static).update(
            Text(f"file: {path}", style="dim") if path else Text(disk_text(self.row), style="yellow")
        )
        why = self.why_not_loadable()
        load = self.query_one("#load", Button)
        load.disabled, load.tooltip = why is not None, why
        self.query_one("#download", Button).display = self.check_action("download", ()) is True
        if why:
            self.query_one("#detail-file", Static).update(Text(f"Load: {why}", style="yellow"))
        self.refresh_bindings()

    def asked_ctx(self) -> int | None:
        try:
            return int(self.query_one("#ctx", Input).value)
        except ValueError:
            return None

    # --- live replanning -------------------------------------------------------------

    def options(self) -> PlanOptions | None:
        text = self.query_one("#ctx", Input).value
        split = self.query_one("#split", Select).value
        try:
            ctx = int(text)
        except ValueError:
            return None
        if ctx < 256:
            return None
        return PlanOptions(ctx=ctx, split_mode=None if split == "auto" else str(split))

    @on(Input.Changed, "#ctx")
    @on(Select.Changed, "#split")
    def controls_changed(self) -> None:
        opts = self.options()
        if opts is None:
            self.query_one("#estimate", Static).update(Text("context: a whole number of tokens, 256 or more", style="yellow"))
            return
        self.replan(opts)

    @work(thread=True, exclusive=True, exit_on_error=False, group="replan")
    def replan(self, opts: PlanOptions) -> None:
        candidate = replan(self.row, self.hardware, opts)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Replanned(candidate))

    def on_build_detail_screen_replanned(self, message: Replanned) -> None:
        self.show(message.candidate)

    # --- closing ---------------------------------------------------------------------

    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        why = self.why_not_loadable()
        if why is not None:
            self.notify(f"{self.row.label} {self.candidate.build.quant}: {why}", severity="warning")
            return
        self.dismiss(LoadRequest(self.row, self.candidate))

    @on(Button.Pressed, "#download")
    def action_download(self) -> None:
        self.dismiss(LoadRequest(self.row, self.candidate, download=True))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)

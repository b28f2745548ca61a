"""The models table as plain data: one row per build, planned for one machine.

No Textual here: the screens format these rows, tests check them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from localqwen.catalog.types import Build, ModelSpec
from localqwen.hardware.types import Hardware
from localqwen.plan import Candidate, PlanOptions, plan_all, plan_model
from localqwen.plan.rank import USABLE_TOK_S, experts_text
from localqwen.units import gib_number

VERDICT_LABEL = {"fits": "fits", "partial": "partial", "needs_vllm": "needs vLLM", "needs_gpu": "needs GPU",
                 "too_big": "too big"}


@dataclass(frozen=True)
class PlanRow:
    key: str
    candidate: Candidate
    path: Path | None = None
    """The file on this disk; None where the build is not downloaded."""
    local: bool = False
    """A GGUF given on the command line rather than a catalog build."""

    @property
    def label(self) -> str:
        name = self.candidate.model.name
        return f"{name} (file)" if self.local else name

    def matches(self, words: Iterable[str]) -> bool:
        """Every word appears in the model, build, verdict or where it is ("on disk";
        case-insensitive): typing "disk" lists what is on disk."""
        c = self.candidate
        haystack = f"{self.label} {c.build.quant} {VERDICT_LABEL[c.verdict]} {c.model.family} {disk_text(self)}".lower()
        return all(word in haystack for word in words)


@dataclass(frozen=True)
class PlanTable:
    hardware: Hardware
    rows: tuple[PlanRow, ...]
    pick: str | None
    """Key of the recommended row."""
    problems: tuple[str, ...] = ()
    """Local files that could not be read, one line each."""

    def row(self, key: str) -> PlanRow | None:
        return next((r for r in self.rows if r.key == key), None)


def row_key(model: ModelSpec, build: Build, local: bool = False) -> str:
    return f"file:{model.source}" if local else f"{model.id}:{build.quant}"


def plan_table(
    hw: Hardware,
    models: Iterable[ModelSpec],
    local: Iterable[tuple[ModelSpec, Path]],
    locate: Callable[[ModelSpec, Build], Path | None],
    opts: PlanOptions = PlanOptions(),
    problems: tuple[str, ...] = (),
) -> PlanTable:
    """Local files first, then the catalog builds on disk (they load now, offline too), then
    every other build of every catalog model; in each, the catalog's order, best build first."""
    rows: list[PlanRow] = []
    for spec, path in local:
        for c in plan_model(spec, hw, opts):
            rows.append(PlanRow(row_key(spec, c.build, True), c, _existing(path), True))
    catalog = [m for m in models if m.builds]
    for model in catalog:
        for c in plan_model(model, hw, opts):
            rows.append(PlanRow(row_key(model, c.build), c, _existing(locate(model, c.build))))
    rows.sort(key=lambda row: (not row.local, row.path is None))  # stable: the catalog's order within
    _, pick = plan_all(catalog, hw, opts)
    pick_key = row_key(pick.model, pick.build) if pick else None
    if pick is None and rows and rows[0].local:
        pick_key = rows[0].key
    return PlanTable(hw, tuple(rows), pick_key, problems)


USABLE_RAM_SHARE = 0.6
"""A model that takes more of the available RAM than this leaves the machine hard to use
beside it (the browser, the editor): not what a first run should suggest."""


@dataclass(frozen=True)
class Recommendation:
    """What the first screen offers: the chat model Enter loads (or downloads), the
    completion model for editors, and every usable build already on disk."""

    chat: PlanRow | None
    completions: PlanRow | None
    on_disk: tuple[PlanRow, ...]


Measured = Callable[[str], "float | None"]
"""A row key's decode speed measured on this machine (tui.measured), None where it never ran."""


def recommend(table: PlanTable, measured: Measured = lambda key: None) -> Recommendation:
    """Builds that run at a usable speed and leave the machine usable, those on disk first
    (they load now, offline too); among them the biggest model. Completions want speed:
    the fastest FIM model on disk, else the fastest to download that is still big enough
    to be useful (the largest above 15 tok/s). A speed measured here overrides the
    estimate: a build that ran too slowly is not offered again."""
    hw = table.hardware

    def speed(row: PlanRow) -> float:
        return _tok_s(row, measured) or 0.0

    usable = [r for r in table.rows if _usable(r, hw, measured)]
    on_disk = sorted((r for r in usable if r.path is not None), key=_size_first, reverse=True)
    picked = table.row(table.pick) if table.pick else None
    chat = on_disk[0] if on_disk else picked if picked in usable else max(usable, key=_size_first, default=None)
    fim = [r for r in usable if r.candidate.model.fim]
    fim_on_disk = [r for r in fim if r.path is not None]
    quick = [r for r in fim if speed(r) >= 15]
    completions = (max(fim_on_disk, key=speed) if fim_on_disk
                   else max(quick, key=_size_first) if quick else max(fim, key=speed, default=None))
    return Recommendation(chat, completions, tuple(on_disk))


def _usable(row: PlanRow, hw: Hardware, measured: Measured) -> bool:
    c = row.candidate
    runs = c.placement is not None and c.verdict in ("fits", "partial")
    tok_s = _tok_s(row, measured)
    quick = tok_s is None or tok_s >= USABLE_TOK_S
    return runs and quick and c.host_bytes <= USABLE_RAM_SHARE * hw.ram_available_bytes


def _tok_s(row: PlanRow, measured: Measured) -> float | None:
    """The speed measured here, else the estimate."""
    return measured(row.key) or row.candidate.est_decode_tok_s


def _size_first(row: PlanRow) -> tuple[bool, float, int]:
    c = row.candidate
    return c.verdict == "fits", c.model.params_b, c.build.size_bytes


def _existing(path: Path | None) -> Path | None:
    """A file deleted since it was found is not on disk."""
    return path if path is not None and path.is_file() else None


def replan(row: PlanRow, hw: Hardware, opts: PlanOptions) -> Candidate:
    """The same build of the same model under other options (context, split mode)."""
    for c in plan_model(row.candidate.model, hw, opts):
        if c.build == row.candidate.build:
            return c
    return row.candidate


# --- text for cells and labels ----------------------------------------------------------


def memory_text(c: Candidate) -> str:
    """GiB on each card ('23.0+14.0'), and what stays in system memory ('RAM 5.1')."""
    parts = []
    if c.devices:
        parts.append("+".join(gib_number(d.bytes) for d in c.devices))
    if c.host_bytes:
        parts.append(f"RAM {gib_number(c.host_bytes)}")
    return " + ".join(parts) or "—"


def ctx_text(c: Candidate, *, short: bool = False) -> str:
    """32,768 tokens; short: 32K (K = 1024 tokens)."""
    if not c.n_ctx:
        return "—"
    if not short:
        return f"{c.n_ctx:,}"
    k = c.n_ctx / 1024
    return f"{k:.0f}K" if k == int(k) else f"{k:.1f}K"


def speed_text(c: Candidate, measured: float | None = None) -> str:
    """'~42' estimated; '19✓' where this build was measured on this machine."""
    if measured:
        return f"{measured:.0f}✓" if measured >= 10 else f"{measured:.1f}✓"
    v = c.est_decode_tok_s
    if not v:
        return "—"
    return f"~{v:.0f}" if v >= 100 else f"~{v:g}"


def short_name(name: str) -> str:
    """Display names without the '-Instruct' every chat build carries."""
    return name.removesuffix("-Instruct")


def disk_text(row: PlanRow) -> str:
    return "on disk" if row.path is not None else "not downloaded"


def layers_text(c: Candidate) -> str:
    layers = c.model.arch.layers
    if c.placement is None:
        return "—"
    n = c.placement.n_gpu_layers
    if c.placement.n_cpu_moe:
        return experts_text(c.placement.n_cpu_moe, layers)
    if n < 0 or n >= layers:
        return f"all {layers} on GPU" if c.devices else f"all {layers} in RAM"
    return f"{n} of {layers} on GPU"

"""Screen 2, Models: every build of every catalog model, planned for the chosen hardware.

Typing filters the table; Enter opens a build's detail; the selector on the right
plans for a hardware profile instead of this machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from localqwen.plan.types import VERDICT_STYLE
from localqwen.tui.rows import (
    VERDICT_LABEL,
    PlanRow,
    PlanTable,
    ctx_text,
    disk_text,
    memory_text,
    short_name,
    speed_text,
)
from localqwen.tui.screens.build_detail import BuildDetailScreen, LoadRequest
from localqwen.units import gib_number

if TYPE_CHECKING:
    from localqwen.tui.app import LocalQwenApp

THIS_MACHINE = "@this-machine"
# Widths that fit a 100-column terminal.
COLUMNS = (("model", 21), ("build", 8), ("size GiB", 8), ("verdict", 10), ("GiB/card", 10),
           ("context", 7), ("tok/s*", 5), ("disk", 14))  # fmt: skip
NARROW = 100
"""Below this many columns (80x24), GiB per card goes (the build detail has it) and the disk
column shrinks, so tok/s and disk stay on screen: sideways scrolling did not reach them."""
NARROW_COLUMNS = (("model", 18), ("build", 8), ("size GiB", 8), ("verdict", 9), ("context", 7), ("tok/s*", 6),
                  ("disk", 7))  # fmt: skip


def row_cells(row: PlanRow, pick: str | None, measured: float | None = None, *, narrow: bool = False) -> tuple[Text, ...]:
    c = row.candidate
    name = short_name(row.label)
    cells = (
        Text(f"→ {name}", style="bold") if row.key == pick else Text(f"  {name}"),
        Text(c.build.quant),
        Text(gib_number(c.build.size_bytes), justify="right"),
        Text(VERDICT_LABEL[c.verdict], style=VERDICT_STYLE[c.verdict]),
        Text(memory_text(c)),
        Text(ctx_text(c, short=True), justify="right"),
        Text(speed_text(c, measured), justify="right", style="green" if measured else ""),
        Text(disk_text(row), style="" if row.path else "dim"),
    )
    if narrow:
        return cells[:4] + cells[5:7] + (Text("on disk" if row.path else "—", style="" if row.path else "dim"),)
    return cells


class ModelTable(DataTable):
    """The table, with Enter named in the footer."""

    BINDINGS = [Binding("enter", "select_cursor", "Details", id="models.details")]


class ModelsScreen(Screen[None]):
    TITLE = "Models"
    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", id="models.clear-filter"),
        # priority: it must win over the filter input, where Ctrl+D would delete a character
        Binding("ctrl+d", "download", "Download", id="models.download", priority=True),
        Binding("down", "focus_table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.narrow = False  # set from the terminal's width when mounted, and on resize
        self.shown_options: list[tuple[str, str]] = []

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="models-bar"):
            yield Input(placeholder="type to filter: model, build, verdict, disk", id="filter")
            yield Select(self.hardware_options(), value=self.main.hardware_source or THIS_MACHINE, allow_blank=False, id="hardware-select")
        yield ModelTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("Planning…", id="models-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).cursor_blink = self.main.settings.cursor_blink
        self.narrow = self.app.size.width < NARROW
        self.add_columns()
        self.query_one(DataTable).focus()
        self.watch(self.main, "plan", self.show_plan)
        self.watch(self.main, "plan_problem", lambda _: self.show_plan(self.main.plan))

    # --- the table -------------------------------------------------------------------

    def show_plan(self, plan: PlanTable | None) -> None:
        status = self.query_one("#models-status", Static)
        select = self.query_one("#hardware-select", Select)
        options = self.hardware_options()
        if options != self.shown_options or select.value != (self.main.hardware_source or THIS_MACHINE):
            with self.prevent(Select.Changed):
                select.set_options(options)
                select.value = self.main.hardware_source or THIS_MACHINE
            self.shown_options = options
        if plan is None:
            status.update(self.main.plan_problem or "Planning…")
            self.query_one(DataTable).clear()
            return
        self.fill_table(keep=plan.pick)
        pick = plan.row(plan.pick) if plan.pick else None
        where = f"{plan.hardware.name} (profile)" if plan.hardware.source == "profile" else "this machine"
        line = Text(f"Planned for {where}. ")
        if pick:
            line.append("→ recommended: ").append(f"{pick.label} {pick.candidate.build.quant}", style="bold")
        else:
            line.append("Nothing fits this machine.")
        line.append(" · *tok/s: ~ estimated from memory bandwidth, ✓ measured here", style="dim")
        for problem in plan.problems:
            line.append(f"\n{problem}", style="red")
        status.update(line)

    def hardware_options(self) -> list[tuple[str, str]]:
        """This machine, the known profiles, and the profile given on the command line."""
        source = self.main.hardware_source
        names = list(self.main.profiles) + ([source] if source and source not in self.main.profiles else [])
        return [("this machine", THIS_MACHINE)] + [(name, name) for name in names]

    def visible_rows(self) -> list[PlanRow]:
        plan = self.main.plan
        words = self.query_one("#filter", Input).value.lower().split()
        return [row for row in plan.rows if row.matches(words)] if plan else []

    def add_columns(self) -> None:
        table = self.query_one(DataTable)
        for name, width in NARROW_COLUMNS if self.narrow else COLUMNS:
            table.add_column(name, width=width, key=name)

    def on_resize(self) -> None:
        narrow = self.app.size.width < NARROW
        if narrow != self.narrow:
            self.narrow = narrow
            self.query_one(DataTable).clear(columns=True)
            self.add_columns()
            self.fill_table()

    def fill_table(self, keep: str | None = None) -> None:
        table = self.query_one(DataTable)
        plan = self.main.plan
        if keep is None and table.row_count:
            keep = self.highlighted_key()
        table.clear()
        rows = self.visible_rows()
        here = plan.hardware.name if plan and plan.hardware.source == "detected" else None
        for row in rows:
            measured = self.main.measured.get(here, row.key) if here else None
            table.add_row(*row_cells(row, plan.pick if plan else None, measured, narrow=self.narrow), key=row.key)
        keys = [row.key for row in rows]
        if keep in keys:
            table.move_cursor(row=keys.index(keep), scroll=True)

    def highlighted_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # --- typing, choosing ------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def filter_changed(self) -> None:
        self.fill_table()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.query_one(DataTable).focus()
        self.action_details()

    @on(Select.Changed, "#hardware-select")
    def hardware_changed(self, event: Select.Changed) -> None:
        source = None if event.value == THIS_MACHINE else str(event.value)
        if source != self.main.hardware_source:
            self.main.use_hardware(source)

    def on_screen_resume(self) -> None:
        if self.main.plan is not None:
            self.fill_table()  # a speed measured in the chat since shows at once

    def on_key(self, event: events.Key) -> None:
        """Printable keys typed in the table go to the filter."""
        table = self.query_one(DataTable)
        if event.is_printable and event.character and self.focused is table:
            field = self.query_one("#filter", Input)
            field.focus()
            field.insert_text_at_cursor(event.character)
            event.stop()

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_details()

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.query_one(DataTable).focus()

    def highlighted_row(self) -> PlanRow | None:
        plan, key = self.main.plan, self.highlighted_key()
        row = plan.row(key) if plan and key else None
        if row is None:
            self.notify("No build is highlighted.", severity="warning")
        return row

    def action_details(self) -> None:
        row, plan = self.highlighted_row(), self.main.plan
        if row is not None and plan is not None:
            self.app.push_screen(BuildDetailScreen(row, plan.hardware), self.detail_closed)

    async def action_download(self) -> None:
        row = self.highlighted_row()
        if row is not None:
            await self.main.download(row)

    async def detail_closed(self, request: LoadRequest | None) -> None:
        if request is not None and request.download:
            await self.main.download(request.row)
        elif request is not None:
            self.main.load_planned(request)

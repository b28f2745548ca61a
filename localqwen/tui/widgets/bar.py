"""A one-line bar: a filled share and the rest, coloured by the theme through CSS."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class Bar(Widget):
    """`fraction` of the width filled, with `label` written after the bar.

    Colours come from the component classes `bar--filled` and `bar--empty`, so a
    light or dark theme, or a warning class on the widget, recolours it.
    """

    COMPONENT_CLASSES = {"bar--filled", "bar--empty", "bar--label"}
    DEFAULT_CSS = """
    Bar { height: 1; width: 1fr; }
    Bar > .bar--filled { color: $primary; }
    Bar > .bar--empty { color: $foreground 20%; }
    Bar > .bar--label { color: $foreground; }
    Bar.-high > .bar--filled { color: $warning; }
    Bar.-over > .bar--filled { color: $error; }
    """

    fraction: reactive[float] = reactive(0.0)
    label: reactive[str] = reactive("")

    def __init__(self, fraction: float = 0.0, label: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(Bar.fraction, fraction)
        self.set_reactive(Bar.label, label)

    def watch_fraction(self, fraction: float) -> None:
        self.set_class(0.85 <= fraction <= 1.0, "-high")
        self.set_class(fraction > 1.0, "-over")

    def on_mount(self) -> None:
        self.watch_fraction(self.fraction)

    def render(self) -> Text:
        label = f" {self.label}" if self.label else ""
        width = max(self.size.width - len(label), 4)
        filled = round(width * min(max(self.fraction, 0.0), 1.0))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("█" * filled, self.get_component_rich_style("bar--filled"))
        text.append("░" * (width - filled), self.get_component_rich_style("bar--empty"))
        text.append(label, self.get_component_rich_style("bar--label"))
        return text

"""Snapshots of each screen at 100x30 and at 80x24, planned for a fixed hardware profile.

Nothing here depends on the machine or the clock: the hardware is the dual-RTX-3090
profile, the doctor's report is fixed, the chat shows a saved conversation (no
timing), the cursor does not blink. Update with `pytest --snapshot-update` and look
at the SVGs under `tests/__snapshots__/` before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.screen import ModalScreen

from localqwen.tui.app import make_app
from localqwen.tui.history import Conversation, HistoryStore, Turn
from localqwen.tui.settings import TuiSettings
from tests.test_tui_kit import pinned_services, screen_text, settle, wait_for

SIZES = pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
ANSWER = """Use a list comprehension:

```python
squares = [n * n for n in range(10)]
```

It reads as **"n squared for each n"**.
"""


def app_for(tmp_path: Path, **settings: object):
    return make_app(TuiSettings(hardware="dual-rtx3090", data_dir=tmp_path, cursor_blink=False, **settings), pinned_services())  # type: ignore[arg-type]


async def ready(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()
    if isinstance(pilot.app.screen, ModalScreen):
        return  # a dialog's footer has its own keys only
    footer = screen_text(pilot.app).rstrip("\n").splitlines()[-1]
    assert footer.rstrip().endswith("^p palette"), f"the footer is cut: {footer!r}"
    narrow = pilot.app.size.width < 100
    assert ("screens" in footer) is narrow  # at 80 columns the screen keys are one group


@SIZES
def test_machine_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(tmp_path), terminal_size=size, run_before=ready)


@SIZES
def test_machine_screen_light_theme(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(tmp_path, theme="textual-light"), terminal_size=size, run_before=ready)


@SIZES
def test_models_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def models(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f2")
        await ready(pilot)
        shown = screen_text(pilot.app)
        # at 80 columns tok/s and disk stay on screen (sideways scrolling did not reach them)
        assert "tok/s" in shown and "disk" in shown and ("GiB/card" in shown) is (size[0] >= 100)

    assert snap_compare(app_for(tmp_path), terminal_size=size, run_before=models)


@SIZES
def test_build_detail(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def detail(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f2")
        await ready(pilot)
        await pilot.press("enter")  # on the recommended row
        await ready(pilot)

    assert snap_compare(app_for(tmp_path), terminal_size=size, run_before=detail)


@SIZES
def test_chat_screen(snap_compare, tmp_path: Path, tiny_qwen3: Path, size: tuple[int, int]) -> None:
    HistoryStore(tmp_path).save(
        Conversation("tiny-qwen3", turns=[
            Turn("user", "How do I square the numbers below 10 in Python?"),
            Turn("assistant", ANSWER, "The person wants a one-liner. A list comprehension is the idiom."),
        ])  # fmt: skip
    )

    async def chat(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.loaded is not None, "the model to load")
        await ready(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("enter")
        await ready(pilot)

    assert snap_compare(app_for(tmp_path, model=tiny_qwen3), terminal_size=size, run_before=chat)


def stalled_pull(model, build, listener, cancel):
    """Two files: the first done, the second half way at a fixed speed; then wait to be cancelled."""
    from localqwen.pull import PullEvent, PullInterrupted

    listener(PullEvent("model-00001-of-00002.gguf", "done", 9_800_000_000, 9_800_000_000, index=1, count=2))
    listener(PullEvent("model-00002-of-00002.gguf", "fetch", 4_000_000_000, 9_100_000_000, speed=52_400_000,
                       eta=97.3, resumed_from=1_000_000_000, index=2, count=2))  # fmt: skip
    cancel.wait(30)
    raise PullInterrupted("stopped")


@SIZES
def test_download_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    from dataclasses import replace

    from localqwen.tui.widgets.file_progress import FileProgress

    services = replace(pinned_services(), pull=stalled_pull)
    app = make_app(TuiSettings(hardware="dual-rtx3090", data_dir=tmp_path, cursor_blink=False), services)

    async def download(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f2")
        await ready(pilot)
        await pilot.press("ctrl+d")  # the recommended row
        await wait_for(pilot, lambda: len(pilot.app.screen.query(FileProgress)) == 2, "two files")
        await wait_for(pilot, lambda: "File 2 of 2" in screen_text(pilot.app) and "ETA 1:37" in screen_text(pilot.app),
                       "the second file's progress on screen")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=download)


@SIZES
def test_server_screen(snap_compare, tmp_path: Path, tiny_qwen3: Path, size: tuple[int, int]) -> None:
    async def server(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.loaded is not None, "the model to load")
        await ready(pilot)
        await pilot.press("f5")
        await ready(pilot)

    assert snap_compare(app_for(tmp_path, model=tiny_qwen3), terminal_size=size, run_before=server)


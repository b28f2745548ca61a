"""Where the stylesheets are: inside the wheel (`localqwen/_assets`) or the checkout's `assets/`."""

from __future__ import annotations

from pathlib import Path, PurePath

STYLESHEETS = ("app.tcss", "machine.tcss", "models.tcss", "detail.tcss", "download.tcss", "chat.tcss", "server.tcss")


def assets_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_assets"
    return packaged if packaged.is_dir() else package.parent / "assets"


def stylesheets() -> list[str | PurePath]:
    folder = assets_dir()
    return [folder / name for name in STYLESHEETS]

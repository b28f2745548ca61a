"""Free disk, checked before a byte is fetched, with a margin for everything else that writes.

Test hook: `LOCALQWEN_TEST_FREE_BYTES=N` makes `free_bytes` report N, so a test can
play a full disk without filling one. A caller may also pass its own `free_bytes`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from localqwen.pull.errors import NotEnoughDiskError
from localqwen.units import size

FREE_BYTES_HOOK = "LOCALQWEN_TEST_FREE_BYTES"
MIN_MARGIN = 512 << 20  # logs, swap files and the next download need room too
MARGIN_SHARE = 0.02

FreeBytes = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    """Free bytes on the disk that holds `path` (or would hold it: the nearest folder that exists)."""
    hook = os.environ.get(FREE_BYTES_HOOK)
    if hook:
        return int(hook)
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def margin_for(needed: int) -> int:
    return max(MIN_MARGIN, int(needed * MARGIN_SHARE))


def check_room(needed: int, where: Path, what: str, free: FreeBytes = free_bytes) -> None:
    """Refuse, with the numbers, when `needed` bytes plus the margin do not fit."""
    if needed <= 0:
        return
    margin = margin_for(needed)
    have = free(where)
    if have < needed + margin:
        raise NotEnoughDiskError(
            f"not enough disk for {what} in {where}: it needs {size(needed)} "
            f"(+ {size(margin)} margin) and {size(have)} is free",
            fix="free some space, or point HF_HUB_CACHE at a bigger disk",
        )

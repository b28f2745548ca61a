"""An exception the TUI did not expect: the person reads one line naming it, the traceback goes to a file.

An error of localqwen's own (`LocalQwenError`) is what a person can act on and shows as
it is. Anything else is a bug, ours or a library's: a worker calls `keep_traceback`,
which appends the traceback to `<data dir>/logs/tui-errors.log` (a terminal UI has no
stderr a person can read), and names that file in the one line it shows.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from pathlib import Path

LOG = Path("logs") / "tui-errors.log"


def keep_traceback(exc: BaseException, doing: str, data_dir: Path) -> Path | None:
    """Append `exc`'s traceback, headed by what was being done, to the log; its path, or None if it cannot be written."""
    path = data_dir / LOG
    text = "".join(traceback.format_exception(exc))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {datetime.now().isoformat(timespec='seconds')} {doing}\n{text}\n")
    except OSError:
        return None
    return path


def where_kept(path: Path | None) -> str:
    """The `fix` of an unexpected error: where its traceback is, for a bug report."""
    if path is None:
        return "a bug, not your input; the traceback could not be written down"
    return f"a bug, not your input: the traceback is in {path}"

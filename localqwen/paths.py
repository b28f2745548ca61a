"""Where localqwen keeps its files; one root that tests (and people) can move.

`LOCALQWEN_HOME` overrides everything; otherwise platformdirs picks the usual place.
Model weights do not live here: they stay in the Hugging Face cache, shared with
every other tool that uses it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs


def home() -> Path:
    override = os.environ.get("LOCALQWEN_HOME")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("localqwen", appauthor=False))


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved as huggingface_hub does, but at call time
    (huggingface_hub reads these variables once, at import)."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(hf_home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(hub)))


def profiles_dir() -> Path:
    """The shipped profiles: inside the wheel, or the repository's folder in a checkout."""
    packaged = Path(__file__).parent / "_profiles"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "profiles"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file beside it (a name of its own, so
    two processes writing at once do not share one), then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

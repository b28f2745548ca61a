"""localqwen's small index of what it knows about files on disk: `$LOCALQWEN_HOME/store.json`.

The weights stay in the Hugging Face cache; this file only remembers which of them a
pull checked against the Hub's sha256 (so `localqwen models` can say "verified"
without hashing gigabytes again), and which GGUFs a person imported from elsewhere.
Written whole to a temporary file and moved into place, under a lock. A file that is
not a store (cut short, edited by hand) is moved aside and refused, never read as
empty: the next edit would write the empty store over what it remembered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from localqwen.paths import home, write_text_atomic
from localqwen.pull.errors import StoreFileError


@dataclass(frozen=True)
class Verified:
    repo: str
    file: str
    etag: str
    size: int
    commit: str


@dataclass(frozen=True)
class Imported:
    name: str  # what a person calls it: a catalog model id when the header matched one
    build: str  # the quant the header declares
    path: str  # absolute; the file stays where the person keeps it
    size_bytes: int
    architecture: str


def store_path() -> Path:
    return home() / "store.json"


def _read() -> dict[str, Any]:
    path = store_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {"verified": {}, "imported": {}}
    except OSError as exc:
        raise StoreFileError(f"{path}: cannot read localqwen's store ({exc.strerror or exc})") from None
    data = _parse(raw)
    if isinstance(data, dict):
        data.setdefault("verified", {})
        data.setdefault("imported", {})
        return data
    try:
        aside = _move_aside(path)
    except FileNotFoundError:  # another localqwen run moved it aside first
        return _read()
    raise StoreFileError(
        f"{path} is not a localqwen store ({data}); it was moved to {aside}, nothing in it was lost",
        fix="repair it and move it back, or leave it and localqwen starts a new store",
    )


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The store in `raw`, or what makes it something else, in words."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if not isinstance(data, dict):
        return "not a JSON object"
    for section in ("verified", "imported"):
        if not isinstance(data.get(section, {}), dict):
            return f"its {section!r} is not an object"
    return data


def _move_aside(path: Path) -> Path:
    """Rename the bad file to the first free `store.json.corrupt[.N]`, so a second bad file keeps the first."""
    aside, n = path.with_name(f"{path.name}.corrupt"), 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.corrupt.{n}"), n + 1
    os.replace(path, aside)
    return aside


@contextmanager
def _editing() -> Iterator[dict[str, Any]]:
    from huggingface_hub.utils import WeakFileLock

    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(path.with_name("store.json.lock")):
        data = _read()
        yield data
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def _key(repo: str, file: str) -> str:
    return f"{repo}/{file}"


def record_verified(entry: Verified) -> None:
    with _editing() as data:
        data["verified"][_key(entry.repo, entry.file)] = asdict(entry)


def forget_verified(repo: str, file: str) -> None:
    with _editing() as data:
        data["verified"].pop(_key(repo, file), None)


def verified(repo: str, file: str) -> Verified | None:
    raw = _read()["verified"].get(_key(repo, file))
    try:
        return Verified(**raw) if raw else None
    except TypeError:
        return None


def is_verified(repo: str, file: str, path: Path) -> bool:
    """The file at `path` is the blob a pull checked: same blob name and size, so no need to hash again."""
    entry = verified(repo, file)
    if entry is None or not path.is_file():
        return False
    return Path(os.path.realpath(path)).name == entry.etag and path.stat().st_size == entry.size


def record_import(entry: Imported) -> bool:
    """Remember an imported GGUF; True when it replaced an entry of the same NAME:BUILD."""
    key = f"{entry.name}:{entry.build}"
    with _editing() as data:
        existed = key in data["imported"]
        data["imported"][key] = asdict(entry)
    return existed


def forget_import(name: str, build: str) -> None:
    with _editing() as data:
        data["imported"].pop(f"{name}:{build}", None)


def imported() -> list[Imported]:
    out = []
    for raw in _read()["imported"].values():
        try:
            out.append(Imported(**raw))
        except TypeError:
            continue
    return out

"""The Hugging Face cache, read and written in huggingface_hub's own layout, so every tool shares the files.

    <cache>/models--OWNER--NAME/blobs/<etag>             the bytes (etag: sha256 of an LFS file, else its git oid)
                                blobs/<etag>.incomplete  a download under way, kept across runs so the next pull resumes
                                snapshots/<commit>/<file> -> ../../blobs/<etag>
                                refs/main                the commit `main` named when the file was fetched
    <cache>/.locks/models--OWNER--NAME/<etag>.lock       the lock hf_hub_download takes for the same blob

Settings are read from the environment at call time (huggingface_hub reads them once, at import).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from localqwen.paths import hf_cache_dir


def cache_dir() -> Path:
    """HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub."""
    return hf_cache_dir()


def repo_dir(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def blob_path(cache: Path, repo: str, etag: str) -> Path:
    return repo_dir(cache, repo) / "blobs" / etag


def partial_path(cache: Path, repo: str, etag: str) -> Path:
    return repo_dir(cache, repo) / "blobs" / f"{etag}.incomplete"


def lock_path(cache: Path, repo: str, etag: str) -> Path:
    return cache / ".locks" / repo_dir(cache, repo).name / f"{etag}.lock"


def snapshot_path(cache: Path, repo: str, commit: str, filename: str) -> Path:
    return repo_dir(cache, repo) / "snapshots" / commit / filename


def main_commit(cache: Path, repo: str) -> str | None:
    ref = repo_dir(cache, repo) / "refs" / "main"
    return ref.read_text().strip() if ref.is_file() else None


def snapshots(cache: Path, repo: str) -> list[Path]:
    """The repo's snapshot folders, the one `main` names first, then the newest."""
    root = repo_dir(cache, repo) / "snapshots"
    if not root.is_dir():
        return []
    main = main_commit(cache, repo)
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (p.name != main, -p.stat().st_mtime))


def snapshot_root(path: Path, filename: str) -> Path:
    """The snapshot folder that holds `path`, the file the repo calls `filename`."""
    return path.parents[len(Path(filename).parts) - 1]


def find_cached(cache: Path, repo: str, filename: str) -> Path | None:
    """The file as some snapshot holds it (a link to a blob that exists), or None."""
    for snap in snapshots(cache, repo):
        path = snap / filename
        if path.is_file():
            return path
    return None


def write_ref(cache: Path, repo: str, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = repo_dir(cache, repo) / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f"{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def link_snapshot(cache: Path, repo: str, commit: str, filename: str, etag: str) -> Path:
    """Point snapshots/<commit>/<file> at its blob, relatively, as huggingface_hub does; copy where links fail.

    The link (or copy) is made under a name of this thread's, then renamed over the pointer
    in one step: two pulls finishing the same file at once each leave a whole pointer."""
    pointer = snapshot_path(cache, repo, commit, filename)
    blob = blob_path(cache, repo, etag)
    target = os.path.relpath(blob, pointer.parent)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() and os.readlink(pointer) == target:
        return pointer
    temporary = pointer.with_name(f".{pointer.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        temporary.symlink_to(target)
    except OSError:
        shutil.copyfile(blob, temporary)
    os.replace(temporary, pointer)
    return pointer


def remove_file(cache: Path, repo: str, filename: str, etags: tuple[str, ...] = ()) -> int:
    """Remove one repo file from every snapshot, its blob when nothing else links to it, and any partial.

    Returns the bytes freed. Other files of the repo, and blobs they share, stay.
    """
    blobs: set[Path] = {blob_path(cache, repo, e) for e in etags}
    freed = 0
    for snap in snapshots(cache, repo):
        pointer = snap / filename
        if pointer.is_symlink():
            blobs.add(Path(os.path.realpath(pointer)))
            pointer.unlink()
        elif pointer.is_file():
            freed += pointer.stat().st_size
            pointer.unlink()
        _prune_empty(pointer.parent, stop=snap.parent)
    still_linked = {Path(os.path.realpath(p)) for snap in snapshots(cache, repo) for p in snap.rglob("*") if p.is_symlink()}
    for blob in blobs - still_linked:
        for path in (blob, blob.with_name(blob.name + ".incomplete")):
            if path.is_file():
                freed += path.stat().st_size
                path.unlink()
    return freed


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent

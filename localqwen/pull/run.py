"""Pull one build: every file of it (all parts of a split GGUF), or, offline, say what is missing.

The order of work: ask the Hub for the repo's files (sizes, sha256, commit), check the
disk has room for what is still to fetch, then fetch file by file, each checked before
it is presented. `--offline` and `HF_HUB_OFFLINE=1` read only the local cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from localqwen.catalog.loader import save_model
from localqwen.catalog.types import Build, ModelSpec
from localqwen.pull import cache as hf_cache
from localqwen.pull.disk import FreeBytes, check_room, free_bytes
from localqwen.pull.errors import OfflineMissingError, PullInterrupted
from localqwen.pull.events import ProgressListener, PullCancelled, Reporter, ignore
from localqwen.pull.fetch import FileOutcome, Source, fetch_file
from localqwen.pull.hub import HubSettings, RemoteFile, build_files, list_repo
from localqwen.pull.store import is_verified


@dataclass(frozen=True)
class PullResult:
    model: str
    build: str
    repo: str
    commit: str | None  # None when read offline from whatever snapshot holds the files
    files: tuple[FileOutcome, ...]

    @property
    def path(self) -> Path:
        """What to load: the first file (llama.cpp finds the other parts of a split GGUF itself)."""
        first = self.files[0]
        return first.path if first.file.endswith(".gguf") else hf_cache.snapshot_root(first.path, first.file)

    @property
    def fetched_bytes(self) -> int:
        return sum(f.fetched_bytes for f in self.files)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


def pull_build(
    model: ModelSpec,
    build: Build,
    *,
    listener: ProgressListener = ignore,
    offline: bool = False,
    cancel: threading.Event | None = None,
    free: FreeBytes = free_bytes,
    cache: Path | None = None,
) -> PullResult:
    """Fetch `build` of `model` into the Hugging Face cache, resuming and verifying; return where it lies."""
    settings = HubSettings.from_env(offline=offline)
    cache = cache or hf_cache.cache_dir()
    label = f"{model.id}:{build.quant}"
    if settings.offline:
        return _from_disk(model, build, cache, listener)
    listing = list_repo(build.repo, settings)
    remotes = [listing.files[name] for name in build_files(build, listing)]
    check_room(sum(_still_to_fetch(cache, build.repo, r) for r in remotes), cache, label, free)
    hf_cache.write_ref(cache, build.repo, "main", listing.commit)
    src = Source(build.repo, listing.commit, settings, cache)
    outcomes = []
    try:
        for index, remote in enumerate(remotes, 1):
            reporter = Reporter(listener, remote.name, remote.size, index=index, count=len(remotes), cancel=cancel)
            outcomes.append(fetch_file(src, remote, reporter))
    except (KeyboardInterrupt, PullCancelled):  # between files or while checking one; fetch_file covers the rest
        raise PullInterrupted(f"pull of {label} stopped; what was fetched is kept",
                              fix="run the same pull again to go on") from None
    if model.source == "hub":  # a Hub repo outside the catalog: known by its name from now on
        save_model(model)
    return PullResult(model.id, build.quant, build.repo, listing.commit, tuple(outcomes))


def _still_to_fetch(cache: Path, repo: str, remote: RemoteFile) -> int:
    if hf_cache.blob_path(cache, repo, remote.etag).is_file():
        return 0
    partial = hf_cache.partial_path(cache, repo, remote.etag)
    have = partial.stat().st_size if partial.is_file() else 0
    return max(remote.size - have, 0)


def offline_files(build: Build, cache: Path) -> list[str]:
    """The build's file names without asking the Hub: the catalog's, or a whole-repo build's snapshot."""
    names = build_files(build)
    if names:
        return names
    snaps = hf_cache.snapshots(cache, build.repo)
    if not snaps:
        return []
    return sorted(str(p.relative_to(snaps[0])) for p in snaps[0].rglob("*") if p.is_file())


def _from_disk(model: ModelSpec, build: Build, cache: Path, listener: ProgressListener) -> PullResult:
    label = f"{model.id}:{build.quant}"
    names = offline_files(build, cache)
    found = {name: hf_cache.find_cached(cache, build.repo, name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing or not names:
        listed = ", ".join(missing) if missing else f"any file of {build.repo}"
        raise OfflineMissingError(
            f"offline, and {label} is not on disk: missing {listed} (looked in {cache})",
            fix="pull it once with the network on, or `localqwen import` a GGUF you already have",
        )
    outcomes = []
    for index, name in enumerate(names, 1):
        path = found[name]
        assert path is not None
        size = path.stat().st_size
        Reporter(listener, name, size, index=index, count=len(names)).begin("done", size)
        outcomes.append(FileOutcome(name, path, size, "present", verified=is_verified(build.repo, name, path)))
    return PullResult(model.id, build.quant, build.repo, None, tuple(outcomes))

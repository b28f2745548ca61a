"""The local store: which catalog builds are in the Hugging Face cache, plus GGUFs a person imported.

`models` lists them, `models rm NAME:BUILD` removes one build's files (only those), and
`import PATH.gguf` registers a file from elsewhere after reading its header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from localqwen.catalog.loader import Catalog, UnknownModelError, match_file
from localqwen.catalog.types import Build
from localqwen.pull import cache as hf_cache
from localqwen.pull.errors import StoreError
from localqwen.pull.run import offline_files
from localqwen.pull.events import ProgressListener, Reporter, ignore
from localqwen.pull.hub import RemoteFile
from localqwen.pull.store import Imported, forget_import, forget_verified, imported, is_verified, record_import, verified
from localqwen.pull.verify import mismatch
from localqwen.pull.target import split_name


@dataclass(frozen=True)
class LocalBuild:
    model: str
    build: str
    source: Literal["hub", "import"]
    repo: str  # "" for an imported file
    path: Path  # what to load: the first file, or the snapshot folder of a whole-repo build
    files: tuple[Path, ...]
    size_bytes: int
    verified: bool  # every file checked against the Hub's sha256; never for an import
    complete: bool  # every file of the build is on disk

    @property
    def label(self) -> str:
        return f"{self.model}:{self.build}"


def local_builds(catalog: Catalog, cache: Path | None = None) -> list[LocalBuild]:
    cache = cache or hf_cache.cache_dir()
    found = []
    for model in catalog.models:
        for build in model.builds:
            names = offline_files(build, cache)
            paths = {name: hf_cache.find_cached(cache, build.repo, name) for name in names}
            present = [(name, p) for name, p in paths.items() if p is not None]
            if not present:
                continue
            files = tuple(p for _, p in present)
            first = files[0] if present[0][0].endswith(".gguf") else hf_cache.snapshot_root(files[0], present[0][0])
            found.append(LocalBuild(
                model.id, build.quant, "hub", build.repo, first, files, sum(p.stat().st_size for p in files),
                all(is_verified(build.repo, name, p) for name, p in present), len(present) == len(names),
            ))
    for entry in imported():
        path = Path(entry.path)
        found.append(LocalBuild(entry.name, entry.build, "import", "", path, (path,), entry.size_bytes,
                                False, path.is_file()))
    return found


def pulled_projector(build: Build, cache: Path | None = None) -> Path | None:
    """A pulled vision build's projector (its mmproj file) in the cache; None where it is not there."""
    if not build.mmproj:
        return None
    return hf_cache.find_cached(cache or hf_cache.cache_dir(), build.repo, build.mmproj)


@dataclass(frozen=True)
class Recheck:
    label: str
    checked: tuple[str, ...]  # files hashed again
    damaged: tuple[str, ...]  # "file: what differs", for those no longer what the Hub published


def recheck_builds(catalog: Catalog, cache: Path | None = None, listener: ProgressListener = ignore) -> list[Recheck]:
    """Hash every verified file of the cache again (`models --verify`).

    A blob damaged on disk after its pull keeps its name and size, so the store went on
    calling it verified. One that no longer matches is forgotten as verified: `models`
    says so, and the next pull of its build fetches it again."""
    cache = cache or hf_cache.cache_dir()
    results = []
    for model in catalog.models:
        for build in model.builds:
            checked, damaged = [], []
            for name in offline_files(build, cache):
                path, entry = hf_cache.find_cached(cache, build.repo, name), verified(build.repo, name)
                if path is None or entry is None or not is_verified(build.repo, name, path):
                    continue
                lfs = len(entry.etag) == 64  # a sha256 names an LFS blob, a git oid (40) any other
                remote = RemoteFile(name, entry.size, entry.etag if lfs else None, None if lfs else entry.etag)
                checked.append(name)
                problem = mismatch(path, remote, Reporter(listener, name, entry.size, index=1, count=1))
                if problem:
                    forget_verified(build.repo, name)
                    damaged.append(f"{name}: {problem}")
            if checked:
                results.append(Recheck(f"{model.id}:{build.quant}", tuple(checked), tuple(damaged)))
    return results


def find_local(text: str, catalog: Catalog, cache: Path | None = None) -> LocalBuild:
    """NAME:BUILD (or NAME alone when one build of it is on disk) among what is on disk."""
    name, quant = split_name(text)
    on_disk = local_builds(catalog, cache)
    try:
        model_id = catalog.find(name).id.lower()
    except UnknownModelError:
        model_id = name.lower()
    matches = [b for b in on_disk if b.model.lower() == model_id and (quant is None or b.build.lower() == quant.lower())]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise StoreError(f"{name} has {len(matches)} builds on disk", fix="say which: " + ", ".join(b.label for b in matches))
    known = any(m.id.lower() == model_id for m in catalog.models) or any(b.model.lower() == model_id for b in on_disk)
    what = f"{name}:{quant}" if quant else name
    listing = ", ".join(b.label for b in on_disk) or "nothing"
    if not known:
        raise StoreError(f"unknown model {name!r}", fix=f"on disk: {listing}")
    raise StoreError(f"{what} is not on disk", fix=f"on disk: {listing}")


def remove_local(text: str, catalog: Catalog, cache: Path | None = None) -> tuple[LocalBuild, int]:
    """Remove one build's files from the cache (an import is only forgotten); returns it and the bytes freed."""
    cache = cache or hf_cache.cache_dir()
    target = find_local(text, catalog, cache)
    if target.source == "import":
        forget_import(target.model, target.build)
        return target, 0
    model = catalog.find(target.model)
    build = model.build(target.build)
    assert build is not None
    freed = 0
    for name in offline_files(build, cache):
        entry = verified(build.repo, name)
        freed += hf_cache.remove_file(cache, build.repo, name, (entry.etag,) if entry else ())
        forget_verified(build.repo, name)
    return target, freed


def import_gguf(path: Path, catalog: Catalog, name: str | None = None) -> tuple[Imported, bool]:
    """Read the header (a bad file is a one-line error) and place the file under the catalog
    model it is (`match_file`: its size, else its architecture), or under `name`."""
    from localqwen.catalog.gguf_arch import spec_from_header
    from localqwen.catalog.gguf_header import read_gguf_header

    if name is not None and (not name.strip() or ":" in name or any(c.isspace() for c in name)):
        raise StoreError(f"--name {name!r}: use a name without spaces or ':'")
    header = read_gguf_header(path)
    spec = spec_from_header(header)
    quant = spec.builds[0].quant
    if name is not None:
        try:
            model_id = catalog.find(name).id
        except UnknownModelError:
            model_id = name
    else:  # by what the header says, not the name it gives itself
        match = match_file(catalog, spec, header.file_size)
        model_id, quant = (match.model.id, match.quant) if match else (spec.id, quant)
    entry = Imported(model_id, quant, str(Path(header.path).resolve()), header.file_size, header.architecture)
    return entry, record_import(entry)

"""Any GGUF repository on the Hub, not only the catalog's: `pull owner/repo[:QUANT]`.

The repo's file list gives its builds (one per quant in the file names, a split GGUF as
one build of all its parts, sizes from the Hub); one GGUF header read by HTTP range gives
the architecture the plan needs, before a byte of weights is fetched. Once pulled, the
model is written into the person's catalog (`$LOCALQWEN_HOME/models/`), so `chat`,
`serve`, `models` and the TUI know it by the name it was pulled by.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from localqwen.catalog.types import Build, ModelSpec
from localqwen.pull.errors import RepoAccessError
from localqwen.pull.hub import SPLIT_PART, HubSettings, RepoListing, build_files, list_repo

HUB_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/")
_PART = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_QUANT = re.compile(r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[0-9A-Z]+)*|BF16|F16|F32)(?![A-Za-z0-9])", re.I)


def hub_repo_name(name: str) -> str | None:
    """`owner/repo` from what a person typed (also `hf.co/owner/repo` and a Hub URL), else None."""
    for prefix in HUB_PREFIXES:
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
            break
    parts = name.strip().strip("/").split("/")
    return "/".join(parts) if len(parts) == 2 and all(_PART.match(p) for p in parts) else None


def quant_of(filename: str) -> str | None:
    """The quant a GGUF's file name gives (`…-Q4_K_M.gguf`, `….IQ4_XS-00001-of-00002.gguf`), upper-cased."""
    split = SPLIT_PART.match(filename)
    stem = (split["stem"] if split else filename.removesuffix(".gguf")).rsplit("/", 1)[-1]
    found = _QUANT.findall(stem)
    return found[-1].upper() if found else None


def gguf_builds(repo: str, listing: RepoListing) -> list[Build]:
    """One build per quant: its files (a split GGUF's parts all), their size; smallest first.
    Vision projectors (`mmproj`) are not builds of their own."""
    files: dict[str, list[str]] = defaultdict(list)
    for name in sorted(listing.files):
        if not name.endswith(".gguf") or "mmproj" in name.lower():
            continue
        split = SPLIT_PART.match(name)
        if split and int(split["part"]) != 1:
            continue  # the first part stands for the set (hub.build_files lists them all)
        quant = quant_of(name)
        if quant is not None:
            files[quant].append(name)
    builds = []
    for quant, names in files.items():
        build = Build(quant, "gguf", repo, (names[0],), 0)  # two files of one quant (two layouts): the first by name
        size = sum(listing.files[name].size for name in build_files(build, listing))  # every part of a split one
        builds.append(replace(build, size_bytes=size))
    return sorted(builds, key=lambda b: b.size_bytes)


def projector_file(listing: RepoListing) -> str | None:
    """The vision projector a repo ships for its builds: Q8_0 where there is one (what the
    catalog's vision builds use), else F16, BF16, F32, else the first by name."""
    found = sorted(name for name in listing.files if name.endswith(".gguf") and "mmproj" in name.lower())
    for quant in ("Q8_0", "F16", "BF16", "F32"):
        for name in found:
            if quant_of(name) == quant:
                return name
    return found[0] if found else None


def hub_model(repo: str, settings: HubSettings) -> ModelSpec:
    """The repo as a model spec with every GGUF build it holds, planned from one header; a
    vision model's builds each with the repo's projector (read from its own header)."""
    from localqwen.catalog.gguf_arch import VISION_ARCHITECTURES, spec_from_header, vision_of
    from localqwen.catalog.remote import read_remote_header

    listing = list_repo(repo, settings)
    builds = gguf_builds(repo, listing)
    if not builds:
        raise RepoAccessError(f"{repo} holds no GGUF file with a quant in its name",
                              fix="name a GGUF repository (most end in -GGUF), or download the file and `localqwen import` it")
    whole = [b for b in builds if not SPLIT_PART.match(b.files[0])] or builds
    header = read_remote_header(f"{settings.endpoint}/{repo}/resolve/{listing.commit}/{whole[0].files[0]}")
    spec = spec_from_header(header, repo=repo, files=whole[0].files)
    projector = projector_file(listing) if spec.architecture in VISION_ARCHITECTURES else None
    if projector is not None:
        seen = read_remote_header(f"{settings.endpoint}/{repo}/resolve/{listing.commit}/{projector}")
        size = listing.files[projector].size
        builds = [replace(b, mmproj=projector, mmproj_bytes=size) for b in builds]
        spec = replace(spec, vision=vision_of(seen))
    return replace(spec, id=repo, name=repo, builds=tuple(builds), source="hub")

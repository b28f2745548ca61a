"""`localqwen search TEXT`: GGUF repositories on the Hub, each with its quants and the best
that fits this machine (by size; `pull` then plans the chosen one from its header)."""

from __future__ import annotations

from dataclasses import dataclass

from localqwen.catalog.types import Build
from localqwen.hardware.types import Hardware
from localqwen.plan.by_size import Where, best_by_size
from localqwen.pull.errors import OfflineMissingError
from localqwen.pull.hub import HubSettings, hub_error, list_repo, network_errors
from localqwen.pull.hub_repo import gguf_builds


@dataclass(frozen=True)
class Found:
    repo: str
    downloads: int
    builds: tuple[Build, ...]
    best: Build | None
    where: Where | None


def search_hub(text: str, hw: Hardware, settings: HubSettings, limit: int = 8) -> list[Found]:
    """The most downloaded GGUF repos matching `text`, with their builds."""
    if settings.offline:
        raise OfflineMissingError("offline: searching asks the Hub", fix="search with the network on")
    from huggingface_hub import HfApi

    try:
        repos = list(HfApi(endpoint=settings.endpoint).list_models(
            search=text, filter="gguf", sort="downloads", limit=limit, token=settings.token))
    except network_errors() as exc:
        raise hub_error(exc, f"a search for {text!r}", settings, what="its results") from None
    found = []
    for repo in repos:
        builds = tuple(gguf_builds(repo.id, list_repo(repo.id, settings)))
        if not builds:
            continue
        best = best_by_size(builds, hw)
        found.append(Found(repo.id, repo.downloads or 0, builds, best[0] if best else None, best[1] if best else None))
    return found

"""Turn what a person typed into a model spec: a catalog name, a local GGUF, or hf:OWNER/REPO/FILE."""

from __future__ import annotations

from pathlib import Path

from localqwen.catalog.gguf_arch import spec_from_file, spec_from_header
from localqwen.catalog.loader import Catalog
from localqwen.catalog.types import ModelSpec


def looks_like_path(text: str) -> bool:
    return text.endswith(".gguf") or "/" in text or text.startswith(("~", "."))


def resolve_model(text: str, catalog: Catalog) -> ModelSpec:
    if text.startswith(("hf:", "http://", "https://")):
        from localqwen.catalog.remote import read_remote_header

        header = read_remote_header(text)
        parts = text.removeprefix("hf:").split("/")
        repo = "/".join(parts[:2]) if text.startswith("hf:") else ""
        return spec_from_header(header, repo=repo, files=("/".join(parts[2:]),) if repo else ())
    if looks_like_path(text) and not text.startswith("hf:"):
        return spec_from_file(Path(text))
    return catalog.find(text)

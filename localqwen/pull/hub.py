"""What the Hub says about a repository: its commit, and each file's size and sha256.

One `model_info(files_metadata=True)` call gives everything a pull needs before it
fetches a byte: the sizes for the disk check, the sha256 the Hub publishes for each
LFS file, and the commit to pin every file to. huggingface_hub's errors become ours here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from localqwen.catalog.types import Build
from localqwen.errors import LocalQwenError
from localqwen.pull.errors import NoNetworkError, OfflineMissingError, PullError, RepoAccessError

SPLIT_PART = re.compile(r"^(?P<stem>.*-)(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$")
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class HubSettings:
    """Read from the environment when a pull starts, not when a library was imported."""

    endpoint: str
    token: str | None
    offline: bool

    @classmethod
    def from_env(cls, *, offline: bool = False) -> HubSettings:
        raw = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        flag = raw.upper() in ("1", "ON", "YES", "TRUE")
        return cls(
            endpoint=(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            token=os.environ.get("HF_TOKEN") or None,  # None: huggingface_hub's stored login, if any
            offline=offline or flag,
        )


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str | None  # published for LFS files (every GGUF)
    git_oid: str | None

    @property
    def etag(self) -> str:
        """The Hub's ETag for the file, which names its blob in the cache."""
        return self.sha256 or self.git_oid or ""


@dataclass(frozen=True)
class RepoListing:
    repo: str
    commit: str
    files: dict[str, RemoteFile]


def list_repo(repo: str, settings: HubSettings, revision: str = "main") -> RepoListing:
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=settings.endpoint).model_info(
            repo, revision=revision, files_metadata=True, token=settings.token
        )
    except network_errors() as exc:
        raise hub_error(exc, repo, settings, what="its file list") from None
    files = {}
    for s in info.siblings or []:
        size = s.lfs.size if s.lfs else s.size
        files[s.rfilename] = RemoteFile(s.rfilename, int(size or 0), s.lfs.sha256 if s.lfs else None, s.blob_id)
    if not info.sha:
        raise PullError(f"{settings.endpoint} gave no commit for {repo}; it does not look like a Hugging Face Hub")
    return RepoListing(repo, info.sha, files)


def build_files(build: Build, listing: RepoListing | None = None) -> list[str]:
    """The build's files in order; a split GGUF named by any part becomes all its parts; none listed = whole repo.
    A vision build's projector comes last: pulled, verified and counted with the model."""
    if not build.files:
        if listing is None:
            return []
        return sorted(listing.files)
    names: list[str] = []
    for name in (*build.files, *([build.mmproj] if build.mmproj else [])):
        match = SPLIT_PART.match(name)
        parts = [name]
        if match:
            count = int(match["count"])
            parts = [f"{match['stem']}{i:05d}-of-{match['count']}.gguf" for i in range(1, count + 1)]
        names.extend(p for p in parts if p not in names)
    if listing is not None:
        missing = [n for n in names if n not in listing.files]
        if missing:
            raise RepoAccessError(
                f"{build.repo} has no file {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                fix="the catalog entry is out of date with the repository",
            )
    return names


def network_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises for a network or server problem (httpx2 is its HTTP client)."""
    import httpx2

    return (OSError, ValueError, httpx2.HTTPError)


def one_line(text: object, limit: int = 240) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def hub_error(exc: BaseException, repo: str, settings: HubSettings, *, what: str) -> LocalQwenError:
    """A huggingface_hub or transport error as one line that says what to do."""
    from huggingface_hub import errors as hf

    if isinstance(exc, LocalQwenError):
        return exc
    if isinstance(exc, hf.GatedRepoError) or http_status(exc) in (401, 403) and "GatedRepo" in _code(exc):
        from huggingface_hub import get_token

        told = "the token in HF_TOKEN was refused" if settings.token else (
            "the stored Hugging Face token was refused" if get_token() else "no token was given")
        return RepoAccessError(f"{repo} is gated and {told}",
                               fix="accept its terms on the Hub, then set HF_TOKEN to a token of that account")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return RepoAccessError(f"{repo}: no such repository on {settings.endpoint}",
                               fix="check the repo in the catalog; for a private repo set HF_TOKEN")
    if isinstance(exc, hf.RevisionNotFoundError):
        return RepoAccessError(f"{repo}: the Hub has no such revision")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return RepoAccessError(f"{repo}: the Hub has no such file ({what})",
                               fix="the catalog entry is out of date with the repository")
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return OfflineMissingError(f"cannot fetch {what} of {repo}: offline mode is on (HF_HUB_OFFLINE)")
    if isinstance(exc, hf.HfHubHTTPError):
        return PullError(f"{settings.endpoint} answered HTTP {http_status(exc)} for {what} of {repo}")
    if _unreachable(exc):
        return NoNetworkError(f"no network: the Hub at {settings.endpoint} cannot be reached ({one_line(exc, 120)})",
                              fix="connect and try again, or `localqwen import` a GGUF you already have")
    return PullError(f"cannot fetch {what} of {repo} from {settings.endpoint}: {one_line(exc) or type(exc).__name__}")


def _unreachable(exc: BaseException) -> bool:
    """The host's name did not resolve, or nothing answered on it: not the Hub's doing."""
    import socket

    import httpx2

    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain, as far as it goes
        if seen is None:
            return False
        if isinstance(seen, (socket.gaierror, ConnectionRefusedError, httpx2.ConnectError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("X-Error-Code", ""))

"""Fetch one file of a repo into the Hugging Face cache: resumable, checked, never half-whole.

Why not `hf_hub_download`: in huggingface_hub 2.x it downloads to a process-unique
temporary file and deletes it on any failure, so a pull cut short by Ctrl-C, a kill or
a dropped connection starts again from zero. We keep the partial file at
`blobs/<etag>.incomplete` (the name older huggingface_hub releases resumed from, which
`scan_cache_dir` reports as an incomplete download) and fetch the rest ourselves through
huggingface_hub's HTTP session: a Range request from the bytes on disk, every piece
written as it arrives, and the rest asked for again after a broken connection (its
`http_get` wrote 10 MiB at a time, so a drop lost up to 10 MiB, and it gave up on a
reset connection). Only a file whose size and sha256 match what the Hub publishes is
moved into `blobs/` and linked from `snapshots/`: a half file is never presented as whole.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from localqwen.pull import cache as hf_cache
from localqwen.pull.errors import ChecksumError, PullError, PullInterrupted
from localqwen.pull.events import PullCancelled, Reporter
from localqwen.pull.hub import HubSettings, RemoteFile, http_status, hub_error, network_errors, one_line
from localqwen.pull.store import Verified, forget_verified, is_verified, record_verified
from localqwen.pull.verify import mismatch
from localqwen.units import mib

Action = Literal["fetched", "present", "checked", "replaced"]


@dataclass(frozen=True)
class FileOutcome:
    file: str
    path: Path
    size: int
    action: Action  # fetched now; already verified; on disk and checked now; a damaged copy fetched again
    fetched_bytes: int = 0
    resumed_from: int = 0
    verified: bool = True  # checked against the Hub's sha256, now or by an earlier pull


@dataclass(frozen=True)
class Source:
    """Where the files come from: a repo pinned to one commit, and how to reach it."""

    repo: str
    commit: str
    settings: HubSettings
    cache: Path


def fetch_file(src: Source, remote: RemoteFile, reporter: Reporter) -> FileOutcome:
    from huggingface_hub.utils import WeakFileLock

    blob = hf_cache.blob_path(src.cache, src.repo, remote.etag)
    pointer = hf_cache.snapshot_path(src.cache, src.repo, src.commit, remote.name)
    if blob.is_file() and is_verified(src.repo, remote.name, blob):
        return _present(src, remote, reporter, "present")
    lock = hf_cache.lock_path(src.cache, src.repo, remote.etag)
    lock.parent.mkdir(parents=True, exist_ok=True)
    blob.parent.mkdir(parents=True, exist_ok=True)
    replaced = False
    with WeakFileLock(lock):
        if blob.is_file():  # fetched by another tool, or by another pull while we waited for the lock
            if mismatch(blob, remote, reporter) is None:
                return _present(src, remote, reporter, "checked")
            hf_cache.remove_file(src.cache, src.repo, remote.name, (remote.etag,))  # damaged: blob and links go
            forget_verified(src.repo, remote.name)
            replaced = True
        resumed_from, fetched = _download(src, remote, reporter)
        partial = hf_cache.partial_path(src.cache, src.repo, remote.etag)
        problem = mismatch(partial, remote, reporter)
        if problem:
            partial.unlink(missing_ok=True)
            raise ChecksumError(
                f"{remote.name} from {src.repo} is not what the Hub publishes: {problem}; the download was deleted",
                fix="pull again; if it happens again, the server (HF_ENDPOINT) is sending bad data",
            )
        os.replace(partial, blob)
    _link(src, remote, pointer)
    reporter.emit("done")
    return FileOutcome(remote.name, pointer, remote.size, "replaced" if replaced else "fetched", fetched, resumed_from)


def _present(src: Source, remote: RemoteFile, reporter: Reporter, action: Action) -> FileOutcome:
    pointer = hf_cache.snapshot_path(src.cache, src.repo, src.commit, remote.name)
    _link(src, remote, pointer)
    reporter.done = remote.size
    reporter.emit("done")
    return FileOutcome(remote.name, pointer, remote.size, action)


def _link(src: Source, remote: RemoteFile, pointer: Path) -> None:
    blob = hf_cache.blob_path(src.cache, src.repo, remote.etag)
    if not (pointer.is_file() and os.path.realpath(pointer) == os.path.realpath(blob)):
        hf_cache.link_snapshot(src.cache, src.repo, src.commit, remote.name, remote.etag)
    record_verified(Verified(src.repo, remote.name, remote.etag, remote.size, src.commit))


def _download(src: Source, remote: RemoteFile, reporter: Reporter) -> tuple[int, int]:
    """Bring `blobs/<etag>.incomplete` to full length; returns (bytes it held before, bytes fetched now)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    partial = hf_cache.partial_path(src.cache, src.repo, remote.etag)
    resume = partial.stat().st_size if partial.is_file() else 0
    if resume > remote.size:
        partial.unlink()
        resume = 0
    what = remote.name
    url = hf_hub_url(src.repo, remote.name, revision=src.commit, endpoint=src.settings.endpoint)
    try:
        meta = get_hf_file_metadata(url, token=src.settings.token, endpoint=src.settings.endpoint)
    except network_errors() as exc:
        raise hub_error(exc, src.repo, src.settings, what=what) from None
    if meta.size is not None and meta.size != remote.size:
        raise PullError(f"the Hub disagrees with itself about {what} in {src.repo}: "
                        f"{meta.size:,} bytes by its headers, {remote.size:,} by its file list")
    headers = build_hf_headers(token=src.settings.token)
    if urlsplit(meta.location)[:2] != urlsplit(url)[:2]:
        headers.pop("authorization", None)  # a CDN or storage host: the token stays with the Hub
    reporter.begin("fetch", resume)
    try:
        with partial.open("ab", buffering=0) as handle:  # unbuffered: what arrived is on disk, whatever ends the run
            _fetch_rest(handle, meta.location, headers, remote, reporter)
    except (KeyboardInterrupt, PullCancelled):
        raise PullInterrupted(_kept(partial, remote, "stopped"), fix="run the same pull again to resume") from None
    except _WriteFailed as exc:
        raise PullError(_kept(partial, remote, f"stopped: writing to disk failed ({exc})"),
                        fix="free some disk space (or fix the cache folder's rights), then run the same pull again") from None
    except network_errors() as exc:
        host = urlsplit(meta.location).netloc
        status = http_status(exc)
        why = f"{host} answered HTTP {status}" if status else f"{host}: {one_line(exc) or type(exc).__name__}"
        raise PullError(_kept(partial, remote, f"failed ({why})"), fix="run the same pull again to resume") from None
    return resume, remote.size - resume


RESUMES = 5
"""A connection that breaks mid-file (reset, timeout, a body cut short) is asked again for
the rest this many times in a row without a byte coming; any progress starts the count anew."""


class _WriteFailed(Exception):
    """The disk, not the network: a full disk or a cache folder we may not write."""


def _fetch_rest(handle, location: str, headers: dict[str, str], remote: RemoteFile, reporter: Reporter) -> None:
    """Append the rest of the file to `handle`, resuming with a Range request after each
    broken connection from the bytes really on disk (nothing received is thrown away)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, hf_raise_for_status

    failures = 0
    while (have := handle.tell()) < remote.size:
        reporter.check_cancel()
        wanted = {**headers, "Range": f"bytes={have}-"} if have else headers
        try:
            with get_session().stream("GET", location, headers=wanted, follow_redirects=True,
                                      timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT) as response:
                hf_raise_for_status(response)
                if have and response.status_code != 206:  # the server ignored Range: the whole file again
                    handle.truncate(0)
                    handle.seek(0)
                    reporter.begin("fetch", 0)
                for chunk in response.iter_bytes():
                    try:
                        handle.write(chunk)
                    except OSError as exc:
                        raise _WriteFailed(exc.strerror or str(exc)) from None
                    reporter.advance("fetch", len(chunk))
                    failures = 0
            if handle.tell() <= have:  # an answer without a byte: as a broken connection, but it says so
                raise httpx2.RemoteProtocolError(f"{urlsplit(location).netloc} sent no bytes of the rest")
        except httpx2.TransportError:
            failures += 1
            if failures > RESUMES:
                raise
            time.sleep(0.2 * failures)


def _kept(partial: Path, remote: RemoteFile, how: str) -> str:
    have = partial.stat().st_size if partial.is_file() else 0
    return f"fetching {remote.name} {how}; {mib(have)} of {mib(remote.size)} are kept in {partial}"

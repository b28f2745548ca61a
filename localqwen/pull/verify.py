"""Check a fetched file against what the Hub publishes: its size, and its sha256 (or git oid)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from localqwen.pull.events import Reporter
from localqwen.pull.hub import RemoteFile

CHUNK = 8 << 20


def file_digest(path: Path, remote: RemoteFile, reporter: Reporter | None = None) -> str:
    """sha256 for an LFS file, the git blob id otherwise: whichever the Hub published."""
    if remote.sha256:
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1()
        digest.update(b"blob %d\0" % path.stat().st_size)
    if reporter is not None:
        reporter.begin("verify", 0)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if reporter is not None:
                reporter.advance("verify", len(chunk))
    return digest.hexdigest()


def mismatch(path: Path, remote: RemoteFile, reporter: Reporter | None = None) -> str | None:
    """None when the file is what the Hub says; otherwise what differs, in words."""
    size = path.stat().st_size
    if size != remote.size:
        return f"it has {size:,} bytes where the Hub says {remote.size:,}"
    expected = remote.sha256 or remote.git_oid
    if not expected:
        return None
    actual = file_digest(path, remote, reporter)
    kind = "sha256" if remote.sha256 else "git oid"
    return None if actual == expected else f"its {kind} is {actual[:12]}… where the Hub publishes {expected[:12]}…"

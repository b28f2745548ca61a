"""Read a remote GGUF's header with HTTP range requests: plan a model without downloading it.

The ordinary parser reads the first bytes fetched; when it stops short of the header's
end it says how many bytes it needs, and those (at least twice what we have) are fetched.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from localqwen.catalog.errors import ModelFileError
from localqwen.catalog.gguf_header import GGUF_MAGIC, GgufHeader, NeedMoreBytes, parse_buffer
from localqwen.errors import UserInputError

FIRST_CHUNK = 1 << 20  # Qwen's 151k-token vocabulary makes headers of about 5-10 MB
MAX_HEADER = 64 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class RemoteError(UserInputError):
    title = "Remote model"


def hf_url(spec: str) -> str:
    """`hf:owner/repo/path/file.gguf` (optionally `@revision`) as a resolve URL; URLs pass through."""
    if spec.startswith(("http://", "https://")):
        return spec
    body = spec.removeprefix("hf:")
    revision = "main"
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.split("/")
    if len(parts) < 3 or not all(parts):
        raise RemoteError(f"{spec!r} is not hf:OWNER/REPO/FILE.gguf")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{parts[0]}/{parts[1]}/resolve/{revision}/{'/'.join(parts[2:])}"


class _TokenStaysHome(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but not with the token to another host: the Hub sends files from
    a CDN on another origin, which must never see a person's HF_TOKEN."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_TokenStaysHome)


def _get_range(url: str, start: int, end: int) -> tuple[bytes, int]:
    headers = {"Range": f"bytes={start}-{end}", "User-Agent": "localqwen"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with _opener.open(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            if resp.status != 206:
                raise RemoteError(
                    f"{url}: the server ignored the Range request (HTTP {resp.status}), "
                    "so the header cannot be read without downloading the whole file"
                )
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not match:
                raise RemoteError(f"{url}: the server sent no usable Content-Range header")
            return resp.read(), int(match.group(3))
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"{url}: cannot be reached ({reason})") from exc


def read_remote_header(spec: str, *, first_chunk: int = FIRST_CHUNK, limit: int = MAX_HEADER) -> GgufHeader:
    url = hf_url(spec)
    data, total = _get_range(url, 0, first_chunk - 1)
    if data[:4] != GGUF_MAGIC:
        raise ModelFileError(f"{url}: not a GGUF file (it does not start with the GGUF magic bytes)")
    while True:
        try:
            return parse_buffer(data, shown_as=url, file_size=total)
        except NeedMoreBytes as short:
            needed = short.needed
        if len(data) >= min(total, limit) or needed > total:
            raise ModelFileError(f"{url}: no complete GGUF header in its first {len(data):,} bytes")
        end = min(max(needed, 2 * len(data)), total, limit)
        more, _ = _get_range(url, len(data), end - 1)
        if not more:
            raise RemoteError(f"{url}: the server returned no bytes past {len(data):,}")
        data += more

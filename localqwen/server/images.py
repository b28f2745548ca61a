"""Images in a request, made `Image`s: OpenAI `image_url` parts and llama-server's base64 media.

A `data:` URL (or bare base64) is decoded here. A remote http(s) URL is fetched only
where the person serving turned it on (`--allow-image-urls`): otherwise anyone who can
reach the server could make it fetch any address the server can reach. `file://` never:
a request must not read the server's disk. Sizes and formats are checked where the image
is read (engine/images.py), so every face refuses the same things the same way.
"""

from __future__ import annotations

import base64
import binascii
import urllib.error
import urllib.request

from localqwen.engine.images import MAX_IMAGE_BYTES
from localqwen.engine.types import Image
from localqwen.server.errors import ApiError

FETCH_TIMEOUT_S = 20.0


def image_part(part: dict, where: str, allow_urls: bool) -> Image:
    """An OpenAI `{"type": "image_url", "image_url": {"url": ...}}` part."""
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise ApiError(400, f"{where}.image_url.url must be a data: URL (or an http(s) URL where allowed)")
    return image_from_url(url, where, allow_urls)


def image_from_url(url: str, where: str, allow_urls: bool) -> Image:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        return Image(_data_url(url, where), where)
    if scheme in ("http", "https"):
        if not allow_urls:
            raise ApiError(400, f"{where}: remote image URLs are off on this server; send the image as a "
                                "data: URL (the server's owner can turn them on with --allow-image-urls)")
        return Image(_fetch(url, where), where)
    if scheme == "file":
        raise ApiError(400, f"{where}: file:// URLs are never read; send the image as a data: URL")
    raise ApiError(400, f"{where}: {url[:40]!r} is not a data: or http(s) URL")


def image_from_base64(text: object, where: str) -> Image:
    """llama-server's `multimodal_data` item: the file as base64, no URL around it."""
    if not isinstance(text, str):
        raise ApiError(400, f"{where} must be a base64 string")
    return Image(_base64(text, where), where)


def _data_url(url: str, where: str) -> bytes:
    head, comma, payload = url.partition(",")
    if not comma or not head.lower().endswith(";base64"):
        raise ApiError(400, f"{where}: a data: URL must be data:<type>;base64,<data>")
    kind = head[5:-7].lower()
    if kind and not kind.startswith("image/"):
        raise ApiError(400, f"{where}: a data: URL of {kind}, not an image")
    return _base64(payload, where)


def _base64(text: str, where: str) -> bytes:
    if len(text) * 3 // 4 > MAX_IMAGE_BYTES + 3:
        raise ApiError(400, f"{where}: {len(text) * 3 / 4 / 2**20:.1f} MiB is over the "
                            f"{MAX_IMAGE_BYTES // 2**20} MiB limit for an image")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}: the image data is not valid base64") from None


class _HttpOnly(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: a remote image may not lead to ftp: or file:."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.HTTPError(newurl, code, "redirect to a URL that is not http(s)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, where: str) -> bytes:
    opener = urllib.request.build_opener(_HttpOnly)
    request = urllib.request.Request(url, headers={"User-Agent": "localqwen"})
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_S) as response:
            data = response.read(MAX_IMAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ApiError(400, f"{where}: fetching {url[:80]} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(400, f"{where}: fetching {url[:80]} failed: {reason}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(400, f"{where}: the image at {url[:80]} is over the {MAX_IMAGE_BYTES // 2**20} MiB limit")
    return data

"""What an image must be before llama.cpp decodes it: a format it reads, a size it can hold.

llama.cpp's mtmd decodes images with stb_image, which reads PNG, JPEG, GIF and BMP
(WebP only through ffmpeg) and allocates width x height x 3 bytes before it looks
further: a 20 MB PNG of one colour can claim gigabytes. So the header is read here
first, with no decoding, and anything too large or not an image is refused with its
name. Bytes in, facts or an error out; `load_image` reads a file a person named.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from localqwen.engine.errors import ImageError
from localqwen.engine.types import Image

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest image file accepted (OpenAI's own limit for an image input)."""
MAX_IMAGE_PIXELS = 50_000_000
"""The most pixels (width x height) decoded: 150 MB of RGB. Qwen-VL resizes any image
to its token budget anyway (a 4,096-token cap is about 3.2 megapixels)."""
FORMATS = "PNG, JPEG, GIF or BMP"


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int


def check_image(data: bytes, name: str) -> ImageFacts:
    """The image's format and size, or an ImageError that names it and says what is wrong."""
    _check_size(len(data), name)
    facts = _read_header(data)
    if facts is None:
        what = "WebP, which this llama.cpp build cannot decode" if _is_webp(data) else "not an image localqwen can read"
        raise ImageError(f"{name}: {what}", fix=f"send a {FORMATS} image")
    if facts.width < 1 or facts.height < 1:
        raise ImageError(f"{name}: its {facts.format} header says {facts.width}x{facts.height} pixels",
                         fix="send an image that is not empty")
    if facts.width * facts.height > MAX_IMAGE_PIXELS:
        raise ImageError(f"{name}: {facts.width}x{facts.height} is over {MAX_IMAGE_PIXELS // 1_000_000} megapixels",
                         fix="scale it down first; the model sees at most a few megapixels anyway")
    return facts


def _check_size(size: int, name: str) -> None:
    if size > MAX_IMAGE_BYTES:
        raise ImageError(f"{name}: {size / 2**20:.1f} MiB is over the {MAX_IMAGE_BYTES // 2**20} MiB limit for an image",
                         fix="send a smaller image")


def load_image(path: str | Path) -> tuple[Image, ImageFacts]:
    """An image file a person named (`/image PATH`, the TUI's attach), checked as any image."""
    path = Path(path).expanduser()
    try:
        _check_size(path.stat().st_size, str(path))  # a file too large is not read at all
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: a folder, not an image file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return Image(data, path.name), check_image(data, str(path))


def _read_header(data: bytes) -> ImageFacts | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageFacts("PNG", width, height)
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageFacts("GIF", width, height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return ImageFacts("BMP", width, abs(height))  # a negative height is a top-down bitmap
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _jpeg_size(data: bytes) -> ImageFacts | None:
    """Walk the JPEG's segments to its start-of-frame, which holds the size."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _JPEG_FRAMES:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return ImageFacts("JPEG", width, height)
        at += 2 + length
    return None


def _is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"

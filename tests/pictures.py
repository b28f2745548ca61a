"""Image files for the vision tests: real ones (the package's), and the first bytes of others."""

from __future__ import annotations

import struct
import zlib

from localqwen.tinymodel.picture import png

__all__ = ["png", "png_header_only", "jpeg_header"]


def png_header_only(width: int, height: int) -> bytes:
    """The first bytes of a PNG claiming a size, and no pixels: what a decompression bomb looks like up front."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))


def jpeg_header(width: int, height: int) -> bytes:
    """A JPEG's start: SOI, a JFIF APP0 segment, then a baseline start-of-frame with the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0

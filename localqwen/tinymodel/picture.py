"""Real image files written with the standard library alone: the tests' and benchmarks' pictures."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int, shade: int = 7) -> bytes:
    """An RGB PNG of a diagonal gradient; `shade` makes different pictures of one size."""
    rows = b"".join(
        b"\x00" + bytes(((x * shade + y * 3 + c * 40) % 256) for x in range(width) for c in range(3))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

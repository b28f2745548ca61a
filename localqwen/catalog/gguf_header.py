"""Read and check a GGUF file's header ourselves, before llama.cpp sees it.

llama.cpp answers a bad file with a C-level log and a bare "failed to load";
this names the file and what is wrong with it. `gguf.GGUFReader` builds Python
objects for every element of every array: on a real Qwen GGUF (151,936 tokens,
~151,000 merges) that is ~8 s. This parser walks the header with `struct`, keeps the
small keys as plain Python values and only the length of the big arrays (tokens,
merges, token types), and reads each file once per process.

The same parser serves remote files (see `remote.py`): it works on any buffer of
the file's first bytes and says how many more bytes it needs.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from localqwen.catalog.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# The vocabulary's arrays, and any array this long, are kept by length only.
SKIPPED_ARRAYS = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                            "tokenizer.ggml.scores"})
KEPT_ARRAY_MAX = 4096

# GGUF metadata value types: id -> struct format (numbers), or the two special kinds.
_STRING, _ARRAY = 8, 9
_SCALARS: dict[int, struct.Struct] = {
    type_id: struct.Struct("<" + code)
    for type_id, code in {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}.items()
}
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
EXPERTS_REGEX = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"
"""The routed expert tensors of a MoE layer: llama.cpp's own `LLM_FFN_EXPS_REGEX`
(common/common.h), the tensors `--n-cpu-moe` keeps in RAM."""
_EXPERTS = re.compile(EXPERTS_REGEX)


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array not read element by element: its element type and length."""

    element_type: int
    count: int


@dataclass(frozen=True)
class GgufHeader:
    path: str  # a local path, or the URL of a remote file
    architecture: str
    name: str | None
    file_size: int
    tensor_count: int
    tensor_bytes: int  # the weights as stored: what llama.cpp maps into memory
    header_bytes: int  # where tensor data starts
    vocab_size: int
    metadata: dict[str, object] = field(repr=False, default_factory=dict)
    expert_bytes: int = 0  # of `tensor_bytes`, the routed MoE experts' (EXPERTS_REGEX)
    arrays: dict[str, ArrayInfo] = field(repr=False, default_factory=dict)  # the big ones, by length only


class NeedMoreBytes(Exception):
    """The buffer ends before the header does; `needed` bytes from the start would do."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _Cursor:
    """Reads little-endian values from a buffer that may hold only the file's first bytes."""

    def __init__(self, buf: bytes | mmap.mmap) -> None:
        self.buf = buf
        self.size = len(buf)
        self.pos = 0

    def _take(self, fmt: struct.Struct) -> object:
        end = self.pos + fmt.size
        if end > self.size:
            raise NeedMoreBytes(end)
        (value,) = fmt.unpack_from(self.buf, self.pos)
        self.pos = end
        return value

    def u32(self) -> int:
        return self._take(_U32)  # type: ignore[return-value]

    def u64(self) -> int:
        return self._take(_U64)  # type: ignore[return-value]

    def string(self) -> str:
        length = self.u64()
        end = self.pos + length
        if end > self.size:
            raise NeedMoreBytes(end)
        text = bytes(self.buf[self.pos:end]).decode("utf-8", "replace")
        self.pos = end
        return text

    def skip_strings(self, count: int) -> None:
        unpack, pos, size = _U64.unpack_from, self.pos, self.size
        for _ in range(count):
            if pos + 8 > size:
                raise NeedMoreBytes(pos + 8)
            pos += 8 + unpack(self.buf, pos)[0]
        if pos > size:
            raise NeedMoreBytes(pos)
        self.pos = pos

    def value(self, type_id: int, key: str) -> object:
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            element, count = self.u32(), self.u64()
            if count > KEPT_ARRAY_MAX or key in SKIPPED_ARRAYS:
                self._skip_array(element, count, key)
                return ArrayInfo(element, count)
            return [self.value(element, key) for _ in range(count)]
        fmt = _SCALARS.get(type_id)
        if fmt is None:
            raise ValueError(f"key {key!r} has unknown value type {type_id}")
        return self._take(fmt)

    def _skip_array(self, element: int, count: int, key: str) -> None:
        if element == _STRING:
            self.skip_strings(count)
        elif element in _SCALARS:
            end = self.pos + count * _SCALARS[element].size
            if end > self.size:
                raise NeedMoreBytes(end)
            self.pos = end
        elif element == _ARRAY:
            for _ in range(count):
                self.value(_ARRAY, key)
        else:
            raise ValueError(f"key {key!r} is an array of type {element}, which GGUF does not define")


@lru_cache(maxsize=1)
def _type_sizes() -> dict[int, tuple[int, int]]:
    """ggml tensor type -> (elements per block, bytes per block), from the gguf library's table."""
    from gguf.constants import GGML_QUANT_SIZES

    return {int(t): sizes for t, sizes in GGML_QUANT_SIZES.items()}


def parse_buffer(buf: bytes | mmap.mmap, *, shown_as: str, file_size: int) -> GgufHeader:
    """Parse the header from the file's first bytes; NeedMoreBytes when `buf` stops short of it."""
    cursor = _Cursor(buf)
    if bytes(buf[:4]) != GGUF_MAGIC:
        if len(buf) < 4:
            raise NeedMoreBytes(4)
        raise ModelFileError(f"{shown_as}: not a GGUF file (it does not start with the GGUF magic bytes)")
    cursor.pos = 4
    try:
        version = cursor.u32()
        if version not in (2, 3):
            raise ModelFileError(f"{shown_as}: GGUF version {version} is not supported (2 and 3 are)")
        tensor_count, kv_count = cursor.u64(), cursor.u64()
        metadata: dict[str, object] = {}
        arrays: dict[str, ArrayInfo] = {}
        for _ in range(kv_count):
            key = cursor.string()
            value = cursor.value(cursor.u32(), key)
            if isinstance(value, ArrayInfo):
                arrays[key] = value
            else:
                metadata[key] = value
        sizes = _type_sizes()
        tensor_bytes = expert_bytes = data_end = 0
        for _ in range(tensor_count):
            name = cursor.string()
            dims = [cursor.u64() for _ in range(cursor.u32())]
            ggml_type, offset = cursor.u32(), cursor.u64()
            if ggml_type not in sizes:
                raise ValueError(f"tensor {name!r} has unknown type {ggml_type}")
            block, block_bytes = sizes[ggml_type]
            elements = 1
            for dim in dims:
                elements *= dim
            n_bytes = elements // block * block_bytes
            tensor_bytes += n_bytes
            if _EXPERTS.search(name):
                expert_bytes += n_bytes
            data_end = max(data_end, offset + n_bytes)
    except ValueError as exc:
        raise ModelFileError(f"{shown_as}: damaged GGUF ({exc})") from None
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        raise ModelFileError(f"{shown_as}: damaged GGUF (general.alignment is {alignment!r})")
    header_bytes = -(-cursor.pos // alignment) * alignment
    if header_bytes + data_end > file_size:
        raise ModelFileError(
            f"{shown_as}: truncated GGUF: tensor data runs to byte {header_bytes + data_end:,} "
            f"but the file has {file_size:,} bytes"
        )
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise ModelFileError(f"{shown_as}: GGUF has no general.architecture key")
    tokens = arrays.get("tokenizer.ggml.tokens")
    vocab = tokens.count if tokens else metadata.get(f"{arch}.vocab_size", 0)
    name = metadata.get("general.name")
    return GgufHeader(
        path=shown_as,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        file_size=file_size,
        tensor_count=tensor_count,
        tensor_bytes=tensor_bytes,
        header_bytes=header_bytes,
        vocab_size=int(vocab or 0),
        metadata=metadata,
        expert_bytes=expert_bytes,
        arrays=arrays,
    )


def check_gguf_path(path: str | Path) -> Path:
    """The path as a file that starts like a GGUF, or a ModelFileError saying why not."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory, not a GGUF file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")
    return path


@lru_cache(maxsize=32)
def _read_local(path: str, size: int, mtime_ns: int) -> GgufHeader:
    """One parse per file version per process: size and mtime are part of the key."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        try:
            return parse_buffer(mapped, shown_as=path, file_size=size)
        except NeedMoreBytes:
            raise ModelFileError(f"{path}: truncated GGUF: the file ends inside its header") from None


def read_gguf_header(path: str | Path) -> GgufHeader:
    """Check the path, parse the header and check that every tensor lies inside the file."""
    path = check_gguf_path(path)
    stat = path.stat()
    return _read_local(str(path), stat.st_size, stat.st_mtime_ns)

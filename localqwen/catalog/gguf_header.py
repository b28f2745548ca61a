"""Read and check a GGUF file's header with the `gguf` library, before llama.cpp sees it.

llama.cpp answers a bad file with a C-level log and a bare "failed to load";
this names the file and what is wrong with it. The same parser serves remote files
(see `remote.py`), given a local copy of their first bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from localqwen.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
# Big arrays the estimate does not need; only their length is kept.
SKIPPED_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.scores")


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


def _field_value(fld) -> object:
    """A GGUF key's value as plain Python: str, int, float, bool or a list of them."""
    from gguf import GGUFValueType

    if not fld.types:
        return None
    if fld.types[0] == GGUFValueType.ARRAY:
        if len(fld.types) > 1 and fld.types[1] == GGUFValueType.STRING:
            return [bytes(fld.parts[i]).decode("utf-8", "replace") for i in fld.data]
        return [np.asarray(fld.parts[i]).item() for i in fld.data]
    if fld.types[0] == GGUFValueType.STRING:
        return bytes(fld.parts[fld.data[0]]).decode("utf-8", "replace")
    return np.asarray(fld.parts[fld.data[0]]).item()


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


def parse_header(local: Path, *, shown_as: str, file_size: int) -> GgufHeader:
    """Parse `local` (the file, or a sparse copy of a remote file's start) as a GGUF header."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(local, "r")
    except Exception as exc:  # the reader fails in many ways on a bad file; all mean the same
        raise ModelFileError(f"{shown_as}: damaged or truncated GGUF ({exc})") from exc
    end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > file_size:
        raise ModelFileError(
            f"{shown_as}: truncated GGUF: tensor data runs to byte {end:,} but the file has {file_size:,} bytes"
        )
    metadata = {key: _field_value(f) for key, f in reader.fields.items() if key not in SKIPPED_ARRAYS}
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise ModelFileError(f"{shown_as}: GGUF has no general.architecture key")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    name = metadata.get("general.name")
    return GgufHeader(
        path=shown_as,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        file_size=file_size,
        tensor_count=len(reader.tensors),
        tensor_bytes=sum(int(t.n_bytes) for t in reader.tensors),
        header_bytes=int(reader.data_offset),
        vocab_size=len(tokens.data) if tokens is not None else int(metadata.get(f"{arch}.vocab_size", 0) or 0),
        metadata=metadata,
    )


def read_gguf_header(path: str | Path) -> GgufHeader:
    """Check the path, parse the header and check that every tensor lies inside the file."""
    path = check_gguf_path(path)
    return parse_header(path, shown_as=str(path), file_size=path.stat().st_size)

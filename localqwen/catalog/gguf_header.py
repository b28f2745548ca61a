"""Read and check a GGUF file's header with the `gguf` library, before llama.cpp sees it.

llama.cpp answers a bad file with a C-level log and a bare "failed to load";
this names the file and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from localqwen.errors import ModelFileError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufHeader:
    path: Path
    architecture: str
    name: str | None
    file_size: int
    tensor_count: int
    metadata: dict[str, object] = field(repr=False, default_factory=dict)


def _field_value(field) -> object:
    """A GGUF key's value as plain Python: str, int, float, bool or a list of them."""
    from gguf import GGUFValueType

    if not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY:
        if len(field.types) > 1 and field.types[1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
        return [np.asarray(field.parts[i]).item() for i in field.data]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    return np.asarray(field.parts[field.data[0]]).item()


SKIPPED_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.scores")


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


def read_gguf_header(path: str | Path) -> GgufHeader:
    """Parse the header and check that every tensor's data lies inside the file."""
    from gguf import GGUFReader

    path = check_gguf_path(path)
    size = path.stat().st_size
    try:
        reader = GGUFReader(path, "r")
    except Exception as exc:  # the reader fails in many ways on a bad file; all mean the same
        raise ModelFileError(f"{path}: damaged or truncated GGUF ({exc})") from exc
    end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise ModelFileError(
            f"{path}: truncated GGUF: tensor data runs to byte {end:,} but the file has {size:,} bytes"
        )
    metadata = {
        key: _field_value(fld) for key, fld in reader.fields.items() if key not in SKIPPED_ARRAYS
    }
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise ModelFileError(f"{path}: GGUF has no general.architecture key")
    name = metadata.get("general.name")
    return GgufHeader(
        path=path,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        file_size=size,
        tensor_count=len(reader.tensors),
        metadata=metadata,
    )

"""The header reader against the `gguf` library's own reader, and its one-line refusals."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from localqwen.catalog.errors import ModelFileError
from localqwen.catalog.gguf_header import (
    SKIPPED_ARRAYS,
    ArrayInfo,
    NeedMoreBytes,
    parse_buffer,
    read_gguf_header,
)


def _reader_value(fld: gguf.ReaderField) -> object:
    if fld.types[0] == gguf.GGUFValueType.ARRAY:
        if fld.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]
        return [np.asarray(fld.parts[i]).item() for i in fld.data]
    if fld.types[0] == gguf.GGUFValueType.STRING:
        return bytes(fld.parts[fld.data[0]]).decode("utf-8")
    return np.asarray(fld.parts[fld.data[0]]).item()


@pytest.fixture(scope="module", params=["tiny_qwen3", "tiny_no_fim_ids", "tiny_qwen_vocab"])
def model_file(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


def test_every_field_matches_the_gguf_librarys_reader(model_file: Path) -> None:
    header = read_gguf_header(model_file)
    reader = gguf.GGUFReader(model_file)
    fields = {key: fld for key, fld in reader.fields.items() if not key.startswith("GGUF.")}
    assert set(header.metadata) | set(header.arrays) == set(fields)
    for key, fld in fields.items():
        if key in header.arrays:
            assert header.arrays[key] == ArrayInfo(int(fld.types[1]), len(fld.data)), key
        else:
            assert header.metadata[key] == pytest.approx(_reader_value(fld)), key
    assert set(SKIPPED_ARRAYS) & set(fields) <= set(header.arrays)
    assert header.architecture == _reader_value(fields["general.architecture"])
    assert header.name == _reader_value(fields["general.name"])
    assert header.vocab_size == len(fields["tokenizer.ggml.tokens"].data)
    assert header.tensor_count == len(reader.tensors)
    assert header.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    assert header.header_bytes == reader.data_offset
    assert header.file_size == model_file.stat().st_size


def test_the_vocabulary_is_kept_by_length_not_read_token_by_token(tiny_qwen_vocab: Path) -> None:
    """A Qwen-sized vocabulary: 151,936 tokens and 151,387 merges stay two counts."""
    header = read_gguf_header(tiny_qwen_vocab)
    assert header.vocab_size == 151_936
    assert header.arrays["tokenizer.ggml.tokens"].count == 151_936
    assert header.arrays["tokenizer.ggml.merges"].count == 151_387
    assert header.arrays["tokenizer.ggml.token_type"].count == 151_936
    assert all(not isinstance(v, list) or len(v) <= 4096 for v in header.metadata.values())


def test_a_file_is_parsed_once_until_it_changes(tmp_path: Path, tiny_qwen3: Path, tiny_qwen2: Path) -> None:
    copy = tmp_path / "model.gguf"
    copy.write_bytes(tiny_qwen3.read_bytes())
    first = read_gguf_header(copy)
    assert read_gguf_header(copy) is first
    copy.write_bytes(tiny_qwen2.read_bytes())
    stat = copy.stat()  # a rewrite within the clock's tick keeps the mtime: move it on
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert read_gguf_header(copy).architecture == "qwen2"


def test_a_buffer_that_stops_short_says_how_many_bytes_it_needs(tiny_qwen3: Path) -> None:
    data = tiny_qwen3.read_bytes()
    whole = read_gguf_header(tiny_qwen3)
    with pytest.raises(NeedMoreBytes) as short:
        parse_buffer(data[:1000], shown_as="x", file_size=len(data))
    assert 1000 < short.value.needed <= whole.header_bytes
    assert parse_buffer(data[: whole.header_bytes], shown_as="x", file_size=len(data)).tensor_count == (
        whole.tensor_count
    )


def _one_line(path: Path) -> str:
    with pytest.raises(ModelFileError) as refused:
        read_gguf_header(path)
    line = refused.value.one_line()
    assert "\n" not in line and str(path) in line
    return line


@pytest.mark.parametrize("keep", [3, 10, 1000, "header", "half"])
def test_a_truncated_file_is_refused_in_one_line(tmp_path: Path, tiny_qwen3: Path, keep: object) -> None:
    data = tiny_qwen3.read_bytes()
    header_bytes = read_gguf_header(tiny_qwen3).header_bytes
    cut = {"header": header_bytes, "half": (header_bytes + len(data)) // 2}.get(keep, keep)
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:cut])  # type: ignore[index]
    line = _one_line(path)
    assert "truncated" in line or "not a GGUF" in line


def _patched(tmp_path: Path, data: bytes, at: int, value: bytes) -> Path:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data[:at] + value + data[at + len(value) :])
    return path


def test_a_damaged_header_is_refused_in_one_line(tmp_path: Path, tiny_qwen3: Path) -> None:
    data = tiny_qwen3.read_bytes()
    assert "version 7" in _one_line(_patched(tmp_path, data, 4, struct.pack("<I", 7)))
    first_key_len = struct.unpack_from("<Q", data, 24)[0]
    type_at = 24 + 8 + first_key_len
    assert "unknown value type" in _one_line(_patched(tmp_path, data, type_at, struct.pack("<I", 99)))
    assert "not a GGUF" in _one_line(_patched(tmp_path, data, 0, b"GGUX"))

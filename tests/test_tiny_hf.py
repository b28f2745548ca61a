"""The tiny Qwen3 in Hugging Face form (for vLLM) is the tiny GGUF's model: same weights,
same vocabulary, same template. vLLM itself reads it in bench/vllm_cpu_check.py."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import gguf
import numpy as np

from localqwen.tinymodel import write_tiny_gguf
from localqwen.tinymodel.hf import hf_name, write_tiny_hf


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__")
    data = raw[8 + length :]
    ends = sorted(entry["data_offsets"][1] for entry in header.values())
    assert ends[-1] == len(data)  # nothing after the last tensor, nothing missing
    return {name: np.frombuffer(data[e["data_offsets"][0] : e["data_offsets"][1]], dtype="<f4").reshape(e["shape"])
            for name, e in header.items()}


def test_the_hf_files_hold_the_gguf_models_weights_and_vocabulary(tmp_path: Path) -> None:
    folder = write_tiny_hf(tmp_path / "hf")
    reader = gguf.GGUFReader(write_tiny_gguf(tmp_path / "tiny.gguf"))
    tensors = read_safetensors(folder / "model.safetensors")
    assert len(tensors) == len(reader.tensors)
    for tensor in reader.tensors:
        ours = tensors[hf_name(tensor.name)]
        assert ours.shape == tuple(reversed([int(n) for n in tensor.shape]))  # GGUF lists dims innermost first
        assert np.array_equal(ours.ravel(), np.asarray(tensor.data).ravel())
    tokens = [bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in reader.fields["tokenizer.ggml.tokens"].data]
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    by_id = {**{i: t for t, i in tokenizer["model"]["vocab"].items()}, **{a["id"]: a["content"] for a in tokenizer["added_tokens"]}}
    assert [by_id[i] for i in range(len(tokens))] == tokens
    config = json.loads((folder / "config.json").read_text())
    assert config["vocab_size"] == len(tokens) and config["architectures"] == ["Qwen3ForCausalLM"]
    template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode()
    assert json.loads((folder / "tokenizer_config.json").read_text())["chat_template"] == template

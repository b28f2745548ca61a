from pathlib import Path

import gguf

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.tinymodel.vocab import CONTROL_TOKENS, USER_DEFINED_TOKENS

FIM_KEYS = ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id")


def test_tiny_model_is_small_and_holds_qwen_special_tokens(tiny_qwen3: Path) -> None:
    assert tiny_qwen3.stat().st_size < 2 * 1024 * 1024
    reader = gguf.GGUFReader(tiny_qwen3)
    tokens = [bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in reader.fields["tokenizer.ggml.tokens"].data]
    types = [int(reader.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in reader.fields["tokenizer.ggml.token_type"].data]
    for text in CONTROL_TOKENS:
        assert types[tokens.index(text)] == gguf.TokenType.CONTROL
    for text in USER_DEFINED_TOKENS:
        assert types[tokens.index(text)] == gguf.TokenType.USER_DEFINED
    header = read_gguf_header(tiny_qwen3)
    assert header.architecture == "qwen3"
    assert "enable_thinking" in header.metadata["tokenizer.chat_template"]
    for key in FIM_KEYS:
        assert tokens[header.metadata[key]].startswith("<|fim_")


def test_variant_without_fim_ids_lacks_the_metadata(tiny_no_fim_ids: Path) -> None:
    header = read_gguf_header(tiny_no_fim_ids)
    assert not any(key in header.metadata for key in FIM_KEYS)


def test_writing_is_deterministic(tmp_path: Path) -> None:
    first = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(arch="qwen2"))
    second = write_tiny_gguf(tmp_path / "b.gguf", TinySpec(arch="qwen2"))
    assert first.read_bytes() == second.read_bytes()
    other_seed = write_tiny_gguf(tmp_path / "c.gguf", TinySpec(arch="qwen2", seed=7))
    assert other_seed.read_bytes() != first.read_bytes()

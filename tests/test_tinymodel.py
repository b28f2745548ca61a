from pathlib import Path

import gguf

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.tinymodel.qwen_vocab import build_qwen_vocab
from localqwen.tinymodel.vocab import CONTROL_TOKENS, USER_DEFINED_TOKENS, byte_alphabet, byte_decoder

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


# --- the Qwen-sized vocabulary ----------------------------------------------------------

# As in a real Qwen2.5-Coder GGUF (up to 151664) and Qwen3's (the last four).
QWEN_SPECIAL = {
    151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>",
    151646: "<|object_ref_start|>", 151647: "<|object_ref_end|>", 151648: "<|box_start|>",
    151649: "<|box_end|>", 151650: "<|quad_start|>", 151651: "<|quad_end|>",
    151652: "<|vision_start|>", 151653: "<|vision_end|>", 151654: "<|vision_pad|>",
    151655: "<|image_pad|>", 151656: "<|video_pad|>", 151657: "<tool_call>", 151658: "</tool_call>",
    151659: "<|fim_prefix|>", 151660: "<|fim_middle|>", 151661: "<|fim_suffix|>", 151662: "<|fim_pad|>",
    151663: "<|repo_name|>", 151664: "<|file_sep|>", 151665: "<tool_response>",
    151666: "</tool_response>", 151667: "<think>", 151668: "</think>",
}


def expected_type(token_id: int) -> int:
    if token_id < 151643:
        return gguf.TokenType.NORMAL
    if token_id not in QWEN_SPECIAL:
        return gguf.TokenType.UNUSED
    return gguf.TokenType.CONTROL if QWEN_SPECIAL[token_id].startswith("<|") else gguf.TokenType.USER_DEFINED


def test_qwen_vocab_is_qwen_sized_and_valid_bpe() -> None:
    vocab = build_qwen_vocab()
    assert len(vocab.tokens) == 151_936 and len(vocab.merges) == 151_387
    assert vocab.tokens[:256] == byte_alphabet()
    assert len(set(vocab.tokens)) == len(vocab.tokens)
    for i, merge in enumerate(vocab.merges):  # "A B": both tokens, A earlier, B one byte; makes token 256+i
        left, right = merge.split(" ")
        assert right in byte_decoder() and vocab.id_of(left) < 256 + i
        assert vocab.tokens[256 + i] == left + right
    assert [t for t in vocab.types[:151643] if t != gguf.TokenType.NORMAL] == []
    for token_id in range(151643, 151936):
        assert vocab.types[token_id] == expected_type(token_id)
        assert vocab.tokens[token_id] == QWEN_SPECIAL.get(token_id, f"[PAD{token_id}]")
    chat_only = build_qwen_vocab(fim_tokens=False)
    assert chat_only.tokens[151659] == "[PAD151659]" and chat_only.types[151659] == gguf.TokenType.UNUSED
    assert chat_only.tokens[151665] == "<tool_response>"


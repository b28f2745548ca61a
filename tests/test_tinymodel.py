import dataclasses
from pathlib import Path

import gguf
import pytest

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.engine.fim import find_fim_tokens
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import GREEDY, ChatMessage, FimTokens
from localqwen.plan.placement import Placement
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
QWEN_FIM = FimTokens(prefix=151659, suffix=151661, middle=151660, pad=151662, repo_name=151663, file_sep=151664)


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


def test_qwen_vocab_needs_whole_q8_0_blocks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        write_tiny_gguf(tmp_path / "bad.gguf", TinySpec(vocab="qwen", n_embd=48))


def test_qwen_vocab_file_holds_the_vocab_at_qwen_ids(tiny_qwen_vocab: Path) -> None:
    assert tiny_qwen_vocab.stat().st_size < 20 * 1024 * 1024
    reader = gguf.GGUFReader(tiny_qwen_vocab)
    fields = reader.fields
    tokens, types, merges = (fields[f"tokenizer.ggml.{key}"] for key in ("tokens", "token_type", "merges"))
    vocab = build_qwen_vocab()
    assert [bytes(tokens.parts[i]).decode() for i in tokens.data] == list(vocab.tokens)
    assert [int(types.parts[i][0]) for i in types.data] == list(vocab.types)
    assert [bytes(merges.parts[i]).decode() for i in merges.data] == list(vocab.merges)

    def scalar(key: str) -> int:
        return int(fields[key].parts[fields[key].data[0]][0])

    assert scalar("tokenizer.ggml.eos_token_id") == 151645
    assert scalar("tokenizer.ggml.bos_token_id") == scalar("tokenizer.ggml.padding_token_id") == 151643
    assert [scalar(key) for key in FIM_KEYS] == [151659, 151661, 151660]
    assert scalar("general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    matrices = {t.name: t for t in reader.tensors if t.name in ("token_embd.weight", "output.weight")}
    assert {name: (t.tensor_type, list(t.shape)) for name, t in matrices.items()} == {
        "token_embd.weight": (gguf.GGMLQuantizationType.Q8_0, [32, 151_936]),
        "output.weight": (gguf.GGMLQuantizationType.Q8_0, [32, 151_936]),
    }


@pytest.fixture(scope="module")
def qwen_vocab_engine(tiny_qwen_vocab: Path):
    with LlamaEngine(tiny_qwen_vocab, Placement(n_ctx=256, n_threads=1)) as loaded:
        yield loaded


def test_llama_cpp_tokenises_with_the_qwen_vocab(qwen_vocab_engine: LlamaEngine) -> None:
    engine = qwen_vocab_engine
    assert engine.info.n_vocab == 151_936
    prompt = "<|im_start|>user\nhello<|im_end|>"
    ids = engine.tokenize(prompt, special=True)
    assert ids[0] == 151644 and ids[-1] == 151645
    body = ids[1:-1]
    assert body and all(i < 151643 for i in body)
    assert len(body) < len("user\nhello") and any(i >= 256 for i in body)  # merges apply
    assert engine.detokenize(ids, special=True) == prompt
    text = "def main():\n    return hello_world(42)  # naïve café, 日本語\n"
    assert engine.detokenize(engine.tokenize(text)) == text
    assert engine.tokenize("<|im_end|>") != [151645]  # written as text, not parsed as special
    for token_id, spelled in QWEN_SPECIAL.items():
        assert engine.special_token_id(spelled) == token_id
    assert engine.special_token_id("[PAD151700]") is None  # padding is not a special token


def test_fim_tokens_of_the_qwen_vocab_are_found(qwen_vocab_engine: LlamaEngine) -> None:
    engine = qwen_vocab_engine
    assert engine.info.fim == QWEN_FIM
    by_text = find_fim_tokens({}, engine.special_token_id)
    assert by_text == dataclasses.replace(QWEN_FIM, source="vocab")


def test_greedy_generation_with_the_qwen_vocab(qwen_vocab_engine: LlamaEngine) -> None:
    engine = qwen_vocab_engine
    with engine.complete("hello world", max_tokens=6, sampling=GREEDY) as stream:
        _, text = stream.collect()
    assert stream.stats.predicted_n == 6 and text.strip() and text.isascii()
    with engine.complete("hello world", max_tokens=6, sampling=GREEDY) as again:
        assert again.collect()[1] == text
    with engine.chat([ChatMessage("user", "hello")], thinking=False, max_tokens=3, sampling=GREEDY) as chat:
        chat.collect()
    assert chat.prompt_tokens[0] == 151644 and chat.stats.predicted_n == 3

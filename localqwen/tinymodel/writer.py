"""Write a tiny, real Qwen GGUF: llama.cpp loads it and generates with it.

Random weights with a fixed seed, so its output is gibberish but repeatable.
It exists so that tests and `localqwen doctor` exercise the real loader, tokenizer,
chat template and decode path without downloading anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gguf
import numpy as np

from localqwen.tinymodel.qwen_vocab import build_qwen_vocab
from localqwen.tinymodel.template import QWEN3_CHAT_TEMPLATE, QWEN25_CHAT_TEMPLATE, QWEN36_CHAT_TEMPLATE
from localqwen.tinymodel.vocab import Vocab, build_vocab

Arch = Literal["qwen2", "qwen2vl", "qwen3", "qwen3vl", "qwen3moe"]
"""qwen2vl, qwen3vl: the text halves of Qwen2.5-VL and Qwen3-VL (qwen2 and qwen3 with
M-RoPE); their projectors are vision.py's."""
VISION_ARCHES = ("qwen2vl", "qwen3vl")
ROPE_SECTIONS = {"qwen2vl": (1, 1.5, 1.5), "qwen3vl": (1.2, 1, 1)}
"""How each splits its rotary pairs over time, height and width (Qwen2.5-VL 16:24:24 of 64,
Qwen3-VL 24:20:20), scaled to a head here."""
VocabKind = Literal["tiny", "qwen"]
# With a Qwen-sized vocabulary the two vocab x n_embd matrices are most of the file:
# they are stored as Q8_0 (as a real Qwen GGUF stores its output matrix), the rest F32.
VOCAB_MATRICES = ("token_embd.weight", "output.weight")
QWEN_VOCAB_MATRIX_TYPE = gguf.GGMLQuantizationType.Q8_0


@dataclass(frozen=True)
class TinySpec:
    arch: Arch = "qwen3"
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    n_head_kv: int = 1  # head size 32: quantized KV caches need whole 32-element blocks
    n_ff: int = 128
    context_length: int = 4096
    fim_tokens: bool = True
    fim_ids_in_metadata: bool = True
    opens_think_in_prompt: bool = False  # Qwen3.6-style template
    thinking: bool = True  # False: Qwen2.5's template, which has no thinking mode
    # "tiny": about 470 tokens. "qwen": Qwen2.5/Qwen3's 151,936 tokens and 151,387
    # merges, special tokens at their real ids (see qwen_vocab.py); n_embd must then
    # be a multiple of 32 (Q8_0 blocks).
    vocab: VocabKind = "tiny"
    seed: int = 1234
    chat_template: str | None = None  # a template of one's own (a real Qwen one, say) over the built-in ones
    name: str | None = None  # general.name; None: tiny-ARCH
    # qwen3moe only: every layer's FFN is `n_expert` experts of `n_ff_exp`, `n_expert_used`
    # of them routed per token (Qwen3-30B-A3B: 128, 768, 8), instead of one FFN of n_ff.
    n_expert: int = 4
    n_expert_used: int = 2
    n_ff_exp: int = 64

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def write_tiny_gguf(path: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Write the model described by `spec` to `path` and return the path."""
    path = Path(path)
    if spec.vocab == "qwen" and spec.n_embd % 32:
        raise ValueError(f"vocab='qwen' needs n_embd a multiple of 32 (Q8_0 blocks), not {spec.n_embd}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.vocab == "qwen":
        vocab = build_qwen_vocab(fim_tokens=spec.fim_tokens)
    else:
        vocab = build_vocab(fim_tokens=spec.fim_tokens, vision_tokens=spec.arch in VISION_ARCHES)
    rng = np.random.default_rng(spec.seed)

    writer = gguf.GGUFWriter(str(path), spec.arch)
    writer.add_name(spec.name or f"tiny-{spec.arch}")
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    if spec.arch in VISION_ARCHES:  # M-RoPE: the rotary pairs split over time, height, width (and a spare)
        writer.add_rope_dimension_sections(rope_sections(spec))
    if spec.arch not in ("qwen2", "qwen2vl"):
        writer.add_key_length(spec.head_dim)
        writer.add_value_length(spec.head_dim)
    if spec.arch == "qwen3moe":
        writer.add_expert_count(spec.n_expert)
        writer.add_expert_used_count(spec.n_expert_used)
        writer.add_expert_feed_forward_length(spec.n_ff_exp)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if spec.vocab == "qwen" else gguf.LlamaFileType.ALL_F32)

    _add_tokenizer(writer, vocab, spec)
    for name, array in _tensors(spec, vocab, rng):
        if spec.vocab == "qwen" and name in VOCAB_MATRICES:
            quantized = gguf.quants.quantize(array, QWEN_VOCAB_MATRIX_TYPE)
            writer.add_tensor(name, quantized, raw_dtype=QWEN_VOCAB_MATRIX_TYPE)
        else:
            writer.add_tensor(name, array)
    write_out(writer)
    return path


def write_out(writer: gguf.GGUFWriter) -> None:
    """Header, metadata, then tensors, in the order a GGUF file holds them."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def rope_sections(spec: TinySpec) -> list[int]:
    pairs, shares = spec.head_dim // 2, ROPE_SECTIONS[spec.arch]
    height = round(pairs * shares[1] / sum(shares))
    time = round(pairs * shares[0] / sum(shares))
    return [time, height, pairs - time - height, 0]


def _add_tokenizer(writer: gguf.GGUFWriter, vocab: Vocab, spec: TinySpec) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(list(vocab.tokens))
    writer.add_token_types(list(vocab.types))
    writer.add_token_merges(list(vocab.merges))
    writer.add_bos_token_id(vocab.id_of("<|endoftext|>"))
    writer.add_eos_token_id(vocab.id_of("<|im_end|>"))
    writer.add_pad_token_id(vocab.id_of("<|endoftext|>"))
    writer.add_add_bos_token(False)
    template = QWEN36_CHAT_TEMPLATE if spec.opens_think_in_prompt else QWEN3_CHAT_TEMPLATE
    writer.add_chat_template(spec.chat_template or (template if spec.thinking else QWEN25_CHAT_TEMPLATE))
    if spec.fim_tokens and spec.fim_ids_in_metadata:
        keys = gguf.Keys.Tokenizer
        for key, text in (
            (keys.FIM_PRE_ID, "<|fim_prefix|>"),
            (keys.FIM_SUF_ID, "<|fim_suffix|>"),
            (keys.FIM_MID_ID, "<|fim_middle|>"),
            (keys.FIM_PAD_ID, "<|fim_pad|>"),
            (keys.FIM_REP_ID, "<|repo_name|>"),
            (keys.FIM_SEP_ID, "<|file_sep|>"),
        ):
            writer.add_uint32(key, vocab.id_of(text))


def _tensors(spec: TinySpec, vocab: Vocab, rng: np.random.Generator):
    names = gguf.TENSOR_NAMES
    T = gguf.MODEL_TENSOR
    n_vocab, d, hd = len(vocab.tokens), spec.n_embd, spec.head_dim
    q_dim, kv_dim = spec.n_head * hd, spec.n_head_kv * hd

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    yield names[T.TOKEN_EMBD] + ".weight", rand(n_vocab, d, scale=1.0)
    yield names[T.OUTPUT_NORM] + ".weight", ones(d)
    # Only printable text tokens get output weights: a zero row gives logit 0, which
    # loses to the best of hundreds of random logits, so greedy output stays readable
    # ASCII and never ends early on a control token.
    output = rand(n_vocab, d, scale=1.0)
    emit = np.array([vocab.is_printable_text(i) for i in range(n_vocab)])
    output[~emit] = 0.0
    yield names[T.OUTPUT] + ".weight", output
    for bid in range(spec.n_layer):
        def name(t: gguf.MODEL_TENSOR, suffix: str = "weight") -> str:
            return names[t].format(bid=bid) + "." + suffix

        yield name(T.ATTN_NORM), ones(d)
        yield name(T.ATTN_Q), rand(q_dim, d)
        yield name(T.ATTN_K), rand(kv_dim, d)
        yield name(T.ATTN_V), rand(kv_dim, d)
        if spec.arch in ("qwen2", "qwen2vl"):
            yield name(T.ATTN_Q, "bias"), rand(q_dim, scale=0.02)
            yield name(T.ATTN_K, "bias"), rand(kv_dim, scale=0.02)
            yield name(T.ATTN_V, "bias"), rand(kv_dim, scale=0.02)
        else:
            yield name(T.ATTN_Q_NORM), ones(hd)
            yield name(T.ATTN_K_NORM), ones(hd)
        yield name(T.ATTN_OUT), rand(d, q_dim)
        yield name(T.FFN_NORM), ones(d)
        if spec.arch == "qwen3moe":
            yield name(T.FFN_GATE_INP), rand(spec.n_expert, d)
            yield name(T.FFN_GATE_EXP), rand(spec.n_expert, spec.n_ff_exp, d)
            yield name(T.FFN_UP_EXP), rand(spec.n_expert, spec.n_ff_exp, d)
            yield name(T.FFN_DOWN_EXP), rand(spec.n_expert, d, spec.n_ff_exp)
        else:
            yield name(T.FFN_GATE), rand(spec.n_ff, d)
            yield name(T.FFN_UP), rand(spec.n_ff, d)
            yield name(T.FFN_DOWN), rand(d, spec.n_ff)

"""The tiny Qwen3 in Hugging Face's form (safetensors, config.json, tokenizer.json), for
vLLM, which does not read GGUF files: the same weights, vocabulary and chat template as
`write_tiny_gguf` writes, so a test or a benchmark can run vLLM itself without a download.

Only the dense qwen3 architecture (`Qwen3ForCausalLM`). llama.cpp stores Qwen3's matrices
as Hugging Face does (no Q/K permutation, unlike llama), so the tensors map one to one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from localqwen.tinymodel.template import QWEN3_CHAT_TEMPLATE
from localqwen.tinymodel.vocab import CONTROL_TOKENS, USER_DEFINED_TOKENS, Vocab, build_vocab
from localqwen.tinymodel.writer import TinySpec, _tensors

HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}  # fmt: skip


def hf_name(gguf_name: str) -> str:
    if gguf_name in HF_NAMES:
        return HF_NAMES[gguf_name]
    _, layer, kind, suffix = gguf_name.split(".")  # blk.N.KIND.weight
    return f"model.layers.{layer}.{LAYER_NAMES[kind]}.{suffix}"


def write_tiny_hf(folder: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Write the tiny qwen3 model to `folder` (made if missing) and return it."""
    if spec.arch != "qwen3" or spec.vocab != "tiny":
        raise ValueError("write_tiny_hf writes the dense qwen3 model with the tiny vocabulary only")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(fim_tokens=spec.fim_tokens)
    tensors = {hf_name(name): array for name, array in _tensors(spec, vocab, np.random.default_rng(spec.seed))}
    _write_safetensors(folder / "model.safetensors", tensors)
    eos, pad = vocab.id_of("<|im_end|>"), vocab.id_of("<|endoftext|>")
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "torch_dtype": "float32",
        "vocab_size": len(vocab.tokens), "hidden_size": spec.n_embd, "intermediate_size": spec.n_ff,
        "num_hidden_layers": spec.n_layer, "num_attention_heads": spec.n_head,
        "num_key_value_heads": spec.n_head_kv, "head_dim": spec.head_dim,
        "max_position_embeddings": spec.context_length, "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0,
        "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False,
        "bos_token_id": pad, "eos_token_id": eos,
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos], "pad_token_id": pad}))
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer_json(vocab)))
    special = {str(vocab.id_of(t)): {"content": t, "special": t in CONTROL_TOKENS, "lstrip": False, "rstrip": False,
                                     "normalized": False, "single_word": False}
               for t in CONTROL_TOKENS + USER_DEFINED_TOKENS if t in vocab.tokens}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": spec.chat_template or QWEN3_CHAT_TEMPLATE,
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
        "model_max_length": spec.context_length, "added_tokens_decoder": special,
    }  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=1))
    return folder


def _tokenizer_json(vocab: Vocab) -> dict[str, object]:
    """A byte-level BPE as Hugging Face's `tokenizers` reads it: the tiny vocabulary is
    GPT-2's byte alphabet plus merges, which is exactly that model."""
    added = [{"id": vocab.id_of(t), "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": t in CONTROL_TOKENS}
             for t in CONTROL_TOKENS + USER_DEFINED_TOKENS if t in vocab.tokens]
    normal = {text: i for i, text in enumerate(vocab.tokens) if text not in CONTROL_TOKENS + USER_DEFINED_TOKENS}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": normal, "merges": list(vocab.merges)},
    }  # fmt: skip


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: an 8-byte little-endian header length, a JSON header of
    dtype, shape and byte offsets, then the raw little-endian data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset, blobs = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for data in blobs:
            out.write(data)

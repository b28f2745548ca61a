"""A Qwen3 GGUF file's size from the model's shapes, under llama.cpp's quantization rules.

How the catalog's "size computed from tensor shapes" numbers are made (tests/test_catalog_sizes.py
recomputes them and checks the method on every published size it can):

    file = header + every tensor's bytes, each tensor padded to the 32-byte alignment

The tensor types follow llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp) for the
quants listed in `QUANTS`: norms and the MoE router stay F32; the output matrix (the token
embedding where the two are tied) is Q6_K unless the file is Q8_0; in Q4_K_M and Q5_K_M,
`attn_v` and `ffn_down` take Q6_K in the layers `use_more_bits` picks.

The header (the 151,936-token vocabulary, its merges, the chat template, one entry per
tensor) cannot be counted from shapes: it is measured on a published file of the same
model, as that file's size minus its tensor bytes. It carries over byte for byte only
between files that write the same header. Qwen's own Qwen3 dense repos write two: their
Q4_K_M and Q5_0 files' headers are 32 bytes longer than their Q5_K_M, Q6_K and Q8_0
(as written, padding included; all four of 4B, 8B, 14B, 32B, from the published sizes).
A Q6_K or Q8_0 computed from a Q4_K_M sibling is therefore 32 bytes too large, which is
how the catalog once had 4B, 14B and 32B wrong; measure on a sibling of the same kind
(`header_kind`). Qwen's Qwen3-30B-A3B Q4_K_M and Q6_K write the same header, so the MoE
files are one kind. A split file's header is every part's header together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from localqwen.catalog.types import ArchNumbers

ALIGNMENT = 32  # general.alignment's default; llama.cpp pads the header and every tensor to it
QUANTS = ("Q4_K_M", "Q5_0", "Q5_K_M", "Q6_K", "Q8_0")
_LONG_DENSE_HEADER = ("Q4_K_M", "Q5_0")

Role = Literal["embedding", "output", "norm", "router", "attn_v", "ffn_down", "weight"]
_BASE = {
    "Q4_K_M": GGMLQuantizationType.Q4_K,
    "Q5_0": GGMLQuantizationType.Q5_0,
    "Q5_K_M": GGMLQuantizationType.Q5_K,
    "Q6_K": GGMLQuantizationType.Q6_K,
    "Q8_0": GGMLQuantizationType.Q8_0,
}


@dataclass(frozen=True)
class Tensor:
    name: str
    elements: int
    role: Role
    layer: int = -1


def qwen3_tensors(arch: ArchNumbers, ffn: int, *, tied: bool) -> list[Tensor]:
    """The tensors of a Qwen3 (dense) or Qwen3-MoE GGUF; `ffn` is the (expert's) intermediate size."""
    h, d = arch.hidden, arch.head_dim
    out = [Tensor("token_embd.weight", arch.vocab * h, "embedding"), Tensor("output_norm.weight", h, "norm")]
    if not tied:
        out.append(Tensor("output.weight", arch.vocab * h, "output"))
    for i in range(arch.layers):
        blk = f"blk.{i}."
        out += [
            Tensor(blk + "attn_norm.weight", h, "norm", i),
            Tensor(blk + "attn_q.weight", h * arch.heads * d, "weight", i),
            Tensor(blk + "attn_k.weight", h * arch.kv_heads * d, "weight", i),
            Tensor(blk + "attn_v.weight", h * arch.kv_heads * d, "attn_v", i),
            Tensor(blk + "attn_output.weight", arch.heads * d * h, "weight", i),
            Tensor(blk + "attn_q_norm.weight", d, "norm", i),
            Tensor(blk + "attn_k_norm.weight", d, "norm", i),
            Tensor(blk + "ffn_norm.weight", h, "norm", i),
        ]
        if arch.experts:
            e = arch.experts
            out += [
                Tensor(blk + "ffn_gate_inp.weight", h * e, "router", i),
                Tensor(blk + "ffn_gate_exps.weight", h * ffn * e, "weight", i),
                Tensor(blk + "ffn_up_exps.weight", h * ffn * e, "weight", i),
                Tensor(blk + "ffn_down_exps.weight", ffn * h * e, "ffn_down", i),
            ]
        else:
            out += [
                Tensor(blk + "ffn_gate.weight", h * ffn, "weight", i),
                Tensor(blk + "ffn_up.weight", h * ffn, "weight", i),
                Tensor(blk + "ffn_down.weight", ffn * h, "ffn_down", i),
            ]
    return out


def _more_bits(i: int, n: int) -> bool:
    """llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_type(tensor: Tensor, quant: str, layers: int, *, tied: bool) -> GGMLQuantizationType:
    if quant not in _BASE:
        raise ValueError(f"no size rules for {quant}; known: {', '.join(QUANTS)}")
    base = _BASE[quant]
    if tensor.role in ("norm", "router"):
        return GGMLQuantizationType.F32
    if tensor.role == "output" or (tensor.role == "embedding" and tied):
        return base if base == GGMLQuantizationType.Q8_0 else GGMLQuantizationType.Q6_K
    if tensor.role in ("attn_v", "ffn_down") and quant in ("Q4_K_M", "Q5_K_M") and _more_bits(tensor.layer, layers):
        return GGMLQuantizationType.Q6_K
    return base


def padded(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def tensor_bytes(tensors: Sequence[Tensor], quant: str, layers: int, *, tied: bool) -> int:
    """Every tensor's bytes in `quant`, each padded to the alignment."""
    total = 0
    for t in tensors:
        kind = tensor_type(t, quant, layers, tied=tied)
        block, size = GGML_QUANT_SIZES[kind]
        if t.elements % block:
            raise ValueError(f"{t.name}: {t.elements} elements is not a whole number of {kind.name} blocks")
        total += padded(t.elements // block * size)
    return total


def header_kind(quant: str, arch: ArchNumbers) -> str:
    """Files of one model whose headers are the same length (the module docstring says how this was found)."""
    if arch.experts:
        return "moe"
    return "long" if quant in _LONG_DENSE_HEADER else "short"


def size_from_sibling(arch: ArchNumbers, ffn: int, *, tied: bool, quant: str, sibling: str, sibling_bytes: int) -> int:
    """The file size of `quant`, with the header measured on a published `sibling` file of the same model.

    The sibling must write the same header as the file computed (`header_kind`): a dense Q6_K
    from a Q4_K_M is refused, because that is the 32-byte mistake this module exists to avoid."""
    if header_kind(quant, arch) != header_kind(sibling, arch):
        raise ValueError(f"a {sibling} file's header is not a {quant} file's: measure on a sibling of the same kind")
    tensors = qwen3_tensors(arch, ffn, tied=tied)
    header = sibling_bytes - tensor_bytes(tensors, sibling, arch.layers, tied=tied)
    if header <= 0 or header % ALIGNMENT:
        raise ValueError(f"{sibling_bytes} bytes is not a {sibling} file of this model: its header would be {header} bytes")
    return header + tensor_bytes(tensors, quant, arch.layers, tied=tied)

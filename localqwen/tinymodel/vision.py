"""Write a tiny, real Qwen-VL vision projector (an "mmproj" GGUF) for a tiny qwen2vl or qwen3vl text model.

llama.cpp's mtmd loads it as it loads Qwen's own: the same keys, tensor names and
graph (clip.cpp's qwen2.5vl_merger for Qwen2.5-VL; qwen3vl_merger, with its learned
position embedding, for Qwen3-VL), only a few dozen numbers wide and one block deep,
with random weights. An image goes through the real preprocessing, vision encoder and
merger and comes out as embeddings the text model reads, so tests see what a picture
costs in tokens and that an answer streams after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from localqwen.tinymodel.writer import TinySpec, write_out

# Qwen2.5-VL's preprocessor_config.json: CLIP's normalisation.
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class TinyVisionSpec:
    n_embd: int = 32
    n_head: int = 2  # head size 16: vision M-RoPE rotates it in four sections of 4
    n_ff: int = 64  # must differ from n_embd: llama.cpp reads an up matrix n_embd wide as an old swapped file
    n_layer: int = 1
    patch_size: int | None = None  # None: the family's (Qwen2.5-VL 14, Qwen3-VL 16): one token per 2x2 patches
    position_side: int = 4  # Qwen3-VL: its learned position embedding's grid (48 x 48 in the real one)
    seed: int = 4321


PATCH = {"qwen2vl": 14, "qwen3vl": 16}


def write_tiny_projector(path: str | Path, text: TinySpec, spec: TinyVisionSpec = TinyVisionSpec()) -> Path:
    """The projector for the tiny qwen2vl or qwen3vl model `text` describes, written to `path`."""
    if text.arch not in PATCH:
        raise ValueError(f"a Qwen-VL projector goes with a qwen2vl or qwen3vl text model, not {text.arch}")
    qwen3 = text.arch == "qwen3vl"
    patch = spec.patch_size or PATCH[text.arch]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = gguf.Keys.ClipVision
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name(f"{text.name or 'tiny-qwen2vl'}-mmproj")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_bool(gguf.Keys.Clip.HAS_VISION_ENCODER, True)
    projector = gguf.VisionProjectorType.QWEN3VL if qwen3 else gguf.VisionProjectorType.QWEN25VL
    writer.add_string(gguf.Keys.Clip.PROJECTOR_TYPE, projector)
    writer.add_uint32(keys.EMBEDDING_LENGTH, spec.n_embd)
    writer.add_uint32(keys.FEED_FORWARD_LENGTH, spec.n_ff)
    writer.add_uint32(keys.BLOCK_COUNT, spec.n_layer)
    writer.add_uint32(keys.Attention.HEAD_COUNT, spec.n_head)
    writer.add_float32(keys.Attention.LAYERNORM_EPS, 1e-6)
    writer.add_uint32(keys.PROJECTION_DIM, text.n_embd)
    writer.add_uint32(keys.IMAGE_SIZE, spec.position_side * patch)
    writer.add_uint32(keys.PATCH_SIZE, patch)
    writer.add_array(keys.IMAGE_MEAN, IMAGE_MEAN)
    writer.add_array(keys.IMAGE_STD, IMAGE_STD)
    if qwen3:
        writer.add_bool(keys.USE_GELU, True)
    else:
        writer.add_uint32(keys.N_WA_PATTERN, 0)  # no window attention: one block has no windows to take turns with
        writer.add_bool(keys.USE_SILU, True)
    for name, array in (_qwen3_tensors if qwen3 else _qwen25_tensors)(spec, patch, text.n_embd):
        writer.add_tensor(name, array)
    write_out(writer)
    return path


def _random(seed: int):
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return rand


def _name(t: gguf.MODEL_TENSOR, suffix: str = "weight", bid: int = 0) -> str:
    return gguf.TENSOR_NAMES[t].format(bid=bid) + "." + suffix


def _patches(rand, e: int, p: int):
    """The patch embedding: a 3D convolution over two frames, stored as two 2D halves."""
    yield _name(gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH), rand(e, 3, p, p)
    yield _name(gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH, "weight.1"), rand(e, 3, p, p)


def _merger(rand, e: int, n_embd_text: int):
    """The 2x2 merge's MLP: four patches' features in, the text model's width out."""
    merged = 4 * e
    for bid, shape in ((0, (merged, merged)), (2, (n_embd_text, merged))):
        yield _name(gguf.MODEL_TENSOR.V_MMPROJ, bid=bid), rand(*shape)
        yield _name(gguf.MODEL_TENSOR.V_MMPROJ, "bias", bid), rand(shape[0], scale=0.01)


def _qwen3_tensors(spec: TinyVisionSpec, p: int, n_embd_text: int):
    """Qwen3-VL's: a patch bias and a learned position grid, fused QKV, LayerNorm with
    biases, a GELU MLP (no gate), no deepstack layers (the text model then reads none)."""
    T = gguf.MODEL_TENSOR
    rand, e, f = _random(spec.seed), spec.n_embd, spec.n_ff
    yield from _patches(rand, e, p)
    yield _name(T.V_ENC_EMBD_PATCH, "bias"), rand(e, scale=0.01)
    yield _name(T.V_ENC_EMBD_POS), rand(spec.position_side ** 2, e)
    for bid in range(spec.n_layer):
        for t in (T.V_ENC_INPUT_NORM, T.V_ENC_POST_ATTN_NORM):
            yield _name(t, bid=bid), np.ones(e, dtype=np.float32)
            yield _name(t, "bias", bid), np.zeros(e, dtype=np.float32)
        yield _name(T.V_ENC_ATTN_QKV, bid=bid), rand(3 * e, e)
        yield _name(T.V_ENC_ATTN_QKV, "bias", bid), rand(3 * e, scale=0.01)
        yield _name(T.V_ENC_ATTN_O, bid=bid), rand(e, e)
        yield _name(T.V_ENC_ATTN_O, "bias", bid), rand(e, scale=0.01)
        yield _name(T.V_ENC_FFN_UP, bid=bid), rand(f, e)
        yield _name(T.V_ENC_FFN_UP, "bias", bid), rand(f, scale=0.01)
        yield _name(T.V_ENC_FFN_DOWN, bid=bid), rand(e, f)
        yield _name(T.V_ENC_FFN_DOWN, "bias", bid), rand(e, scale=0.01)
    yield _name(T.V_POST_NORM), np.ones(e, dtype=np.float32)
    yield _name(T.V_POST_NORM, "bias"), np.zeros(e, dtype=np.float32)
    yield from _merger(rand, e, n_embd_text)


def _qwen25_tensors(spec: TinyVisionSpec, p: int, n_embd_text: int):
    """Qwen2.5-VL's: separate Q, K, V with biases, RMSNorm, a SiLU-gated MLP."""
    T = gguf.MODEL_TENSOR
    rand, e, f = _random(spec.seed), spec.n_embd, spec.n_ff
    yield from _patches(rand, e, p)
    for bid in range(spec.n_layer):
        yield _name(T.V_ENC_INPUT_NORM, bid=bid), np.ones(e, dtype=np.float32)
        for t in (T.V_ENC_ATTN_Q, T.V_ENC_ATTN_K, T.V_ENC_ATTN_V, T.V_ENC_ATTN_O):
            yield _name(t, bid=bid), rand(e, e)
            yield _name(t, "bias", bid), rand(e, scale=0.01)
        yield _name(T.V_ENC_POST_ATTN_NORM, bid=bid), np.ones(e, dtype=np.float32)
        for t, shape in ((T.V_ENC_FFN_GATE, (f, e)), (T.V_ENC_FFN_UP, (f, e)), (T.V_ENC_FFN_DOWN, (e, f))):
            yield _name(t, bid=bid), rand(*shape)
            yield _name(t, "bias", bid), rand(shape[0], scale=0.01)
    yield _name(T.V_POST_NORM), np.ones(e, dtype=np.float32)
    yield from _merger(rand, e, n_embd_text)

"""Write a tiny, real Qwen2.5-VL vision projector (an "mmproj" GGUF) for a tiny qwen2vl text model.

llama.cpp's mtmd loads it as it loads Qwen's own: the same keys, tensor names and
graph (clip.cpp's qwen2.5vl_merger), only a few dozen numbers wide and one block deep,
with random weights. An image goes through the real preprocessing, vision encoder and
merger and comes out as embeddings the text model reads, so tests see what a picture
costs in tokens and that an answer streams after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from localqwen.tinymodel.writer import TinySpec

# Qwen2.5-VL's preprocessor_config.json: CLIP's normalisation.
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class TinyVisionSpec:
    n_embd: int = 32
    n_head: int = 2  # head size 16: vision M-RoPE rotates it in four sections of 4
    n_ff: int = 64  # must differ from n_embd: llama.cpp reads an up matrix n_embd wide as an old swapped file
    n_layer: int = 1
    patch_size: int = 14  # Qwen2.5-VL's: one token per 28x28 pixels after the 2x2 merge
    image_size: int = 56
    seed: int = 4321


def write_tiny_projector(path: str | Path, text: TinySpec, spec: TinyVisionSpec = TinyVisionSpec()) -> Path:
    """The projector for the tiny qwen2vl model `text` describes, written to `path`."""
    if text.arch != "qwen2vl":
        raise ValueError(f"a Qwen2.5-VL projector goes with a qwen2vl text model, not {text.arch}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = gguf.Keys.ClipVision
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name(f"{text.name or 'tiny-qwen2vl'}-mmproj")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_bool(gguf.Keys.Clip.HAS_VISION_ENCODER, True)
    writer.add_string(gguf.Keys.Clip.PROJECTOR_TYPE, gguf.VisionProjectorType.QWEN25VL)
    writer.add_uint32(keys.EMBEDDING_LENGTH, spec.n_embd)
    writer.add_uint32(keys.FEED_FORWARD_LENGTH, spec.n_ff)
    writer.add_uint32(keys.BLOCK_COUNT, spec.n_layer)
    writer.add_uint32(keys.Attention.HEAD_COUNT, spec.n_head)
    writer.add_float32(keys.Attention.LAYERNORM_EPS, 1e-6)
    writer.add_uint32(keys.PROJECTION_DIM, text.n_embd)
    writer.add_uint32(keys.IMAGE_SIZE, spec.image_size)
    writer.add_uint32(keys.PATCH_SIZE, spec.patch_size)
    writer.add_array(keys.IMAGE_MEAN, IMAGE_MEAN)
    writer.add_array(keys.IMAGE_STD, IMAGE_STD)
    writer.add_uint32(keys.N_WA_PATTERN, 0)  # no window attention: one block has no windows to take turns with
    writer.add_bool(keys.USE_SILU, True)
    for name, array in _tensors(spec, text.n_embd):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tensors(spec: TinyVisionSpec, n_embd_text: int):
    names = gguf.TENSOR_NAMES
    T = gguf.MODEL_TENSOR
    rng = np.random.default_rng(spec.seed)
    e, f, p = spec.n_embd, spec.n_ff, spec.patch_size
    merged = 4 * e  # the 2x2 merge concatenates four patches

    def rand(*shape: int, scale: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # Qwen2.5-VL's patch embedding is a 3D convolution over two frames, stored as two 2D halves.
    yield names[T.V_ENC_EMBD_PATCH] + ".weight", rand(e, 3, p, p)
    yield names[T.V_ENC_EMBD_PATCH] + ".weight.1", rand(e, 3, p, p)
    for bid in range(spec.n_layer):
        def name(t: gguf.MODEL_TENSOR, suffix: str = "weight") -> str:
            return names[t].format(bid=bid) + "." + suffix

        yield name(T.V_ENC_INPUT_NORM), np.ones(e, dtype=np.float32)
        for t in (T.V_ENC_ATTN_Q, T.V_ENC_ATTN_K, T.V_ENC_ATTN_V):
            yield name(t), rand(e, e)
            yield name(t, "bias"), rand(e, scale=0.01)
        yield name(T.V_ENC_ATTN_O), rand(e, e)
        yield name(T.V_ENC_ATTN_O, "bias"), rand(e, scale=0.01)
        yield name(T.V_ENC_POST_ATTN_NORM), np.ones(e, dtype=np.float32)
        yield name(T.V_ENC_FFN_GATE), rand(f, e)
        yield name(T.V_ENC_FFN_GATE, "bias"), rand(f, scale=0.01)
        yield name(T.V_ENC_FFN_UP), rand(f, e)
        yield name(T.V_ENC_FFN_UP, "bias"), rand(f, scale=0.01)
        yield name(T.V_ENC_FFN_DOWN), rand(e, f)
        yield name(T.V_ENC_FFN_DOWN, "bias"), rand(e, scale=0.01)
    yield names[T.V_POST_NORM] + ".weight", np.ones(e, dtype=np.float32)
    yield names[T.V_MMPROJ].format(bid=0) + ".weight", rand(merged, merged)
    yield names[T.V_MMPROJ].format(bid=0) + ".bias", rand(merged, scale=0.01)
    yield names[T.V_MMPROJ].format(bid=2) + ".weight", rand(n_embd_text, merged)
    yield names[T.V_MMPROJ].format(bid=2) + ".bias", rand(n_embd_text, scale=0.01)

"""The memory estimate: weights + KV cache + compute buffer + per-GPU overhead.

Numbers used, and why:
- Weights: the GGUF's tensor bytes (the file size for catalog builds, whose header
  is a few MB). llama.cpp maps them as stored, so this is close to exact.
- KV cache: attention layers x KV heads x head size x 2 (K and V) x context x bytes
  per element of the cache type (f16 2; q8_0 34/32; q4_0 18/32: ggml's block sizes).
  Hybrid models count only their attention layers; their recurrent state is small
  and fixed (charged with the compute buffer: about hidden x 160 floats per recurrent
  layer, ~3 MB a layer for Qwen3.6-27B's Gated DeltaNet).
- Compute buffer: llama.cpp sizes it for one micro-batch: logits (vocab floats) and
  activations (a few hidden-size floats) per token, plus the f16 attention mask of
  context x micro-batch, with flash attention on (the plan always turns it on, which
  keeps attention scores out of this buffer). The mask grows with the context.
- Per-GPU overhead: 512 MiB for the CUDA context, cuBLAS workspace and driver
  reservations (what nvidia-smi shows a llama.cpp process holding before weights).
"""

from __future__ import annotations

from localqwen.catalog.types import ArchNumbers, Build, ModelSpec
from localqwen.plan.placement import N_UBATCH

MIB = 1024**2
GIB = 1024**3
GPU_OVERHEAD_BYTES = 512 * MIB
HOST_RESERVE_BYTES = 2 * GIB  # left to the OS and other programs when planning RAM
KV_BYTES_PER_ELEMENT: dict[str, float] = {
    "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32,
    "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
}


def kv_bytes(arch: ArchNumbers, n_ctx: int, kv_type: str = "f16") -> int:
    return int(arch.kv_bytes_per_token(KV_BYTES_PER_ELEMENT[kv_type]) * n_ctx)


def kv_bytes_per_token(arch: ArchNumbers, kv_type: str = "f16") -> float:
    return arch.kv_bytes_per_token(KV_BYTES_PER_ELEMENT[kv_type])


def ctx_bytes_per_token(arch: ArchNumbers, kv_type: str = "f16") -> float:
    """What one more token of context costs on a card holding the whole KV cache."""
    return kv_bytes_per_token(arch, kv_type) + MASK_BYTES_PER_CTX


MASK_BYTES_PER_CTX = N_UBATCH * 2


def compute_bytes(arch: ArchNumbers, n_ctx: int = 0) -> int:
    """Compute buffer at context `n_ctx` (0: only the part that does not grow with it)."""
    recurrent_state = (arch.layers - arch.attention_layers) * arch.hidden * 160 * 4
    return N_UBATCH * (arch.vocab + 8 * arch.hidden) * 4 + recurrent_state + n_ctx * MASK_BYTES_PER_CTX


def weight_bytes(build: Build) -> int:
    return build.size_bytes


def embedding_bytes(arch: ArchNumbers, build: Build, params_b: float) -> int:
    """One vocab x hidden matrix at the build's average bits per weight."""
    bits_per_weight = build.size_bytes * 8 / (params_b * 1e9) if params_b else 16
    return int(arch.vocab * arch.hidden * bits_per_weight / 8)


def layer_bytes(arch: ArchNumbers, build: Build, params_b: float) -> float:
    """Weights of one repeating layer: everything but the input and output matrices."""
    rest = build.size_bytes - 2 * embedding_bytes(arch, build, params_b)
    return max(rest, build.size_bytes * 0.5) / arch.layers


def expert_bytes(model: ModelSpec, build: Build) -> int:
    """The routed experts' share of the build's bytes: the file's own count where its header
    was read, else the routed share of the parameters at the build's average bits.

    total = shared + E experts and active = shared + k experts, so the E experts hold
    (total - active) x E / (E - k) parameters: 29.0B of Qwen3-30B-A3B's 30.5B."""
    arch = model.arch
    if not arch.experts:
        return 0
    if build.expert_bytes:
        return build.expert_bytes
    routed = (model.params_b - model.active_params_b) * arch.experts / max(1, arch.experts - arch.experts_active)
    return int(build.size_bytes * min(1.0, routed / model.params_b)) if model.params_b else 0


def context_bytes(arch: ArchNumbers, n_ctx: int, kv_type: str = "f16") -> int:
    """One more llama.cpp context over weights already loaded: its KV cache and compute buffer."""
    return kv_bytes(arch, n_ctx, kv_type) + compute_bytes(arch, n_ctx)

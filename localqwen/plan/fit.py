"""Placements for one build on one machine, each with the largest context that fits.

llama.cpp's split modes, as the estimate charges them:
- none: everything on one card.
- row: every layer's matrices split by rows across cards in `tensor_split` shares
  (proportional to free memory); the KV cache, small tensors and compute buffer stay
  on `main_gpu`, so that card is charged for them.
- layer: whole layers (with their KV cache) go to cards in `tensor_split` shares;
  each card holds its own compute buffer.
- tensor (llama.cpp's experimental `--split-mode tensor`, only when asked): every weight
  and the KV cache split across cards in `tensor_split` shares, charged as a layer split;
  the cards work at once, with an all-reduce per layer.
- partial: `n_gpu_layers` < all; the other layers and their KV cache stay in RAM.
- experts in RAM (MoE): every layer on the GPUs but the routed experts of the first
  `n_cpu_moe` layers, which stay in RAM; attention, shared tensors and the whole KV
  cache stay on the cards.
"""

from __future__ import annotations

import math
from itertools import accumulate
from dataclasses import dataclass, replace

from localqwen.catalog.types import Build, ModelSpec
from localqwen.hardware.types import Gpu, Hardware
from localqwen.plan.memory import (
    GPU_OVERHEAD_BYTES,
    HOST_RESERVE_BYTES,
    MASK_BYTES_PER_CTX,
    compute_bytes,
    ctx_bytes_per_token,
    embedding_bytes,
    expert_bytes,
    kv_bytes,
    kv_bytes_per_token,
    layer_bytes,
)
from localqwen.plan.types import DeviceUse

CTX_STEP = 256
# vLLM run as localqwen starts it (--enforce-eager, small --max-num-batched-tokens):
# activations and sampler buffers per card, beyond weights and KV cache.
VLLM_ACTIVATION_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class Fit:
    split_mode: str
    n_ctx: int
    devices: tuple[DeviceUse, ...]
    tensor_split: tuple[float, ...] = ()
    main_gpu: int = 0
    n_gpu_layers: int = -1
    host_bytes: int = 0
    n_cpu_moe: int = 0


def _round_ctx(n: float, target: int) -> int:
    return min(target, int(n // CTX_STEP) * CTX_STEP)


def _device(gpu: Gpu, used: float) -> DeviceUse:
    return DeviceUse(f"GPU{gpu.index} {gpu.name}", int(used), gpu.total_bytes, gpu.index)


def _shares(gpus: tuple[Gpu, ...]) -> tuple[float, ...]:
    total = sum(g.free_bytes for g in gpus)
    return tuple(round(g.free_bytes / total, 4) for g in gpus)


def fit_single(model: ModelSpec, build: Build, gpu: Gpu, target: int, kv_type: str) -> Fit | None:
    fixed = build.size_bytes + compute_bytes(model.arch) + GPU_OVERHEAD_BYTES
    ctx = _round_ctx((gpu.free_bytes - fixed) / ctx_bytes_per_token(model.arch, kv_type), target)
    if ctx <= 0:
        return None
    used = fixed + _ctx_bytes(model, ctx, kv_type)
    return Fit("none", ctx, (_device(gpu, used),), main_gpu=gpu.index)


def _ctx_bytes(model: ModelSpec, ctx: int, kv_type: str) -> int:
    return kv_bytes(model.arch, ctx, kv_type) + ctx * MASK_BYTES_PER_CTX


def fit_row(model: ModelSpec, build: Build, gpus: tuple[Gpu, ...], target: int, kv_type: str) -> Fit | None:
    shares = _shares(gpus)
    main = max(range(len(gpus)), key=lambda i: gpus[i].free_bytes)
    for i, gpu in enumerate(gpus):
        if i != main and build.size_bytes * shares[i] + GPU_OVERHEAD_BYTES > gpu.free_bytes:
            return None
    fixed_main = build.size_bytes * shares[main] + compute_bytes(model.arch) + GPU_OVERHEAD_BYTES
    ctx = _round_ctx((gpus[main].free_bytes - fixed_main) / ctx_bytes_per_token(model.arch, kv_type), target)
    if ctx <= 0:
        return None
    devices = tuple(
        _device(gpu, fixed_main + _ctx_bytes(model, ctx, kv_type) if i == main
                else build.size_bytes * shares[i] + GPU_OVERHEAD_BYTES)
        for i, gpu in enumerate(gpus)
    )
    return Fit("row", ctx, devices, shares, gpus[main].index)


def fit_layer(model: ModelSpec, build: Build, gpus: tuple[Gpu, ...], target: int, kv_type: str) -> Fit | None:
    shares = _shares(gpus)
    per_token = kv_bytes_per_token(model.arch, kv_type)
    ctx_limits = []
    for gpu, share in zip(gpus, shares):
        room = gpu.free_bytes - build.size_bytes * share - compute_bytes(model.arch) - GPU_OVERHEAD_BYTES
        ctx_limits.append(room / (per_token * share + MASK_BYTES_PER_CTX))
    ctx = _round_ctx(min(ctx_limits), target)
    if ctx <= 0:
        return None
    kv = kv_bytes(model.arch, ctx, kv_type)
    devices = tuple(
        _device(gpu, (build.size_bytes + kv) * share + compute_bytes(model.arch, ctx) + GPU_OVERHEAD_BYTES)
        for gpu, share in zip(gpus, shares)
    )
    return Fit("layer", ctx, devices, shares)


def fit_tensor(model: ModelSpec, build: Build, gpus: tuple[Gpu, ...], target: int, kv_type: str) -> Fit | None:
    fit = fit_layer(model, build, gpus, target, kv_type)
    return replace(fit, split_mode="tensor") if fit else None


def fit_partial(model: ModelSpec, build: Build, hw: Hardware, ctx: int, kv_type: str) -> Fit | None:
    """As many layers on the GPUs as fit (layer split across several), the rest in RAM."""
    arch = model.arch
    per_layer = layer_bytes(arch, build, model.params_b) + kv_bytes(arch, ctx, kv_type) / arch.layers
    rooms = [g.free_bytes - compute_bytes(arch, ctx) - GPU_OVERHEAD_BYTES for g in hw.gpus]
    n_gpu = min(arch.layers, sum(max(0, int(room // per_layer)) for room in rooms))
    if n_gpu == 0:
        return None
    host = (arch.layers - n_gpu) * per_layer + 2 * embedding_bytes(arch, build, model.params_b)
    if host > hw.ram_available_bytes - HOST_RESERVE_BYTES:
        return None
    gpus = tuple(g for g, room in zip(hw.gpus, rooms) if room >= per_layer)
    usable = [max(0, int(room // per_layer)) for room in rooms if room >= per_layer]
    shares = tuple(round(n / sum(usable), 4) for n in usable) if len(gpus) > 1 else ()
    devices = tuple(
        _device(g, min(n, n_gpu) * per_layer + compute_bytes(arch, ctx) + GPU_OVERHEAD_BYTES)
        for g, n in zip(gpus, _spread(n_gpu, usable))
    )
    mode = "layer" if len(gpus) > 1 else "none"
    return Fit(mode, ctx, devices, shares, gpus[0].index, n_gpu, int(host))


def _spread(total: int, capacities: list[int]) -> list[int]:
    out = []
    for cap in capacities:
        out.append(min(cap, total))
        total -= out[-1]
    return out


def fit_experts(model: ModelSpec, build: Build, hw: Hardware, ctx: int, kv_type: str) -> Fit | None:
    """Everything on the GPUs but the routed experts of the first K layers (llama.cpp's
    `--n-cpu-moe K`), K the smallest that leaves room for `ctx` tokens; None for a dense
    model, or where even every layer's experts in RAM leave too little room.

    Several cards split by layer, in counts that give each card bytes in proportion to
    its free memory: a layer whose experts are in RAM weighs a fraction of one whose
    are not, so equal layer counts would overfill the card holding the heavy ones."""
    arch = model.arch
    experts = expert_bytes(model, build)
    if not experts:
        return None
    gpus = tuple(sorted(hw.gpus, key=lambda g: g.index))
    shares = _shares(gpus)
    fixed = compute_bytes(arch, ctx) + GPU_OVERHEAD_BYTES
    room = min(((g.free_bytes - fixed) / share for g, share in zip(gpus, shares) if share > 0), default=0)
    if room <= 0:
        return None
    per_layer = experts / arch.layers
    everything = build.size_bytes + kv_bytes(arch, ctx, kv_type)
    ram = hw.ram_available_bytes - HOST_RESERVE_BYTES
    for k in range(max(0, math.ceil((everything - room) / per_layer)), arch.layers + 1):
        if k * per_layer > ram:
            return None
        counts, loads = _balanced_layers(everything - k * per_layer, arch.layers, k, per_layer, shares)
        if all(load + fixed <= g.free_bytes for g, load in zip(gpus, loads)):
            devices = tuple(_device(g, load + fixed) for g, load in zip(gpus, loads))
            split = tuple(float(n) for n in counts) if len(gpus) > 1 else ()
            mode = "layer" if len(gpus) > 1 else "none"
            return Fit(mode, ctx, devices, split, gpus[0].index, -1, int(k * per_layer), k)
    return None


def _balanced_layers(on_gpu: float, layers: int, k: int, per_layer: float,
                     shares: tuple[float, ...]) -> tuple[list[int], list[float]]:
    """Consecutive layer counts per card, each card's bytes as near its share as whole
    layers allow (layers below `k` carry no experts), and the bytes each card gets."""
    light = (on_gpu - (layers - k) * per_layer) / layers
    upto = list(accumulate((light + (per_layer if i >= k else 0.0) for i in range(layers)), initial=0.0))
    counts, loads, start, goal = [], [], 0, 0.0
    for n, share in enumerate(shares):
        goal += share * on_gpu
        end = layers if n == len(shares) - 1 else start
        while end < layers and (upto[end] + upto[end + 1]) / 2 <= goal:  # the layer's middle is within this card's share
            end += 1
        counts.append(end - start)
        loads.append(upto[end] - upto[start])
        start = end
    return counts, loads


def fit_ram(model: ModelSpec, build: Build, hw: Hardware, target: int, kv_type: str) -> Fit | None:
    room = hw.ram_available_bytes - HOST_RESERVE_BYTES - build.size_bytes - compute_bytes(model.arch)
    ctx = _round_ctx(room / ctx_bytes_per_token(model.arch, kv_type), target)
    if ctx <= 0:
        return None
    host = build.size_bytes + compute_bytes(model.arch) + _ctx_bytes(model, ctx, kv_type)
    return Fit("none", ctx, (), n_gpu_layers=0, host_bytes=int(host))


def fit_vllm(model: ModelSpec, build: Build, hw: Hardware, target: int) -> Fit | None:
    """vLLM shards weights and KV evenly over a power-of-two tensor-parallel group."""
    per_token = kv_bytes_per_token(model.arch, "f16")
    best: Fit | None = None
    size = 1
    while size <= len(hw.gpus):
        if model.arch.heads % size == 0:
            gpus = tuple(sorted(hw.gpus, key=lambda g: -g.free_bytes)[:size])
            room = min(g.free_bytes for g in gpus) * size - size * (VLLM_ACTIVATION_BYTES + GPU_OVERHEAD_BYTES) - build.size_bytes
            ctx = _round_ctx(room / per_token, target)
            if ctx > 0:
                each = (build.size_bytes + per_token * ctx) / size + VLLM_ACTIVATION_BYTES + GPU_OVERHEAD_BYTES
                best = Fit("tensor", ctx, tuple(_device(g, each) for g in gpus))
                break
        size *= 2
    return best

"""A rough decode speed: each token reads the active weights (and KV) once from memory.

tokens/s ~ efficiency x bandwidth / bytes read per token, plus a fixed cost per layer
(kernel launches; in a row or llama.cpp tensor split, a sync between cards per layer,
which is why llama.cpp's row split over many cards is slow). Cards in a layer split work one after
another; in a row split at once; layers in RAM read at RAM bandwidth. MoE experts are
read scattered, at a lower efficiency. With experts in RAM (`n_cpu_moe`), RAM serves
only the routed experts a token picks in those layers (k of E of their bytes), while
attention and the KV cache of every layer stay on the GPU: per byte moved off the card,
RAM then reads less than when whole layers go. An estimate, labelled as such everywhere.
"""

from __future__ import annotations

from localqwen.catalog.types import Build, ModelSpec
from localqwen.hardware.types import Hardware
from localqwen.plan.fit import Fit
from localqwen.plan.memory import expert_bytes, kv_bytes

GPU_EFFICIENCY = 0.7
MOE_EFFICIENCY = 0.45
CPU_EFFICIENCY = 0.6
GPU_LAYER_S = 20e-6
CPU_LAYER_S = 50e-6
ROW_SYNC_LAYER_S = 40e-6  # per extra card, per layer
ROW_SYNC_PENALTY = 1.15
DEFAULT_RAM_BANDWIDTH_GBS = 40.0
TYPICAL_FILL = 4096  # context actually in use while decoding


def estimate_tok_s(model: ModelSpec, build: Build, hw: Hardware, fit: Fit, kv_type: str) -> float | None:
    active = build.size_bytes * (model.active_params_b / model.params_b if model.params_b else 1.0)
    per_token = active + kv_bytes(model.arch, min(fit.n_ctx, TYPICAL_FILL), kv_type)
    ram_gbs = (hw.ram_bandwidth_gbs or DEFAULT_RAM_BANDWIDTH_GBS) * CPU_EFFICIENCY
    layers = model.arch.layers
    gpus = {g.index: g for g in hw.gpus}
    used = [gpus[d.index] for d in fit.devices if d.index in gpus]
    if fit.n_gpu_layers == 0 or not used:
        return round(1 / (per_token / (ram_gbs * 1e9) + layers * CPU_LAYER_S), 1)
    if any(g.bandwidth_gbs is None for g in used):
        return None
    gpu_layers = layers if fit.n_gpu_layers < 0 else fit.n_gpu_layers
    if fit.n_cpu_moe:
        arch = model.arch
        in_ram = expert_bytes(model, build) * arch.experts_active / arch.experts * fit.n_cpu_moe / layers
        ram_layers = fit.n_cpu_moe
    else:
        in_ram = per_token * (layers - gpu_layers) / layers
        ram_layers = layers - gpu_layers
    on_gpu = per_token - in_ram
    seconds = in_ram / (ram_gbs * 1e9) + ram_layers * CPU_LAYER_S
    efficiency = MOE_EFFICIENCY if model.arch.experts else GPU_EFFICIENCY
    split = fit.tensor_split or (1.0,) * len(used)  # vLLM's tensor parallel: even shares
    shares = [share / sum(split) for share in split]  # llama.cpp normalises tensor_split; so does this
    times = [on_gpu * share / (g.bandwidth_gbs * efficiency * 1e9) for g, share in zip(used, shares)]  # type: ignore[operator]
    seconds += gpu_layers * GPU_LAYER_S
    if fit.split_mode == "row" or fit.split_mode == "tensor" and build.runtime == "llama.cpp":
        seconds += max(times) * ROW_SYNC_PENALTY + gpu_layers * ROW_SYNC_LAYER_S * (len(used) - 1)
    elif fit.split_mode == "tensor":
        seconds += max(times)
    else:
        seconds += sum(times)
    return round(1 / seconds, 1)

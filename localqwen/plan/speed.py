"""A rough decode speed: each token reads the active weights (and KV) once from memory.

tokens/s ~ efficiency x bandwidth / bytes read per token. Cards in a layer split work
one after another; in a row split at once (with a sync cost); layers in RAM read at
RAM bandwidth. An estimate, labelled as such everywhere it is shown.
"""

from __future__ import annotations

from localqwen.catalog.types import Build, ModelSpec
from localqwen.hardware.types import Hardware
from localqwen.plan.fit import Fit
from localqwen.plan.memory import kv_bytes

GPU_EFFICIENCY = 0.7
CPU_EFFICIENCY = 0.6
ROW_SYNC_PENALTY = 1.15
DEFAULT_RAM_BANDWIDTH_GBS = 40.0
TYPICAL_FILL = 4096  # context actually in use while decoding


def estimate_tok_s(model: ModelSpec, build: Build, hw: Hardware, fit: Fit, kv_type: str) -> float | None:
    active = build.size_bytes * (model.active_params_b / model.params_b if model.params_b else 1.0)
    per_token = active + kv_bytes(model.arch, min(fit.n_ctx, TYPICAL_FILL), kv_type)
    ram_gbs = (hw.ram_bandwidth_gbs or DEFAULT_RAM_BANDWIDTH_GBS) * CPU_EFFICIENCY
    gpus = {f"GPU{g.index} {g.name}": g for g in hw.gpus}
    used = [gpus[d.name] for d in fit.devices if d.name in gpus]
    if fit.n_gpu_layers == 0 or not used:
        return round(ram_gbs * 1e9 / per_token, 1)
    if any(g.bandwidth_gbs is None for g in used):
        return None
    on_gpu = per_token * (1.0 if fit.n_gpu_layers < 0 else fit.n_gpu_layers / model.arch.layers)
    seconds = (per_token - on_gpu) / (ram_gbs * 1e9)
    shares = fit.tensor_split or (1.0,)
    times = [on_gpu * share / (g.bandwidth_gbs * GPU_EFFICIENCY * 1e9) for g, share in zip(used, shares)]  # type: ignore[operator]
    if fit.split_mode == "row":
        seconds += max(times) * ROW_SYNC_PENALTY
    elif fit.split_mode == "tensor":
        seconds += max(times)
    else:
        seconds += sum(times)
    return round(1 / seconds, 1)

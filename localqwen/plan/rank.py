"""Plan every build of a model on a machine, and pick the one to use.

Ranking: a build that fits fully on the GPUs first (higher quality tier first; in a
tier the fastest estimate, which on one engine is the smaller build; a vLLM build counts
here where vLLM is installed, its tensor parallelism beating llama.cpp's layers taking
turns), then vLLM builds where vLLM is not installed, then GPU and RAM together (the
fastest estimate first), then what does not fit. Quality tiers: Q6_K and above are near-lossless
in llama.cpp's perplexity tables, so Q8_0 or BF16 buy little over Q6_K and cost
context and speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from localqwen.catalog.types import MIN_IMAGE_TOKENS, Build, ModelSpec, Vision
from localqwen.hardware.types import Gpu, Hardware
from localqwen.plan.placement import Placement
from localqwen.plan.fit import (
    Fit, fit_experts, fit_layer, fit_partial, fit_ram, fit_row, fit_single, fit_tensor, fit_vllm,
)
from localqwen.plan.speed import estimate_tok_s
from localqwen.plan.types import CANNOT_RUN, VERDICT_ORDER, Candidate, DeviceUse
from localqwen.units import gib

QUALITY_TIERS = {
    "F32": 3, "BF16": 3, "F16": 3, "Q8_0": 3, "Q6_K": 3,
    "Q5_K_M": 2, "Q5_K_S": 2, "Q5_0": 2,
    "Q4_K_M": 1, "Q4_K_S": 1, "Q4_0": 1, "IQ4_XS": 1, "IQ4_NL": 1, "AWQ-INT4": 1, "FP8": 3,
}
MIN_CTX = 4096
COMFORTABLE_CTX = 32768  # below this, a quantized KV cache is worth its small loss
PARTIAL_CTX = 8192


@dataclass(frozen=True)
class PlanOptions:
    ctx: int | None = None  # a person's upper bound on context
    split_mode: str | None = None  # force "none", "layer", "row" or "tensor" across GPUs
    # Memory another context needs beside this one (the server's FIM context, or a
    # small FIM model): kept free on the card with the most room, or in RAM.
    reserve_bytes: int = 0


def reserve_gpu(hw: Hardware) -> Gpu | None:
    """Where `with_reserve` sets memory aside: the card with the most room; None: RAM."""
    if not hw.gpus or hw.gpu_offload is False:
        return None
    return max(hw.gpus, key=lambda g: g.free_bytes)


def with_reserve(hw: Hardware, reserve: int) -> Hardware:
    """The machine as this model sees it once `reserve` bytes are set aside."""
    if reserve <= 0:
        return hw
    roomiest = reserve_gpu(hw)
    if roomiest is None:
        return replace(hw, ram_available_bytes=max(0, hw.ram_available_bytes - reserve))
    gpus = tuple(replace(g, free_bytes=max(0, g.free_bytes - reserve)) if g is roomiest else g for g in hw.gpus)
    return replace(hw, gpus=gpus)


def _tier(build: Build) -> int:
    return QUALITY_TIERS.get(build.quant.upper(), 0)


def _best_full_fit(model: ModelSpec, build: Build, hw: Hardware, target: int, kv: str, opts: PlanOptions) -> Fit | None:
    """Prefer one card; use several when that gives a longer context (by rows where llama.cpp
    can, else by layers; tensor only when asked)."""
    gpus = tuple(sorted(hw.gpus, key=lambda g: -g.free_bytes))
    forced = opts.split_mode
    single = None if forced in ("row", "layer", "tensor") else fit_single(model, build, gpus[0], target, kv)
    multi = None
    if len(gpus) > 1 and forced != "none":
        in_order = tuple(sorted(hw.gpus, key=lambda g: g.index))
        if forced == "tensor":
            return fit_tensor(model, build, in_order, target, kv)
        if _rows_allowed(model, hw, opts):
            multi = fit_row(model, build, in_order, target, kv)
        if multi is None or multi.n_ctx < MIN_CTX and forced != "row":
            multi = fit_layer(model, build, in_order, target, kv) or multi
    options = [f for f in (single, multi) if f is not None]
    return max(options, key=lambda f: (f.n_ctx, f.split_mode == "none"), default=None)


def _rows_allowed(model: ModelSpec, hw: Hardware, opts: PlanOptions) -> bool:
    """Row split only where llama.cpp has it (see `Hardware.row_split`), and not on its own
    for a MoE model: its expert tensors (3-D, multiplied by MUL_MAT_ID) do not split by
    rows and would all land on the main card."""
    if not hw.row_split or opts.split_mode == "layer":
        return False
    return opts.split_mode == "row" or not model.arch.experts


def _split_text(fit: Fit, opts: PlanOptions) -> str:
    if opts.split_mode == "row" and fit.split_mode != "row":
        return f"split {fit.split_mode} (this llama.cpp cannot split rows)"
    return f"split {fit.split_mode}"


def _gguf(model: ModelSpec, build: Build, hw: Hardware, target: int, opts: PlanOptions) -> Candidate:
    min_ctx = min(MIN_CTX, target)
    use_gpu = bool(hw.gpus) and hw.gpu_offload is not False
    kv_choice = ("f16", "q8_0")
    best: tuple[Fit, str] | None = None
    for kv in kv_choice:
        fit = _best_full_fit(model, build, hw, target, kv, opts) if use_gpu else fit_ram(model, build, hw, target, kv)
        if fit and fit.n_ctx >= min_ctx and (best is None or fit.n_ctx > best[0].n_ctx):
            best = (fit, kv)
        if best and best[0].n_ctx >= min(target, COMFORTABLE_CTX):
            break
    wanted = min(target, COMFORTABLE_CTX)
    if use_gpu and model.arch.experts and (best is None or best[0].n_ctx < wanted):
        # A MoE model that fits whole only with a short context: a few layers' experts in
        # RAM cost it little speed and buy the context a person wants.
        if fit := fit_experts(model, build, hw, wanted, "f16"):
            return _candidate(model, build, hw, "partial", fit, "f16", experts_text(fit.n_cpu_moe, model.arch.layers))
    if best:
        fit, kv = best
        where = "from RAM (no GPU offload)" if not use_gpu else _split_text(fit, opts) if len(fit.devices) > 1 else "one GPU"
        return _candidate(model, build, hw, "fits", fit, kv, where)
    if use_gpu:
        fits = _split_with_ram(model, build, hw, target)
        if fits:
            return max(fits, key=lambda c: c.est_decode_tok_s or 0.0)
    return Candidate(model, build, "too_big", None, note=_too_big_note(build, hw))


def _split_with_ram(model: ModelSpec, build: Build, hw: Hardware, target: int) -> list[Candidate]:
    """What the GPUs and RAM can run together: whole layers on the GPUs (partial), for a
    MoE model also its experts in RAM and everything else on the GPUs, and RAM alone; each
    at the context a person would want (MoE: up to 32K, affordable when only experts move)."""
    contexts = (COMFORTABLE_CTX, PARTIAL_CTX) if model.arch.experts else (PARTIAL_CTX,)
    for ctx in dict.fromkeys(min(target, c) for c in contexts):
        out = []
        if fit := fit_partial(model, build, hw, ctx, "f16"):
            out.append(_candidate(model, build, hw, "partial", fit, "f16",
                                  f"{fit.n_gpu_layers}/{model.arch.layers} layers on GPU, the rest in RAM"))
        if fit := fit_experts(model, build, hw, ctx, "f16"):
            out.append(_candidate(model, build, hw, "partial", fit, "f16", experts_text(fit.n_cpu_moe, model.arch.layers)))
        if out and model.arch.experts and (fit := fit_ram(model, build, hw, ctx, "f16")):
            out.append(_candidate(model, build, hw, "partial", fit, "f16", "from RAM: faster here than any GPU split"))
        if out:
            return out
    return []


def experts_text(n_cpu_moe: int, layers: int) -> str:
    """How every face says the MoE placement: "experts of 17/48 layers in RAM"."""
    return f"experts of {n_cpu_moe}/{layers} layers in RAM, the rest on GPU"


def _too_big_note(build: Build, hw: Hardware) -> str:
    room = sum(g.free_bytes for g in hw.gpus) + hw.ram_available_bytes
    where = "this machine has" if hw.source == "detected" else f"{hw.name} has"  # a profile is not this machine
    return f"needs about {gib(build.size_bytes)} plus context; {where} {gib(room)} free"


def _vllm(model: ModelSpec, build: Build, hw: Hardware, target: int) -> Candidate:
    if not hw.gpus:
        return Candidate(model, build, "needs_gpu", None, note=f"{build.quant} runs on vLLM, which needs an NVIDIA GPU (CUDA)")
    fit = fit_vllm(model, build, hw, target)
    if fit is None or fit.n_ctx < min(MIN_CTX, target):
        room = gib(sum(g.free_bytes for g in hw.gpus))
        note = f"needs about {gib(build.size_bytes)} plus context on the GPUs (vLLM); {len(hw.gpus)} card(s) have {room} free"
        return Candidate(model, build, "too_big", None, note=note)
    cards = f"tensor parallel over {len(fit.devices)} cards" if len(fit.devices) > 1 else "one card"
    if hw.vllm_available:  # it runs here as it is: ranked with the builds that fit, by quality and speed
        return _candidate(model, build, hw, "fits", fit, "f16", f"on vLLM (installed), {cards}")
    return _candidate(model, build, hw, "needs_vllm", fit, "f16",
                      f"runs on vLLM, not llama.cpp; install vllm (pip install 'localqwen[vllm]'); {cards}")


def _candidate(model: ModelSpec, build: Build, hw: Hardware, verdict: str, fit: Fit, kv: str, note: str) -> Candidate:
    placement = Placement(
        n_gpu_layers=fit.n_gpu_layers,
        split_mode=fit.split_mode,  # type: ignore[arg-type]
        tensor_split=fit.tensor_split,
        main_gpu=fit.main_gpu,
        n_ctx=fit.n_ctx,
        type_k=kv,  # type: ignore[arg-type]
        type_v=kv,  # type: ignore[arg-type]
        flash_attn=True,
        n_threads=hw.cpu_cores,  # as llama.cpp: one generation thread per physical core,
        n_threads_batch=hw.logical_cpus,  # prompts on every logical CPU
        n_cpu_moe=fit.n_cpu_moe,
    )
    speed = estimate_tok_s(model, build, hw, fit, kv)
    return Candidate(model, build, verdict, placement, fit.devices, fit.host_bytes, speed, note)  # type: ignore[arg-type]


def plan_model(model: ModelSpec, hw: Hardware, opts: PlanOptions = PlanOptions()) -> list[Candidate]:
    """Every build of `model`, best first."""
    target = min(model.context, opts.ctx or model.context)
    hw = with_reserve(hw, opts.reserve_bytes)
    candidates = [
        _vllm(model, b, hw, target) if b.runtime == "vllm"
        else _with_projector(model, b, hw, target, opts) if b.mmproj_bytes
        else _gguf(model, b, hw, target, opts)
        for b in model.builds
    ]
    return sorted(candidates, key=_rank_key)


def _with_projector(model: ModelSpec, build: Build, hw: Hardware, target: int, opts: PlanOptions) -> Candidate:
    """A vision build: the text model planned with its projector set aside where the
    model's first layers are (the card with the most room, else RAM), counted there; a
    build that runs only without it is planned text-only and says so."""
    projector = projector_bytes(build)
    card = reserve_gpu(hw)
    seen = _gguf(model, build, with_reserve(hw, projector), target, opts)
    if seen.verdict in CANNOT_RUN:
        alone = _gguf(model, build, hw, target, opts)
        if alone.verdict in CANNOT_RUN:
            return seen
        return replace(alone, note=f"{alone.note}; text only: no room for the image projector ({gib(projector)})",
                       text_only=True)
    if card is None or not seen.devices:
        seen, where = replace(seen, host_bytes=seen.host_bytes + projector), "RAM"
    else:
        devices = tuple(replace(d, bytes=d.bytes + projector) if d.index == card.index else d for d in seen.devices)
        if devices == seen.devices:  # the text model is not on that card: the projector is, alone
            devices += (DeviceUse(f"GPU{card.index} {card.name}", projector, card.total_bytes, card.index),)
        seen, where = replace(seen, devices=devices), f"GPU{card.index}"
    note = f"{seen.note}; projector {gib(projector)} on {where}"
    if model.vision is not None and seen.placement is not None:
        budget = image_budget(model.vision, seen.placement.n_ctx)
        screenshot = model.vision.image_tokens(*SCREENSHOT, budget)
        note += f"; images up to {budget:,} tokens (a {SCREENSHOT[0]}x{SCREENSHOT[1]} screenshot: {screenshot:,})"
        on = None if where == "RAM" else card.index  # type: ignore[union-attr]
        seen = replace(seen, placement=replace(seen.placement, image_max_tokens=budget, projector_gpu=on))
    return replace(seen, note=note)


SCREENSHOT = (1920, 1080)


def image_budget(vision: Vision, n_ctx: int) -> int:
    """The most tokens one image may take (llama.cpp scales a larger one down): the
    model's own cap, or half the context where that is less, so a picture always leaves
    the conversation room."""
    return max(MIN_IMAGE_TOKENS, min(vision.max_image_tokens, n_ctx // 2))


PROJECTOR_COMPUTE_SHARE = 1.0
"""The projector's compute buffer, as a share of its file: not measured yet (the mtmd build
is issue 16's first step); llama.cpp sizes it for its warmup image (46 x 46 merged patches)."""


def projector_bytes(build: Build) -> int:
    """What a vision build's projector takes beside the text model: its weights and its
    compute buffer (an estimate, see PROJECTOR_COMPUTE_SHARE)."""
    return int(build.mmproj_bytes * (1 + PROJECTOR_COMPUTE_SHARE))


def _rank_key(c: Candidate) -> tuple:
    order = VERDICT_ORDER[c.verdict]
    if c.verdict == "fits":  # in a tier the fastest (the smaller build on one engine; vLLM's TP over layers)
        return (order, c.text_only, -_tier(c.build), -(c.est_decode_tok_s or 0.0), c.build.size_bytes)
    if c.verdict == "partial":  # the fastest split between GPU and RAM (experts in RAM beat whole layers)
        return (order, c.text_only, -(c.est_decode_tok_s or 0.0), c.ram_share, -_tier(c.build))
    return (order, c.build.size_bytes)


def choose(candidates: Iterable[Candidate]) -> Candidate | None:
    """The first candidate that can run at all."""
    return next((c for c in sorted(candidates, key=_rank_key) if c.verdict not in CANNOT_RUN), None)


USABLE_TOK_S = 5.0


def plan_all(models: Iterable[ModelSpec], hw: Hardware, opts: PlanOptions = PlanOptions()) -> tuple[list[Candidate], Candidate | None]:
    """Each model's best build, and the overall pick: the biggest model that runs well (a
    general thinking model before a coder model of the same size)."""
    best = [choose(plan_model(m, hw, opts)) or plan_model(m, hw, opts)[0] for m in models if m.builds]
    runnable = [c for c in best if c.verdict not in CANNOT_RUN]
    usable = [c for c in runnable if c.est_decode_tok_s is None or c.est_decode_tok_s >= USABLE_TOK_S]
    # Among models of about the same size, a general thinking model over a coder model.
    # A text model before a vision model (its projector costs memory for images a first chat does not send).
    pick = max(usable or runnable, key=lambda c: (-VERDICT_ORDER[c.verdict], c.model.vision is None,
                                                   round(c.model.params_b), c.model.thinking), default=None)
    return best, pick

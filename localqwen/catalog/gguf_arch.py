"""Architecture numbers and a one-build model spec, straight from a GGUF header.

So any GGUF — on disk or on the Hub — can be planned without a catalog entry.
Hybrid models (Qwen3.5/Qwen3-Next: Gated DeltaNet + full attention) keep a KV cache
only in their attention layers; llama.cpp marks them by `full_attention_interval`
or by a per-layer `head_count_kv` array with zeros for recurrent layers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from localqwen.catalog.gguf_header import GgufHeader, read_gguf_header
from localqwen.catalog.types import ArchNumbers, Build, ModelSpec, Vision
from localqwen.catalog.errors import ModelFileError

FILE_TYPES = {0: "F32", 1: "F16", 7: "Q8_0", 15: "Q4_K_M", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


def _int(meta: dict[str, object], key: str, default: int | None = None) -> int:
    value = meta.get(key, default)
    if isinstance(value, list):
        value = max(value) if value else default
    if not isinstance(value, (int, float)):
        raise ModelFileError(f"GGUF metadata lacks {key}, which the memory estimate needs")
    return int(value)


def arch_from_header(header: GgufHeader) -> ArchNumbers:
    meta, a = header.metadata, header.architecture
    layers = _int(meta, f"{a}.block_count")
    heads = _int(meta, f"{a}.attention.head_count")
    hidden = _int(meta, f"{a}.embedding_length")
    kv_raw = meta.get(f"{a}.attention.head_count_kv", heads)
    attention_layers = layers
    if isinstance(kv_raw, list):
        attention_layers = sum(1 for n in kv_raw if n)
    interval = meta.get(f"{a}.full_attention_interval")
    if isinstance(interval, int) and interval > 1:
        attention_layers = layers // interval
    head_dim = _int(meta, f"{a}.attention.key_length", hidden // heads if heads else 0)
    return ArchNumbers(
        layers=layers,
        attention_layers=attention_layers,
        heads=heads,
        kv_heads=_int(meta, f"{a}.attention.head_count_kv", heads),
        head_dim=head_dim,
        hidden=hidden,
        vocab=header.vocab_size,
        experts=_int(meta, f"{a}.expert_count", 0),
        experts_active=_int(meta, f"{a}.expert_used_count", 0),
    )


def spec_from_header(header: GgufHeader, *, repo: str = "", files: tuple[str, ...] = ()) -> ModelSpec:
    """A model spec with the one build this file is."""
    arch = arch_from_header(header)
    meta = header.metadata
    quant = FILE_TYPES.get(_int(meta, "general.file_type", -1), "GGUF")
    template = str(meta.get("tokenizer.chat_template") or "")
    thinks = "enable_thinking" in template or "<think>" in template
    params_b = _params_b(header, arch)
    name = header.name or header.path.rsplit("/", 1)[-1]
    return ModelSpec(
        id=name.lower().replace(" ", "-"),
        name=name,
        family=header.architecture,
        context=_int(meta, f"{header.architecture}.context_length", 4096),
        thinking=thinks,
        thinking_mode="hybrid" if thinks else "never",
        architecture=header.architecture,
        fim="tokenizer.ggml.fim_pre_token_id" in meta or "<|fim_prefix|>" in template,
        params_b=params_b,
        active_params_b=params_b * _active_share(header, arch),
        arch=arch,
        builds=(Build(quant, "gguf", repo, files or (header.path,), header.tensor_bytes, header.expert_bytes),),
        source=header.path,
    )


def spec_from_file(path: str | Path, projector: str | Path | None = None) -> ModelSpec:
    """A GGUF on disk, checked and read as a one-build model spec; with `projector`, a
    vision model whose mmproj file the plan counts beside it."""
    model = spec_from_header(read_gguf_header(path))
    return model if projector is None else with_projector(model, projector_header(projector))


VISION_ARCHITECTURES = frozenset({"qwen2vl", "qwen3vl", "qwen3vlmoe"})
"""Text models llama.cpp pairs with an image projector (Qwen2-VL/2.5-VL, Qwen3-VL)."""


def projector_header(path: str | Path) -> GgufHeader:
    """A vision projector's header (an mmproj GGUF: architecture clip, with a vision encoder)."""
    header = read_gguf_header(path)
    if header.architecture != "clip" or header.metadata.get("clip.has_vision_encoder") is not True:
        raise ModelFileError(f"{header.path}: not a vision projector (an mmproj GGUF has architecture clip "
                             f"and a vision encoder; this one has {header.architecture})")
    return header


def vision_of(projector: GgufHeader) -> Vision:
    """How a projector's model sees: its patch and merge sizes say what an image costs in tokens."""
    meta = projector.metadata
    return Vision(patch=_int(meta, "clip.vision.patch_size"), merge=_int(meta, "clip.vision.spatial_merge_size", 2))


def with_projector(model: ModelSpec, projector: GgufHeader, build: Build | None = None) -> ModelSpec:
    """`model` with a vision projector beside `build` (its only build where None)."""
    build = build or model.builds[0]
    given = replace(build, mmproj=projector.path, mmproj_bytes=projector.file_size)
    return replace(model, vision=model.vision or vision_of(projector),
                   builds=tuple(given if b is build else b for b in model.builds))


def _active_share(header: GgufHeader, arch: ArchNumbers) -> float:
    """What a token reads of the weights: all but the experts, and k of E experts."""
    if not arch.experts or not header.tensor_bytes:
        return 1.0
    experts = header.expert_bytes
    return (header.tensor_bytes - experts + experts * arch.experts_active / arch.experts) / header.tensor_bytes


def _params_b(header: GgufHeader, arch: ArchNumbers) -> float:
    """Parameter count from the metadata when given, else a rough count from the shapes."""
    count = header.metadata.get("general.parameter_count")
    if isinstance(count, int):
        return count / 1e9
    ffn = _int(header.metadata, f"{header.architecture}.feed_forward_length", 4 * arch.hidden)
    per_layer = 4 * arch.hidden * arch.hidden + 3 * arch.hidden * ffn * max(arch.experts, 1)
    return (arch.layers * per_layer + 2 * arch.vocab * arch.hidden) / 1e9

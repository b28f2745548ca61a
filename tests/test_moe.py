"""MoE experts in RAM: the plan's placement, llama.cpp loading it (tensor overrides through
ctypes), and the estimate against what llama.cpp itself reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from localqwen.catalog.gguf_arch import spec_from_file
from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.catalog.loader import load_catalog
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.memory_probe import MIB, measure_memory
from localqwen.engine.tensor_overrides import expert_patterns
from localqwen.engine.types import GREEDY
from localqwen.hardware import load_profile
from localqwen.hardware.types import Gpu, Hardware
from localqwen.plan import choose, plan_model
from localqwen.plan.memory import GPU_OVERHEAD_BYTES, compute_bytes, expert_bytes, kv_bytes
from localqwen.plan.placement import Placement
from localqwen.plan.rank import _split_with_ram
from localqwen.tinymodel import TinySpec, write_tiny_gguf

# Every expert tensor is 8 x 256 x 128 f32 = exactly 1 MiB, so llama.cpp's log (whole MiB) is exact.
MOE = TinySpec(arch="qwen3moe", n_layer=3, n_embd=128, n_head=4, n_head_kv=1, n_expert=8, n_expert_used=2, n_ff_exp=256)
EXPERT_TENSORS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")


@pytest.fixture(scope="module")
def tiny_moe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("moe") / "tiny-qwen3moe.gguf", MOE)


def test_the_header_counts_the_expert_tensors_bytes(tiny_moe: Path) -> None:
    header = read_gguf_header(tiny_moe)
    assert header.architecture == "qwen3moe"
    assert header.expert_bytes == MOE.n_layer * len(EXPERT_TENSORS) * MIB
    assert 0 < header.expert_bytes < header.tensor_bytes


def test_n_cpu_moe_puts_exactly_the_first_layers_experts_in_cpu_buffers(tiny_moe: Path) -> None:
    measured = measure_memory(tiny_moe, Placement(n_ctx=256, n_cpu_moe=2, n_threads=1))
    expected = {f"blk.{i}.{t}.weight" for i in range(2) for t in EXPERT_TENSORS}
    assert measured.overridden == dict.fromkeys(expected, "CPU")
    assert measured.overridden_bytes == 2 * len(EXPERT_TENSORS) * MIB


def test_without_n_cpu_moe_nothing_is_overridden(tiny_moe: Path) -> None:
    assert measure_memory(tiny_moe, Placement(n_ctx=256, n_threads=1)).overridden == {}


def test_a_layer_pattern_does_not_catch_a_later_layer_with_the_same_first_digit() -> None:
    import re

    (first, second) = expert_patterns(2)[:2]
    assert re.search(second, "blk.1.ffn_up_exps.weight")
    assert not re.search(second, "blk.10.ffn_up_exps.weight")
    assert not re.search(first, "blk.0.ffn_up_shexp.weight")  # a shared expert stays with its layer


def test_a_model_with_experts_in_ram_answers_as_one_without(tiny_moe: Path) -> None:
    texts = []
    for n_cpu_moe in (0, MOE.n_layer):
        with LlamaEngine(tiny_moe, Placement(n_ctx=256, n_cpu_moe=n_cpu_moe, n_threads=1)) as engine:
            texts.append("".join(d.text for d in engine.complete("def main():", max_tokens=16, sampling=GREEDY)))
    assert texts[0] and texts[0] == texts[1]


def _small_card(free_bytes: int) -> Hardware:
    gpu = Gpu(0, "NVIDIA small", free_bytes, free_bytes, bandwidth_gbs=500.0)
    return Hardware("small-card", (gpu,), 64 * 1024**3, 48 * 1024**3, 8, ram_bandwidth_gbs=60.0,
                    gpu_offload=True, source="profile")


def test_the_plans_ram_share_is_what_llama_cpp_puts_in_cpu_buffers(tiny_moe: Path) -> None:
    """A card one and a half layers of experts short: the plan keeps two layers' experts in
    RAM, and loading its placement puts that many bytes there (within 5%)."""
    model = spec_from_file(tiny_moe)
    build = model.builds[0]
    ctx = 256
    per_layer = expert_bytes(model, build) / model.arch.layers
    need = build.size_bytes + kv_bytes(model.arch, ctx) + compute_bytes(model.arch, ctx) + GPU_OVERHEAD_BYTES
    hw = _small_card(int(need - 1.5 * per_layer))
    fits = [c for c in _split_with_ram(model, build, hw, ctx) if c.placement and c.placement.n_cpu_moe]
    assert len(fits) == 1
    placement = fits[0].placement
    assert placement.n_cpu_moe == 2 and placement.n_gpu_layers == -1
    measured = measure_memory(tiny_moe, replace(placement, n_threads=1))
    assert measured.overridden_bytes == pytest.approx(fits[0].host_bytes, rel=0.05)
    assert all(d.bytes <= hw.gpus[0].free_bytes for d in fits[0].devices)


def test_the_catalog_estimate_of_expert_bytes_matches_the_file(tiny_moe: Path) -> None:
    """Without a header, the plan counts the experts from the parameter counts: the
    routed experts hold (total - active) x E / (E - k) parameters."""
    spec = spec_from_file(tiny_moe)
    header = read_gguf_header(tiny_moe)
    elements = header.tensor_bytes / 4  # all f32
    per_expert = 3 * MOE.n_embd * MOE.n_ff_exp
    active = elements - (MOE.n_expert - MOE.n_expert_used) * per_expert * MOE.n_layer
    from_params = replace(spec, params_b=elements / 1e9, active_params_b=active / 1e9,
                          builds=(replace(spec.builds[0], expert_bytes=0),))
    assert expert_bytes(from_params, from_params.builds[0]) == pytest.approx(header.expert_bytes, rel=0.05)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_qwen3_30b_a3b_on_a_16_gb_card_keeps_experts_in_ram_at_32k(catalog) -> None:
    model = catalog.find("qwen3-30b-a3b")
    hw = load_profile("rtx4080-16g")
    choice = choose(plan_model(model, hw))
    assert choice is not None and choice.build.quant == "Q4_K_M"
    assert choice.placement.n_cpu_moe > 0 and choice.placement.n_gpu_layers == -1
    assert choice.n_ctx >= 32768
    assert choice.devices[0].bytes <= hw.gpus[0].free_bytes
    assert choice.host_bytes <= hw.ram_available_bytes
    assert f"experts of {choice.placement.n_cpu_moe}/48 layers in RAM" in choice.note
    layers = next(c for c in _split_with_ram(model, choice.build, hw, 32768) if not c.placement.n_cpu_moe)
    assert choice.est_decode_tok_s > 1.2 * layers.est_decode_tok_s


def test_qwen3_235b_on_two_3090s_with_128_gb_runs_with_experts_in_ram(catalog) -> None:
    hw = load_profile("dual-rtx3090-128g")
    choice = choose(plan_model(catalog.find("qwen3-235b-a22b"), hw))
    assert choice is not None and choice.placement.n_cpu_moe > 0
    assert choice.placement.split_mode == "layer" and len(choice.devices) == 2
    for device, gpu in zip(choice.devices, hw.gpus):
        assert device.bytes <= gpu.free_bytes
    # the first card takes more layers: theirs are the light ones, experts in RAM
    first, second = choice.placement.tensor_split
    assert first > second


def test_a_dense_model_never_gets_an_experts_placement(catalog) -> None:
    for candidate in plan_model(catalog.find("qwen3-32b"), load_profile("rtx4080-16g")):
        assert candidate.placement is None or candidate.placement.n_cpu_moe == 0


def test_the_json_plan_carries_n_cpu_moe(catalog) -> None:
    from localqwen.plan.report import candidate_json

    choice = choose(plan_model(catalog.find("qwen3-30b-a3b"), load_profile("rtx4080-16g")))
    assert candidate_json(choice)["placement"]["n_cpu_moe"] == choice.placement.n_cpu_moe > 0


def test_serving_a_moe_build_plans_experts_in_ram_and_both_sides_share_that_placement(catalog) -> None:
    from localqwen.engine.llama import weights_key
    from localqwen.launch import LaunchOptions, open_model

    here = Path(__file__)  # any file: planning never reads it
    opening = open_model("qwen3-30b-a3b:Q4_K_M", LaunchOptions(ctx=32768, serving=True),
                         lambda: load_profile("rtx4080-16g"), locate=lambda m, b: here)
    chat, fim = opening.chat.placement, opening.fim.placement
    assert chat.n_cpu_moe > 0 and chat.n_ctx == 32768
    assert weights_key(here, fim) == weights_key(here, chat)  # one copy of the weights
    assert fim.n_ctx < chat.n_ctx


def test_a_served_catalog_moe_build_loads_the_plans_experts_in_ram_once_for_both_contexts(tiny_moe: Path) -> None:
    """The catalog's Qwen3-30B-A3B planned for a 16 GB card, its file stood in for by the
    tiny MoE: both contexts load through the plan's placement, one copy of the weights,
    with llama.cpp's overrides (patterns past the tiny model's 3 layers match nothing)."""
    from localqwen.engine.llama import weights_key
    from localqwen.engine.weights import users
    from localqwen.launch import LaunchOptions, open_model

    opening = open_model("qwen3-30b-a3b:Q4_K_M", LaunchOptions(ctx=4096, serving=True, fim_ctx=1024, threads=1),
                         lambda: load_profile("rtx4080-16g"), locate=lambda m, b: tiny_moe)
    chat = opening.chat.load()
    fim = opening.fim.load()
    try:
        assert chat.placement.n_cpu_moe == fim.placement.n_cpu_moe > 0
        assert users(weights_key(tiny_moe, chat.placement)) == 2
        assert (chat.info.n_ctx, fim.info.n_ctx) == (4096, 1024)
    finally:
        fim.close()
        chat.close()

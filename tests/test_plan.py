"""The plan on the seeds' machines (hardware profiles) and against llama.cpp's own numbers."""

from pathlib import Path

import pytest

from localqwen.catalog.gguf_arch import spec_from_header
from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.catalog.loader import load_catalog
from localqwen.engine.memory_probe import measure_memory
from localqwen.hardware import load_profile
from localqwen.plan.placement import Placement
from localqwen.plan import PlanOptions, choose, plan_all, plan_model
from localqwen.plan.memory import kv_bytes


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_dual_3090_runs_qwen36_27b_q6k_over_both_cards_by_layers(catalog) -> None:
    """The llama.cpp we ship has no CUDA row split (`Hardware.row_split`), so two cards
    split by layers: each holds its own layers and their KV cache."""
    candidates = plan_model(catalog.find("Qwen3.6-27B"), load_profile("dual-rtx3090"))
    choice = choose(candidates)
    assert choice is not None and choice.build.quant == "Q6_K" and choice.verdict == "fits"
    placement = choice.placement
    assert placement.split_mode == "layer" and len(placement.tensor_split) == 2
    assert placement.tensor_split == pytest.approx((0.5, 0.5), abs=0.05)
    assert placement.n_ctx >= 32768  # a useful context
    assert all(d.bytes <= d.capacity_bytes for d in choice.devices)


def test_rows_are_split_only_where_llama_cpp_can(catalog, tmp_path: Path) -> None:
    shipped = (Path(__file__).parents[1] / "profiles" / "hardware" / "dual-rtx3090.toml").read_text()
    with_rows = tmp_path / "rows.toml"
    with_rows.write_text(shipped.replace('name = "dual-rtx3090"', 'name = "rows"\nrow_split = true'))
    model = catalog.find("Qwen3.6-27B")
    choice = choose(plan_model(model, load_profile(str(with_rows))))
    assert choice.placement.split_mode == "row"
    main, other = choice.devices
    assert main.bytes > other.bytes  # by rows, the KV cache is charged to main_gpu
    asked = choose(plan_model(model, load_profile("dual-rtx3090"), PlanOptions(split_mode="row")))
    assert asked.placement.split_mode == "layer" and "cannot split rows" in asked.note
    moe = choose(plan_model(catalog.find("Qwen3-30B-A3B"), load_profile(str(with_rows))))
    assert moe.placement.split_mode != "row"  # expert tensors do not split by rows


def test_rtx4080_picks_awq_and_offers_q4km_partial_next(catalog) -> None:
    candidates = plan_model(catalog.find("Qwen3.6-27B"), load_profile("rtx4080-16g"))
    by_quant = {c.build.quant: c for c in candidates}
    assert by_quant["Q4_K_M"].verdict == "partial"
    assert 0 < by_quant["Q4_K_M"].placement.n_gpu_layers < catalog.find("Qwen3.6-27B").arch.layers
    assert by_quant["Q4_K_M"].host_bytes > 0
    awq = by_quant["AWQ-INT4"]
    assert awq.verdict == "needs_vllm" and awq.build.runtime == "vllm"
    assert candidates[0] is awq and choose(candidates) is awq
    assert candidates[1].build.quant == "Q4_K_M"


def test_two_h100s_serve_qwen3_235b_q4km_split_by_layers(catalog) -> None:
    """DESIGN.md's seed says by rows; but llama.cpp does not split a MoE's 3-D expert tensors
    by rows (CUDA's split buffer refused ne[2] > 1, so they all went to the main card, 137 GB
    of them here), and the llama.cpp llama-cpp-python 0.3.36 vendors has no CUDA row split
    at all. By layers, each card holds its own layers' experts."""
    hw = load_profile("h100-80g-x2")
    candidates = plan_model(catalog.find("Qwen3-235B-A22B"), hw)
    q4 = next(c for c in candidates if c.build.quant == "Q4_K_M")
    assert 120e9 < q4.build.size_bytes < 145e9
    assert q4.verdict == "fits" and q4.placement.split_mode == "layer"
    assert q4.placement.n_ctx >= 8192
    assert all(d.bytes <= g.free_bytes for d, g in zip(q4.devices, hw.gpus))


def test_cpu_laptop_runs_a_small_model_from_ram(catalog) -> None:
    laptop = load_profile("laptop-cpu-16g")
    best, pick = plan_all(catalog.models, laptop)
    assert pick is not None and pick.verdict == "fits"
    assert pick.placement.n_gpu_layers == 0 and not pick.devices and pick.host_bytes > 0
    assert pick.host_bytes < laptop.ram_available_bytes
    small = choose(plan_model(catalog.find("Qwen3-0.6B"), laptop))
    assert small is not None and small.verdict == "fits" and small.est_decode_tok_s > 10


def test_ctx_option_bounds_the_context_and_prefers_one_card(catalog) -> None:
    model = catalog.find("Qwen3-8B")
    choice = choose(plan_model(model, load_profile("dual-rtx3090"), PlanOptions(ctx=8192)))
    assert choice.placement.n_ctx == 8192 and choice.placement.split_mode == "none"


def test_too_big_everywhere_says_so(catalog) -> None:
    candidates = plan_model(catalog.find("Qwen3.5-397B-A17B"), load_profile("laptop-cpu-16g"))
    assert all(c.verdict == ("too_big" if c.build.runtime == "llama.cpp" else "needs_gpu") for c in candidates)
    assert choose(candidates) is None
    assert all("needs about" in c.note or "NVIDIA GPU (CUDA)" in c.note for c in candidates)


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
def test_estimate_matches_what_llama_cpp_allocates(tiny_qwen3: Path, kv_type: str) -> None:
    spec = spec_from_header(read_gguf_header(tiny_qwen3))
    n_ctx = 16384
    measured = measure_memory(tiny_qwen3, Placement(n_ctx=n_ctx, n_gpu_layers=0, flash_attn=True, type_k=kv_type, type_v=kv_type))
    assert measured.kv_bytes == pytest.approx(kv_bytes(spec.arch, n_ctx, kv_type), rel=0.05)
    assert measured.weights_bytes == pytest.approx(spec.builds[0].size_bytes, rel=0.05)


def test_a_reserved_second_context_shrinks_what_the_chat_model_gets(catalog) -> None:
    from localqwen.plan.memory import context_bytes

    model = catalog.find("Qwen3.6-27B")
    hw = load_profile("dual-rtx3090")
    fim = catalog.find("Qwen2.5-Coder-1.5B-Instruct")
    reserve = fim.build("Q8_0").size_bytes + context_bytes(fim.arch, 8192)
    alone = choose(plan_model(model, hw))
    beside = choose(plan_model(model, hw, PlanOptions(reserve_bytes=reserve)))
    assert beside.build.quant == alone.build.quant == "Q6_K"
    reserved_card = beside.devices[0]  # the card with the most room had the reserve set aside
    # the FIM model's room came out of the context, or the layers moved to the other card
    assert beside.placement.n_ctx < alone.placement.n_ctx or reserved_card.bytes < alone.devices[0].bytes
    assert reserved_card.bytes + reserve <= hw.gpus[0].free_bytes
    assert all(d.bytes <= d.capacity_bytes for d in beside.devices)


def test_awq_without_an_nvidia_gpu_needs_a_gpu_not_memory(catalog) -> None:
    """It said "too big" on a CPU laptop, where no memory would do: vLLM needs CUDA."""
    laptop = load_profile("laptop-cpu-16g")
    awq = next(c for c in plan_model(catalog.find("qwen3.6-27b"), laptop) if c.build.format == "awq")
    assert awq.verdict == "needs_gpu" and "NVIDIA GPU" in awq.note and awq.placement is None
    assert choose([awq]) is None


def test_a_profile_is_not_called_this_machine(catalog) -> None:
    laptop = load_profile("laptop-cpu-16g")
    big = next(c for c in plan_model(catalog.find("Qwen3.5-397B-A17B"), laptop) if c.verdict == "too_big")
    assert "this machine" not in big.note and f"{laptop.name} has" in big.note


def test_tensor_split_is_planned_only_when_asked(catalog) -> None:
    """llama.cpp's `--split-mode tensor` is experimental: a person's choice, charged like
    a layer split and estimated as cards working at once."""
    model, hw = catalog.find("Qwen3.6-27B"), load_profile("dual-rtx3090")
    layer = next(c for c in plan_model(model, hw) if c.build.quant == "Q6_K")
    tensor = next(c for c in plan_model(model, hw, PlanOptions(split_mode="tensor")) if c.build.quant == "Q6_K")
    assert layer.placement.split_mode == "layer" and tensor.placement.split_mode == "tensor"
    assert [d.bytes for d in tensor.devices] == [d.bytes for d in layer.devices]
    assert tensor.est_decode_tok_s > layer.est_decode_tok_s


def test_a_vision_build_counts_its_projector_beside_the_text_model(catalog) -> None:
    """Qwen2.5-VL-7B on a 16 GB card: the text model and its projector (weights and compute
    buffer) on the card, and room in the context for an image."""
    from dataclasses import replace as with_

    from localqwen.plan.rank import projector_bytes

    model = catalog.find("Qwen2.5-VL-7B-Instruct")
    build = model.build("Q4_K_M")
    assert model.vision is not None and build.mmproj.startswith("mmproj-") and build.mmproj_bytes > 0
    card = load_profile("rtx4080-16g")
    seen = choose(plan_model(model, card))
    text = choose(plan_model(with_(model, builds=(with_(build, mmproj="", mmproj_bytes=0),)), card))
    assert seen.verdict == text.verdict == "fits" and not seen.text_only
    assert "projector" in seen.note and "on GPU0" in seen.note and "images up to 4,096 tokens" in seen.note
    # the projector took its room: a shorter context, or the card holds it on top
    assert seen.n_ctx < text.n_ctx or seen.devices[0].bytes >= text.devices[0].bytes + projector_bytes(build)
    assert seen.devices[0].bytes <= card.gpus[0].free_bytes and seen.n_ctx >= 4096 + 2048
    assert model.vision.image_tokens(1920, 1080) == 69 * 39 + 2  # a screenshot: one token per 28x28 pixels
    assert seen.placement.image_max_tokens == 4096 and seen.placement.projector_gpu == 0
    assert "a 1920x1080 screenshot: 2,693" in seen.note
    short = choose(plan_model(model, card, PlanOptions(ctx=4096)))  # a short context: images get half of it
    assert short.placement.image_max_tokens == 2048 and "images up to 2,048 tokens" in short.note
    assert "a 1920x1080 screenshot: 1,982" in short.note


def test_a_vision_build_with_no_room_for_its_projector_is_text_only_and_ranked_last(catalog, tmp_path: Path) -> None:
    profile = tmp_path / "small.toml"
    profile.write_text('name = "small"\nram_gb = 16\nram_available_gb = 4.5\ncpu_cores = 4\n')
    candidates = plan_model(catalog.find("Qwen3-VL-2B-Instruct"), load_profile(str(profile)))
    by_quant = {c.build.quant: c for c in candidates}
    assert by_quant["Q8_0"].text_only and "text only: no room for the image projector" in by_quant["Q8_0"].note
    assert not by_quant["Q4_K_M"].text_only and "projector 0.8 GiB on RAM" in by_quant["Q4_K_M"].note
    assert by_quant["Q4_K_M"].placement.projector_gpu is None and by_quant["Q8_0"].placement.image_max_tokens == 0
    assert choose(candidates) is by_quant["Q4_K_M"]  # seeing beats a better quant that cannot


def test_the_first_pick_is_a_text_model_though_a_vision_model_fits_too(catalog) -> None:
    _, pick = plan_all(catalog.models, load_profile("rtx4090"))
    assert pick is not None and pick.model.vision is None


def test_the_projector_runs_on_the_card_the_plan_counted_it_on(catalog) -> None:
    """On two cards the engine is told which one (mtmd alone would take its first GPU),
    and that card's count holds the projector."""
    from localqwen.plan.rank import projector_bytes

    two = load_profile("dual-rtx3090")
    seen = 0
    for model in (m for m in catalog.models if m.vision is not None):
        for c in plan_model(model, two):
            if c.text_only or c.placement is None or not c.devices:
                continue
            card = next(d for d in c.devices if d.index == c.placement.projector_gpu)
            assert card.bytes >= projector_bytes(c.build), (model.id, c.build.quant)
            seen += 1
    assert seen >= 10

"""`launch.open_model`: the one way from what a person named to a planned, started backend."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from localqwen.catalog.errors import ModelFileError
from localqwen.catalog.loader import load_catalog
from localqwen.engine.llama import LlamaEngine
from localqwen.errors import UserInputError
from localqwen.hardware import load_profile
from localqwen.hardware.types import Hardware
from localqwen.launch import DEFAULT_FIM_CTX, LaunchOptions, open_model
from localqwen.plan import PlanOptions, choose, plan_model
from localqwen.catalog.gguf_arch import spec_from_file


def machine(name: str) -> tuple[list[int], object]:
    asked: list[int] = []

    def hardware() -> Hardware:
        asked.append(1)
        return load_profile(name)

    return asked, hardware


def test_a_file_gets_the_plans_placement_and_the_machine_is_asked_once(tiny_qwen3: Path) -> None:
    asked, hardware = machine("rtx4090")
    opening = open_model(str(tiny_qwen3), LaunchOptions(ctx=512, serving=True, threads=3), hardware)
    expected = choose(plan_model(spec_from_file(tiny_qwen3), load_profile("rtx4090"), PlanOptions(ctx=512)))
    chat = opening.chat.placement
    assert chat == replace(expected.placement, n_threads=3, n_threads_batch=3)  # the plan's, not a bare Placement(n_ctx=...)
    assert chat.flash_attn and chat.split_mode == "none" and chat.n_threads == 3
    assert opening.fim is not None and opening.fim.path == opening.chat.path == tiny_qwen3.resolve()
    assert opening.fim.placement.n_ctx == 512  # the completion side never exceeds the chat's cap
    assert opening.name == "tiny-qwen3" and len(asked) == 1


def test_serving_keeps_room_for_the_completion_context() -> None:
    """On a card where context is what runs out, the chat plan gives the second context its room."""
    model = load_catalog().find("qwen3.6-27b")
    build = model.build("Q4_K_M")
    here = Path(__file__)  # any file: planning never reads it

    def locate(m, b):
        return here

    _, hardware = machine("rtx4090")
    alone = open_model("qwen3.6-27b:Q4_K_M", LaunchOptions(ctx=262144), hardware, locate=locate)
    served = open_model("qwen3.6-27b:Q4_K_M", LaunchOptions(ctx=262144, serving=True), hardware, locate=locate)
    assert served.chat.placement.n_ctx < alone.chat.placement.n_ctx
    assert served.fim is not None and served.fim.placement.n_ctx == DEFAULT_FIM_CTX
    assert alone.fim is None and build is not None and served.name == "qwen3.6-27b"


def test_the_completion_side_loads_with_cache_reuse(tiny_qwen3: Path, tiny_qwen2: Path) -> None:
    loads: list[tuple[Path, int]] = []

    def load(path: Path, placement, cache_reuse: int, mmproj: Path | None):
        loads.append((path, cache_reuse))
        return LlamaEngine(path, replace(placement, n_threads=1), reuse_shifted_chunks=cache_reuse)

    _, hardware = machine("laptop-cpu-16g")
    options = LaunchOptions(ctx=256, serving=True, fim_model=str(tiny_qwen2), cache_reuse=4)
    opening = open_model(str(tiny_qwen3), options, hardware, load_gguf=load)
    chat, fim = opening.chat.load(), opening.fim.load()
    try:
        assert loads == [(tiny_qwen3.resolve(), 0), (tiny_qwen2.resolve(), 4)]
        assert fim.reuse_shifted_chunks == 4 and chat.info.n_ctx == 256
    finally:
        chat.close()
        fim.close()


def test_a_backend_url_needs_no_plan_and_serves_both_sides() -> None:
    def no_hardware() -> Hardware:
        raise AssertionError("a URL is not planned")

    opening = open_model("http://127.0.0.1:9/v1", LaunchOptions(serving=True, api_key="k"), no_hardware)
    assert opening.fim is None and opening.chat.placement is None and opening.name == "localqwen"


def test_names_that_cannot_open_are_one_line(tmp_path: Path) -> None:
    _, hardware = machine("laptop-cpu-16g")
    with pytest.raises(ModelFileError):
        open_model(str(tmp_path / "missing.gguf"), LaunchOptions(), hardware)
    with pytest.raises(UserInputError, match="not downloaded"):
        open_model("qwen3-0.6b:Q6_K", LaunchOptions(), hardware, locate=lambda m, b: None)
    with pytest.raises(ModelFileError, match="no longer on disk"):
        open_model("qwen3-0.6b:Q6_K", LaunchOptions(), hardware, locate=lambda m, b: tmp_path / "gone.gguf")
    with pytest.raises(UserInputError, match="runs on vLLM"):
        open_model("qwen3.6-27b:AWQ-INT4", LaunchOptions(), machine("rtx4080-16g")[1])

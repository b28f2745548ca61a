from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from localqwen.tinymodel import TinySpec, write_tiny_gguf


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own LOCALQWEN_HOME and an offline Hugging Face hub."""
    monkeypatch.setenv("LOCALQWEN_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_qwen3(models_dir: Path) -> Path:
    return write_tiny_gguf(models_dir / "tiny-qwen3.gguf", TinySpec(arch="qwen3"))


@pytest.fixture(scope="session")
def tiny_qwen2(models_dir: Path) -> Path:
    return write_tiny_gguf(models_dir / "tiny-qwen2.gguf", TinySpec(arch="qwen2"))


@pytest.fixture(scope="session")
def tiny_no_fim_ids(models_dir: Path) -> Path:
    return write_tiny_gguf(
        models_dir / "tiny-qwen3-nofim.gguf", TinySpec(arch="qwen3", fim_ids_in_metadata=False)
    )


@pytest.fixture(scope="session")
def tiny_opens_think(models_dir: Path) -> Path:
    """Qwen3.6-style: the prompt opens `<think>`, so the output starts as reasoning."""
    return write_tiny_gguf(models_dir / "tiny-qwen36.gguf", TinySpec(arch="qwen3", opens_think_in_prompt=True))


@pytest.fixture(scope="session")
def tiny_qwen_vocab(models_dir: Path) -> Path:
    """A tiny qwen3 with Qwen2.5/Qwen3's real vocabulary size: 151,936 tokens, 151,387
    merges, special tokens at their real ids. For what start-up, the header and
    tokenising really cost. About 15 MB, written in a few seconds."""
    spec = TinySpec(arch="qwen3", vocab="qwen", n_embd=32, n_head=1, n_head_kv=1, n_ff=64)
    return write_tiny_gguf(models_dir / "tiny-qwen-vocab.gguf", spec)


@dataclass(frozen=True)
class TinyVision:
    model: Path
    mmproj: Path


@pytest.fixture(scope="session")
def tiny_vl(models_dir: Path) -> TinyVision:
    """A tiny Qwen2.5-VL: a qwen2vl text model and its projector, alone in their folder
    (as a Hub repo ships them)."""
    from localqwen.tinymodel.vision import write_tiny_projector

    spec = TinySpec(arch="qwen2vl", thinking=False, name="tiny-qwen2.5-vl")
    folder = models_dir / "tiny-vl"
    return TinyVision(write_tiny_gguf(folder / "tiny-qwen2.5-vl.gguf", spec),
                      write_tiny_projector(folder / "mmproj-tiny-qwen2.5-vl.gguf", spec))


@pytest.fixture(scope="session")
def tiny_vl3(models_dir: Path) -> TinyVision:
    """A tiny Qwen3-VL: a qwen3vl text model (thinking template) and its qwen3vl_merger projector."""
    from localqwen.tinymodel.vision import write_tiny_projector

    spec = TinySpec(arch="qwen3vl", name="tiny-qwen3-vl")
    folder = models_dir / "tiny-vl3"
    return TinyVision(write_tiny_gguf(folder / "tiny-qwen3-vl.gguf", spec),
                      write_tiny_projector(folder / "mmproj-tiny-qwen3-vl.gguf", spec))


@pytest.fixture(scope="session")
def engine(tiny_qwen3: Path):
    from localqwen.engine.llama import LlamaEngine
    from localqwen.plan.placement import Placement

    with LlamaEngine(tiny_qwen3, Placement(n_ctx=1024, n_threads=2)) as loaded:
        yield loaded

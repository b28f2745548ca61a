from pathlib import Path

import pytest

from localqwen.catalog.gguf_arch import arch_from_header, spec_from_header
from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.catalog.loader import CatalogError, UnknownModelError, load_catalog
from localqwen.catalog.remote import RemoteError, hf_url, read_remote_header
from localqwen.catalog.errors import ModelFileError
from tests.range_server import ServedFiles, serve


def test_arch_numbers_come_from_the_gguf_header(tiny_qwen3: Path) -> None:
    arch = arch_from_header(read_gguf_header(tiny_qwen3))
    assert (arch.layers, arch.attention_layers, arch.heads, arch.kv_heads, arch.head_dim, arch.hidden) == (2, 2, 2, 1, 32, 64)
    assert arch.vocab > 400
    spec = spec_from_header(read_gguf_header(tiny_qwen3))
    assert spec.thinking and spec.fim and spec.context == 4096
    assert spec.builds[0].quant == "F32"


def test_remote_header_reads_only_the_start_of_the_file(tiny_qwen3: Path) -> None:
    state = ServedFiles({"/org/tiny/resolve/main/tiny.gguf": tiny_qwen3})
    with serve(state) as base:
        header = read_remote_header(f"{base}/org/tiny/resolve/main/tiny.gguf", first_chunk=4096)
    local = read_gguf_header(tiny_qwen3)
    assert header.metadata == local.metadata and header.tensor_bytes == local.tensor_bytes
    assert header.file_size == tiny_qwen3.stat().st_size
    assert len(state.requests) >= 2  # the 4 KiB start was not enough: it grew
    assert state.bytes_served <= 4 * local.header_bytes < tiny_qwen3.stat().st_size / 5


def test_hf_spec_uses_hf_endpoint(monkeypatch: pytest.MonkeyPatch, tiny_qwen3: Path) -> None:
    state = ServedFiles({"/Qwen/Tiny-GGUF/resolve/main/tiny.gguf": tiny_qwen3})
    with serve(state) as base:
        monkeypatch.setenv("HF_ENDPOINT", base)
        assert hf_url("hf:Qwen/Tiny-GGUF/tiny.gguf") == f"{base}/Qwen/Tiny-GGUF/resolve/main/tiny.gguf"
        assert read_remote_header("hf:Qwen/Tiny-GGUF/tiny.gguf").architecture == "qwen3"


def test_server_without_range_support_is_refused(tiny_qwen3: Path) -> None:
    state = ServedFiles({"/f.gguf": tiny_qwen3}, ranges=False)
    with serve(state) as base, pytest.raises(RemoteError, match="ignored the Range request"):
        read_remote_header(f"{base}/f.gguf")


def test_remote_404_and_non_gguf(tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello " * 100)
    with serve(ServedFiles({"/readme.txt": text})) as base:
        with pytest.raises(RemoteError, match="HTTP 404"):
            read_remote_header(f"{base}/missing.gguf")
        with pytest.raises(ModelFileError, match="not a GGUF"):
            read_remote_header(f"{base}/readme.txt")
    with pytest.raises(RemoteError, match="not hf:OWNER/REPO/FILE.gguf"):
        hf_url("hf:just-a-name")


def test_catalog_from_a_persons_own_toml(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[[model]]\nid = "my-qwen"\nname = "My-Qwen"\nfamily = "qwen3"\ncontext = 8192\n'
        "thinking = true\nfim = false\nparams_b = 1.0\n"
        "[model.arch]\nlayers = 4\nattention_layers = 4\nheads = 4\nkv_heads = 2\nhead_dim = 64\nhidden = 256\nvocab = 1000\n"
        '[[model.build]]\nquant = "Q4_K_M"\nformat = "gguf"\nrepo = "me/my-qwen"\nfiles = ["m.gguf"]\nsize_bytes = 1000000\n'
    )
    catalog = load_catalog([tmp_path])
    model = catalog.find("My-Qwen")
    assert model.id == "my-qwen" and model.build("q4_k_m") is not None


def test_unknown_model_suggests_the_nearest_names(tmp_path: Path) -> None:
    catalog = load_catalog()
    assert len(catalog.models) >= 15
    with pytest.raises(UnknownModelError) as info:
        catalog.find("qwen3-8")
    assert "qwen3-8b" in info.value.one_line()


MINIMAL = "[[model]]\nid = 'x'\nname = 'X'\nfamily = 'q'\ncontext = 4096\nthinking = true\nfim = false\nparams_b = 1.0\n"
ARCH = "[model.arch]\n" + "".join(f"{k} = 8\n" for k in ("layers", "attention_layers", "heads", "kv_heads", "head_dim",
                                                       "hidden", "vocab"))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[[model]]\nid = 'x'\nname = ", "not valid TOML"),
        ("[[model]]\nid = 'x'\n", "model x: 'name' is missing"),
        ("[[model]]\nid = 'x'\nname='X'\nfamily='q'\ncontext='long'\n[model.arch]\n", "'context' should be int"),
        (MINIMAL + "thinking_mode = 'sometimes'\n" + ARCH, "thinking_mode should be one of hybrid, template, always, never"),
        (MINIMAL + "thinking_mode = 'never'\n" + ARCH, "thinking = true contradicts thinking_mode 'never'"),
        (MINIMAL + "vision = 'yes'\n" + ARCH, "model x: vision: should be a table (patch = 14, merge = 2)"),
        (MINIMAL + "vision = { patch = 14, pixels = 28 }\n" + ARCH, "model x: vision: unknown key 'pixels'"),
        (MINIMAL + "vision = { merge = 2 }\n" + ARCH, "model x: vision: 'patch' is missing"),
        (MINIMAL + ARCH + "[[model.build]]\nquant = 'FP4'\nformat = 'fp4'\nrepo = 'a/b'\nsize_bytes = 1\n",
         "format should be one of gguf, awq, fp8, bf16, not 'fp4'"),
    ],
)
def test_malformed_catalog_file_names_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog([tmp_path])
    assert str(bad) in info.value.one_line() and problem in info.value.one_line()


def test_the_qwen35_and_qwen36_presets_are_their_cards_general_ones() -> None:
    """The cards: thinking for general tasks is temperature 1.0 (0.6 is their precise-coding preset);
    3.6 drops the presence penalty there, 3.5 keeps 1.5; non-thinking is 0.7/0.8/20 with 1.5 in both."""
    from localqwen.engine.sampling import presets_for
    from localqwen.engine.types import Sampling

    catalog = load_catalog()
    for model, penalty in (("qwen3.6-27b", 0.0), ("qwen3.5-397b-a17b", 1.5)):
        presets = presets_for(catalog.find(model))
        assert presets.thinking == Sampling(temperature=1.0, top_p=0.95, top_k=20, min_p=0.0, presence_penalty=penalty)
        assert presets.non_thinking == Sampling(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, presence_penalty=1.5)


def test_a_model_with_one_preset_uses_it_in_both_modes_and_fim_stays_greedy() -> None:
    from localqwen.engine.sampling import QWEN_PRESETS, presets_for

    coder = load_catalog().find("qwen2.5-coder-7b")
    presets = presets_for(coder)
    assert presets.thinking == presets.non_thinking and presets.non_thinking.presence_penalty == 0.0
    assert presets.fim == QWEN_PRESETS.fim and presets_for(None) == QWEN_PRESETS


def test_a_gguf_is_matched_to_its_catalog_model_by_file_then_by_header_name() -> None:
    catalog = load_catalog()
    cache_path = "/hf/models--unsloth--Qwen3.6-27B-GGUF/snapshots/abc/Qwen3.6-27B-Q4_K_M.gguf"
    assert catalog.for_gguf(cache_path, None).id == "qwen3.6-27b"
    assert catalog.for_gguf("/models/mine.gguf", "Qwen3.6-27B").id == "qwen3.6-27b"
    assert catalog.for_gguf("/models/tiny.gguf", "tiny-qwen3") is None


def test_every_catalog_architecture_is_one_the_installed_llama_cpp_registers() -> None:
    """llama.cpp builds each architecture it loads as a class `llama_model_<name>`, whose
    name its library carries (C++ type info): a catalog model whose GGUF it could not
    load fails here, not on a person's machine after the download."""
    import llama_cpp

    library = (Path(llama_cpp.__file__).parent / "lib" / "libllama.so").read_bytes()
    assert b"llama_model_qwen3\0" in library and b"llama_model_qwen99\0" not in library
    for model in load_catalog().models:
        assert model.architecture, f"{model.id} names no architecture"
        assert b"llama_model_" + model.architecture.encode() + b"\0" in library, f"{model.id}: {model.architecture}"


def test_each_family_thinks_as_its_card_says() -> None:
    catalog = load_catalog()
    modes = {m.id: (m.thinking_mode, m.thinking_default) for m in catalog.models}
    assert modes["qwen3-8b"] == ("hybrid", True)
    assert modes["qwen3-30b-a3b-instruct-2507"][0] == modes["qwen3-coder-30b-a3b"][0] == "never"
    assert modes["qwen3-30b-a3b-thinking-2507"][0] == "always"
    assert modes["qwen3.5-35b-a3b"] == modes["qwen3.6-27b"] == ("template", True)
    assert modes["qwen3.5-0.8b"] == ("template", False)


def test_the_moe_models_people_run_are_planned_from_exact_sizes() -> None:
    catalog = load_catalog()
    for model_id, arch in (("qwen3-30b-a3b-instruct-2507", "qwen3moe"), ("qwen3.6-35b-a3b", "qwen35moe"),
                           ("qwen3.5-122b-a10b", "qwen35moe"), ("qwen3-coder-next", "qwen3next")):
        model = catalog.find(model_id)
        assert model.architecture == arch and model.arch.experts and model.build("Q4_K_M") is not None

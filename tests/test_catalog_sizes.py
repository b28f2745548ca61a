"""The catalog's byte sizes: the published files where known, computed from shapes (and checked) where not."""

from __future__ import annotations

import pytest

from localqwen.catalog.gguf_size import size_from_sibling
from localqwen.catalog.loader import load_catalog
from localqwen.hardware import load_profile
from localqwen.plan import plan_model

# Intermediate sizes (the expert's for MoE) and tied embeddings, from each model's config.json.
FFN = {
    "qwen3-4b": (9728, True), "qwen3-8b": (12288, False), "qwen3-14b": (17408, False), "qwen3-32b": (25600, False),
    "qwen3-30b-a3b": (768, False), "qwen3-235b-a22b": (1536, False),
}  # fmt: skip

# Qwen's own Qwen/Qwen3-*-GGUF files, as their repos list them (quoted in public code that pins them).
PUBLISHED = {
    "qwen3-4b": {"Q4_K_M": 2497280256, "Q5_0": 2823710976, "Q5_K_M": 2889513184, "Q6_K": 3306260704, "Q8_0": 4280404704},
    "qwen3-8b": {"Q4_K_M": 5027783488, "Q5_0": 5720761152, "Q5_K_M": 5851112224, "Q6_K": 6725899040, "Q8_0": 8709518112},
    "qwen3-14b": {"Q4_K_M": 9001752960, "Q5_0": 10263894400, "Q5_K_M": 10514569568, "Q6_K": 12121937248,
                  "Q8_0": 15698533728},
    "qwen3-32b": {"Q4_K_M": 19762149024, "Q5_0": 22635493024, "Q5_K_M": 23214831232, "Q6_K": 26883306112,
                  "Q8_0": 34817718912},
    "qwen3-30b-a3b": {"Q4_K_M": 18556685824, "Q6_K": 25092531712, "Q8_0": 32483931648},
}  # fmt: skip


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def size(catalog, model: str, quant: str) -> int:
    build = catalog.find(model).build(quant)
    assert build is not None, f"{model} has no {quant} build"
    return build.size_bytes


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_the_computation_gives_every_published_size_from_one_sibling_of_the_same_header(catalog, model: str) -> None:
    arch, (ffn, tied) = catalog.find(model).arch, FFN[model]
    files = PUBLISHED[model]
    for quant, published in files.items():
        for sibling, sibling_bytes in files.items():
            try:
                computed = size_from_sibling(arch, ffn, tied=tied, quant=quant, sibling=sibling, sibling_bytes=sibling_bytes)
            except ValueError:
                assert not arch.experts and {quant, sibling} & {"Q4_K_M", "Q5_0"}, f"{quant} from {sibling} was refused"
                continue
            assert computed == published, f"{model} {quant} from {sibling}: {computed:,} != {published:,}"


@pytest.mark.parametrize("model", ["qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b"])
def test_a_dense_q4_k_m_header_is_32_bytes_longer_so_it_is_refused_as_a_q6_k_sibling(catalog, model: str) -> None:
    """The old mistake: a Q6_K measured on the Q4_K_M came out 32 bytes too large."""
    arch, (ffn, tied) = catalog.find(model).arch, FFN[model]
    q4 = PUBLISHED[model]["Q4_K_M"]
    for quant in ("Q6_K", "Q8_0"):
        with pytest.raises(ValueError, match="not a .* file's: measure on a sibling of the same kind"):
            size_from_sibling(arch, ffn, tied=tied, quant=quant, sibling="Q4_K_M", sibling_bytes=q4)
    q5_0 = size_from_sibling(arch, ffn, tied=tied, quant="Q5_0", sibling="Q4_K_M", sibling_bytes=q4)
    assert q5_0 == PUBLISHED[model]["Q5_0"]


def test_the_catalog_holds_the_published_sizes(catalog) -> None:
    for model, files in PUBLISHED.items():
        for quant, published in files.items():
            if catalog.find(model).build(quant) is not None:
                assert size(catalog, model, quant) == published, f"{model} {quant}"
    assert size(catalog, "qwen3.6-27b", "Q4_K_M") == 16_817_244_384
    assert size(catalog, "qwen3.6-27b", "Q6_K") == 22_523_238_624
    big = catalog.find("qwen3-235b-a22b").build("Q4_K_M")
    assert big is not None and big.size_bytes == 142_154_074_176 and len(big.files) == 5


def test_the_235b_sizes_not_published_are_computed_from_its_q4_k_m_parts(catalog) -> None:
    model = catalog.find("qwen3-235b-a22b")
    ffn, tied = FFN[model.id]
    for quant in ("Q6_K", "Q8_0"):
        computed = size_from_sibling(model.arch, ffn, tied=tied, quant=quant, sibling="Q4_K_M",
                                     sibling_bytes=size(catalog, model.id, "Q4_K_M"))
        assert size(catalog, model.id, quant) == computed, quant


def test_the_plan_weighs_the_exact_bytes_not_the_seeds_rounded_figure(catalog) -> None:
    """On a CPU machine the RAM a build takes is its weights plus a context: the weights are the file's bytes."""
    laptop = load_profile("laptop-cpu-16g")
    small = next(c for c in plan_model(catalog.find("qwen3-4b"), laptop) if c.build.quant == "Q6_K")
    assert small.build.size_bytes == 3_306_260_704 and small.host_bytes > small.build.size_bytes
    two_h100 = load_profile("h100-80g-x2")
    big = next(c for c in plan_model(catalog.find("qwen3-235b-a22b"), two_h100) if c.build.quant == "Q4_K_M")
    assert big.verdict == "fits" and sum(d.bytes for d in big.devices) > 142_154_074_176

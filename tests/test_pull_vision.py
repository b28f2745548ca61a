"""A vision build's pull: the model and its projector fetched, verified and listed together,
then chatted with by name, the picture read through the pulled projector."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TinyVision
from tests.hub_server import Hub, serve_hub
from tests.pictures import png
from tests.test_pull import World

CATALOG = """
[[model]]
id = "tiny-vl"
name = "Tiny-VL"
family = "qwen2.5-vl"
architecture = "qwen2vl"
thinking_mode = "never"
context = 4096
thinking = false
fim = false
params_b = 0.01
vision = {{ patch = 14, merge = 2, max_image_tokens = 4096 }}

[model.arch]
layers = 2
attention_layers = 2
heads = 2
kv_heads = 1
head_dim = 32
hidden = 64
vocab = 1000

[[model.build]]
quant = "F32"
format = "gguf"
repo = "org/tiny-VL-GGUF"
files = ["tiny-vl-F32.gguf"]
size_bytes = {size}
mmproj = "mmproj-tiny-vl-F32.gguf"
mmproj_bytes = {mmproj_size}
"""


@pytest.fixture
def world(tmp_path: Path, tiny_vl: TinyVision) -> Iterator[World]:
    files = {"tiny-vl-F32.gguf": tiny_vl.model.read_bytes(), "mmproj-tiny-vl-F32.gguf": tiny_vl.mmproj.read_bytes()}
    hub = Hub()
    hub.add_repo("org/tiny-VL-GGUF", files)
    home = Path(os.environ["LOCALQWEN_HOME"])
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "models" / "vl.toml").write_text(CATALOG.format(size=len(files["tiny-vl-F32.gguf"]),
                                                           mmproj_size=len(files["mmproj-tiny-vl-F32.gguf"])))
    with serve_hub(hub) as endpoint:
        yield World(hub, endpoint, home, tmp_path / "hf" / "hub", files)


def test_a_vision_pull_fetches_and_verifies_the_projector_with_the_model(world: World, tmp_path: Path) -> None:
    result = world.run("pull", "tiny-vl", "--hardware", "laptop-cpu-16g", "--json")
    assert result.returncode == 0, result.stderr
    pulled = json.loads(result.stdout)
    assert pulled["fetched_bytes"] == sum(len(data) for data in world.files.values())
    [listed] = [m for m in world.models() if m["model"] == "tiny-vl"]
    assert listed["complete"] and listed["verified"] and listed["size_bytes"] == pulled["fetched_bytes"]

    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    chat = world.run("chat", "tiny-vl", "--plain", "--max-tokens", "4", stdin_text=f"/image {picture}\nwhat?\n",
                     HF_HUB_OFFLINE="1")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("[attached cat.png: PNG 64x48") and chat.stdout.splitlines()[1].strip()


def test_a_model_without_its_projector_on_disk_is_not_complete(world: World) -> None:
    del world.hub.repos["org/tiny-VL-GGUF"].files["mmproj-tiny-vl-F32.gguf"]
    result = world.run("pull", "tiny-vl", "--hardware", "laptop-cpu-16g")
    assert result.returncode != 0 and "has no file mmproj-tiny-vl-F32.gguf" in result.stderr


def test_any_hub_vision_repo_gets_its_projector_with_every_build(world: World, tiny_vl3: TinyVision,
                                                                 tmp_path: Path) -> None:
    """A repo outside the catalog (as ggml-org's and Qwen's own VL repos are to a person's
    catalog): its projector is found, read for how the model sees, and pulled with the build."""
    model, mmproj = tiny_vl3.model.read_bytes(), tiny_vl3.mmproj.read_bytes()
    world.hub.add_repo("org/Tiny3-VL-GGUF", {"Tiny3-VL-Q8_0.gguf": model, "Tiny3-VL-F32.gguf": model + b"",
                                             "mmproj-Tiny3-VL-F16.gguf": mmproj, "mmproj-Tiny3-VL-Q8_0.gguf": mmproj})
    result = world.run("pull", "org/Tiny3-VL-GGUF:Q8_0", "--json")
    assert result.returncode == 0, result.stderr
    pulled = json.loads(result.stdout)
    assert [Path(f["file"]).name for f in pulled["files"]] == ["Tiny3-VL-Q8_0.gguf", "mmproj-Tiny3-VL-Q8_0.gguf"]
    saved = (world.home / "models" / "pulled-org--tiny3-vl-gguf.toml").read_text()
    assert "vision = {patch = 16, merge = 2, max_image_tokens = 4096}" in saved
    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    chat = world.run("chat", "org/Tiny3-VL-GGUF:Q8_0", "--plain", "--max-tokens", "4", "--no-think",
                     stdin_text=f"/image {picture}\nwhat?\n", HF_HUB_OFFLINE="1")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("[attached cat.png: PNG 64x48")


def test_an_imported_vision_gguf_reads_images_through_the_projector_beside_it(world: World, tiny_vl: TinyVision,
                                                                             tmp_path: Path) -> None:
    result = world.run("import", str(tiny_vl.model))  # its size is the catalog's tiny-vl F32: that build
    assert result.returncode == 0 and "imported tiny-vl:F32" in result.stdout, result.stderr
    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    chat = world.run("chat", "tiny-vl:F32", "--plain", "--max-tokens", "4", stdin_text=f"/image {picture}\nwhat?\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("[attached cat.png: PNG 64x48")  # found beside the file, as a path open finds it


def test_a_gguf_imported_under_a_name_of_its_own_opens_by_that_name(world: World, tiny_vl: TinyVision,
                                                                    tmp_path: Path) -> None:
    """The README's `import FILE --name my-qwen`, then `chat my-qwen`: it said "unknown model"."""
    result = world.run("import", str(tiny_vl.model), "--name", "my-vl")
    assert result.returncode == 0, result.stderr
    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    chat = world.run("chat", "my-vl", "--plain", "--max-tokens", "4", stdin_text=f"/image {picture}\nwhat?\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("[attached cat.png: PNG 64x48")
    unknown = world.run("chat", "their-vl", "--plain", stdin_text="hi\n")
    assert unknown.returncode == 2 and "unknown model 'their-vl'" in unknown.stderr

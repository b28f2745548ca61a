"""`localqwen plan` and `localqwen detect` as a person runs them."""

import json
from pathlib import Path

from tests.range_server import ServedFiles, serve
from tests.test_cli import localqwen


def test_plan_json_has_the_documented_shape() -> None:
    result = localqwen("plan", "qwen3.6-27b", "--hardware", "dual-rtx3090", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"hardware", "candidates", "choice"}
    assert data["hardware"]["name"] == "dual-rtx3090" and len(data["hardware"]["gpus"]) == 2
    choice = data["choice"]
    assert choice["build"] == "Q6_K" and choice["placement"]["split_mode"] == "layer"
    assert data["hardware"]["row_split"] is False
    by_build = {c["build"]: c for c in data["candidates"]}
    assert by_build["Q6_K"]["repo"].startswith("unsloth/") and by_build["Q6_K"]["community_upload"] is True
    for candidate in data["candidates"]:
        assert {"model", "build", "format", "runtime", "size_bytes", "verdict", "placement", "memory", "est_decode_tok_s"} <= set(candidate)
        assert set(candidate["memory"]) == {"devices", "host_bytes"}


def test_plan_table_without_a_model_lists_every_model() -> None:
    result = localqwen("plan", "--hardware", "rtx4090")
    assert result.returncode == 0, result.stderr
    assert "Qwen3-0.6B" in result.stdout and "choice:" in result.stdout and "estimate" in result.stdout


def test_plan_a_local_gguf_and_a_remote_one(tiny_qwen3: Path) -> None:
    local = json.loads(localqwen("plan", str(tiny_qwen3), "--hardware", "laptop-cpu-16g", "--json").stdout)
    assert local["choice"]["verdict"] == "fits" and local["choice"]["placement"]["n_ctx"] == 4096
    state = ServedFiles({"/org/tiny/resolve/main/tiny.gguf": tiny_qwen3})
    with serve(state) as base:
        remote = localqwen("plan", "hf:org/tiny/tiny.gguf", "--hardware", "laptop-cpu-16g", "--json", env={"HF_ENDPOINT": base})
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout)["choice"]["size_bytes"] == local["choice"]["size_bytes"]


def test_detect_this_machine_never_fails() -> None:
    result = localqwen("detect", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ram_total_bytes"] > 0 and data["cpu_cores"] >= 1


def _one_clear_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_unknown_model_suggests_names() -> None:
    line = _one_clear_line(localqwen("plan", "qwen3-8", "--hardware", "rtx4090"))
    assert "unknown model 'qwen3-8'" in line and "qwen3-8b" in line


def test_malformed_hardware_toml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "box.toml"
    bad.write_text('name = "box"\nram_gb = \n')
    line = _one_clear_line(localqwen("plan", "qwen3-8b", "--hardware", str(bad)))
    assert str(bad) in line and "line 2" in line


def test_unknown_hardware_profile_lists_the_known_ones() -> None:
    line = _one_clear_line(localqwen("detect", "--hardware", "dual-rtx9090"))
    assert "dual-rtx3090" in line


def test_truncated_gguf_header_and_rangeless_server(tmp_path: Path, tiny_qwen3: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_qwen3.read_bytes()[:2000])
    line = _one_clear_line(localqwen("plan", str(cut), "--hardware", "rtx4090"))
    assert str(cut) in line and "truncated" in line
    with serve(ServedFiles({"/t.gguf": tiny_qwen3}, ranges=False)) as base:
        line = _one_clear_line(localqwen("plan", f"{base}/t.gguf", "--hardware", "rtx4090"))
    assert "Range" in line

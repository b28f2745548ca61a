"""`localqwen serve` as a person starts it: a child process on a free port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server_fixtures import free_port, wait_healthy
from tests.test_cli import localqwen


def test_serve_answers_then_stops_cleanly_on_ctrl_c(tiny_qwen3: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localqwen", "serve", str(tiny_qwen3), "--port", str(port), "--ctx", "2048"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        result = httpx.post(f"{url}/infill", json={"input_prefix": "def f():\n", "input_suffix": "", "n_predict": 4}, timeout=60)
        assert result.status_code == 200 and result.json()["tokens_predicted"] == 4
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "POST /infill 200 in=" in stderr and "def f()" not in stderr  # a log line, no prompt text
    assert "Traceback" not in stderr


def _one_line(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("localqwen: error: "), result.stderr
    return lines[0]


def test_serve_refuses_a_public_address_without_a_key(tiny_qwen3: Path) -> None:
    assert "without an API key" in _one_line(localqwen("serve", str(tiny_qwen3), "--host", "0.0.0.0", "--port", str(free_port())))


def test_serve_port_in_use(tiny_qwen3: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        line = _one_line(localqwen("serve", str(tiny_qwen3), "--port", str(taken.getsockname()[1])))
    assert "cannot listen" in line and "--port" in line


def test_serve_bad_model_and_key_file(tmp_path: Path, tiny_qwen3: Path) -> None:
    assert "no such file" in _one_line(localqwen("serve", str(tmp_path / "none.gguf")))
    missing = tmp_path / "key.txt"
    assert "cannot read the API key file" in _one_line(localqwen("serve", str(tiny_qwen3), "--api-key-file", str(missing)))
    missing.write_text("\n")
    assert "is empty" in _one_line(localqwen("serve", str(tiny_qwen3), "--api-key-file", str(missing)))
    assert "is not on disk" in _one_line(localqwen("serve", "qwen3-8b:Q4_K_M"))
    assert "unknown model 'qwen9'" in _one_line(localqwen("serve", "qwen9"))


def test_choosing_awq_without_vllm_says_what_to_install_and_offers_gguf() -> None:
    line = _one_line(localqwen("serve", "qwen3.6-27b:AWQ-INT4"))
    assert "runs on vLLM: vLLM is not installed" in line
    assert "pip install 'localqwen[vllm]'" in line and "qwen3.6-27b:Q" in line


def test_serve_flag_values_are_checked(tiny_qwen3: Path) -> None:
    for flag, value, words in (("--cache-reuse", "-3", "must not be negative"), ("--port", "http", "is not a whole number"),
                               ("--ctx", "0", "at least 16 tokens")):
        result = localqwen("serve", str(tiny_qwen3), flag, value)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr

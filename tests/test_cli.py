"""The `localqwen` command as a person runs it: a real child process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def localqwen(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localqwen", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_chat_plain_answers_on_stdout(tiny_qwen3: Path) -> None:
    result = localqwen("chat", str(tiny_qwen3), "--plain", "--max-tokens", "16", stdin="hello\n")
    assert result.returncode == 0, result.stderr
    assert "<think>" not in result.stdout  # this model answers without thinking
    assert len(result.stdout.strip()) > 10


def test_chat_plain_image_attaches_a_picture_to_the_next_message(tiny_vl, tiny_qwen3: Path, tmp_path: Path) -> None:
    from tests.pictures import png

    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    stdin = f"/image {picture}\nwhat is it?\n/image {tmp_path / 'none.png'}\n/image {tmp_path}\n/image\n"
    result = localqwen("chat", str(tiny_vl.model), "--plain", "--max-tokens", "4", stdin=stdin)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[attached cat.png: PNG 64x48, ") and lines[0].endswith("goes with your next message]")
    assert lines[1].strip()  # the answer, the picture read with it
    assert lines[2:] == [f"[not attached: {tmp_path / 'none.png'}: no such file]",
                         f"[not attached: {tmp_path}: a folder, not an image file]",
                         "[usage: /image PATH, then your message]"]
    blind = localqwen("chat", str(tiny_qwen3), "--plain", "--max-tokens", "4", stdin=f"/image {picture}\n")
    assert blind.stdout.startswith("[not attached: tiny-qwen3 reads no images (open a vision model")


def test_chat_plain_shows_thinking_between_tags_when_piped(tiny_opens_think: Path) -> None:
    result = localqwen("chat", str(tiny_opens_think), "--plain", "--max-tokens", "16", stdin="hello\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "<think>" and lines[-1] == "</think>" and len("".join(lines[1:-1])) > 10


def test_chat_plain_no_think_hides_thinking(tiny_opens_think: Path) -> None:
    result = localqwen("chat", str(tiny_opens_think), "--plain", "--no-think", "--max-tokens", "8", stdin="hi\n\n/reset\nagain\n/exit\nignored\n")
    assert result.returncode == 0, result.stderr
    assert "<think>" not in result.stdout
    assert "[conversation cleared]" in result.stdout
    answers = [line for line in result.stdout.splitlines() if line and not line.startswith("[")]
    assert len(answers) == 2


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda tmp: tmp / "missing.gguf", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("not a model"))[0], "not a GGUF file"),
        ("truncated", "truncated"),
    ],
)
def test_bad_model_path_is_one_clear_line_and_exit_2(tmp_path: Path, tiny_qwen3: Path, make, problem: str) -> None:
    if make == "truncated":
        path = tmp_path / "cut.gguf"
        path.write_bytes(tiny_qwen3.read_bytes()[:100_000])
    else:
        path = make(tmp_path)
    result = localqwen("chat", str(path), "--plain", stdin="hello\n")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("localqwen: error: ") and str(path) in lines[0] and problem in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_flag_value_exits_2_without_traceback(tiny_qwen3: Path) -> None:
    result = localqwen("chat", str(tiny_qwen3), "--ctx", "zero")
    assert result.returncode == 2 and "'zero' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [("plan", "qwen3-0.6b", "--ctx"), ("chat", "x.gguf", "--ctx"), ("ui", "--ctx"), ("serve", "x.gguf", "--ctx"), ("serve", "x.gguf", "--fim-ctx")],
)
def test_a_context_below_the_placement_minimum_is_a_flag_error(command: tuple[str, ...]) -> None:
    from localqwen.plan.placement import MIN_CTX

    result = localqwen(*command, str(MIN_CTX - 8))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(f"{MIN_CTX - 8} is too small for a context (at least {MIN_CTX} tokens)")


def test_tiny_writes_a_model_chat_can_load(tmp_path: Path) -> None:
    out = tmp_path / "t.gguf"
    result = localqwen("tiny", str(out), "--arch", "qwen2")
    assert result.returncode == 0 and Path(result.stdout.strip()) == out and out.stat().st_size > 0


def test_help_lists_the_commands() -> None:
    result = localqwen("--help")  # with no arguments on a terminal, localqwen opens the UI (tests/test_tui_terminal.py)
    assert result.returncode == 0 and "doctor" in result.stdout and "chat" in result.stdout and "ui" in result.stdout


def test_doctor_json_is_healthy_here() -> None:
    result = localqwen("doctor", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert report["healthy"] is True
    names = {check["name"] for check in report["checks"]}
    assert {"python", "llama-cpp-python", "nvidia", "disk", "canary", "llama.cpp build"} <= names


def test_doctor_reports_a_crashing_canary_and_exits_1() -> None:
    result = localqwen("doctor", env={"LOCALQWEN_CANARY_CRASH": "SIGSEGV"})
    assert result.returncode == 1
    assert "SIGSEGV" in result.stdout and "CMAKE_ARGS=" in result.stdout and "not healthy" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_chat_with_a_catalog_name_that_is_not_pulled() -> None:
    result = localqwen("chat", "qwen3-0.6b:Q8_0", stdin="hi\n")
    assert result.returncode == 2 and "is not on disk" in result.stderr and "Traceback" not in result.stderr
    result = localqwen("chat", "qwen3.6-27b:AWQ-INT4", stdin="hi\n")
    assert result.returncode == 2 and "runs on vLLM" in result.stderr

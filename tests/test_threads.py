"""Thread counts as llama.cpp chooses them: physical cores generate, every logical CPU
evaluates prompts; `--threads N` sets both; every face shows the choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localqwen.catalog.loader import load_catalog
from localqwen.hardware import load_profile
from localqwen.hardware.cpu import cpu_counts
from localqwen.hardware.detect import detect_hardware
from localqwen.launch import LaunchOptions, open_model
from localqwen.plan import plan_model

PROFILE = """
name = "smt-box"
ram_gb = 64
cpu_cores = 8
cpu_threads = 16
"""


def _profile(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(text)
    return path


def _localqwen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localqwen", *args], capture_output=True, text=True, timeout=120)


def test_the_plan_generates_on_physical_cores_and_evaluates_prompts_on_every_cpu(tmp_path: Path) -> None:
    hw = load_profile(str(_profile(tmp_path)))
    model = load_catalog().find("qwen3-0.6b")
    placements = [c.placement for c in plan_model(model, hw) if c.placement is not None]
    assert placements and all((p.n_threads, p.n_threads_batch) == (8, 16) for p in placements)


def test_detect_plan_and_json_show_the_threads(tmp_path: Path) -> None:
    profile = str(_profile(tmp_path))
    detect = _localqwen("detect", "--hardware", profile)
    assert detect.returncode == 0 and "8 cores, 16 threads" in detect.stdout
    plan = _localqwen("plan", "qwen3-0.6b", "--hardware", profile)
    assert plan.returncode == 0 and "threads 8 (prompts 16)" in plan.stdout.splitlines()[-1]
    data = json.loads(_localqwen("plan", "qwen3-0.6b", "--hardware", profile, "--json").stdout)
    assert data["choice"]["placement"]["n_threads"] == 8
    assert data["choice"]["placement"]["n_threads_batch"] == 16
    assert data["hardware"]["cpu_threads"] == 16


def test_a_profile_with_fewer_threads_than_cores_is_refused(tmp_path: Path) -> None:
    bad = _profile(tmp_path, PROFILE.replace("cpu_threads = 16", "cpu_threads = 4"))
    result = _localqwen("detect", "--hardware", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cpu_threads" in result.stderr and str(bad) in result.stderr


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_counts_follow_the_cpus_this_process_may_run_on() -> None:
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from localqwen.hardware.cpu import cpu_counts; c = cpu_counts(); print(c.cores, c.threads)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]
    hw = detect_hardware()
    assert (hw.cpu_cores, hw.cpu_threads) == (cpu_counts().cores, cpu_counts().threads)


def test_the_loaded_context_runs_the_threads_chosen(tiny_qwen_vocab: Path) -> None:
    expected = cpu_counts()
    chosen = open_model(str(tiny_qwen_vocab), LaunchOptions(ctx=256), detect_hardware).chat.load()
    try:
        assert (chosen.info.n_threads, chosen.info.n_threads_batch) == (expected.cores, expected.threads)
    finally:
        chosen.close()
    one = open_model(str(tiny_qwen_vocab), LaunchOptions(ctx=256, threads=1), detect_hardware).chat.load()
    try:
        assert (one.info.n_threads, one.info.n_threads_batch) == (1, 1)
    finally:
        one.close()


@pytest.mark.parametrize("command", ["chat", "serve", "ui"])
def test_threads_flag_refuses_zero_in_one_line(command: str, tiny_qwen3: Path) -> None:
    args = [command, "--threads", "0"] + (["--model", str(tiny_qwen3)] if command == "ui" else [str(tiny_qwen3)])
    result = _localqwen(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--threads" in result.stderr and "at least 1" in result.stderr


def test_two_contexts_computing_at_once_split_the_threads(tiny_qwen3: Path) -> None:
    """While one stream is mid-answer, a second context runs on its part of the threads;
    once alone again, a context takes them all (cpu_share.py says why)."""
    from localqwen.engine.llama import LlamaEngine
    from localqwen.engine.types import GREEDY
    from localqwen.plan.placement import Placement

    placement = Placement(n_ctx=256, n_threads=2, n_threads_batch=2)
    with LlamaEngine(tiny_qwen3, placement) as chat, LlamaEngine(tiny_qwen3, placement) as fim:
        with chat.complete("a long story", max_tokens=64, sampling=GREEDY) as answer:
            next(answer)  # the chat stream now holds its context, computing
            with fim.fim("def f(x):\n    return", "\n", max_tokens=4, sampling=GREEDY) as completion:
                list(completion)
            assert fim.threads_now == (1, 1)
        with fim.fim("def g(y):\n    return", "\n", max_tokens=4, sampling=GREEDY) as completion:
            list(completion)
        assert fim.threads_now == (2, 2)

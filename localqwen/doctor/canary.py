"""Run one real decode of the tiny model, and one picture through the tiny vision model, in a child process.

A llama.cpp build can die on its first use (SIGILL for instructions the CPU lacks,
SIGSEGV in the AMX path of a `-march=native` build). In a child that is a finding,
not the end of the parent. The child prints one JSON line per stage it completes,
so the parent knows how far it got.

Test hook: `LOCALQWEN_CANARY_CRASH=SIGSEGV` (or any signal name) makes the child
kill itself with that signal where the first decode would run; `SIGSEGV:image`, where
the first picture would be encoded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CPU_SAFE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
REBUILD_COMMAND = (
    f'CMAKE_ARGS="{CPU_SAFE_CMAKE_ARGS}" '
    "pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python"
)
CRASH_HOOK = "LOCALQWEN_CANARY_CRASH"
STAGES = ("started", "backend", "loaded", "decoded", "seen")
"""How far the child came; "seen" only where the build reads images (mtmd)."""


@dataclass
class CanaryResult:
    ok: bool
    stage: str | None
    returncode: int | None
    signal_name: str | None = None
    info: dict[str, object] = field(default_factory=dict)
    cause: str | None = None
    fix: str | None = None
    stderr_tail: str = ""


def _likely_cause(sig: str, stage: str | None) -> str:
    where = {
        None: "before Python started",
        "started": "while loading llama.cpp's CPU/GPU backend",
        "backend": "while loading the tiny model",
        "loaded": "during the first decode",
        "decoded": "while encoding a picture with its multimodal library (mtmd)",
    }.get(stage, f"after stage {stage}")
    if sig == "SIGILL":
        why = "the llama.cpp build uses CPU instructions this CPU lacks (e.g. AVX-512 or a -march=native build made on another machine)"
    elif sig == "SIGSEGV" and stage == "loaded":
        why = "a -march=native llama.cpp build crashes in its AMX matrix path (ggml_backend_amx_mul_mat) on some CPUs"
    else:
        why = "the llama.cpp build does not run on this machine"
    return f"llama.cpp crashed with {sig} {where}: {why}"


def run_canary(timeout: float = 180.0) -> CanaryResult:
    """Start the child, read its stages, explain how it ended."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "localqwen.doctor.canary"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return CanaryResult(False, None, None, cause=f"the canary did not finish in {timeout:.0f} s")
    info: dict[str, object] = {}
    stage = None
    for line in proc.stdout.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("stage") in STAGES:
            stage = event["stage"]
            info.update({k: v for k, v in event.items() if k != "stage"})
    tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
    if proc.returncode == 0 and stage in ("decoded", "seen"):
        return CanaryResult(True, stage, 0, info=info)
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        return CanaryResult(
            False, stage, proc.returncode, sig, info, _likely_cause(sig, stage), REBUILD_COMMAND, tail
        )
    last = tail.splitlines()[-1] if tail else f"exit code {proc.returncode}"
    return CanaryResult(False, stage, proc.returncode, None, info, f"the canary failed: {last}", None, tail)


def probe_build(timeout: float = 60.0) -> dict[str, object]:
    """llama.cpp's version and GPU offload, read in a child; {} when the child fails."""
    code = "import json; from localqwen.engine.build import build_info; print(json.dumps(build_info()))"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        return json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}


def _emit(stage: str, **info: object) -> None:
    print(json.dumps({"stage": stage, **info}), flush=True)


def _child() -> int:
    _emit("started", python=sys.version.split()[0])
    from localqwen.engine.build import build_info

    _emit("backend", **build_info())
    from localqwen.engine.llama import LlamaEngine
    from localqwen.engine.types import GREEDY
    from localqwen.plan.placement import Placement
    from localqwen.tinymodel import write_tiny_gguf

    with tempfile.TemporaryDirectory(prefix="localqwen-canary-") as tmp:
        path = write_tiny_gguf(Path(tmp) / "canary.gguf")
        engine = LlamaEngine(path, Placement(n_ctx=256, n_gpu_layers=0, n_threads=1))
        _emit("loaded", model=engine.info.architecture)
        crash, _, where = os.environ.get(CRASH_HOOK, "").partition(":")
        if crash and where != "image":
            os.kill(os.getpid(), signal.Signals[crash])
        started = time.perf_counter()
        with engine.complete("hello", max_tokens=4, sampling=GREEDY) as stream:
            _, text = stream.collect()
        _emit("decoded", tokens=stream.stats.predicted_n, ms=round((time.perf_counter() - started) * 1000, 1))
        engine.close()
        if build_info()["reads_images"]:
            if crash and where == "image":
                os.kill(os.getpid(), signal.Signals[crash])
            _see(Path(tmp))
    return 0


def _see(folder: Path) -> None:
    """One picture through the tiny Qwen3-VL's projector and into its context."""
    from localqwen.engine.llama import LlamaEngine
    from localqwen.engine.types import GREEDY, MEDIA_MARKER, Image
    from localqwen.plan.placement import Placement
    from localqwen.tinymodel import TinySpec, write_tiny_gguf
    from localqwen.tinymodel.picture import png
    from localqwen.tinymodel.vision import write_tiny_projector

    spec = TinySpec(arch="qwen3vl")
    model, mmproj = write_tiny_gguf(folder / "canary-vl.gguf", spec), write_tiny_projector(folder / "mmproj.gguf", spec)
    with LlamaEngine(model, Placement(n_ctx=256, n_gpu_layers=0, n_threads=1), mmproj=mmproj) as engine:
        started = time.perf_counter()
        with engine.complete(f"{MEDIA_MARKER}hello", images=[Image(png(64, 48))], max_tokens=2, sampling=GREEDY) as stream:
            stream.collect()
    _emit("seen", image_prompt=stream.stats.prompt_n, image_ms=round((time.perf_counter() - started) * 1000, 1))


if __name__ == "__main__":
    raise SystemExit(_child())

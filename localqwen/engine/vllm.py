"""Run an AWQ build on vLLM: the command line a plan gives, and whether vLLM can run here.

No machine here can fetch AWQ weights, so vLLM itself is not run in the tests; the
command line is, flag by flag, checked against vLLM's documented `vllm serve` options.
"""

from __future__ import annotations

from dataclasses import dataclass

from localqwen.errors import UserInputError
from localqwen.hardware.detect import vllm_installed

VLLM_INSTALL = "pip install 'localqwen[vllm]' (vLLM needs Linux and a CUDA GPU)"


@dataclass(frozen=True)
class VllmLaunch:
    repo: str
    quantization: str  # "awq" for AWQ-INT4 builds
    max_model_len: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    reasoning: bool
    port: int
    host: str = "127.0.0.1"
    served_name: str | None = None

    def argv(self) -> list[str]:
        argv = [
            "vllm", "serve", self.repo,
            "--host", self.host,
            "--port", str(self.port),
            "--quantization", self.quantization,
            "--max-model-len", str(self.max_model_len),
            "--gpu-memory-utilization", f"{self.gpu_memory_utilization:.2f}",
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--enforce-eager",  # the plan's estimate leaves no room for CUDA graphs
        ]
        if self.reasoning:
            argv += ["--reasoning-parser", "qwen3"]
        if self.served_name:
            argv += ["--served-model-name", self.served_name]
        return argv


def gpu_memory_utilization(needed_bytes: int, total_bytes: int, headroom: float = 0.02) -> float:
    """The share of each card vLLM may take: what the plan charged it, plus a little, at most 0.95."""
    if total_bytes <= 0:
        return 0.9
    return round(min(0.95, max(0.1, needed_bytes / total_bytes + headroom)), 2)


def vllm_ready(has_cuda_gpu: bool) -> str | None:
    """None when vLLM can run here; else what is missing, in words."""
    if not vllm_installed():
        return "vLLM is not installed"
    if not has_cuda_gpu:
        return "vLLM needs a CUDA GPU and none was found"
    return None


def launch_for(candidate, port: int) -> VllmLaunch:
    """The vLLM launch for a plan candidate whose build is AWQ (`plan.types.Candidate`)."""
    placement = candidate.placement
    if candidate.build.format != "awq" or placement is None:
        raise UserInputError(f"{candidate.model.name} {candidate.build.quant} is not an AWQ build that fits")
    devices = candidate.devices or ()
    per_card = max((d.bytes for d in devices), default=0)
    capacity = min((d.capacity_bytes for d in devices), default=0)
    return VllmLaunch(
        repo=candidate.build.repo,
        quantization="awq",
        max_model_len=placement.n_ctx,
        gpu_memory_utilization=gpu_memory_utilization(per_card, capacity),
        tensor_parallel_size=max(1, len(devices)),
        reasoning=candidate.model.thinking,
        port=port,
        served_name=candidate.model.id,
    )

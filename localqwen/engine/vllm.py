"""Run a build on vLLM (AWQ, FP8, BF16): the command line a plan gives, and whether vLLM
can run here.

What each flag is for, per family (vLLM's docs and the Qwen deployment guides):
- `--reasoning-parser qwen3` for every model that thinks: the answer's `<think>` part goes
  to `reasoning_content`, as localqwen's own server does.
- `--enable-auto-tool-choice --tool-call-parser P`: `hermes` for Qwen2.5 and Qwen3 (their
  `<tool_call>` JSON), `qwen3_coder` for Qwen3-Coder, Qwen3.5 and 3.6 (their XML calls;
  the Qwen3.5 guide's line).
- `--speculative-config` with Qwen's multi-token-prediction head where the model has one
  (Qwen3-Next, Qwen3.5, Qwen3.6): `qwen3_next_mtp`, 2 tokens, as the Qwen3.5 guide runs it;
  on Qwen's own checkpoints only (a community quantisation may drop that layer).
- `--enable-expert-parallel` for a MoE model over several cards: each card holds whole
  experts instead of a slice of every one.
- `--quantization awq` for AWQ only; FP8 and BF16 checkpoints say what they are.
- `--enforce-eager`: the plan's memory estimate leaves no room for CUDA graphs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from localqwen.errors import UserInputError
from localqwen.hardware.detect import vllm_installed

VLLM_INSTALL = "pip install 'localqwen[vllm]' (vLLM needs Linux and a CUDA GPU)"
XML_TOOL_CALLS = {"qwen3-coder", "qwen3.5", "qwen3.6"}
"""Families whose chat templates write tool calls as XML (`<function=...>`), not JSON."""
MTP_ARCHITECTURES = {"qwen3next", "qwen35", "qwen35moe"}
"""GGUF architectures of the models that ship a multi-token-prediction layer."""
MTP_SPECULATIVE = {"method": "qwen3_next_mtp", "num_speculative_tokens": 2}


@dataclass(frozen=True)
class VllmLaunch:
    repo: str
    quantization: str | None  # "awq"; None: the checkpoint says (FP8, BF16)
    max_model_len: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    reasoning_parser: str | None
    tool_call_parser: str | None
    speculative: dict[str, object] | None = None
    expert_parallel: bool = False
    port: int = 8000
    host: str = "127.0.0.1"
    served_name: str | None = None

    def argv(self) -> list[str]:
        argv = [
            "vllm", "serve", self.repo,
            "--host", self.host,
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--gpu-memory-utilization", f"{self.gpu_memory_utilization:.2f}",
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--enforce-eager",
        ]  # fmt: skip
        if self.quantization:
            argv += ["--quantization", self.quantization]
        if self.expert_parallel:
            argv += ["--enable-expert-parallel"]
        if self.reasoning_parser:
            argv += ["--reasoning-parser", self.reasoning_parser]
        if self.tool_call_parser:
            argv += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.speculative:
            argv += ["--speculative-config", json.dumps(self.speculative, separators=(",", ":"))]
        if self.served_name:
            argv += ["--served-model-name", self.served_name]
        return argv

    def shell(self) -> str:
        """The line to paste into a shell."""
        return shlex.join(self.argv())


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


def tool_call_parser(family: str) -> str:
    return "qwen3_coder" if family in XML_TOOL_CALLS else "hermes"


def launch_for(candidate, port: int = 8000) -> VllmLaunch:
    """The vLLM launch for a plan candidate whose build runs on vLLM (`plan.types.Candidate`)."""
    placement, build, model = candidate.placement, candidate.build, candidate.model
    if build.runtime != "vllm" or placement is None:
        raise UserInputError(f"{model.name} {build.quant} is not a vLLM build that fits")
    devices = candidate.devices or ()
    per_card = max((d.bytes for d in devices), default=0)
    capacity = min((d.capacity_bytes for d in devices), default=0)
    cards = max(1, len(devices))
    return VllmLaunch(
        repo=build.repo,
        quantization="awq" if build.format == "awq" else None,
        max_model_len=placement.n_ctx,
        gpu_memory_utilization=gpu_memory_utilization(per_card, capacity),
        tensor_parallel_size=cards,
        reasoning_parser="qwen3" if model.thinking_mode != "never" else None,
        tool_call_parser=tool_call_parser(model.family),
        # a community quantisation may leave the MTP layer out of its checkpoint
        speculative=dict(MTP_SPECULATIVE) if model.architecture in MTP_ARCHITECTURES and not build.community else None,
        expert_parallel=bool(model.arch.experts) and cards > 1,
        port=port,
        served_name=model.id,
    )

"""What llama.cpp itself allocates for a model: its own log lines, read from a child process.

Used to check the plan's estimate against the real thing (tests, bench). A child,
because llama.cpp logs from C and a failed load must not touch the caller.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from localqwen.engine.errors import ModelLoadError
from localqwen.plan.placement import Placement

MIB = 1024**2
_PATTERNS = {
    "weights": re.compile(r"load_tensors:\s+\S+ model buffer size =\s+([\d.]+) MiB"),
    "kv": re.compile(r"llama_kv_cache\S*:\s+\S+ KV buffer size =\s+([\d.]+) MiB"),
    "compute": re.compile(r"(?:llama_context|sched_reserve):\s+\S+ compute buffer size =\s+([\d.]+) MiB"),
}


@dataclass(frozen=True)
class MeasuredMemory:
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int


def parse_log(log: str) -> MeasuredMemory:
    totals = {key: sum(float(m) for m in pattern.findall(log)) * MIB for key, pattern in _PATTERNS.items()}
    return MeasuredMemory(int(totals["weights"]), int(totals["kv"]), int(totals["compute"]))


def measure_memory(path: str | Path, placement: Placement, timeout: float = 300) -> MeasuredMemory:
    """Load `path` with `placement` in a child with llama.cpp's log on, and add up its buffers."""
    kwargs = json.dumps({"path": str(path), "n_ctx": placement.n_ctx, "n_gpu_layers": placement.n_gpu_layers,
                         "flash_attn": placement.flash_attn, "type_k": placement.type_k, "type_v": placement.type_v})
    code = (
        "import json, sys\n"
        "from localqwen.engine.llama import llama_kwargs\n"
        "from localqwen.plan.placement import Placement\n"
        "import llama_cpp\n"
        "a = json.loads(sys.argv[1])\n"
        "p = Placement(n_ctx=a['n_ctx'], n_gpu_layers=a['n_gpu_layers'], flash_attn=a['flash_attn'], "
        "type_k=a['type_k'], type_v=a['type_v'], n_threads=1)\n"
        "llama_cpp.Llama(model_path=a['path'], verbose=True, **llama_kwargs(p))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, kwargs], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise ModelLoadError(f"{path}: llama.cpp could not load it to measure ({last})")
    return parse_log(proc.stderr)

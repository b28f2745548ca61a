"""What llama.cpp itself allocates for a model: its own log lines, read from a child process.

Used to check the plan's estimate against the real thing (tests, bench). A child,
because llama.cpp logs from C and a failed load must not touch the caller.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localqwen.engine.errors import ModelLoadError
from localqwen.plan.placement import Placement

MIB = 1024**2
_PATTERNS = {
    "weights": re.compile(r"load_tensors:\s+\S+ model buffer size =\s+([\d.]+) MiB"),
    "kv": re.compile(r"llama_kv_cache\S*:\s+\S+ KV buffer size =\s+([\d.]+) MiB"),
    "compute": re.compile(r"(?:llama_context|sched_reserve):\s+\S+ compute buffer size =\s+([\d.]+) MiB"),
}
_OVERRIDDEN = re.compile(r"tensor (\S+) \((\d+) MiB \S+\) buffer type overridden to (\S+)")


@dataclass(frozen=True)
class MeasuredMemory:
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    overridden: dict[str, str] = field(default_factory=dict)  # tensor -> the buffer type an override put it in
    overridden_bytes: int = 0  # those tensors' sizes, as llama.cpp logs them (whole MiB, rounded down)


def parse_log(log: str) -> MeasuredMemory:
    totals = {key: sum(float(m) for m in pattern.findall(log)) * MIB for key, pattern in _PATTERNS.items()}
    found = _OVERRIDDEN.findall(log)
    overridden = {name: buffer for name, _, buffer in found}
    overridden_bytes = sum(int(mib) for _, mib, _ in found) * MIB
    return MeasuredMemory(int(totals["weights"]), int(totals["kv"]), int(totals["compute"]), overridden, overridden_bytes)


def measure_memory(path: str | Path, placement: Placement, timeout: float = 300) -> MeasuredMemory:
    """Load `path` with `placement` in a child with llama.cpp's log on, and add up its buffers."""
    fields = {**asdict(placement), "tensor_split": list(placement.tensor_split)}
    code = (
        "import json, sys\n"
        "from localqwen.engine.llama import load_llama\n"
        "from localqwen.plan.placement import Placement\n"
        "a = json.loads(sys.argv[1])\n"
        "load_llama(a.pop('path'), Placement(**{**a, 'tensor_split': tuple(a['tensor_split'])}), verbose=True)\n"
    )
    args = json.dumps({"path": str(path), **fields})
    proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise ModelLoadError(f"{path}: llama.cpp could not load it to measure ({last})")
    return parse_log(proc.stderr)

"""How many CPUs this process may use: llama.cpp's thread counts come from these.

Physical cores generate tokens (a second hyperthread on a core only contends for the
same memory bandwidth); prompt batches, which are compute-bound, use every logical CPU.
Both are bounded by the CPUs the process is allowed to run on (a container's cpuset,
`taskset`), which psutil's counts ignore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuCounts:
    cores: int  # physical cores usable
    threads: int  # logical CPUs usable


def cpu_counts() -> CpuCounts:
    logical = psutil.cpu_count(logical=True) or 1
    physical = psutil.cpu_count(logical=False) or logical
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    threads = max(1, min(logical, allowed))
    # Affinity names logical CPUs; with hyperthreads, assume they are paired as psutil counts them.
    cores = max(1, min(physical, round(threads * physical / logical)))
    return CpuCounts(cores=cores, threads=threads)

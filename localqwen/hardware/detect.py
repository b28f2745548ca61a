"""Look at this machine: NVIDIA GPUs through NVML, RAM and cores through psutil.

Never raises. No library, no driver, or a card that stops answering becomes a note
in the result ("no NVIDIA GPU found: NVML library not found"), because that is an
answer a person can act on, and a planner can still plan for the CPU.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
from itertools import combinations
from typing import Any

import psutil

from localqwen.hardware.cards import known_bandwidth_gbs
from localqwen.hardware.cpu import cpu_counts
from localqwen.hardware.types import Gpu, Hardware, Link

# One PCIe lane, one direction, GB/s, by generation (after line encoding).
_PCIE_LANE_GBS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}

# What a person should read instead of NVML's own wording.
_REASONS = {
    "NVMLError_LibraryNotFound": "NVML library not found",
    "NVMLError_DriverNotLoaded": "NVIDIA driver not loaded",
    "NVMLError_NoPermission": "no permission to query NVML",
    "NVMLError_LibRmVersionMismatch": "NVML and driver versions differ (reboot after a driver update?)",
}


def detect_hardware() -> Hardware:
    """What this machine has now. `gpu_offload` stays None: llama.cpp is probed elsewhere."""
    notes: list[str] = []
    gpus, links = _detect_gpus(notes)
    memory = psutil.virtual_memory()
    cpus = cpu_counts()
    return Hardware(
        name=platform.node() or "this machine",
        gpus=tuple(gpus),
        ram_total_bytes=int(memory.total),
        ram_available_bytes=int(memory.available),
        cpu_cores=cpus.cores,
        cpu_threads=cpus.threads,
        links=tuple(links),
        vllm_available=vllm_installed(),
        source="detected",
        notes=tuple(notes),
    )


def vllm_installed() -> bool:
    """vLLM's package is importable and its `vllm` command is on PATH.

    Found by `find_spec`, which locates the package without importing it: importing vLLM
    takes seconds and initialises CUDA, too much for a look at the machine.
    """
    try:
        return importlib.util.find_spec("vllm") is not None and shutil.which("vllm") is not None
    except (ImportError, ValueError):  # a broken install, or a module with no spec
        return False


def _reason(exc: BaseException) -> str:
    known = _REASONS.get(type(exc).__name__)
    if known:
        return known
    text = str(exc) or type(exc).__name__
    return f"NVML error: {text}" if type(exc).__name__.startswith("NVMLError") else text


def _detect_gpus(notes: list[str]) -> tuple[list[Gpu], list[Link]]:
    try:
        import pynvml
    except ImportError:
        notes.append("no NVIDIA GPU found: nvidia-ml-py is not installed")
        return [], []
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        notes.append(f"no NVIDIA GPU found: {_reason(exc)}")
        return [], []
    try:
        return _read_devices(pynvml, notes)
    except Exception as exc:  # the device count itself failed
        notes.append(f"no NVIDIA GPU found: {_reason(exc)}")
        return [], []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _quiet(pynvml: Any, function: str, *args: Any) -> Any:
    """One NVML call whose failure just means 'unknown' (not supported on this card, say).

    The function is looked up here too: an older nvidia-ml-py may not have it.
    """
    try:
        return getattr(pynvml, function)(*args)
    except Exception:
        return None


def _field(notes: list[str], what: str, pynvml: Any, function: str, *args: Any) -> Any:
    """One NVML call whose failure is worth a note, and gives None."""
    try:
        return getattr(pynvml, function)(*args)
    except Exception as exc:
        notes.append(f"{what} unknown: {_reason(exc)}")
        return None


def _read_devices(pynvml: Any, notes: list[str]) -> tuple[list[Gpu], list[Link]]:
    count = pynvml.nvmlDeviceGetCount()
    if not count:
        notes.append("no NVIDIA GPU found: NVML lists no devices")
        return [], []
    gpus: list[Gpu] = []
    handles: dict[int, Any] = {}
    for index in range(count):
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        except Exception as exc:  # a card with no memory figure cannot be planned for
            notes.append(f"GPU {index} left out: {_reason(exc)}")
            continue
        handles[index] = handle
        gpus.append(_read_gpu(pynvml, index, handle, memory, notes))
    if not gpus:
        notes.append("no NVIDIA GPU found: no device answered")
    return gpus, _read_links(pynvml, handles, gpus)


def _read_gpu(pynvml: Any, index: int, handle: Any, memory: Any, notes: list[str]) -> Gpu:
    label = f"GPU {index}"
    raw_name = _field(notes, f"{label} name", pynvml, "nvmlDeviceGetName", handle)
    name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name or f"NVIDIA GPU {index}")
    capability = _field(notes, f"{label} compute capability", pynvml, "nvmlDeviceGetCudaComputeCapability", handle)
    bandwidth = known_bandwidth_gbs(name) or _bandwidth_from_bus(pynvml, handle)
    if bandwidth is None:
        notes.append(f"{label} memory bandwidth unknown: {name} is not in the card table")
    return Gpu(
        index=index,
        name=name,
        total_bytes=int(memory.total),
        free_bytes=int(memory.free),
        bandwidth_gbs=bandwidth,
        compute_capability=(int(capability[0]), int(capability[1])) if capability else None,
        pcie_gen=_field(notes, f"{label} PCIe generation", pynvml, "nvmlDeviceGetCurrPcieLinkGeneration", handle),
        pcie_width=_field(notes, f"{label} PCIe width", pynvml, "nvmlDeviceGetCurrPcieLinkWidth", handle),
    )


def _bandwidth_from_bus(pynvml: Any, handle: Any) -> float | None:
    """Bus width x max memory clock x 2 (double data rate), for cards not in the table."""
    bus_bits = _quiet(pynvml, "nvmlDeviceGetMemoryBusWidth", handle)
    clock_mhz = _quiet(pynvml, "nvmlDeviceGetMaxClockInfo", handle, pynvml.NVML_CLOCK_MEM)
    if not bus_bits or not clock_mhz:
        return None
    return round(bus_bits / 8 * clock_mhz * 1e6 * 2 / 1e9, 1)


def _pci_key(info: Any) -> tuple[int, int, int] | None:
    return None if info is None else (int(info.domain), int(info.bus), int(info.device))


def _read_links(pynvml: Any, handles: dict[int, Any], gpus: list[Gpu]) -> list[Link]:
    """NVLink where NVML reports an active link to a peer (or to an NVSwitch); PCIe otherwise."""
    by_pci = {_pci_key(_quiet(pynvml, "nvmlDeviceGetPciInfo", h)): i for i, h in handles.items()}
    by_pci.pop(None, None)
    peers: set[tuple[int, int]] = set()
    on_switch: set[int] = set()
    switch_type = getattr(pynvml, "NVML_NVLINK_DEVICE_TYPE_SWITCH", 2)
    for index, handle in handles.items():
        for link in range(getattr(pynvml, "NVML_NVLINK_MAX_LINKS", 18)):
            if not _quiet(pynvml, "nvmlDeviceGetNvLinkState", handle, link):
                continue  # inactive, or no NVLink on this card
            remote = by_pci.get(_pci_key(_quiet(pynvml, "nvmlDeviceGetNvLinkRemotePciInfo", handle, link)))
            if remote is not None and remote != index:
                peers.add((min(index, remote), max(index, remote)))
            elif _quiet(pynvml, "nvmlDeviceGetNvLinkRemoteDeviceType", handle, link) == switch_type:
                on_switch.add(index)
    lane = {gpu.index: _PCIE_LANE_GBS.get(gpu.pcie_gen or 0, 0) * (gpu.pcie_width or 0) for gpu in gpus}
    links: list[Link] = []
    for a, b in combinations(sorted(handles), 2):
        if (a, b) in peers or (a in on_switch and b in on_switch):
            links.append(Link(a, b, "nvlink"))  # per-link speed differs by card: left unknown
        else:
            slowest = min(lane[a], lane[b])
            links.append(Link(a, b, "pcie", round(slowest, 1) if slowest else None))
    return links

"""What this machine has: NVIDIA GPUs through NVML, RAM and cores through psutil.

The probing modules load on first use, so that `plan` can import `hardware.types`
without pulling in psutil or NVML.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "detect_hardware": "localqwen.hardware.detect",
    "list_profiles": "localqwen.hardware.profile",
    "load_profile": "localqwen.hardware.profile",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'localqwen.hardware' has no attribute {name!r}")

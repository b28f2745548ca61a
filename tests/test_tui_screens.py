"""The Download (F3) and Server (F5) screens through Pilot: a fake Hub on loopback, a real server on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable, Input, Log, ProgressBar

from localqwen.pull import PullInterrupted
from localqwen.tui.app import LocalQwenApp, make_app
from localqwen.tui.screens.download import DownloadScreen
from localqwen.tui.screens.server import ServerScreen
from localqwen.tui.settings import TuiSettings, default_services
from localqwen.tui.widgets.file_progress import FileProgress
from tests.hub_server import Hub, serve_hub
from tests.test_pull import BUILD, CATALOG, big_gguf  # noqa: F401  (big_gguf: a fixture)
from tests.test_tui_kit import pinned_services, screen_text, settle, wait_for


def notices(app: LocalQwenApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


@pytest.fixture
def hub(tmp_path: Path, tiny_qwen3: Path, big_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:  # noqa: F811
    """A fake Hub with the tiny model (Q6_K) and a 43 MB one (Q4_K_M), and a catalog naming them."""
    tiny, big = tiny_qwen3.read_bytes(), big_gguf.read_bytes()
    hub = Hub()
    hub.add_repo("org/tiny-GGUF", {"tiny-Q6_K.gguf": tiny, "tiny-Q4_K_M.gguf": big})
    text = CATALOG.format(id="tiny-test", name="Tiny-Test")
    text += BUILD.format(quant="Q6_K", repo="org/tiny-GGUF", files='["tiny-Q6_K.gguf"]', size=len(tiny))
    text += BUILD.format(quant="Q4_K_M", repo="org/tiny-GGUF", files='["tiny-Q4_K_M.gguf"]', size=len(big))
    models = Path(os.environ["LOCALQWEN_HOME"]) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "test.toml").write_text(text)
    with serve_hub(hub) as endpoint:
        for name, value in {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
                            "HF_HUB_OFFLINE": "0", "HF_TOKEN": ""}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield hub


def download_app(tmp_path: Path) -> LocalQwenApp:
    real = default_services()
    return make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), replace(pinned_services(), locate=real.locate, pull=real.pull))


async def start_download(pilot, words: str) -> DownloadScreen:
    await settle(pilot)
    await pilot.press("f2")
    await wait_for(pilot, lambda: pilot.app.plan is not None, "the plan")
    await pilot.press(*words)
    await pilot.pause()
    assert pilot.app.screen.query_one(DataTable).row_count == 1
    await pilot.press("ctrl+d")  # from the filter input: the screen's binding wins over the input's delete-right
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DownloadScreen), "the download screen")
    return pilot.app.screen


def the_row(app: LocalQwenApp, key: str):
    assert app.plan is not None
    return app.plan.row(key)


async def test_download_shows_progress_finishes_verified_and_the_table_says_on_disk(hub: Hub, tmp_path: Path) -> None:
    app = download_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_download(pilot, "tiny-test q6_k")
        await wait_for(pilot, lambda: screen.result is not None, "the download to finish")
        await pilot.pause()
        shown = screen_text(app)
        assert "Downloading Tiny-Test Q6_K" in shown and "tiny-Q6_K.gguf" in shown
        assert "✔ Verified: 1 file(s)" in shown and "fetched · ✔ sha256 verified" in shown
        bar = screen.query_one(FileProgress).query_one(ProgressBar)
        assert bar.total and bar.progress == bar.total
        await wait_for(pilot, lambda: the_row(app, "tiny-test:Q6_K").path is not None, "the plan to find the file")
        await pilot.press("f2")
        await pilot.pause()
        assert "on disk" in screen_text(app)

        await pilot.press("f3")
        await pilot.pause()
        assert "Resume" not in notices(app)
        hub.reset_counters()
        screen.start(the_row(app, "tiny-test:Q6_K"))  # pulled again: nothing crosses the wire
        await wait_for(pilot, lambda: screen.result is not None, "the second pull")
        await pilot.pause()
        assert hub.bytes_served == 0 and "already on disk" in screen_text(app)


async def test_cancel_mid_way_then_resume(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub's stall holds the download until the test releases it: "Stopping" is a held state, not a race."""
    from huggingface_hub import constants

    # A stall must not end in the client's read timeout and a retry that finishes the file:
    # HF_HUB_DOWNLOAD_TIMEOUT, which huggingface_hub read once, at import (as test_pull's children get it).
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 120)
    hub.stall_after = 25_000_000
    app = download_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_download(pilot, "tiny-test q4_k_m")
        await wait_for(pilot, hub.stalled.is_set, "the Hub to stall")
        await wait_for(pilot, lambda: "MiB/s" in screen_text(app), "progress with a speed")
        shown = screen_text(app)
        assert "File 1 of 1: fetching tiny-Q4_K_M.gguf" in shown and "ETA" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert screen.cancel is not None and screen.cancel.is_set() and screen.running and screen.error is None
        assert "Stopping" in screen_text(app)
        hub.release.set()  # the stalled connection closes; the next bytes find the cancel
        await wait_for(pilot, lambda: screen.error is not None, "the download to stop")
        await pilot.pause()
        assert isinstance(screen.error, PullInterrupted) and app.is_running
        assert "Download stopped:" in screen_text(app) and "Press r (Resume)" in screen_text(app)
        assert the_row(app, "tiny-test:Q4_K_M").path is None

        await pilot.press("r")
        await wait_for(pilot, lambda: screen.result is not None, "the resumed download")
        await pilot.pause()
        assert screen.result.files[0].resumed_from > 0 and screen.result.files[0].verified
        assert "resumed at" in screen_text(app) and "✔ Verified" in screen_text(app)


async def test_an_unexpected_error_is_named_as_one_and_its_traceback_kept(hub: Hub, tmp_path: Path) -> None:
    hub.lfs_without_sha256 = True  # huggingface_hub meets a file list it cannot read: KeyError, no error of ours
    app = download_app(tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await start_download(pilot, "tiny-test q6_k")
        await wait_for(pilot, lambda: screen.error is not None, "the download to fail")
        await pilot.pause()
        shown = screen_text(app)
        assert app.is_running
        assert "Bad input" not in shown and "Bad input" not in notices(app)
        assert "Download failed: unexpected error KeyError: 'sha256'" in shown
        log = tmp_path / "logs" / "tui-errors.log"
        assert f"the traceback is in {log}" in notices(app)
        kept = log.read_text()
        assert "pulling tiny-test:Q6_K" in kept and "Traceback (most recent call last)" in kept
        assert "KeyError: 'sha256'" in kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_server_starts_serves_logs_stops_and_refuses_a_busy_port(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False), pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, ServerScreen)
        port = free_port()
        screen.query_one("#port", Input).value = str(port)
        await pilot.pause()
        assert f"'endpoint': 'http://127.0.0.1:{port}/infill'" in screen_text(app)
        await pilot.click("#start")
        await wait_for(pilot, lambda: screen.state == "running", "the server")
        base = f"http://127.0.0.1:{port}"
        assert base in screen_text(app)

        health = await asyncio.to_thread(httpx.get, f"{base}/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        body = {"input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n", "n_predict": 4}
        infill = await asyncio.to_thread(httpx.post, f"{base}/infill", json=body, timeout=60)
        assert infill.status_code == 200, infill.text
        log = screen.query_one(Log)
        await wait_for(pilot, lambda: any("POST /infill 200" in line for line in log.lines), "the request's log line")
        line = next(line for line in log.lines if "POST /infill 200" in line)
        assert "cached=" in line and line.rstrip().endswith("ms")

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.state == "stopped" and app.server is None, "the server to stop")
        with pytest.raises(httpx.ConnectError):
            await asyncio.to_thread(httpx.get, f"{base}/health")
        assert app.loaded is not None  # the engine stays with the chat

        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            screen.query_one("#port", Input).value = str(busy.getsockname()[1])
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "cannot listen on" in notices(app), "the port-in-use notice")
            assert screen.state == "stopped" and app.is_running
            said = list(app._notifications)[-1]  # not "Bad input", no command-line advice in the TUI
            assert said.title == "Port in use" and "--port" not in said.message and "another port above" in said.message

        screen.query_one("#port", Input).value = str(port)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.state == "running", "the server again")
        server = app.server
        assert server is not None
    assert not server.thread.is_alive()  # stopped when the app ended


async def test_server_needs_a_loaded_model(tmp_path: Path) -> None:
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services(doctor=None))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        assert "No model loaded" in screen_text(app)
        await pilot.press("ctrl+s")
        assert "No model loaded" in notices(app) and app.server is None


async def test_without_a_network_the_download_says_so_offers_import_and_esc_goes_back(
        hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, it showed `[Errno -2] Name or service not known` under "Downloading", offered
    to resume what was never fetched, and Esc did nothing."""
    from localqwen.pull.errors import NoNetworkError

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens: unreachable
    app = download_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await start_download(pilot, "tiny-test q6_k")
        await wait_for(pilot, lambda: screen.error is not None, "the download to fail")
        await pilot.pause()
        shown = screen_text(app)
        assert isinstance(screen.error, NoNetworkError)
        assert "No network · Tiny-Test Q6_K" in shown and "Downloading" not in shown
        assert "no network: the Hub at" in shown and "localqwen import" in shown
        assert "Press r to try again" in shown and "Resume" not in shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.current_mode == "models", "Esc to go back to Models")


async def test_a_download_started_from_the_first_screen_loads_the_model_when_whole(hub: Hub, tmp_path: Path) -> None:
    app = download_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.plan is not None, "the plan")
        await app.download(the_row(app, "tiny-test:Q6_K"), then_load=True)  # what Enter does there
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load after its download")
        assert app.current_mode == "chat" and app.loaded.engine.info.path.endswith("tiny-Q6_K.gguf")

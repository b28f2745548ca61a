"""`localqwen` in a real terminal: tmux runs it, keys go in, the screen is read back.

Each test starts its own tmux server (its own socket) running a plain shell, types
the command there, drives the app, quits with Ctrl+Q and then checks that the shell
got exit code 0 and that the terminal is back as it was (no alternate screen, no
mouse reporting, the cursor shown, the earlier output visible again).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tmux() -> str:
    """tmux itself: `.ci/run` installs it; a test never installs system packages."""
    found = shutil.which("tmux")
    if found is None:
        pytest.fail("tmux is not installed: these tests run localqwen in a real terminal through it "
                    "(apt-get install tmux; .ci/run installs it)", pytrace=False)
    return found


class Terminal:
    def __init__(self, tmux: str, width: int = 100, height: int = 30) -> None:
        self.tmux, self.socket = tmux, f"localqwen-test-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "TERM": "xterm-256color"}
        env.pop("TMUX", None)
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", str(REPO),
                 "bash --norc --noprofile", env=env)  # fmt: skip

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def send(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "t", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", "t", f"#{{{name}}}").strip()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if re.search(pattern, shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen after {timeout} s:\n{shown}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def terminal(tmux: str):
    term = Terminal(tmux)
    yield term
    term.close()


def launch(terminal: Terminal, args: str, env: str = "") -> float:
    """Start localqwen in the shell (`env`: NAME=VALUE words before it); return when
    (time.monotonic) the command was sent."""
    terminal.wait_for(r"(?m)[#$]\s*$")  # the shell's prompt
    terminal.type("echo before-the-app")
    terminal.send("Enter")
    terminal.type(f"{env} {sys.executable} -m localqwen {args}; echo EXIT=$?".lstrip())
    terminal.send("Enter")
    return time.monotonic()


def quit_and_check_restored(terminal: Terminal) -> None:
    terminal.send("C-q")
    shown = terminal.wait_for(r"EXIT=\d+", timeout=90)
    assert "EXIT=0" in shown, shown
    assert "before-the-app" in shown  # the normal screen is back, with what was on it
    assert terminal.flag("alternate_on") == "0"
    assert terminal.flag("mouse_any_flag") == "0" and terminal.flag("mouse_standard_flag") == "0"
    assert terminal.flag("cursor_flag") == "1"


def test_localqwen_alone_opens_the_machine_then_the_models(terminal: Terminal) -> None:
    sent = launch(terminal, "")
    terminal.wait_for(r"Looking at this machine|This machine", timeout=30)
    first_screen = time.monotonic() - sent  # Python's start and imports included; detection is not
    assert first_screen < 10, f"the first screen took {first_screen:.1f} s"  # about 1 s here; CI may be slower
    shown = terminal.wait_for(r"llama\.cpp: \S", timeout=60)
    assert "Machine" in shown and "System" in shown and "cores" in shown
    terminal.send("F2")
    shown = terminal.wait_for(r"recommended: ", timeout=30)
    assert "GiB/card" in shown and "Qwen" in shown
    quit_and_check_restored(terminal)


def test_chat_on_a_local_model_streams_an_answer(terminal: Terminal, tiny_qwen3: Path) -> None:
    launch(terminal, f"ui --hardware dual-rtx3090 --model {tiny_qwen3} --max-tokens 24")
    terminal.wait_for(r"ctx —/4,096", timeout=60)
    terminal.type("hello there")
    terminal.send("Enter")
    shown = terminal.wait_for(r"ctx \d+/4,096 .* [\d.]+ tok/s", timeout=60)
    assert "hello there" in shown and "tiny-qwen3" in shown
    quit_and_check_restored(terminal)


def test_loading_a_model_shows_how_far_it_is_and_for_how_long(terminal: Terminal, tiny_qwen3: Path, tmp_path: Path) -> None:
    """`ui --model` was a blank terminal, then a bare "Loading…": the first frame comes at
    once and the status line shows llama.cpp's load progress and the seconds waited. The
    load is held half way (HOLD_LOAD_HOOK) until the test has seen it, then let go."""
    gate = tmp_path / "let-the-load-go"
    sent = launch(terminal, f"ui --hardware dual-rtx3090 --model {tiny_qwen3}", env=f"LOCALQWEN_TEST_HOLD_LOAD={gate}")
    shown = terminal.wait_for(r"loading tiny-qwen3… \d+% · \d+ s", timeout=30)
    status = next(line for line in shown.splitlines() if "loading tiny-qwen3" in line)
    assert "thinking" not in status  # not known before the model is
    assert time.monotonic() - sent < 10, "the first frame came late"
    assert re.search(r"loading tiny-qwen3… ([5-9]\d|100)%", shown), shown  # held at half way or more
    gate.touch()
    terminal.wait_for(r"ctx —/4,096", timeout=60)
    quit_and_check_restored(terminal)


def test_without_a_terminal_localqwen_prints_its_help() -> None:
    done = subprocess.run([sys.executable, "-m", "localqwen"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "ui" in done.stdout and "doctor" in done.stdout

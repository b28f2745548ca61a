"""Where the CLI and the TUI once had a copy each, one piece now serves both: these pin the shared rule."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from localqwen.commands.repl import PlainChat, ReplOptions
from localqwen.engine.chat_fit import open_chat
from localqwen.engine.errors import PromptTooLongError
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import ChatMessage
from localqwen.hardware import load_profile
from localqwen.catalog.loader import load_catalog
from localqwen.plan import choose, plan_model
from localqwen.plan.placement import Placement

LONG = "word " * 150


def test_the_oldest_exchange_goes_first_and_the_system_message_stays(tiny_qwen3: Path) -> None:
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=2)) as engine:
        history = [ChatMessage("system", "be brief"), ChatMessage("user", LONG), ChatMessage("assistant", LONG),
                   ChatMessage("user", "hi")]
        stream, dropped = open_chat(engine, history, thinking=False, max_tokens=32)
        stream.close()
        assert dropped == 2 and len(stream.prompt_tokens) + 32 <= 256
        assert "be brief" in engine.detokenize(stream.prompt_tokens)
        with pytest.raises(PromptTooLongError, match="the context holds 256"):
            open_chat(engine, [ChatMessage("user", LONG * 4)], thinking=False, max_tokens=32)


def test_the_repl_leaves_out_what_the_tui_would(tiny_qwen3: Path) -> None:
    """The REPL used to drop turns only once the prompt overflowed, leaving no room to answer."""
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=2)) as engine:
        out = io.StringIO()
        chat = PlainChat(engine, ReplOptions(thinking=False, max_tokens=32, system="be brief"), out, tty=False)
        chat.history = [ChatMessage("user", LONG), ChatMessage("assistant", LONG)]
        chat.ask("hi")
        assert "[2 oldest messages left out to fit the context]" in out.getvalue()
        assert [m.role for m in chat.history] == ["user", "assistant"] and chat.history[0].content == "hi"


def test_eta_reads_the_same_in_the_cli_and_the_tui() -> None:
    from localqwen.commands.pull import _left
    from localqwen.tui.widgets.file_progress import event_text
    from localqwen.pull import PullEvent

    assert _left(365) == "6:05 left" and _left(3723) == "1:02:03 left" and _left(None) == ""
    event = PullEvent("f.gguf", "download", 10, 100, 1e6, 365)
    assert event_text(event).endswith("ETA 6:05")


def test_planned_devices_carry_their_gpu_index() -> None:
    hw = load_profile("dual-rtx3090")
    choice = choose(plan_model(load_catalog().find("qwen3.6-27b"), hw))
    assert choice is not None and len(choice.devices) == 2
    assert [d.index for d in choice.devices] == [g.index for g in hw.gpus]

"""The terminal UI driven through Textual's Pilot, with the real llama.cpp on the tiny GGUF."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static

from localqwen.hardware import load_profile
from localqwen.tui.app import LocalQwenApp, make_app
from localqwen.tui.history import Conversation, HistoryStore, Turn
from localqwen.tui.screens.build_detail import BuildDetailScreen
from localqwen.tui.screens.chat import ChatScreen
from localqwen.tui.screens.history_picker import HistoryPicker
from localqwen.tui.settings import TuiSettings
from tests.held import Gate, held_engines
from tests.test_tui_kit import (
    fixed_machine,
    on_disk,
    palette_run,
    pinned_services,
    screen_text,
    settle,
    two_threads,
    wait_for,
)

QWEN3_SMALL = ("qwen3-0.6b", "Q6_K")  # the catalog row the tests find "on disk" (as the tiny model)


def notices(app: LocalQwenApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def chat(app: LocalQwenApp) -> ChatScreen:
    assert isinstance(app.screen, ChatScreen), type(app.screen)
    return app.screen


async def open_models_row(pilot, words: str) -> None:
    await pilot.press("f2")
    await wait_for(pilot, lambda: pilot.app.plan is not None, "the plan")
    await pilot.pause()
    await pilot.press(*words)
    await pilot.pause()
    assert pilot.app.screen.query_one(DataTable).row_count == 1
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BuildDetailScreen), "the build's detail")


async def test_the_first_screen_does_not_wait_for_detection(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_detect():
        gate.wait(30)
        return fixed_machine()

    services = replace(pinned_services(doctor=None), detect=slow_detect)
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), services)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Looking at this machine" in screen_text(app)
        await pilot.press("f2")  # the UI answers while detection is still running
        assert "Planning" in screen_text(app)
        gate.set()
        await wait_for(pilot, lambda: app.plan is not None, "the plan")
        await pilot.pause()
        assert "Planned for this machine" in screen_text(app)


async def test_open_see_hardware_pick_load_chat_and_stop(tiny_qwen3: Path, tmp_path: Path) -> None:
    gate = Gate(after=4)  # the answer pauses after 4 pieces: "answering…" is a state this test holds
    services = replace(pinned_services(locate=on_disk({QWEN3_SMALL: tiny_qwen3})), open_engine=held_engines(two_threads, gate))
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False, max_tokens=None), services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "Ready on this disk" in screen_text(app), "the next step")
        assert "test-laptop" in screen_text(app)
        app.screen.query_one("#machine").scroll_end(animate=False)  # at 80x24 the next step comes first
        await pilot.pause()
        shown = screen_text(app)
        assert "No NVIDIA GPU" in shown and "CPU only" in shown
        assert "NVML library not found" in shown and "fix: install the NVIDIA driver" in shown
        assert "SIGSEGV" in shown and "CMAKE_ARGS" in shown  # the doctor's warning, with its fix

        await open_models_row(pilot, "0.6b q6")
        assert "file: " in screen_text(app)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        assert app.current_mode == "chat" and app.loaded is not None
        assert app.loaded.placement.n_gpu_layers == 0  # planned for a CPU-only machine
        assert "Qwen3-0.6B Q6_K" in screen_text(app)

        await pilot.press(*"hello", "enter")
        screen = chat(app)
        await wait_for(pilot, lambda: gate.held.is_set() and screen.answer is not None and screen.answer.content, "streamed text")
        await pilot.pause()
        assert screen.generating and "answering…" in screen_text(app) and "esc Stop" in screen_text(app)
        assert "ctx —" not in screen_text(app) and screen.used  # the context filled so far, while it streams
        await pilot.press("escape")  # cancels the held stream, which goes on into its cancel
        await wait_for(pilot, lambda: not screen.generating, "the generation to stop")
        await pilot.pause()
        turns = screen.conversation.turns
        assert [t.role for t in turns] == ["user", "assistant"] and turns[1].content
        assert gate.streams[-1].stats.stop_reason == "cancelled"
        assert "stopped" in screen_text(app) and "tok/s" in screen_text(app)
        assert app.history.conversations(app.loaded.engine.info.name)  # saved after the answer


async def test_model_opened_from_the_command_line_streams_thinking(tiny_opens_think: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_opens_think, data_dir=tmp_path, cursor_blink=False, max_tokens=24), pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        placement = app.loaded.placement  # planned through launch for this (CPU-only) machine, not a bare Placement
        assert placement.n_gpu_layers == 0 and placement.flash_attn and app.loaded.fim is not None
        await pilot.press(*"why is the sky blue", "enter")
        screen = chat(app)
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant", "the answer")
        await pilot.pause()
        turn = screen.conversation.turns[-1]
        assert turn.reasoning and not turn.content  # this tiny model only ever thinks
        # The turn is final; what the screen shows of it comes with the next layout: wait for that, not a pause.
        await wait_for(pilot, lambda: "Thinking" in screen_text(app) and "cut at the token limit" in screen_text(app),
                       "the thinking and its note on screen")

        await pilot.press("ctrl+t")
        assert not screen.thinking and "thinking off" in screen_text(app)
        await pilot.press(*"/think", "enter")
        assert screen.thinking and screen.query_one("#prompt", Input).value == ""
        await pilot.press(*"and now? /no_think", "enter")  # the soft switch wins over the toggle
        await wait_for(pilot, lambda: not screen.generating and len(screen.conversation.turns) == 4, "the answer")
        assert screen.conversation.turns[-1].content and not screen.conversation.turns[-1].reasoning


async def test_a_new_conversation_does_not_show_the_last_ones_figures(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False, max_tokens=8), pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant", "the answer")
        status = lambda: str(screen.query_one("#chat-status").render())  # noqa: E731
        await wait_for(pilot, lambda: "tok/s" in status() and "— tok/s" not in status(), "the answer's speed")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not screen.conversation.turns, "the new conversation")
        assert "ctx —/" in status() and "— tok/s" in status(), status()


async def test_a_model_without_a_thinking_mode_is_offered_none(tmp_path: Path) -> None:
    """Qwen2.5's template has no thinking: no "thinking on", no /think hint, no Ctrl+T."""
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    plain = write_tiny_gguf(tmp_path / "tiny-qwen25.gguf", TinySpec(arch="qwen2", thinking=False))
    app = make_app(TuiSettings(model=plain, data_dir=tmp_path, cursor_blink=False, max_tokens=8), pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        await pilot.pause()
        status = str(screen.query_one("#chat-status").render())
        assert "thinking" not in status and "/think" not in screen.query_one("#prompt", Input).placeholder
        assert screen.check_action("toggle_thinking", ()) is False
        assert "Think" not in screen_text(app)  # not in the footer either
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant", "the answer")
        assert not screen.conversation.turns[-1].reasoning


async def test_bad_input_gives_notices_never_a_crash(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_qwen3, ctx=256, data_dir=tmp_path, cursor_blink=False, max_tokens=16), pinned_services())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        await pilot.press("enter")
        assert "Type a message first" in notices(app)
        prompt = screen.query_one("#prompt", Input)
        prompt.value = "tell me about " + "llamas " * 600
        await pilot.press("enter")
        await wait_for(pilot, lambda: "too long" in notices(app), "a notice")
        await pilot.pause()
        assert screen.conversation.turns == [] and not screen.generating
        assert prompt.value.startswith("tell me about")  # handed back to edit
        assert not screen.query(".user-turn")
        prompt.value = "short"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2, "an answer after the refusal")


async def test_oldest_turns_are_dropped_to_fit(tiny_qwen3: Path, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    long = "word " * 120
    old = Conversation("tiny-qwen3", turns=[Turn("user", long), Turn("assistant", long), Turn("user", "more"), Turn("assistant", "ok")])
    store.save(old)
    app = make_app(TuiSettings(model=tiny_qwen3, ctx=256, data_dir=tmp_path, cursor_blink=False, max_tokens=16), pinned_services())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryPicker), "the saved conversations")
        await pilot.press("enter")
        screen = await _back_to_chat(pilot)
        assert len(screen.conversation.turns) == 4 and len(screen.query(".user-turn")) == 2
        await pilot.press(*"hi", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 6, "the answer")
        assert "oldest messages were left out" in notices(app)


async def _back_to_chat(pilot) -> ChatScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChatScreen), "the chat")
    await pilot.pause()
    return pilot.app.screen


async def test_history_reload_and_copy_the_last_code_block(tiny_qwen3: Path, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    answer = "Here:\n\n```python\nprint('hello')\n```\n"
    store.save(Conversation("tiny-qwen3", turns=[Turn("user", "code please"), Turn("assistant", answer, "let me think")]))
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False, max_tokens=8), pinned_services())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        await pilot.press("ctrl+y")
        assert "no code block" in notices(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryPicker), "the saved conversations")
        assert "code please" in screen_text(app)
        await pilot.press("enter")
        screen = await _back_to_chat(pilot)
        assert "print('hello')" in screen_text(app)
        await pilot.press("ctrl+y")
        assert app.clipboard == "print('hello')\n"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.conversation.turns == [] and not screen.query(".answer-turn")


async def test_deleted_or_missing_files_and_profiles_are_notices(tiny_qwen3: Path, tmp_path: Path) -> None:
    doomed = tmp_path / "doomed.gguf"
    shutil.copy(tiny_qwen3, doomed)
    services = pinned_services(locate=on_disk({QWEN3_SMALL: doomed}))
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await open_models_row(pilot, "0.6b q6")
        doomed.unlink()
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "no longer on disk" in notices(app), "a notice")
        assert app.loaded is None and not app.loading and app.is_running
        await settle(pilot)
        row = next(r for r in app.plan.rows if (r.candidate.model.id, r.candidate.build.quant) == QWEN3_SMALL)
        assert row.path is None  # the table was planned again and says "not downloaded" now

        await pilot.press("f2")
        await pilot.press("escape", *"3-8b q4_k")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BuildDetailScreen), "the detail")
        await pilot.press("ctrl+l")
        assert "not on disk: Ctrl+D downloads it" in notices(app)
        await pilot.press("escape")  # the detail stays open for Ctrl+D; Esc closes it

        app.use_hardware("dual-rtx3090")
        await settle(pilot)
        models = app.screen
        assert models.query_one("#hardware-select", Select).value == "dual-rtx3090"
        assert "Planned for dual-rtx3090 (profile)" in screen_text(app)


async def test_a_broken_hardware_profile_is_a_notice(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nram_gb = "lots"\n')
    app = make_app(TuiSettings(hardware=str(broken), data_dir=tmp_path, cursor_blink=False), pinned_services(doctor=None))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "'ram_gb' should be a number" in notices(app)
        assert "'ram_gb' should be a number" in screen_text(app) and app.is_running
        await pilot.press("f2")
        await pilot.pause()
        assert "'ram_gb' should be a number" in screen_text(app)
        app.use_hardware(None)  # back to this machine
        await settle(pilot)
        assert app.plan is not None and "Planned for this machine" in screen_text(app)


def dual_3090_app(tmp_path: Path):
    return make_app(TuiSettings(hardware="dual-rtx3090", data_dir=tmp_path, cursor_blink=False), pinned_services())


async def open_detail(pilot, words: str) -> BuildDetailScreen:
    await settle(pilot)
    await open_models_row(pilot, words)
    detail = pilot.app.screen
    assert isinstance(detail, BuildDetailScreen)
    return detail


async def test_detail_estimate_moves_with_context_and_split(tmp_path: Path) -> None:
    app = dual_3090_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        detail = await open_detail(pilot, "qwen3.6-27b q6_k")
        before = detail.candidate
        assert before.placement is not None and before.placement.split_mode == "layer"
        assert "50%" in screen_text(app)
        detail.query_one("#ctx", Input).value = "8192"
        await wait_for(pilot, lambda: detail.candidate.n_ctx == 8192, "the replan")
        assert "context 8,192" in screen_text(app)
        assert sum(d.bytes for d in detail.candidate.devices) < sum(d.bytes for d in before.devices)
        detail.query_one("#split", Select).value = "row"
        await wait_for(pilot, lambda: "cannot split rows" in screen_text(app), "the row split refused")
        assert detail.candidate.placement.split_mode == "layer" and "split layer over 2 cards" in screen_text(app)
        detail.query_one("#ctx", Input).value = "12"
        await pilot.pause()
        assert "256 or more" in screen_text(app)
        await pilot.press("ctrl+l")
        assert "hardware profile dual-rtx3090, not this machine" in notices(app)


async def test_detail_says_when_the_context_asked_for_does_not_fit(tmp_path: Path) -> None:
    """On one card the field kept 262,144 while the estimate said a smaller context, and
    nothing said why: the detail names what was asked and the most that fits."""
    app = dual_3090_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        detail = await open_detail(pilot, "qwen3.6-27b q6_k")
        asked = int(detail.query_one("#ctx", Input).value)
        detail.query_one("#split", Select).value = "none"
        await wait_for(pilot, lambda: detail.candidate.placement.split_mode == "none", "the one-card plan")
        most = detail.candidate.n_ctx
        assert 0 < most < asked
        assert f"context {asked:,} does not fit: {most:,} is the most that does" in screen_text(app)
        assert f"context {most:,} ·" in screen_text(app) and "one card" in screen_text(app)


@pytest.mark.parametrize("title", ["Stop the answer", "Copy the last code block", "Plan for profile rtx4090", "Thinking on/off"])
async def test_command_palette_has_the_actions(title: str, tmp_path: Path) -> None:
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services(doctor=None))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert title in titles
        if title.startswith("Plan for profile"):
            await palette_run(pilot, title)
            await settle(pilot)
            assert app.hardware_source == "rtx4090" and app.hardware is not None and app.hardware.source == "profile"
        if title == "Thinking on/off":  # from the machine screen: the palette switches to the chat and runs it
            await palette_run(pilot, title)
            await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and not app.screen.thinking, "the chat, thinking off")
            assert app.current_mode == "chat"


async def test_thinking_folds_away_once_the_answer_starts() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Collapsible, Markdown

    from localqwen.tui.widgets.chat_turn import AnswerTurn

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AnswerTurn("model")

    async with Host().run_test() as pilot:
        turn = pilot.app.query_one(AnswerTurn)
        box = turn.query_one(Collapsible)
        assert not box.display  # no thinking yet: no block
        await turn.write("reasoning", "Let me *think*.")
        await pilot.pause()
        assert box.display and not box.collapsed
        await turn.write("content", "The **answer**")
        await turn.write("content", " is 42.")
        turn.finish("stopped")
        await pilot.pause()
        assert box.collapsed
        assert turn.query_one(".answer-text", Markdown).source == "The **answer** is 42."
        assert turn.query_one(".thinking-text", Markdown).source == "Let me *think*."
        assert "is 42." in screen_text(pilot.app) and "stopped" in screen_text(pilot.app)  # all of it shows


async def test_a_paragraph_that_grows_at_once_shows_all_its_lines() -> None:
    """Two pieces written before the new paragraph's first idle: Textual 8.2.8's Markdown kept
    the paragraph one line high (the CI failure of `..._streams_thinking`); all of it must show."""
    from textual.app import App, ComposeResult

    from localqwen.tui.widgets.chat_turn import AnswerTurn

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AnswerTurn("model")

    async with Host().run_test(size=(40, 20)) as pilot:
        turn = pilot.app.query_one(AnswerTurn)
        await turn.write("reasoning", "A first paragraph.\n\n")
        await pilot.pause()
        await turn.write("reasoning", "short")  # a new paragraph, laid out at once...
        await turn.write("reasoning", " and then a good deal more that wraps over the lines of a narrow screen, to its end")  # ...and grown
        turn.finish("cut at the token limit")
        await wait_for(pilot, lambda: "to its end" in screen_text(pilot.app) and "cut at the token" in screen_text(pilot.app),
                       "every line of the paragraph, and the note under it")


async def test_an_awq_build_opens_through_launch_and_says_what_vllm_needs(tmp_path: Path) -> None:
    """The TUI starts vLLM as the CLI does; here vLLM is not installed, so the notice says how to get it."""
    gpu_box = replace(fixed_machine(), gpus=load_profile("rtx4080-16g").gpus, gpu_offload=True)
    services = replace(pinned_services(doctor=None), detect=lambda: gpu_box,
                       build_info=lambda: {"llama_cpp_version": "0.3.36", "gpu_offload": True})
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await open_models_row(pilot, "3.6-27b awq")
        assert "cyankiwi/Qwen3.6-27B-AWQ-INT4 (community upload)" in screen_text(app)  # not Qwen's own
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "runs on vLLM" in notices(app), "the notice")
        assert "vLLM is not installed" in notices(app) and "pip install" in notices(app)
        assert "cannot start yet" not in notices(app)
        assert app.loaded is None and not app.loading and app.is_running


async def test_from_the_first_screen_to_a_streamed_answer_with_the_keys_it_shows(tiny_qwen3: Path, tmp_path: Path) -> None:
    """A newcomer with one GGUF on disk: the first screen names it and the key that loads
    it; Enter, then a message, reach a streamed answer. No key the screens do not show."""
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False, max_tokens=8),
                   pinned_services(locate=on_disk({QWEN3_SMALL: tiny_qwen3})))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "Ready on this disk" in screen_text(app), "the recommendation")
        shown = screen_text(app)
        assert "Ready on this disk: Qwen3-0.6B Q6_K" in shown and "Press Enter to load it and chat" in shown
        assert "Load it" in shown  # the footer advertises the key too
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        assert app.current_mode == "chat"
        await pilot.press(*"hello", "enter")
        screen = chat(app)
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns
                       and screen.conversation.turns[-1].role == "assistant", "the answer")
        assert screen.conversation.turns[-1].content or screen.conversation.turns[-1].reasoning


async def test_with_nothing_on_disk_the_first_screen_offers_a_download_that_fits(tmp_path: Path) -> None:
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "Recommended for this machine" in screen_text(app), "the recommendation")
        shown = screen_text(app)
        assert "Press Enter to download it" in shown and "needs the network" in shown
        assert "For editor completions:" in shown


def test_the_recommendation_leaves_the_machine_usable_and_prefers_what_is_on_disk(tiny_qwen3: Path) -> None:
    """On a 2-core laptop it recommended an 18.6 GB model in 24.5 GB of RAM while a 0.5B
    coder sat on disk."""
    from localqwen.catalog.loader import load_catalog
    from localqwen.plan.rank import USABLE_TOK_S
    from localqwen.tui.rows import USABLE_RAM_SHARE, plan_table, recommend

    laptop = fixed_machine()
    catalog = load_catalog()
    nothing = recommend(plan_table(laptop, catalog.models, [], lambda m, b: None))
    assert nothing.chat is not None and nothing.chat.path is None and not nothing.on_disk
    assert nothing.chat.candidate.host_bytes <= USABLE_RAM_SHARE * laptop.ram_available_bytes
    assert nothing.completions is not None and nothing.completions.candidate.model.fim
    found = on_disk({QWEN3_SMALL: tiny_qwen3})
    with_file = recommend(plan_table(laptop, catalog.models, [], found))
    assert with_file.chat is not None and with_file.chat.path == tiny_qwen3
    assert [r.key for r in with_file.on_disk] == ["qwen3-0.6b:Q6_K"]
    # what was measured here overrides the estimate: a build that ran too slowly is not offered again
    table = plan_table(laptop, catalog.models, [], found)
    too_slow = recommend(table, {"qwen3-0.6b:Q6_K": USABLE_TOK_S / 2}.get)
    assert too_slow.chat is not None and too_slow.chat.path is None and not too_slow.on_disk


async def test_a_new_message_follows_its_answer_though_the_person_scrolled_up(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False, max_tokens=60), pinned_services())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        for word in ("one", "two"):
            await pilot.press(*word, "enter")
            await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant",
                           "an answer")
        log = screen.query_one("#chat-log")
        log.scroll_home(animate=False)  # the person scrolls up to read
        await pilot.pause()
        assert log.scroll_y == 0 and log.max_scroll_y > 0
        await pilot.press(*"three", "enter")
        await wait_for(pilot, lambda: not screen.generating and len(screen.conversation.turns) == 6, "the third answer")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y  # at the new answer's end


async def test_a_speed_measured_in_the_chat_shows_beside_the_estimate(tiny_qwen3: Path, tmp_path: Path) -> None:
    """The table estimated ~42 tok/s for a build that ran at 17-25: after an answer, the
    table and the build detail show what was measured here, and it is kept for next time."""
    from localqwen.tui.measured import MeasuredSpeeds

    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False, max_tokens=40),
                   pinned_services(locate=on_disk({QWEN3_SMALL: tiny_qwen3})))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_models_row(pilot, "0.6b q6")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        await pilot.press(*"hello", "enter")
        screen = chat(app)
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant",
                       "the answer")
        kept = MeasuredSpeeds(tmp_path).get("test-laptop", "qwen3-0.6b:Q6_K")
        assert kept is not None and kept > 0
        await pilot.press("f2")
        await pilot.pause()
        assert f"{kept:.0f}✓" in screen_text(app) or f"{kept:.1f}✓" in screen_text(app)
        assert "✓ measured here" in screen_text(app)


async def test_build_detail_starts_at_context_shows_its_keys_and_says_why_it_cannot_load(tmp_path: Path) -> None:
    """Focus started on Load, Context three Tabs away; Ctrl+L and Ctrl+D were in no footer;
    Load was enabled for a build not on disk and said only "not downloaded"; a context that
    did not fit was capped silently."""
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await open_models_row(pilot, "0.6b q6")
        detail = app.screen
        assert isinstance(detail, BuildDetailScreen)
        assert app.focused is detail.query_one("#ctx", Input)
        shown = screen_text(app)
        assert "^l Load" in shown and "^d Download" in shown
        assert detail.query_one("#load").disabled and "not on disk: Ctrl+D downloads it" in shown
        detail.query_one("#ctx", Input).value = "10000000"
        await wait_for(pilot, lambda: "does not fit:" in screen_text(app), "the capped context said")
        assert "context 10,000,000 does not fit" in screen_text(app)
        await pilot.press("ctrl+l")
        assert "not on disk: Ctrl+D downloads it" in notices(app)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: app.current_mode == "download", "the download screen")


async def test_a_gguf_on_disk_opens_from_the_palette_and_a_bad_path_is_said_there(tiny_qwen3: Path, tmp_path: Path) -> None:
    """The TUI had no way to open a file a person already has (only `localqwen import`)."""
    from localqwen.tui.screens.open_file import PathScreen

    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model")
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services(doctor=None))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await palette_run(pilot, "Open a GGUF file")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen), "the path input")
        for wrong, said in ((tmp_path / "missing.gguf", "no such file"), (notes, "not a GGUF file")):
            app.screen.query_one("#open-path", Input).value = str(wrong)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, PathScreen) and said in screen_text(app)
        app.screen.query_one("#open-path", Input).value = str(tiny_qwen3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.loaded is not None, "the file to load")
        assert app.current_mode == "chat" and app.loaded.engine.info.path == str(tiny_qwen3)


async def test_typing_disk_in_models_lists_what_is_on_disk(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(data_dir=tmp_path, cursor_blink=False), pinned_services(locate=on_disk({QWEN3_SMALL: tiny_qwen3})))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.plan is not None, "the plan")
        await pilot.press(*"disk")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and "Qwen3-0.6B" in screen_text(app)


async def test_an_image_attached_by_path_goes_with_the_next_message_and_is_saved_by_name(tiny_vl, tiny_qwen3: Path,
                                                                                        tmp_path: Path) -> None:
    from localqwen.tui.screens.open_file import PathScreen
    from tests.pictures import png

    picture = tmp_path / "cat.png"
    picture.write_bytes(png(64, 48))
    app = make_app(TuiSettings(model=tiny_vl.model, data_dir=tmp_path, cursor_blink=False, max_tokens=6),
                   pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        assert app.loaded.engine.info.vision
        await wait_for(pilot, lambda: "^o Image" in screen_text(app), "the key, shown for a model that sees")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen), "the path input")
        for wrong, said in ((tmp_path / "dog.png", "no such file"), (tmp_path, "a folder, not an image")):
            app.screen.query_one("#open-path", Input).value = str(wrong)
            await pilot.press("enter")
            problem = app.screen.query_one("#open-problem", Static)
            await wait_for(pilot, lambda: said in str(problem.render()), "the problem said in the path input")
            assert isinstance(app.screen, PathScreen)
        app.screen.query_one("#open-path", Input).value = str(picture)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and screen.attached, "the image attached")
        assert "[image cat.png · PNG 64x48 ·" in screen_text(app) and "goes with your next message" in screen_text(app)
        await pilot.press(*"what is it", "enter")
        await wait_for(pilot, lambda: not screen.generating and screen.conversation.turns[-1].role == "assistant",
                       "the answer")
        sent = screen.conversation.turns[-2]
        assert [image.name for image in sent.images] == ["cat.png"] and not screen.attached
        used = screen.used
        assert used is not None and used > 14  # the prompt holds the picture's 14 tokens
        await wait_for(pilot, lambda: "[image cat.png]" in screen_text(app), "the picture named in the turn")
        [saved] = app.history.conversations(app.loaded.engine.info.name)
        assert [image.name for image in saved.turns[0].images] == ["cat.png"] and not saved.turns[0].images[0].data


async def test_a_model_that_reads_no_images_offers_no_attach(tiny_qwen3: Path, tmp_path: Path) -> None:
    app = make_app(TuiSettings(model=tiny_qwen3, data_dir=tmp_path, cursor_blink=False), pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        await wait_for(pilot, lambda: "^r History" in screen_text(app), "the chat's keys")
        assert "Image" not in screen_text(app)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen is chat(app)  # nothing opened: the key is off for this model


async def test_a_picture_the_model_cannot_read_comes_back_with_the_text(tiny_vl, tmp_path: Path) -> None:
    """Nothing is lost: a message refused for its picture returns to the input, the picture to
    the attachments, and the notice names it."""
    from localqwen.tui.screens.open_file import PathScreen
    from tests.pictures import png

    broken = tmp_path / "broken.png"
    broken.write_bytes(png(64, 48)[:40] + b"\0" * 64)  # a PNG's header, then no picture
    app = make_app(TuiSettings(model=tiny_vl.model, data_dir=tmp_path, cursor_blink=False, max_tokens=6),
                   pinned_services())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.loaded is not None, "the model to load")
        screen = chat(app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen), "the path input")
        app.screen.query_one("#open-path", Input).value = str(broken)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and screen.attached, "the image attached")
        await pilot.press(*"what is it", "enter")
        await wait_for(pilot, lambda: not screen.generating and "broken.png" in notices(app), "the refusal")
        assert "the image could not be decoded" in notices(app)
        assert screen.query_one("#prompt", Input).value == "what is it"
        assert [image.name for image, _ in screen.attached] == ["broken.png"] and not screen.conversation.turns
        await pilot.press("ctrl+g")  # (Ctrl+X is the input's cut)
        assert not screen.attached

"""The TUI's logic without a screen: plan rows, saved conversations, fitting the context."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localqwen.catalog.loader import load_catalog
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import ChatMessage, Delta
from localqwen.engine.errors import PromptTooLongError
from localqwen.hardware import load_profile
from localqwen.plan.placement import Placement
from localqwen.plan import PlanOptions
from localqwen.engine.chat_fit import open_chat as open_reply
from localqwen.tui.conversation import last_code_block, stream_reply, thinking_for
from localqwen.tui.history import Conversation, HistoryStore, Turn, slug
from localqwen.tui.rows import memory_text, plan_table, replan, short_name
from localqwen.tui.settings import not_downloaded


@pytest.fixture(scope="module")
def dual_3090_table():
    return plan_table(load_profile("dual-rtx3090"), load_catalog().models, [], not_downloaded)


def test_plan_table_lists_every_build_and_marks_the_pick(dual_3090_table) -> None:
    catalog = load_catalog()
    assert len(dual_3090_table.rows) == sum(len(m.builds) for m in catalog.models)
    pick = dual_3090_table.row(dual_3090_table.pick)
    assert pick is not None and pick.candidate.verdict == "fits"
    assert all(row.path is None for row in dual_3090_table.rows)


def test_filter_words_must_all_match(dual_3090_table) -> None:
    hits = [r for r in dual_3090_table.rows if r.matches("qwen3.6-27b q6_k".split())]
    assert [(r.candidate.model.id, r.candidate.build.quant) for r in hits] == [("qwen3.6-27b", "Q6_K")]
    assert any(r.matches(["vllm"]) for r in dual_3090_table.rows)


def test_replan_moves_with_context_and_split(dual_3090_table) -> None:
    row = next(r for r in dual_3090_table.rows if r.matches("qwen3.6-27b q6_k".split()))
    hw = dual_3090_table.hardware
    small = replan(row, hw, PlanOptions(ctx=8192))
    layer = replan(row, hw, PlanOptions(ctx=8192, split_mode="layer"))
    assert small.n_ctx == 8192 < (row.candidate.n_ctx or 0)
    assert sum(d.bytes for d in small.devices) < sum(d.bytes for d in row.candidate.devices)
    assert layer.placement is not None and layer.placement.split_mode == "layer"
    assert "+" in memory_text(layer) and short_name("Qwen2.5-Coder-7B-Instruct") == "Qwen2.5-Coder-7B"


def test_local_file_row_comes_first_and_is_on_disk(tiny_qwen3: Path) -> None:
    from localqwen.tui.settings import default_services

    spec = default_services().read_local(tiny_qwen3)
    table = plan_table(load_profile("laptop-cpu-16g"), load_catalog().models, [(spec, tiny_qwen3)], not_downloaded)
    first = table.rows[0]
    assert first.local and first.path == tiny_qwen3 and first.label.endswith("(file)")
    assert first.candidate.verdict == "fits"


def test_builds_on_disk_come_before_the_rest(tmp_path: Path) -> None:
    """A newcomer looks for the file they have at the top, not among 80 builds."""
    catalog = load_catalog()
    model = catalog.find("Qwen2.5-Coder-0.5B-Instruct")
    on_disk = tmp_path / "coder.gguf"
    on_disk.write_bytes(b"GGUF")
    locate = lambda m, b: on_disk if (m.id, b.quant) == (model.id, "Q4_K_M") else None  # noqa: E731
    table = plan_table(load_profile("laptop-cpu-16g"), catalog.models, [], locate)
    first, second = table.rows[:2]
    assert (first.candidate.model.id, first.candidate.build.quant, first.path) == (model.id, "Q4_K_M", on_disk)
    assert second.path is None and len(table.rows) == sum(len(m.builds) for m in catalog.models)


def test_history_round_trip_and_a_broken_file_is_left_out(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    first = Conversation("tiny qwen3/Q6", turns=[Turn("user", "hello " * 30), Turn("assistant", "hi", "thinking")])
    store.save(first)
    second = Conversation("tiny qwen3/Q6", created="2999-01-01T00:00:00", turns=[Turn("user", "later")])
    store.save(second)
    (store.folder("tiny qwen3/Q6") / "broken.json").write_text("{not json")
    listed = store.conversations("tiny qwen3/Q6")
    assert [c.id for c in listed] == [second.id, first.id]
    loaded = store.load("tiny qwen3/Q6", first.id)
    assert loaded.turns == first.turns and loaded.title.endswith("…") and len(loaded.title) <= 61
    assert slug("tiny qwen3/Q6") == "tiny-qwen3-Q6" and not list(store.folder("tiny qwen3/Q6").glob(".*.tmp"))
    data = json.loads((store.folder("tiny qwen3/Q6") / f"{first.id}.json").read_text())
    assert data["turns"][1] == {"role": "assistant", "content": "hi", "reasoning": "thinking"}


def test_code_blocks_and_soft_switches() -> None:
    text = "one\n```python\nprint(1)\n```\nthen\n~~~\nlast\nblock\n~~~\n"
    assert last_code_block(text) == "last\nblock\n"
    assert last_code_block("no code") is None
    assert thinking_for("why? /no_think", True) is None and thinking_for("why?", False) is False


def test_open_reply_drops_oldest_turns_then_refuses(tiny_qwen3: Path) -> None:
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=2)) as engine:
        long_turn = "word " * 150
        history = [ChatMessage("user", long_turn), ChatMessage("assistant", long_turn), ChatMessage("user", "hi")]
        stream, dropped = open_reply(engine, history, thinking=False, max_tokens=32)
        stream.close()
        assert dropped == 2 and len(stream.prompt_tokens) < 256
        with pytest.raises(PromptTooLongError, match="the context holds 256"):
            open_reply(engine, [ChatMessage("user", long_turn * 4)], thinking=False, max_tokens=32)


class FakeClockStream:
    """A stream stand-in for the batching logic alone (the real engine is tested above)."""

    def __init__(self, deltas: list[Delta]) -> None:
        from localqwen.engine.types import GenerationStats

        self.deltas, self.stats, self.cancelled, self.closed = deltas, GenerationStats(), False, False

    def __iter__(self):
        for delta in self.deltas:
            self.stats.predicted_n += 1
            yield delta

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        self.closed = True


def test_stream_reply_batches_by_time_and_kind() -> None:
    deltas = [Delta("reasoning", "a"), Delta("reasoning", "b"), Delta("content", "c"), Delta("content", "d")]
    stream = FakeClockStream(deltas)
    sent: list[tuple[str, str]] = []
    reply = stream_reply(stream, lambda kind, text, n, s: sent.append((kind, text)), lambda: True, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert sent == [("reasoning", "a"), ("reasoning", "b"), ("content", "cd")]
    assert (reply.reasoning, reply.content) == ("ab", "cd") and stream.cancelled and stream.closed


def test_the_live_speed_counts_from_the_first_token_not_from_the_request() -> None:
    """The prompt took 10 s, then a token a second: the status line must say 1 tok/s, as
    the final figure does, not 3 tokens in 13 s."""
    now = [0.0]

    class Timed(FakeClockStream):
        def __iter__(self):
            for i, delta in enumerate(self.deltas):
                now[0] = 10.0 + i
                self.stats.predicted_n += 1
                yield delta

    sent: list[tuple[int, float]] = []
    stream = Timed([Delta("content", c) for c in "abcd"])
    stream_reply(stream, lambda kind, text, n, s: sent.append((n, s)), lambda: False,  # type: ignore[arg-type]
                 flush_seconds=0.0, clock=lambda: now[0])
    assert sent == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]


def test_the_cli_and_the_tui_logic_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import localqwen.cli, localqwen.commands.ui, localqwen.tui.settings, localqwen.tui.rows, "
        "localqwen.tui.history, localqwen.tui.conversation\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_stylesheet_is_there() -> None:
    from localqwen.tui.assets import stylesheets

    missing = [str(path) for path in stylesheets() if not Path(path).is_file()]
    assert not missing


def test_the_continue_snippet_has_completions_and_chat_as_the_readme_shows() -> None:
    """It carried the autocomplete entry only."""
    import yaml

    from localqwen.tui.snippets import continue_yaml

    models = yaml.safe_load(continue_yaml(8012, "localqwen"))["models"]
    assert [(m["provider"], m["apiBase"], m["roles"]) for m in models] == [
        ("llama.cpp", "http://127.0.0.1:8012", ["autocomplete"]),
        ("openai", "http://127.0.0.1:8012/v1", ["chat", "edit", "apply"])]
    assert models[1]["capabilities"] == ["tool_use"]
    seeing = yaml.safe_load(continue_yaml(8012, "qwen2.5-vl-7b", images=True))["models"]
    assert seeing[1]["capabilities"] == ["tool_use", "image_input"]  # Continue's own name: it lets pictures be attached


def test_long_waits_say_how_far_they_have_come() -> None:
    """Loading said only "Loading…"; a 2.5k-token prompt was 27 s of "answering…" with nothing moving."""
    from localqwen.tui.conversation import status_line

    loading = status_line("qwen", True, None, None, None, thinking=None, generating=False, loading_s=12.4)
    assert loading == "loading qwen… 12 s"
    half = status_line("qwen", True, None, None, None, thinking=None, generating=False, loading_s=3.2, loaded_share=0.456)
    assert half == "loading qwen… 46% · 3 s"
    reading = status_line("qwen", False, 4096, 300, None, thinking=None, generating=True, reading=(1024, 2560))
    assert reading.endswith("reading the prompt 1,024/2,560…")
    answering = status_line("qwen", False, 4096, 300, 20.0, thinking=None, generating=True)
    assert answering.endswith("answering…")


def test_sizes_read_in_one_binary_unit_and_a_small_file_in_kib() -> None:
    from localqwen.units import size

    assert [size(n) for n in (24 * 1024**3, 43.4 * 1024**2, 200 * 1024, 6636)] == [
        "24.0 GiB", "43.4 MiB", "0.2 MiB", "6.5 KiB"]

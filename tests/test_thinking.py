import pytest

from localqwen.engine.chat_template import opens_thinking, render_chat, soft_switch
from localqwen.engine.thinking import ThinkSplitter, split_thinking
from localqwen.engine.types import ChatMessage, Delta
from localqwen.tinymodel.template import QWEN3_CHAT_TEMPLATE

TEXT = "<think>\nThe user greets me.\n</think>\n\nHello there!"


def test_whole_text_splits_reasoning_from_content() -> None:
    assert split_thinking(TEXT) == ("The user greets me.\n", "Hello there!")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_tags_cut_across_chunks_split_the_same(size: int) -> None:
    splitter = ThinkSplitter()
    deltas: list[Delta] = []
    for start in range(0, len(TEXT), size):
        deltas += splitter.feed(TEXT[start : start + size])
    deltas += splitter.flush()
    assert "".join(d.text for d in deltas if d.kind == "reasoning") == "The user greets me.\n"
    assert "".join(d.text for d in deltas if d.kind == "content") == "Hello there!"
    assert not any("<" in d.text and "think" in d.text for d in deltas)


def test_prompt_that_opens_thinking_starts_in_reasoning() -> None:
    assert split_thinking("I should answer.</think>\n\n42", in_think=True) == ("I should answer.", "42")


def test_text_without_tags_is_all_content_and_a_lone_angle_bracket_survives() -> None:
    assert split_thinking("a < b and <thin") == ("", "a < b and <thin")


def test_disabled_splitter_passes_tags_through() -> None:
    splitter = ThinkSplitter(enabled=False)
    assert splitter.feed("<think>x</think>") == [Delta("content", "<think>x</think>")]


def test_template_honours_enable_thinking() -> None:
    messages = [ChatMessage("user", "hi")]
    on = render_chat(QWEN3_CHAT_TEMPLATE, messages, enable_thinking=True)
    off = render_chat(QWEN3_CHAT_TEMPLATE, messages, enable_thinking=False)
    assert on == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert off == on + "<think>\n\n</think>\n\n"
    assert not opens_thinking(on) and not opens_thinking(off)
    assert opens_thinking(on + "<think>\n")


def test_template_strips_reasoning_from_earlier_turns() -> None:
    messages = [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "<think>\nhmm\n</think>\n\nhello"),
        ChatMessage("user", "again"),
    ]
    prompt = render_chat(QWEN3_CHAT_TEMPLATE, messages, enable_thinking=True)
    assert "hmm" not in prompt and "<|im_start|>assistant\nhello<|im_end|>" in prompt


def test_soft_switch_reads_the_latest_user_message() -> None:
    assert soft_switch([ChatMessage("user", "hi")]) is None
    assert soft_switch([ChatMessage("user", "be quick /no_think")]) is False
    assert soft_switch([ChatMessage("user", "/no_think"), ChatMessage("assistant", "ok"), ChatMessage("user", "now /think")]) is True
    assert soft_switch([ChatMessage("user", "path a/no_thinking")]) is None


@pytest.mark.parametrize(
    "name, asked, thinks",
    [
        ("tiny-qwen3", False, False),  # not in the catalog: Qwen3's switch, as asked
        ("tiny-qwen3", True, True),
        ("Qwen3-4B-Thinking-2507", False, True),  # the catalog says it always thinks
        ("Qwen3-4B-Instruct-2507", True, False),  # and this one never does
    ],
)
def test_the_catalogs_thinking_mode_overrides_what_is_asked(tmp_path, name: str, asked: bool, thinks: bool) -> None:
    """A GGUF whose header names a catalog model thinks as the catalog says: on a template
    that opens `<think>` unless told not to, the answer is reasoning exactly when it thinks."""
    from localqwen.engine.llama import LlamaEngine
    from localqwen.engine.types import GREEDY
    from localqwen.plan.placement import Placement
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    path = write_tiny_gguf(tmp_path / "m.gguf", TinySpec(opens_think_in_prompt=True, name=name))
    with LlamaEngine(path, Placement(n_ctx=512, n_threads=1)) as engine:
        deltas = list(engine.chat([ChatMessage("user", "hi")], thinking=asked, sampling=GREEDY, max_tokens=8))
    kinds = {d.kind for d in deltas}
    assert kinds == ({"reasoning"} if thinks else {"content"})


def test_the_smallest_qwen35_does_not_think_unless_asked() -> None:
    from localqwen.engine.chat_template import resolve_thinking

    hi = [ChatMessage("user", "hi")]
    assert resolve_thinking("template", None, hi, default=False) is False
    assert resolve_thinking("template", True, hi, default=False) is True
    assert resolve_thinking("template", None, [ChatMessage("user", "hi /think")], default=False) is True

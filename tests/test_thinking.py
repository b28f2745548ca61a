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

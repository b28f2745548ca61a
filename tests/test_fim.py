from pathlib import Path

import pytest

from localqwen.engine.fim import build_fim_prompt
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import ExtraChunk
from localqwen.engine.errors import FimUnsupportedError, PromptTooLongError
from localqwen.plan.placement import Placement
from localqwen.tinymodel import TinySpec, write_tiny_gguf

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module", params=["tiny_qwen2", "tiny_qwen3", "tiny_no_fim_ids"])
def any_engine(request: pytest.FixtureRequest):
    path: Path = request.getfixturevalue(request.param)
    with LlamaEngine(path, Placement(n_ctx=512, n_threads=2)) as loaded:
        yield loaded


def test_fim_tokens_found_in_metadata_or_by_text(any_engine: LlamaEngine) -> None:
    fim = any_engine.info.fim
    assert fim is not None
    expected = "vocab" if "nofim" in any_engine.info.path else "metadata"
    assert fim.source == expected
    for token_id, text in ((fim.prefix, "<|fim_prefix|>"), (fim.suffix, "<|fim_suffix|>"), (fim.middle, "<|fim_middle|>")):
        assert any_engine.detokenize([token_id], special=True) == text


def test_fim_prompt_is_exactly_markers_around_prefix_and_suffix(any_engine: LlamaEngine) -> None:
    fim = any_engine.info.fim
    assert fim is not None
    with any_engine.fim(PREFIX, SUFFIX, max_tokens=4) as stream:
        stream.collect()
    expected = [fim.prefix, *any_engine.tokenize(PREFIX), fim.suffix, *any_engine.tokenize(SUFFIX), fim.middle]
    assert stream.prompt_tokens == expected
    assert stream.stats.predicted_n == 4


def test_fim_text_that_spells_a_marker_stays_text(engine: LlamaEngine) -> None:
    fim = engine.info.fim
    assert fim is not None
    with engine.fim("s = '<|fim_suffix|>'", "", max_tokens=1) as stream:
        stream.collect()
    assert stream.prompt_tokens.count(fim.suffix) == 1


def test_extra_context_goes_first_as_repo_and_file_chunks(engine: LlamaEngine) -> None:
    fim = engine.info.fim
    assert fim is not None and fim.repo_name is not None and fim.file_sep is not None
    extra = [ExtraChunk("util.py", "def helper():\n    pass\n")]
    prompt = build_fim_prompt(engine.tokenize, fim, PREFIX, SUFFIX, budget=500, extra=extra, repo_name="demo", filename="main.py")
    expected = (
        [fim.repo_name, *engine.tokenize("demo\n")]
        + [fim.file_sep, *engine.tokenize("util.py\ndef helper():\n    pass\n")]
        + [fim.file_sep, *engine.tokenize("main.py\n")]
        + [fim.prefix, *engine.tokenize(PREFIX), fim.suffix, *engine.tokenize(SUFFIX), fim.middle]
    )
    assert prompt.tokens == expected and not prompt.truncated


def test_trimming_drops_oldest_extra_then_far_ends(engine: LlamaEngine) -> None:
    fim = engine.info.fim
    assert fim is not None
    tok = engine.tokenize
    extra = [ExtraChunk("old.py", "x = 1\n" * 20), ExtraChunk("new.py", "y = 2\n")]
    full = build_fim_prompt(tok, fim, PREFIX, SUFFIX, budget=10_000, extra=extra)
    short = build_fim_prompt(tok, fim, PREFIX, SUFFIX, budget=len(full.tokens) - 5, extra=extra)
    assert short.extra_dropped == 1 and short.extra_used == 1 and short.truncated
    assert len(short.tokens) <= len(full.tokens) - 5

    prefix = "".join(f"line{i} = {i}\n" for i in range(200))
    suffix = "".join(f"after{i}()\n" for i in range(200))
    budget = 103
    trimmed = build_fim_prompt(tok, fim, prefix, suffix, budget=budget)
    assert trimmed.truncated and len(trimmed.tokens) == budget
    pre_at, suf_at = trimmed.tokens.index(fim.prefix), trimmed.tokens.index(fim.suffix)
    kept_prefix = trimmed.tokens[pre_at + 1 : suf_at]
    kept_suffix = trimmed.tokens[suf_at + 1 : -1]
    assert kept_prefix == tok(prefix)[-len(kept_prefix):]  # nearest the cursor kept
    assert kept_suffix == tok(suffix)[: len(kept_suffix)]
    assert len(kept_prefix) == 3 * len(kept_suffix)  # 100 tokens of room, 75:25


def test_too_small_a_budget_is_a_clear_error(engine: LlamaEngine) -> None:
    fim = engine.info.fim
    assert fim is not None
    with pytest.raises(PromptTooLongError, match="at least 4 tokens"):
        build_fim_prompt(engine.tokenize, fim, PREFIX, SUFFIX, budget=3)


def test_model_without_fim_tokens_says_so(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "chat-only.gguf", TinySpec(fim_tokens=False))
    with LlamaEngine(path, Placement(n_ctx=256, n_threads=1)) as plain:
        assert plain.info.fim is None
        with pytest.raises(FimUnsupportedError, match="no fill-in-the-middle tokens"):
            plain.fim("a", "b")


def test_prefix_and_suffix_keep_the_tokens_nearest_the_cursor(engine: LlamaEngine) -> None:
    """Each keystroke evaluates the suffix again (prefix-suffix-middle) and attends to the
    whole prefix, so both are capped as llama.cpp's FIM preset caps them: the suffix keeps
    its first tokens, the lines before the cursor's line their last, and the cursor's line
    comes whole after them."""
    from localqwen.engine.fim import PREFIX_CAP, SUFFIX_CAP

    fim = engine.info.fim
    assert fim is not None
    lines = "".join(f"x{i} = {i}\n" for i in range(400))
    line = "    z = x1"
    suffix = "".join(f"y{i} = {i}\n" for i in range(400))
    suffix_ids, lines_ids = engine.tokenize(suffix), engine.tokenize(lines)
    assert len(suffix_ids) > SUFFIX_CAP and len(lines_ids) > PREFIX_CAP
    prompt = build_fim_prompt(engine.tokenize, fim, lines + line, suffix, budget=100_000)
    start = prompt.tokens.index(fim.suffix) + 1
    line_ids = engine.tokenize(line)
    assert prompt.tokens[start:-1] == suffix_ids[: SUFFIX_CAP - 2 - len(line_ids)]  # the line takes its share
    assert prompt.tokens[1 : start - 1] == lines_ids[-PREFIX_CAP:] + line_ids
    whole = build_fim_prompt(engine.tokenize, fim, lines + line, suffix, budget=100_000, prefix_cap=None, suffix_cap=None)
    assert whole.tokens[whole.tokens.index(fim.suffix) + 1 : -1] == suffix_ids
    assert whole.tokens[1 : whole.tokens.index(fim.suffix)] == lines_ids + engine.tokenize(line)


def test_typing_in_the_cursor_line_never_moves_the_prefix_window(engine: LlamaEngine) -> None:
    """The window is cut from the lines before the cursor's line alone: each keystroke
    shares the whole window with the one before, so only the line and the suffix are
    evaluated again."""
    from localqwen.engine.fim import PREFIX_CAP

    fim = engine.info.fim
    assert fim is not None
    lines = "".join(f"x{i} = {i}\n" for i in range(400))
    typed = "    answer = x1 + x2"
    prompts = [build_fim_prompt(engine.tokenize, fim, lines + typed[:k], "\n", budget=100_000).tokens
               for k in range(len(typed) + 1)]
    window = prompts[0][: 1 + PREFIX_CAP]
    assert all(p[: 1 + PREFIX_CAP] == window for p in prompts)


def test_dropping_extra_chunks_tokenizes_each_once(engine: LlamaEngine) -> None:
    """Trimming re-tokenized every remaining chunk after each drop: 4,000 chunks took 46 s
    inside the request. Each piece is tokenized once, however many are dropped."""
    fim = engine.info.fim
    assert fim is not None
    calls = 0

    def counted(text: str) -> list[int]:
        nonlocal calls
        calls += 1
        return engine.tokenize(text)

    extra = [ExtraChunk(f"f{i}.py", f"v{i} = {i}\n") for i in range(300)]
    prompt = build_fim_prompt(counted, fim, PREFIX, SUFFIX, budget=200, extra=extra)
    assert prompt.extra_dropped > 250 and prompt.extra_used + prompt.extra_dropped == 300
    assert calls == len(extra) + 5  # the chunks; the repo and file headers; the lines before the cursor, its line, the suffix
    assert len(prompt.tokens) <= 200

from pathlib import Path

import pytest

from localqwen.engine.fim import build_fim_prompt, split_cursor_line
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import GREEDY, ExtraChunk, Sampling
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


def _layout(engine: LlamaEngine, prefix: str, suffix: str) -> tuple[list[int], int]:
    """The prompt as fim.py lays it out, and the token held back to heal."""
    fim = engine.info.fim
    assert fim is not None
    lines, line = split_cursor_line(prefix)
    line_ids = engine.tokenize(line)
    return [fim.prefix, *engine.tokenize(lines), fim.suffix, *engine.tokenize(suffix), fim.middle, *line_ids[:-1]], line_ids[-1]


def test_fim_prompt_is_the_lines_the_suffix_then_the_cursor_line_as_the_middle(any_engine: LlamaEngine) -> None:
    with any_engine.fim(PREFIX, SUFFIX, max_tokens=4) as stream:
        stream.collect()
    tokens, healed = _layout(any_engine, PREFIX, SUFFIX)
    assert stream.prompt_tokens == tokens
    assert stream.heal == any_engine.detokenize([healed]).encode()
    assert stream.stats.predicted_n == 4


def test_the_answer_finishes_a_word_typed_half_way(any_engine: LlamaEngine) -> None:
    """Token healing: the line's last token is held back, and the first token generated
    must begin with its text, which the answer leaves out. Without it, "print(os.getc"
    went on as if "c" were a whole word (the model saw "getcwd" as one token in training)."""
    prefix = "import os\n\ndef main():\n    print(os.getc"
    with any_engine.fim(prefix, "\n", max_tokens=3, sampling=GREEDY) as stream:
        _, answer = stream.collect()
    heal = stream.heal.decode()
    assert heal and prefix.endswith(heal)
    first = any_engine.cached_tokens[len(stream.prompt_tokens)]  # the first token generated
    assert any_engine.detokenize([first]).startswith(heal)
    assert (heal + answer).startswith(any_engine.detokenize([first]))


def test_healing_is_off_under_a_grammar(engine: LlamaEngine) -> None:
    """A grammar constrains the answer from its first character: nothing is held back."""
    sampling = Sampling(temperature=0, grammar='root ::= "x"')
    with engine.fim("value = get", "\n", max_tokens=2, sampling=sampling) as stream:
        _, answer = stream.collect()
    assert stream.heal == b"" and answer == "x"
    assert stream.prompt_tokens[-len(engine.tokenize("value = get")):] == engine.tokenize("value = get")


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
        + _layout(engine, PREFIX, SUFFIX)[0]
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
    """Moving to another line evaluates the suffix again and everything generated attends
    to the whole prefix, so both are capped as llama.cpp's FIM preset caps them: the suffix
    keeps its first tokens, the lines before the cursor's line their last, and the cursor's
    line comes whole after the middle marker."""
    from localqwen.engine.fim import PREFIX_CAP, SUFFIX_CAP

    fim = engine.info.fim
    assert fim is not None
    lines = "".join(f"x{i} = {i}\n" for i in range(400))
    line = "    z = x1"
    suffix = "".join(f"y{i} = {i}\n" for i in range(400))
    suffix_ids, lines_ids, line_ids = engine.tokenize(suffix), engine.tokenize(lines), engine.tokenize(line)
    assert len(suffix_ids) > SUFFIX_CAP and len(lines_ids) > PREFIX_CAP
    prompt = build_fim_prompt(engine.tokenize, fim, lines + line, suffix, budget=100_000)
    assert prompt.tokens == [fim.prefix, *lines_ids[-PREFIX_CAP:], fim.suffix, *suffix_ids[: SUFFIX_CAP - 2],
                             fim.middle, *line_ids[:-1]]
    assert prompt.heal == line_ids[-1] and prompt.suffix_at == 1 + PREFIX_CAP
    whole = build_fim_prompt(engine.tokenize, fim, lines + line, suffix, budget=100_000, prefix_cap=None,
                             suffix_cap=None, heal=False)
    assert whole.tokens == [fim.prefix, *lines_ids, fim.suffix, *suffix_ids, fim.middle, *line_ids]
    assert whole.heal is None


def test_typing_in_the_cursor_line_changes_only_the_tail(engine: LlamaEngine) -> None:
    """Everything up to the middle marker is the same for every keystroke in a line, so the
    cache keeps it and a keystroke evaluates only what was typed."""
    fim = engine.info.fim
    assert fim is not None
    lines = "".join(f"x{i} = {i}\n" for i in range(400))
    typed = "    answer = x1 + x2"
    suffix = "".join(f"y{i} = {i}\n" for i in range(40))
    prompts = [build_fim_prompt(engine.tokenize, fim, lines + typed[:k], suffix, budget=100_000).tokens
               for k in range(len(typed) + 1)]
    head = prompts[0][: prompts[0].index(fim.middle) + 1]
    assert all(p[: len(head)] == head for p in prompts)
    assert max(len(p) for p in prompts) - len(head) < len(engine.tokenize(typed))


def test_a_line_longer_than_the_room_keeps_its_end(engine: LlamaEngine) -> None:
    fim = engine.info.fim
    assert fim is not None
    line = "values = [" + ", ".join(str(i) for i in range(300))
    prompt = build_fim_prompt(engine.tokenize, fim, "import os\n" + line, "]\n", budget=60, heal=False)
    assert prompt.truncated and len(prompt.tokens) == 60
    assert prompt.tokens[-57:] == engine.tokenize(line)[-57:]  # all but the three markers


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


def test_tokens_starting_with_a_text_are_all_found_in_a_qwen_sized_vocabulary(tiny_qwen_vocab: Path) -> None:
    """Healing looks up, per keystroke, every token that begins with the held-back text:
    a binary search over the sorted vocabulary, checked here against a scan of all 151,936."""
    from localqwen.engine.native import Vocabulary

    with LlamaEngine(tiny_qwen_vocab, Placement(n_ctx=256, n_threads=1)) as engine:
        vocab = Vocabulary(engine._vocab.vocab)
        pieces = [vocab.piece(token) for token in range(engine.info.n_vocab)]
        for text in (b" ", b"re", b"\n", b"\xc3", b"\xff", b"def", b"zzzzzzzzzzzz"):
            expected = sorted(token for token, piece in enumerate(pieces) if piece.startswith(text))
            assert sorted(vocab.starting_with(text).tolist()) == expected, text
        assert len(vocab.starting_with(b" ")) > 1000

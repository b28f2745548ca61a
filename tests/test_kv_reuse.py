from pathlib import Path

import pytest

from localqwen.engine.fim import SUFFIX_CAP, split_cursor_line
from localqwen.engine.kv_reuse import ShiftPlan, plan_shift
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import GREEDY
from localqwen.plan.placement import Placement

SUFFIX = list(range(1000, 1100))


def test_deletion_moves_the_rest_left_and_the_last_token_stays_fresh() -> None:
    cache = [1, 2, 3, 4, 5] + SUFFIX + [7, 8]  # the old prompt, then generated tokens
    new = [1, 2, 3] + SUFFIX + [9]
    assert plan_shift(cache, new, 3, 32) == ShiftPlan(common=3, src=5, length=100)
    assert plan_shift(cache[:-2], new[:-1], 3, 32) == ShiftPlan(common=3, src=5, length=99)


def test_no_plan_when_off_short_inserted_or_absent() -> None:
    assert plan_shift([1, 2] + SUFFIX, [1] + SUFFIX, 1, 0) is None
    assert plan_shift([1, 2] + SUFFIX, [1] + SUFFIX, 1, 200) is None
    assert plan_shift([1] + SUFFIX, [1, 5] + SUFFIX, 1, 32) is None  # an insertion
    assert plan_shift([1, 2, 3], [1, 9, 9, 9] + SUFFIX, 1, 32) is None


@pytest.fixture(scope="module")
def shifting(tiny_qwen3: Path):
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=4096, n_threads=2), reuse_shifted_chunks=32) as engine:
        yield engine


def test_backspace_reevaluates_only_the_tail(shifting: LlamaEngine) -> None:
    prefix = "import os\n\ndef main():\n    value = 42 + 7"
    suffix = "".join(f"\ndef after_{i}():\n    return {i}\n" for i in range(30))
    with shifting.fim(prefix, suffix, max_tokens=4, sampling=GREEDY) as first:
        first.collect()
    with shifting.fim(prefix[:-4], suffix, max_tokens=4, sampling=GREEDY) as deleted:
        answer = deleted.collect()
    stats = deleted.stats
    # The whole (capped) suffix moved; the tokens the line lost go to the suffix's share and are new.
    lost = len(shifting.tokenize(split_cursor_line(prefix)[1])) - len(shifting.tokenize(split_cursor_line(prefix[:-4])[1]))
    assert stats.evaluated_n < 5 + lost and stats.cached_n > SUFFIX_CAP - 2 - lost, stats
    with shifting.fim(prefix[:-4], suffix, max_tokens=4, sampling=GREEDY) as again:
        assert again.collect() == answer  # the same prompt again: all of it cached, same answer
    assert again.stats.cached_n == again.stats.prompt_n - 1


def test_insertion_falls_back_to_the_common_prefix(shifting: LlamaEngine) -> None:
    prefix = "def f():\n    return "
    suffix = "".join(f"\nx_{i} = {i}" for i in range(60))
    shifting.fim(prefix, suffix, max_tokens=2).collect()
    with shifting.fim(prefix + "1", suffix, max_tokens=2) as typed:
        typed.collect()
    assert typed.stats.evaluated_n > 100  # the suffix had to be evaluated again


def test_moving_to_the_next_line_shifts_the_prefix_window(shifting: LlamaEngine) -> None:
    """The window of lines before the cursor (PREFIX_CAP tokens) loses its first tokens
    when the cursor moves down a line: the rest of it is moved, not evaluated again."""
    from localqwen.engine.fim import PREFIX_CAP

    lines = "".join(f"x{i} = {i}\n" for i in range(300))
    assert len(shifting.tokenize(lines)) > PREFIX_CAP
    shifting.fim(lines + "    z = x1", "\n", max_tokens=2).collect()
    with shifting.fim(lines + "    z = x1\n", "\n", max_tokens=2) as moved:
        moved.collect()
    assert moved.stats.cached_n > PREFIX_CAP - 20 and moved.stats.evaluated_n < 40, moved.stats

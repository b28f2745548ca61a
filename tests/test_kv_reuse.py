from pathlib import Path

import pytest

from localqwen.engine.fim import SUFFIX_CAP
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


def test_typing_and_backspace_in_a_line_evaluate_only_its_tail(shifting: LlamaEngine) -> None:
    """The cursor's line comes last in a FIM prompt (fim.py): a keystroke there, typed or
    deleted, leaves everything before it cached, suffix included."""
    prefix = "import os\n\ndef main():\n    value = 42 + 7"
    suffix = "".join(f"\ndef after_{i}():\n    return {i}\n" for i in range(30))
    with shifting.fim(prefix, suffix, max_tokens=4, sampling=GREEDY) as first:
        first.collect()
    assert first.stats.evaluated_n > SUFFIX_CAP - 2
    for edited in (prefix[:-4], prefix[:-4] + "1", prefix[:-4] + "12"):
        with shifting.fim(edited, suffix, max_tokens=4, sampling=GREEDY) as typed:
            answer = typed.collect()
        assert typed.stats.evaluated_n <= 3 and typed.stats.cached_n > SUFFIX_CAP, typed.stats
    with shifting.fim(prefix[:-4] + "12", suffix, max_tokens=4, sampling=GREEDY) as again:
        assert again.collect() == answer  # the same prompt again: all of it cached, same answer
    assert again.stats.cached_n == again.stats.prompt_n - 1


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

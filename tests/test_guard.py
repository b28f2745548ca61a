"""The editor guard's early stops, on text as a model streams it (llama-server's rules)."""

from localqwen.server.guard import EditorGuard


class Clock:
    """Seconds the test sets: the time limit is about time passing between pieces."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_time_limit_ends_the_answer_at_the_end_of_a_line_never_inside_one() -> None:
    clock = Clock()
    guard = EditorGuard(t_max_predict_ms=250, clock=clock)
    assert guard.feed("x = 1\n") == "x = 1\n" and not guard.stopped  # in time
    clock.now = 1.0
    assert guard.feed("for i in range(") == "for i in range(" and not guard.stopped  # late, but mid-line
    assert guard.feed("10):\n    print(i)\n") == "10):\n" and guard.stopped
    assert guard.flush() == ""


def test_without_a_limit_only_the_indentation_stops() -> None:
    guard = EditorGuard(n_indent=4)
    shown = guard.feed("a = 1\n    b = 2\n  c = 3\n")
    assert shown == "a = 1\n    b = 2\n" and guard.stopped and guard.has_new_line


def test_a_line_start_is_held_until_its_indentation_is_known() -> None:
    guard = EditorGuard(n_indent=4)
    assert guard.feed("a\n  ") == "a\n"
    assert guard.feed("  b") == "    b" and not guard.stopped

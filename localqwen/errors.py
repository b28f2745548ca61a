"""The base of one error family, so every face (CLI, TUI, server) can show a person one clear line.

Each error carries a short `title` for a UI, the `message` (what is wrong, naming the
thing), and an optional `fix` (what to do about it). The errors themselves live with
their area: `catalog/errors.py`, `engine/errors.py`, `pull/errors.py`.
"""

from __future__ import annotations


class LocalQwenError(Exception):
    """Base of every error localqwen raises on purpose."""

    title = "localqwen error"
    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class UserInputError(LocalQwenError):
    """A person gave us something unusable: a bad path, a bad flag value."""

    title = "Bad input"
    exit_code = 2


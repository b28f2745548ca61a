"""Argument types shared by the subcommands: bad values become argparse's one-line errors."""

from __future__ import annotations

import argparse

from localqwen.plan.placement import MIN_CTX


def _whole_number(text: str, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} {rule}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1, "must be at least 1")


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0, "must not be negative")


def context_length(text: str) -> int:
    """A `--ctx`/`--fim-ctx` value: at least what a placement accepts, so no flag reaches a traceback."""
    return _whole_number(text, MIN_CTX, f"is too small for a context (at least {MIN_CTX} tokens)")


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """`--threads N`, the same on every command that loads a model."""
    parser.add_argument(
        "--threads", type=positive_int, metavar="N",
        help="CPU threads for llama.cpp, generation and prompts alike "
             "(default: one per physical core to generate, every logical CPU for prompts)",
    )


def add_mmproj_flag(parser: argparse.ArgumentParser) -> None:
    """`--mmproj PATH`, the same on every command that loads a model."""
    parser.add_argument(
        "--mmproj", metavar="PATH",
        help="a vision model's image projector (mmproj GGUF); default: a pulled build's own, "
             "or the one mmproj*.gguf beside a vision model's file",
    )

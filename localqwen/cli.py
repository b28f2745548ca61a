"""The `localqwen` command: a list of thin subcommands, one module per area in `commands/`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from localqwen import __version__
from localqwen.commands import MODULES
from localqwen.errors import LocalQwenError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localqwen", description="Run Qwen models locally: chat and editor completions."
    )
    parser.add_argument("--version", action="version", version=f"localqwen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in MODULES:
        import_module(f"localqwen.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()  # no terminal for the UI: a pipe or a script gets the usage
            return 0
        from localqwen.commands.ui import run_default

        args.func = run_default
    try:
        return args.func(args)
    except LocalQwenError as exc:
        print(f"localqwen: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130

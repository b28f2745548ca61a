"""`localqwen ui` (and `localqwen` with no command): the terminal UI."""

from __future__ import annotations

import argparse
from pathlib import Path

from localqwen.commands.args import add_threads_flag, context_length, positive_int


def launch(
    hardware: str | None = None,
    model: str | None = None,
    *,
    ctx: int = 4096,
    max_tokens: int = 2048,
    light: bool = False,
    threads: int | None = None,
) -> int:
    from localqwen.tui.app import run_app
    from localqwen.tui.settings import TuiSettings

    if hardware:
        from localqwen.hardware import load_profile

        load_profile(hardware)  # an unknown profile: one line naming the known ones, exit 2
    path = None
    if model:
        from localqwen.catalog.gguf_header import read_gguf_header

        path = Path(read_gguf_header(model).path)  # a missing or broken file: one line, exit 2
    theme = "textual-light" if light else "textual-dark"
    return run_app(TuiSettings(hardware=hardware, model=path, ctx=ctx, max_tokens=max_tokens, theme=theme,
                               threads=threads))


def run(args: argparse.Namespace) -> int:
    return launch(args.hardware, args.model, ctx=args.ctx, max_tokens=args.max_tokens, light=args.light,
                  threads=args.threads)


def run_default(_args: argparse.Namespace) -> int:
    return launch()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ui", help="the terminal UI (what `localqwen` alone opens)")
    parser.add_argument("--hardware", metavar="NAME|FILE", help="plan for a hardware profile instead of this machine")
    parser.add_argument("--model", metavar="PATH.gguf", help="open the chat straight on a GGUF file")
    parser.add_argument("--ctx", type=context_length, default=4096, help="context for --model, in tokens (default 4096)")
    parser.add_argument("--max-tokens", type=positive_int, default=2048, help="longest reply in tokens (default 2048)")
    parser.add_argument("--light", action="store_true", help="the light theme")
    add_threads_flag(parser)
    parser.set_defaults(func=run)

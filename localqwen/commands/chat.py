"""`localqwen chat PATH --plain`."""

from __future__ import annotations

import argparse
import sys

from localqwen.commands.args import add_mmproj_flag, add_threads_flag, context_length, positive_int
from localqwen.errors import UserInputError


def _read_stdin_line(_prompt: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def open_engine(args: argparse.Namespace):
    """The model to talk to, opened through `launch` (planned for this machine), or a remote server."""
    if bool(args.model) == bool(args.backend):
        raise UserInputError("give either a model file or --backend URL")
    from localqwen.launch import LaunchOptions, open_model, this_machine

    options = LaunchOptions(ctx=args.ctx, api_key=args.backend_api_key, threads=args.threads, mmproj=args.mmproj)
    return open_model(args.backend or args.model, options, this_machine).chat.load()


def run(args: argparse.Namespace) -> int:
    from localqwen.commands.repl import ReplOptions, run_repl

    engine = open_engine(args)
    options = ReplOptions(
        thinking=False if args.no_think else None,
        show_thinking=not args.no_think,
        max_tokens=args.max_tokens,
        system=args.system,
    )
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        return run_repl(engine, options, input if tty else _read_stdin_line, sys.stdout, tty=tty)
    finally:
        engine.close()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chat", help="chat with a GGUF model, or a remote OpenAI-compatible server")
    parser.add_argument("model", nargs="?", help="a .gguf path, or NAME[:BUILD] pulled from the catalog")
    parser.add_argument("--backend", metavar="URL", help="an OpenAI-compatible server instead, e.g. http://host:8000/v1")
    parser.add_argument("--backend-api-key", metavar="KEY", help="API key for --backend")
    parser.add_argument("--plain", action="store_true", help="line REPL on stdin/stdout (the only chat face for now)")
    parser.add_argument("--no-think", action="store_true", help="turn thinking off and hide it")
    parser.add_argument("--ctx", type=context_length, default=4096, help="context length in tokens (default 4096)")
    parser.add_argument("--max-tokens", type=positive_int, default=1024, help="longest reply in tokens (default 1024)")
    parser.add_argument("--system", help="system message")
    add_threads_flag(parser)
    add_mmproj_flag(parser)
    parser.set_defaults(func=run)

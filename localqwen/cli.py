"""The `localqwen` command: thin subcommands over the parts in this package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from localqwen import __version__
from localqwen.errors import LocalQwenError, UserInputError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def cmd_doctor(args: argparse.Namespace) -> int:
    from localqwen.doctor import run_doctor

    report = run_doctor()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for check in report.checks:
            print(f"[{marks[check.status]}] {check.name}: {check.detail}")
            if check.fix and check.status != "ok":
                print(f"       fix: {check.fix}")
        print("healthy" if report.healthy else "not healthy")
    return 0 if report.healthy else 1


def cmd_chat(args: argparse.Namespace) -> int:
    from localqwen.engine.llama import LlamaEngine
    from localqwen.placement import Placement
    from localqwen.repl import ReplOptions, run_repl

    try:
        placement = Placement(n_ctx=args.ctx)
    except ValueError as exc:
        raise UserInputError(f"--ctx: {exc}") from None
    engine = LlamaEngine(args.model, placement)
    options = ReplOptions(
        thinking=False if args.no_think else None,
        show_thinking=not args.no_think,
        max_tokens=args.max_tokens,
        system=args.system,
    )
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    read_line = input if tty else _read_stdin_line
    try:
        return run_repl(engine, options, read_line, sys.stdout, tty=tty)
    finally:
        engine.close()


def _read_stdin_line(_prompt: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def cmd_tiny(args: argparse.Namespace) -> int:
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    path = write_tiny_gguf(args.path, TinySpec(arch=args.arch, fim_ids_in_metadata=not args.no_fim_ids))
    print(path)
    return 0


def _hardware(spec: str | None):
    from localqwen.hardware import detect_hardware, load_profile

    return load_profile(spec) if spec else detect_hardware()


def cmd_detect(args: argparse.Namespace) -> int:
    from localqwen.plan.report import hardware_json
    from localqwen.tables import hardware_table, print_table

    hw = _hardware(args.hardware)
    if args.json:
        print(json.dumps(hardware_json(hw), indent=2))
    else:
        print_table(hardware_table(hw))
        for note in hw.notes:
            print(note)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from localqwen.catalog.loader import load_catalog
    from localqwen.catalog.resolve import resolve_model
    from localqwen.plan import PlanOptions, choose, plan_all, plan_model
    from localqwen.plan.report import plan_json
    from localqwen.tables import plan_table, print_table

    hw = _hardware(args.hardware)
    options = PlanOptions(ctx=args.ctx, split_mode=args.split)
    catalog = load_catalog()
    if args.model:
        candidates = plan_model(resolve_model(args.model, catalog), hw, options)
        choice = choose(candidates)
    else:
        candidates, choice = plan_all(catalog.models, hw, options)
    if args.json:
        print(json.dumps(plan_json(hw, candidates, choice), indent=2))
        return 0
    print_table(plan_table(candidates, choice, title=f"Qwen builds on {hw.name}"))
    if choice is None:
        print("nothing fits this machine")
    else:
        print(f"choice: {choice.model.name} {choice.build.quant} ({choice.verdict}, context {choice.n_ctx:,})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localqwen", description="Run Qwen models locally: chat and editor completions."
    )
    parser.add_argument("--version", action="version", version=f"localqwen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check that this machine can run models (llama.cpp canary in a child)")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(func=cmd_doctor)

    chat = sub.add_parser("chat", help="chat with a GGUF model")
    chat.add_argument("model", help="path to a .gguf file")
    chat.add_argument("--plain", action="store_true", help="line REPL on stdin/stdout (the only chat face for now)")
    chat.add_argument("--no-think", action="store_true", help="turn thinking off and hide it")
    chat.add_argument("--ctx", type=_positive_int, default=4096, help="context length in tokens (default 4096)")
    chat.add_argument("--max-tokens", type=_positive_int, default=1024, help="longest reply in tokens (default 1024)")
    chat.add_argument("--system", help="system message")
    chat.set_defaults(func=cmd_chat)

    detect = sub.add_parser("detect", help="show what this machine (or a hardware profile) has")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.add_argument("--hardware", metavar="NAME|FILE", help="a hardware profile instead of this machine")
    detect.set_defaults(func=cmd_detect)

    plan = sub.add_parser("plan", help="which Qwen builds fit, and how (split, layers, context)")
    plan.add_argument("model", nargs="?", help="catalog name, a .gguf path, or hf:OWNER/REPO/FILE.gguf")
    plan.add_argument("--hardware", metavar="NAME|FILE", help="plan for a hardware profile instead of this machine")
    plan.add_argument("--ctx", type=_positive_int, help="largest context to consider (default: the model's native)")
    plan.add_argument("--split", choices=("none", "row", "layer"), help="force a split mode across GPUs")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(func=cmd_plan)

    tiny = sub.add_parser("tiny", help="write the tiny test model (random weights) to PATH")
    tiny.add_argument("path", help="where to write the .gguf")
    tiny.add_argument("--arch", choices=("qwen2", "qwen3"), default="qwen3")
    tiny.add_argument("--no-fim-ids", action="store_true", help="leave the FIM token ids out of the metadata")
    tiny.set_defaults(func=cmd_tiny)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except LocalQwenError as exc:
        print(f"localqwen: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130

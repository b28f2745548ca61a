"""`localqwen tiny PATH`: write the tiny real test model."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    print(write_tiny_gguf(args.path, TinySpec(arch=args.arch, fim_ids_in_metadata=not args.no_fim_ids)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("tiny", help="write the tiny test model (random weights) to PATH")
    parser.add_argument("path", help="where to write the .gguf")
    parser.add_argument("--arch", choices=("qwen2", "qwen3"), default="qwen3")
    parser.add_argument("--no-fim-ids", action="store_true", help="leave the FIM token ids out of the metadata")
    parser.set_defaults(func=run)

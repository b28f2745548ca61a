"""`localqwen tiny PATH`: write the tiny real test model (and, with --vision, its projector)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    if args.vision:
        from localqwen.tinymodel.vision import write_tiny_projector

        spec = (TinySpec(arch="qwen2vl", thinking=False, name="tiny-qwen2.5-vl") if args.arch == "qwen2"
                else TinySpec(arch="qwen3vl", name="tiny-qwen3-vl"))
        path = Path(args.path)
        print(write_tiny_gguf(path, spec))
        print(write_tiny_projector(path.with_name(f"mmproj-{path.name}"), spec))
        return 0
    print(write_tiny_gguf(args.path, TinySpec(arch=args.arch, fim_ids_in_metadata=not args.no_fim_ids)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("tiny", help="write the tiny test model (random weights) to PATH")
    parser.add_argument("path", help="where to write the .gguf")
    parser.add_argument("--arch", choices=("qwen2", "qwen3"), default="qwen3")
    parser.add_argument("--no-fim-ids", action="store_true", help="leave the FIM token ids out of the metadata")
    parser.add_argument("--vision", action="store_true",
                        help="a vision model instead (Qwen3-VL; with --arch qwen2, Qwen2.5-VL): the text model "
                             "and, beside it, mmproj-NAME, its projector")
    parser.set_defaults(func=run)

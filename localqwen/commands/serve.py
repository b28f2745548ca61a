"""`localqwen serve`: the FIM socket and chat API for editors and OpenAI clients."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from localqwen.commands.args import add_mmproj_flag, add_threads_flag, context_length, non_negative_int, positive_int
from localqwen.errors import UserInputError
from localqwen.launch import DEFAULT_CACHE_REUSE, DEFAULT_FIM_CTX

DEFAULT_CTX = 32768


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_file:
        path = Path(args.api_key_file)
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise UserInputError(f"{path}: cannot read the API key file ({exc.strerror})") from None
        if not key:
            raise UserInputError(f"{path}: the API key file is empty")
        return key
    return args.api_key or None


def _host(args: argparse.Namespace):
    """What the server will run, opened through `launch`: chat and, beside it, the completion side."""
    from localqwen.launch import LaunchOptions, open_model, this_machine
    from localqwen.plan.types import threads_text
    from localqwen.server.host import ModelHost

    if bool(args.model) == bool(args.backend):
        raise UserInputError("give either a model file or --backend URL")
    options = LaunchOptions(ctx=args.ctx, serving=True, fim_model=args.fim_model, fim_ctx=args.fim_ctx,
                            cache_reuse=args.cache_reuse, api_key=args.backend_api_key, threads=args.threads,
                            mmproj=args.mmproj)
    opening = open_model(args.backend or args.model, options, this_machine)
    fim = opening.fim
    what = opening.chat.label if fim is None else f"{opening.chat.label} (chat) and {fim.label} (FIM)"
    if opening.chat.placement is not None:
        what += f", {threads_text(opening.chat.placement)}"
    if opening.chat.mmproj is not None:
        what += f", reads images through {opening.chat.mmproj.name}"
    return ModelHost(opening.name, opening.chat.load, fim.load if fim else None), what


def run(args: argparse.Namespace) -> int:
    from localqwen.server.app import create_app
    from localqwen.server.run import open_socket, serve_forever
    from localqwen.server.settings import ServerSettings

    host, what = _host(args)
    settings = ServerSettings(
        host=args.host, port=args.port, socket_path=args.socket, api_key=_api_key(args), log_prompts=args.log_prompts,
        allow_image_urls=args.allow_image_urls,
    )
    sock = open_socket(settings)  # fails fast (port in use, no key off loopback) before loading
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    host.start()
    where = args.socket or f"http://{args.host}:{args.port}"
    print(f"localqwen: serving {what} on {where}; Ctrl-C stops", file=sys.stderr)
    try:
        serve_forever(create_app(host, settings), sock)
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises the Ctrl-C
        pass
    finally:
        host.wait(60)
        host.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="serve /infill, /completion and the OpenAI /v1 routes")
    parser.add_argument("model", nargs="?", help="the chat model: a .gguf path, or NAME[:BUILD] pulled from the catalog")
    parser.add_argument("--backend", metavar="URL", help="serve a remote OpenAI-compatible server instead (vLLM, llama-server, ...)")
    parser.add_argument("--backend-api-key", metavar="KEY", help="API key for --backend")
    parser.add_argument("--fim-model", metavar="MODEL", help="a separate (small) model for completions, e.g. qwen2.5-coder-1.5b")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need an API key)")
    parser.add_argument("--port", type=positive_int, default=8012, help="port (default 8012, llama.vim's default)")
    parser.add_argument("--socket", metavar="PATH", help="serve on a unix socket (mode 0600) instead of TCP")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--api-key", help="require Authorization: Bearer KEY")
    key.add_argument("--api-key-file", metavar="FILE", help="read the API key from FILE")
    parser.add_argument("--ctx", type=context_length, default=DEFAULT_CTX, help=f"chat context cap (default {DEFAULT_CTX})")
    parser.add_argument("--fim-ctx", type=context_length, default=DEFAULT_FIM_CTX, help=f"FIM context (default {DEFAULT_FIM_CTX})")
    parser.add_argument("--cache-reuse", type=non_negative_int, default=DEFAULT_CACHE_REUSE, metavar="N",
                        help="completions: move cached chunks of N+ tokens instead of evaluating them again when "
                             "the text before them changed (approximate, like llama.cpp's --cache-reuse; "
                             f"default {DEFAULT_CACHE_REUSE}, as its FIM preset; 0: off)")
    parser.add_argument("--log-prompts", action="store_true", help="log prompt text (off by default)")
    parser.add_argument("--allow-image-urls", action="store_true",
                        help="fetch http(s) image URLs that requests name (off: images come as data: URLs only)")
    add_threads_flag(parser)
    add_mmproj_flag(parser)
    parser.set_defaults(func=run)

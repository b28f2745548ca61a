"""Run by a Python that has vLLM: parse `vllm serve` command lines (JSON lists on stdin,
one per line) with vLLM's own `serve` parser and checks, and look up the reasoning and
tool-call parsers they name in vLLM's registries. Prints one JSON result per line.

Used by tests/test_backends.py, so a flag or parser name vLLM renamed fails there first.
"""

import json
import sys

from vllm.entrypoints.cli.serve import ServeSubcommand

try:
    from vllm.utils.argparse_utils import FlexibleArgumentParser
except ImportError:  # older vLLM
    from vllm.utils import FlexibleArgumentParser
from vllm.reasoning import ReasoningParserManager
from vllm.tool_parsers import ToolParserManager


def check(argv: list[str]) -> dict[str, object]:
    parser = FlexibleArgumentParser(prog="vllm")
    serve = ServeSubcommand()
    serve.subparser_init(parser.add_subparsers(dest="subparser"))
    try:
        args = parser.parse_args(argv[1:])
        serve.validate(args)
        if args.reasoning_parser:
            ReasoningParserManager.get_reasoning_parser(args.reasoning_parser)
        if args.tool_call_parser:
            ToolParserManager.get_tool_parser(args.tool_call_parser)
    except (SystemExit, Exception) as exc:  # argparse exits on an unknown flag
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "model": args.model_tag, "tensor_parallel_size": args.tensor_parallel_size,
            "speculative_config": args.speculative_config, "tool_call_parser": args.tool_call_parser,
            "reasoning_parser": args.reasoning_parser, "enable_expert_parallel": args.enable_expert_parallel,
            "max_model_len": args.max_model_len, "quantization": args.quantization}


for line in sys.stdin:
    if line.strip():
        print(json.dumps(check(json.loads(line)), default=str), flush=True)

"""`localqwen detect` and `localqwen plan`: what this machine has, and what fits it."""

from __future__ import annotations

import argparse
import json

from localqwen.commands.args import context_length


def hardware_from(spec: str | None):
    from localqwen.hardware import detect_hardware, load_profile

    return load_profile(spec) if spec else detect_hardware()


def run_detect(args: argparse.Namespace) -> int:
    from localqwen.plan.report import hardware_json
    from localqwen.commands.tables import hardware_table, print_table

    hw = hardware_from(args.hardware)
    if args.json:
        print(json.dumps(hardware_json(hw), indent=2))
    else:
        print_table(hardware_table(hw))
        for note in hw.notes:
            print(note)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from localqwen.catalog.loader import load_catalog
    from localqwen.catalog.resolve import resolve_model
    from localqwen.plan import PlanOptions, choose, plan_all, plan_model
    from localqwen.plan.report import plan_json
    from localqwen.plan.types import threads_text
    from localqwen.commands.tables import plan_table, print_table
    from localqwen.engine.vllm import launch_for

    hw = hardware_from(args.hardware)
    options = PlanOptions(ctx=args.ctx, split_mode=args.split)
    catalog = load_catalog()
    if args.model:
        candidates = plan_model(resolve_model(args.model, catalog), hw, options)
        choice = choose(candidates)
    else:
        candidates, choice = plan_all(catalog.models, hw, options)
    vllm = {id(c): launch_for(c) for c in candidates if c.build.runtime == "vllm" and c.placement is not None}
    if args.json:
        data = plan_json(hw, candidates, choice)
        for c, out in zip(candidates, data["candidates"]):  # type: ignore[call-overload]
            out["vllm_command"] = vllm[id(c)].argv() if id(c) in vllm else None
        print(json.dumps(data, indent=2))
        return 0
    print_table(plan_table(candidates, choice, title=f"Qwen builds on {hw.name}"))
    if choice is None:
        print("nothing fits this machine")
    else:
        threads = f", {threads_text(choice.placement)}" if choice.placement else ""
        print(f"choice: {choice.model.name} {choice.build.quant} ({choice.verdict}, context {choice.n_ctx:,}{threads})")
    if args.model:  # one model: how its vLLM builds start (`serve` runs the same line)
        for c in candidates:
            if id(c) in vllm:
                print(f"vLLM, {c.build.quant}: {vllm[id(c)].shell()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    detect = sub.add_parser("detect", help="show what this machine (or a hardware profile) has")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.add_argument("--hardware", metavar="NAME|FILE", help="a hardware profile instead of this machine")
    detect.set_defaults(func=run_detect)

    plan = sub.add_parser("plan", help="which Qwen builds fit, and how (split, layers, context)")
    plan.add_argument("model", nargs="?", help="catalog name, a .gguf path, or hf:OWNER/REPO/FILE.gguf")
    plan.add_argument("--hardware", metavar="NAME|FILE", help="plan for a hardware profile instead of this machine")
    plan.add_argument("--ctx", type=context_length, help="largest context to consider (default: the model's native)")
    plan.add_argument("--split", choices=("none", "layer", "row", "tensor"),
                      help="force a split mode across GPUs (tensor: llama.cpp's experimental tensor parallelism)")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(func=run_plan)

"""Completion quality of localqwen's FIM prompts beside llama-server's, on held-out code.

Run:  python bench/fim_quality.py [--model REAL.gguf] [--llama-server PATH] [--tasks 40]

Each task hides the rest of one line of a Python file from the standard library, as a
person typing at the end of it would see: llama.vim's window (256 lines before the
cursor, 64 after), the line up to the cursor as `prompt`, the lines after it as
`input_suffix`. Both servers answer greedily (temperature 0) through `/infill`; a task
passes when the first line of the answer is the hidden rest of the line exactly
(trailing spaces aside). Both servers run llama.cpp on the same GGUF, so what differs is
the prompt each builds (llama-server: `format_prompt_infill`, its FIM preset's flags).

Prints how many tasks each passed, how many answers were the same on both, and each
failure with `--verbose`. Defaults: the GGUF and llama-server that
../shared/tools/real-model.sh and ../shared/tools/llama-server.sh bring.
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_llama_server import FIM_PRESET, REAL_MODEL, free_port, llama_server, started  # noqa: E402


def tasks(count: int, seed: int) -> list[dict[str, str]]:
    """`count` cursor positions in the standard library's Python files: a line of code at
    least 24 characters long, cut at a random point of its second to fourth quarter."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    pick = random.Random(seed)
    out: list[dict[str, str]] = []
    while len(out) < count:
        lines = pick.choice(files).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        row = pick.randrange(len(lines)) if lines else 0
        line = lines[row].rstrip("\n") if lines else ""
        code = line.strip()
        if len(code) < 24 or code.startswith(("#", '"', "'")):
            continue
        indent = len(line) - len(line.lstrip())
        cut = pick.randrange(indent + len(code) // 4, indent + len(code) - 4)
        out.append({"input_prefix": "".join(lines[max(0, row - 256) : row]), "prompt": line[:cut],
                    "input_suffix": "\n" + "".join(lines[row + 1 : row + 65]), "hidden": line[cut:].rstrip()})
    return out


def answer(client: httpx.Client, url: str, task: dict[str, str]) -> str:
    body = {key: task[key] for key in ("input_prefix", "prompt", "input_suffix")}
    body.update({"n_predict": 48, "temperature": 0, "cache_prompt": True, "stream": False})
    response = client.post(url + "/infill", json=body)
    response.raise_for_status()
    return response.json()["content"].split("\n")[0].rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REAL_MODEL)
    parser.add_argument("--llama-server", type=Path)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="print each task both failed or answered apart")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: no such file (../shared/tools/real-model.sh brings it)")
    server = llama_server(args.llama_server)
    model = str(args.model)
    ours_port, theirs_port = free_port(), free_port()
    ours = [sys.executable, "-m", "localqwen", "serve", model, "--port", str(ours_port), "--ctx", "8192"]
    theirs = [str(server), "-m", model, "--port", str(theirs_port), "-c", "8192", *FIM_PRESET]
    passed = {"llama-server": 0, "localqwen": 0}
    same = 0
    held_out = tasks(args.tasks, args.seed)
    with started(ours, ours_port) as (ours_url, _, _), started(theirs, theirs_port) as (theirs_url, _, _), \
            httpx.Client(timeout=600) as client:
        for n, task in enumerate(held_out, 1):
            got = {"llama-server": answer(client, theirs_url, task), "localqwen": answer(client, ours_url, task)}
            for name, text in got.items():
                passed[name] += text == task["hidden"]
            same += got["llama-server"] == got["localqwen"]
            if args.verbose and (got["localqwen"] != got["llama-server"] or got["localqwen"] != task["hidden"]):
                print(f"task {n}: {task['prompt'].strip()!r} + {task['hidden']!r}\n"
                      f"  llama-server: {got['llama-server']!r}\n  localqwen:    {got['localqwen']!r}", file=sys.stderr)
    print(f"\n{args.model.name}, {args.tasks} held-out lines (seed {args.seed}), greedy, first line exact\n")
    print("| | llama-server FIM preset | localqwen |\n|---|---|---|")
    print(f"| tasks passed | {passed['llama-server']} | {passed['localqwen']} |")
    print(f"\nanswers the same on both: {same} of {args.tasks}")


if __name__ == "__main__":
    main()

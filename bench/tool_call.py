"""A real tool call: the OpenAI SDK's tool loop against `localqwen serve` on a real Qwen GGUF.

Run:  python bench/tool_call.py [--model REAL.gguf]

Default model: the Qwen2.5-Coder-0.5B GGUF that ../shared/tools/real-model.sh brings.
Asks for the weather with a `get_weather` tool offered (tool_choice "auto", then
"required"), answers the call with a made-up result, and prints each step: the calls the
model made, their arguments, and its final answer. Exits non-zero when no call came.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_llama_server import REAL_MODEL, free_port, started  # noqa: E402

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city's name"}},
                   "required": ["city"]}}}]


def loop(client: OpenAI, choice: str) -> bool:
    messages: list[dict] = [{"role": "user", "content": "What is the weather like in Paris right now?"}]
    answer = client.chat.completions.create(model="localqwen", messages=messages, tools=TOOLS, tool_choice=choice,
                                            temperature=0, max_tokens=200).choices[0]
    print(f"tool_choice={choice}: finish_reason={answer.finish_reason}")
    calls = answer.message.tool_calls or []
    if not calls:
        print(f"  no call; the model said: {answer.message.content!r}")
        return False
    messages.append(answer.message.model_dump(exclude_none=True))
    for call in calls:
        print(f"  call {call.id}: {call.function.name}({json.loads(call.function.arguments)})")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C, light wind from the west."})
    final = client.chat.completions.create(model="localqwen", messages=messages, tools=TOOLS, temperature=0,
                                           max_tokens=100).choices[0].message.content
    print(f"  final answer: {final!r}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REAL_MODEL)
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: no such file (../shared/tools/real-model.sh brings it)")
    port = free_port()
    argv = [sys.executable, "-m", "localqwen", "serve", str(args.model), "--port", str(port), "--ctx", "4096"]
    with started(argv, port) as (url, _, _):
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        called = [loop(client, choice) for choice in ("auto", "required")]
    if not all(called):
        raise SystemExit("no tool call came back")


if __name__ == "__main__":
    main()

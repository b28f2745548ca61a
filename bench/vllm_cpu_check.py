"""vLLM for real, on the CPU: the tiny Qwen3 in Hugging Face form, served by `vllm serve`
through localqwen's own launch (`engine.vllm.VllmLaunch`) and child manager
(`engine.child.ChildServer`), then asked through localqwen's vLLM backend and through
`localqwen serve --backend`. Prints what worked and how long vLLM took to be ready.

Run by `bench/vllm_cpu_check.sh`, which makes vLLM's venv; by hand:
    python bench/vllm_cpu_check.py --vllm-bin /path/to/vllm-venv/bin
Not part of the tests: vLLM's CPU build and its torch are gigabytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localqwen.engine.child import ChildServer
from localqwen.engine.openai_backend import OpenAIBackend
from localqwen.engine.types import ChatMessage, Sampling
from localqwen.engine.vllm import VllmLaunch
from localqwen.launch import free_port
from localqwen.tinymodel.hf import write_tiny_hf

CITIES = ["Paris", "Rome"]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        # an enum: inside a free string a random model never chooses to close the quote
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": CITIES}},
                       "required": ["city"], "additionalProperties": False},
    },
}
RANDOM_MODEL_FLAGS = ["--structured-outputs-config", '{"backend":"xgrammar","disable_any_whitespace":true}']
"""What a model of random weights needs, beside the plan's launch, for its forced call to end.
xgrammar lets JSON carry any amount of whitespace, and greedy random weights choose it
for ever (the loop vLLM issues 50989 and 54497 report for real Qwen models too): compact
JSON takes the choice away. vLLM 0.32's strict tool calling (structural tags) does not
read this setting, so the run also sets VLLM_ENFORCE_STRICT_TOOL_CALLING=0: a required
call is then shaped by the tools' JSON schema, which does."""


def made_call(calls: list) -> bool:
    """One call to get_weather whose arguments are the object the schema asks for."""
    if len(calls) != 1 or calls[0].function.name != "get_weather":
        return False
    try:
        arguments = json.loads(calls[0].function.arguments)
    except json.JSONDecodeError:
        return False
    return isinstance(arguments, dict) and arguments.get("city") in CITIES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-bin", type=Path, required=True, help="the bin folder of a venv with vLLM")
    parser.add_argument("--timeout", type=float, default=900, help="seconds vLLM may take to be ready")
    args = parser.parse_args()
    results: list[tuple[str, bool, str]] = []

    def record(what: str, ok: bool, detail: str) -> None:
        results.append((what, ok, detail))
        print(f"[{'ok' if ok else 'FAIL'}] {what}: {detail}", flush=True)

    with tempfile.TemporaryDirectory(prefix="localqwen-vllm-") as tmp:
        folder = write_tiny_hf(Path(tmp) / "tiny-qwen3")
        launch = VllmLaunch(repo=str(folder), quantization=None, max_model_len=4096, gpu_memory_utilization=0.9,
                            tensor_parallel_size=1, reasoning_parser="qwen3", tool_call_parser="hermes",
                            port=free_port(), served_name="tiny-qwen3")
        url = f"http://127.0.0.1:{launch.port}"
        log = Path(tmp) / "vllm.log"
        env = {"PATH": f"{args.vllm_bin}{os.pathsep}{os.environ.get('PATH', '')}", "VLLM_CPU_KVCACHE_SPACE": "1",
               "VLLM_TARGET_DEVICE": "cpu", "VLLM_ENFORCE_STRICT_TOOL_CALLING": "0"}
        argv = launch.argv() + RANDOM_MODEL_FLAGS
        child = ChildServer(argv, url, log, start_timeout=args.timeout, env=env)
        print(f"$ {launch.shell()}  # the plan's launch\n    + {shlex.join(RANDOM_MODEL_FLAGS)}"
              "  # and VLLM_ENFORCE_STRICT_TOOL_CALLING=0, for random weights", flush=True)
        started = time.monotonic()
        try:
            child.start()
        except Exception as exc:  # noqa: BLE001 - a report, not a crash
            record("vllm serve ready", False, f"{exc}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
            return 1
        record("vllm serve ready", True, f"{time.monotonic() - started:.1f} s after start")
        try:
            check_backend(url, record)
            check_openai_routes(url, record)
            check_localqwen_serve(url, record)
        finally:
            child.stop()
    failed = [what for what, ok, _ in results if not ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} worked" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def check_backend(url: str, record) -> None:
    """localqwen's own vLLM backend (what `serve`/`chat` use for a vLLM build)."""
    backend = OpenAIBackend(f"{url}/v1", model="tiny-qwen3")
    try:
        record("backend sees the model", backend.info.name == "tiny-qwen3",
               f"{backend.info.name}, max_model_len {backend.info.n_ctx}")
        with backend.chat([ChatMessage("user", "hello there")], thinking=True, max_tokens=24,
                          sampling=Sampling(temperature=0.0)) as stream:
            kinds: dict[str, int] = {}
            for delta in stream:
                kinds[delta.kind] = kinds.get(delta.kind, 0) + len(delta.text)
        record("chat stream through the backend", sum(kinds.values()) > 0 and stream.stats.predicted_n > 0,
               f"characters by kind {kinds}, {stream.stats.predicted_n} tokens, stop {stream.stats.stop_reason}")
        with backend.complete("def fib(n):", max_tokens=16, sampling=Sampling(temperature=0.0)) as stream:
            _, text = stream.collect()
        record("completion through the backend", bool(text), repr(text[:60]))
    finally:
        backend.close()


def check_openai_routes(url: str, record) -> None:
    """vLLM's routes with the official client: the reasoning split and a tool call."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="none")
    answer = client.chat.completions.create(
        model="tiny-qwen3", messages=[{"role": "user", "content": "think, then say hi"}], max_tokens=32, temperature=0,
    )
    message = answer.choices[0].message
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    record("chat: the reasoning parser splits the answer", message.content is not None or reasoning is not None,
           f"content {message.content!r:.60}, reasoning {reasoning!r:.60}")
    called = client.chat.completions.create(  # thinking off: the template closes the think block first
        model="tiny-qwen3", messages=[{"role": "user", "content": "weather in Paris?"}], tools=[WEATHER_TOOL],
        tool_choice="required", parallel_tool_calls=False, max_tokens=64, temperature=0,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    calls = called.choices[0].message.tool_calls or []
    record("tool call (tool_choice required)", made_call(calls),
           f"{[(c.function.name, c.function.arguments) for c in calls]}")
    completion = client.completions.create(model="tiny-qwen3", prompt="def add(a, b):", max_tokens=12, temperature=0)
    record("/v1/completions", bool(completion.choices[0].text), repr(completion.choices[0].text[:60]))


def check_localqwen_serve(url: str, record) -> None:
    """`localqwen serve --backend` in front of vLLM: editors talk to localqwen."""
    import httpx
    from openai import OpenAI

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localqwen", "serve", "--backend", f"{url}/v1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                record("localqwen serve --backend", False, "not healthy")
                return
            time.sleep(0.5)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        answer = client.chat.completions.create(model="tiny-qwen3", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=16, temperature=0)
        message = answer.choices[0].message
        reasoning = getattr(message, "reasoning_content", None)
        record("chat through localqwen serve --backend", bool(message.content or reasoning),
               f"content {message.content!r:.40}, reasoning {reasoning!r:.40}")
        try:
            asked = {"model": "tiny-qwen3", "messages": [{"role": "user", "content": "weather in Paris?"}],
                     "tools": [WEATHER_TOOL], "tool_choice": "required", "parallel_tool_calls": False,
                     "max_tokens": 64, "temperature": 0}
            called = client.chat.completions.create(**asked)
            calls = called.choices[0].message.tool_calls or []
            record("tool call through localqwen serve --backend", made_call(calls),
                   f"{[(c.function.name, c.function.arguments) for c in calls]} finish {called.choices[0].finish_reason}")
            chunks = list(client.chat.completions.create(**asked, stream=True))
            pieces = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
            record("streamed tool call through localqwen serve --backend",
                   len(pieces) == 1 and made_call(pieces), f"{[(t.function.name, t.function.arguments) for t in pieces]}")
        except Exception as exc:  # noqa: BLE001 - a report, not a crash
            record("tool call through localqwen serve --backend", False, f"{type(exc).__name__}: {str(exc)[:160]}")
        infill = httpx.post(f"http://127.0.0.1:{port}/infill", json={"input_prefix": "def f():\n", "input_suffix": "",
                                                                     "n_predict": 8}, timeout=120)
        record("/infill through localqwen serve --backend", infill.status_code == 200,
               f"HTTP {infill.status_code} {infill.text[:60]!r}")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

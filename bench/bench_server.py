"""Server benchmarks, each printing a ratio measured side by side in one run.

Run:  python bench/bench_server.py [--tokens 128] [--keystrokes 24]

(a) decode tokens/s streamed through /v1/completions vs llama-cpp-python called
    directly on the same GGUF and settings (target >= 0.95);
(b) a typing replay: a file typed character by character, one /infill per keystroke
    (llama.vim's body), time to first token cold vs with KV reuse (target: warm median
    below a quarter of cold), and how many prompt tokens each keystroke re-evaluates;
(c) FIM latency while a chat stream runs on the other context, vs idle.
The model is written on the fly (random weights, ~34M parameters, f32).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREADS, bench_model, median, p95, served  # noqa: E402

SOURCE = "".join(
    f"def function_{i}(value, scale={i}):\n    total = value * scale + {i}\n    return total\n\n" for i in range(40)
)
FILE = "".join(f"def f{i}(v):\n    return v * {i}\n\n" for i in range(150))  # 450 lines
EXTRA = [{"filename": f"mod{j}.py", "text": "".join(f"def g{j}_{i}(x):\n    return x + {i}\n" for i in range(32)), "time": 0}
         for j in range(4)]  # four ring-buffer chunks of 64 lines


DIRECT = """
import sys, time, llama_cpp
path, prompt, tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
stream = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True)
next(stream)  # the first token: prompt evaluated
started, n = time.perf_counter(), 1
for _ in stream:
    n += 1
print((n - 1) / (time.perf_counter() - started))
"""


def decode_direct(path: Path, prompt: str, tokens: int) -> float:
    """llama-cpp-python on its own, in its own process (llama.cpp's CPU thread teams stay
    behind in a process; a fresh one keeps both sides of the comparison alike)."""
    out = subprocess.run([sys.executable, "-c", DIRECT, str(path), prompt, str(tokens), str(THREADS)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


STREAM_CLIENT = """
import json, sys, time, httpx
url, body = sys.argv[1], sys.argv[2]
first, last, total = None, None, 0
with httpx.stream("POST", url + "/v1/completions", content=body, headers={"Content-Type": "application/json"}, timeout=300) as r:
    for line in r.iter_lines():
        if not line.startswith("data: {"):
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            total = event["usage"]["completion_tokens"]
        elif event["choices"] and event["choices"][0]["text"]:
            last = time.perf_counter()
            first = first or last
print((total - 1) / (last - first))
"""


def decode_served(url: str, prompt: str, tokens: int) -> float:
    """Read the stream from another process, as an editor would: a client in this process
    would fight the server's threads for the GIL and measure itself."""
    body = json.dumps({"prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    out = subprocess.run([sys.executable, "-c", STREAM_CLIENT, url, body], capture_output=True, text=True, check=True)
    return float(out.stdout)


def first_token_ms(client: httpx.Client, url: str, body: dict) -> tuple[float, int]:
    started = time.perf_counter()
    elapsed, last = 0.0, ""
    with client.stream("POST", f"{url}/infill", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                elapsed = elapsed or (time.perf_counter() - started) * 1000
                last = line
    return elapsed, json.loads(last[6:]).get("timings", {}).get("prompt_n", 0)


def typing_replay(url: str, keystrokes: int) -> dict[str, list[float]]:
    """llama.vim's defaults: 256 lines before the cursor's line, 64 after, ring-buffer chunks first."""
    lines = FILE.splitlines(keepends=True)
    row = 300
    prefix, suffix = "".join(lines[row - 256 : row]), "".join(lines[row + 1 : row + 65])
    typed = "    result = function_3(value) + function_4(value)"
    out: dict[str, list[float]] = {"warm": [], "cold": [], "warm_eval": [], "cold_eval": []}
    with httpx.Client(timeout=300) as client:
        for k in range(keystrokes + 1):
            body = {"input_prefix": prefix, "prompt": typed[:k], "input_suffix": "\n" + suffix,
                    "input_extra": EXTRA, "n_predict": 8, "stream": True, "cache_prompt": True, "n_indent": 0}
            warm, warm_eval = first_token_ms(client, url, body)
            client.post(f"{url}/infill", json={"input_prefix": "x = 1\n", "input_suffix": "", "n_predict": 1})
            cold, cold_eval = first_token_ms(client, url, body)
            if k:  # the first round warms both paths
                out["warm"].append(warm)
                out["cold"].append(cold)
                out["warm_eval"].append(warm_eval)
                out["cold_eval"].append(cold_eval)
    return out


def fim_during_chat(url: str, host, rounds: int) -> tuple[list[float], list[float]]:
    body = {"input_prefix": SOURCE[:600], "input_suffix": SOURCE[600:800], "n_predict": 8, "stream": True}
    idle, busy = [], []
    with httpx.Client(timeout=300) as client:
        for _ in range(rounds):
            client.post(f"{url}/infill", json={"input_prefix": "y", "input_suffix": "", "n_predict": 1})
            idle.append(first_token_ms(client, url, body)[0])
        done = threading.Event()

        def chat() -> None:
            with httpx.Client(timeout=600) as c:
                c.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "go"}], "max_tokens": 4000})
            done.set()

        chatting = threading.Thread(target=chat, daemon=True)
        chatting.start()
        time.sleep(0.5)
        for _ in range(rounds):
            client.post(f"{url}/infill", json={"input_prefix": "y", "input_suffix": "", "n_predict": 1})
            busy.append(first_token_ms(client, url, body)[0])
        if done.is_set():
            print("  (warning: the chat ended before the FIM rounds did)")
        # Backend.cancel() is gone (one stream, one cancel): the chat runs to its max_tokens.
        chatting.join(60)
    return idle, busy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--keystrokes", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = bench_model(Path(tmp))
        prompt = SOURCE[:600]
        with served(path, n_ctx=8192) as (url, host):
            direct, through = [], []
            for _ in range(args.rounds):  # alternated, so machine noise hits both alike
                direct.append(decode_direct(path, prompt, args.tokens))
                through.append(decode_served(url, prompt, args.tokens))
            ratios = [t / d for t, d in zip(through, direct)]
            print(f"(a) decode, {args.tokens} tokens, {args.rounds} alternated rounds (median): direct {median(direct):.1f} tok/s, "
                  f"/v1/completions stream read by another process {median(through):.1f} tok/s, "
                  f"ratio {median(ratios):.3f} (per-round ratios {min(ratios):.2f}-{max(ratios):.2f}; target >= 0.95)")

            replay = typing_replay(url, args.keystrokes)
            warm, cold = median(replay["warm"]), median(replay["cold"])
            print(f"(b) typing replay, {args.keystrokes} keystrokes, time to first token:")
            print(f"    cold: median {cold:.1f} ms, p95 {p95(replay['cold']):.1f} ms, prompt tokens evaluated {median(replay['cold_eval']):.0f}")
            print(f"    warm: median {warm:.1f} ms, p95 {p95(replay['warm']):.1f} ms, prompt tokens evaluated {median(replay['warm_eval']):.0f}")
            print(f"    warm/cold median ratio {warm / cold:.3f} (target < 0.25)")

            idle, busy = fim_during_chat(url, host, args.rounds)
            print(f"(c) FIM first token, {args.rounds} rounds: idle median {median(idle):.1f} ms, "
                  f"during a chat stream {median(busy):.1f} ms, ratio {median(busy) / median(idle):.2f}")


if __name__ == "__main__":
    main()

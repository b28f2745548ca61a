"""Soak: many clients at once against one `localqwen serve`, then is it still well?

Run:  python bench/soak_server.py [--model REAL.gguf] [--clients 16] [--seconds 60]

Without --model the tiny benchmark model is written and served. `--clients` threads post,
for `--seconds`, a mix of streamed /infill (llama.vim's body), streamed chat and
/v1/completions with a suffix; a third of the streams are dropped by their client half
way. Afterwards: /health, one plain completion that must come within 30 s, and the
server's RSS growth. It prints requests by outcome: answered, dropped by the client,
4xx, 5xx, and deaths (the server process gone or a connection refused).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_model  # noqa: E402
from vs_llama_server import free_port, memory_bytes, started  # noqa: E402

FILE = "".join(f"def f{i}(v):\n    return v * {i}\n\n" for i in range(150))
EXTRA = [{"filename": f"mod{j}.py", "text": "".join(f"def g{j}_{i}(x):\n    return x + {i}\n" for i in range(16)),
          "time": 0} for j in range(3)]


def request(rng: random.Random) -> tuple[str, dict]:
    kind = rng.choice(["infill", "infill", "chat", "completions"])
    cut = rng.randrange(200, len(FILE) - 200)
    if kind == "infill":
        return "/infill", {"input_prefix": FILE[:cut], "input_suffix": FILE[cut:], "prompt": "    ", "input_extra": EXTRA,
                           "n_predict": 32, "stream": True, "t_max_prompt_ms": 500, "t_max_predict_ms": 250, "n_indent": 4}
    if kind == "chat":
        return "/v1/chat/completions", {"messages": [{"role": "user", "content": f"Explain f{cut % 150}."}],
                                        "max_tokens": 48, "stream": True}
    return "/v1/completions", {"prompt": FILE[max(0, cut - 800):cut], "suffix": FILE[cut:cut + 300],
                               "max_tokens": 24, "stream": True}


def client(url: str, until: float, seed: int, outcomes: Counter, lock: threading.Lock) -> None:
    rng = random.Random(seed)
    with httpx.Client(timeout=120) as http:
        while time.monotonic() < until:
            route, body = request(rng)
            drop = rng.random() < 1 / 3
            try:
                with http.stream("POST", url + route, json=body) as response:
                    status = response.status_code
                    for n, _ in enumerate(response.iter_lines()):
                        if drop and n >= 2:
                            break
                outcome = "5xx" if status >= 500 else "4xx" if status >= 400 else "dropped" if drop else "answered"
            except httpx.ConnectError:
                outcome = "death"
            except httpx.HTTPError as exc:
                outcome = f"client error {type(exc).__name__}"
            with lock:
                outcomes[outcome] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or bench_model(Path(tmp))
        port = free_port()
        argv = [sys.executable, "-m", "localqwen", "serve", str(model), "--port", str(port), "--ctx", "8192"]
        with started(argv, port) as (url, proc, ready):
            rss_before = memory_bytes(proc.pid)[0]
            outcomes: Counter = Counter()
            lock = threading.Lock()
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(url, until, seed, outcomes, lock)) for seed in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            alive = proc.poll() is None
            health = httpx.get(f"{url}/health", timeout=10).json() if alive else None
            began = time.perf_counter()
            answer = httpx.post(f"{url}/v1/completions", json={"prompt": "def add(a, b):", "max_tokens": 8}, timeout=30)
            after = time.perf_counter() - began
            rss_after = memory_bytes(proc.pid)[0]
    print(f"{model.name}: {args.clients} clients for {args.seconds:g} s (ready in {ready:.1f} s)")
    print("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + f" (total {sum(outcomes.values())})")
    print(f"afterwards: alive {alive}, /health {json.dumps(health)}, a plain completion {answer.status_code} "
          f"in {after:.2f} s, RSS {rss_before / 1e6:.0f} -> {rss_after / 1e6:.0f} MB "
          f"(growth {(rss_after - rss_before) / 1e6:+.0f} MB)")


if __name__ == "__main__":
    main()

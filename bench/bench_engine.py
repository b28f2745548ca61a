"""Engine benchmark on the tiny model: KV-cache reuse while typing, side by side.

Run:  python bench/bench_engine.py [--rounds N]

Prints the time to write the tiny GGUF, then for a FIM request whose prefix grows by
a few characters each round (a person typing), the latency and evaluated tokens with
the cache reused versus with it thrown away first, and their ratio. Absolute numbers
depend on the machine; the ratio is the point.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from localqwen.engine.llama import LlamaEngine
from localqwen.plan.placement import Placement
from localqwen.tinymodel import TinySpec, write_tiny_gguf

SOURCE = "".join(f"def function_{i}(value):\n    return value * {i} + helper(value)\n\n" for i in range(60))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = write_tiny_gguf(Path(tmp) / "tiny.gguf", TinySpec(context_length=8192))
        write_ms = (time.perf_counter() - started) * 1000
        print(f"tiny GGUF written in {write_ms:.1f} ms ({path.stat().st_size / 1024:.0f} KiB)")

        engine = LlamaEngine(path, Placement(n_ctx=4096, n_threads=2))
        warm_ms, cold_ms, warm_eval, cold_eval = [], [], [], []
        for i in range(args.rounds):
            prefix = SOURCE + "def typed(x):\n    return x" + " + x" * i
            for cold in (False, True):
                if cold:
                    engine.complete("unrelated", max_tokens=1).collect()
                started = time.perf_counter()
                stream = engine.fim(prefix, "\n\nprint(typed(2))\n", max_tokens=8)
                stream.collect()
                elapsed = (time.perf_counter() - started) * 1000
                if i == 0:
                    continue  # the first round warms both paths
                (cold_ms if cold else warm_ms).append(elapsed)
                (cold_eval if cold else warm_eval).append(stream.stats.evaluated_n)
        prompt_n = stream.stats.prompt_n
        engine.close()

    warm, cold = statistics.median(warm_ms), statistics.median(cold_ms)
    print(f"FIM prompt {prompt_n} tokens, 8 predicted, {args.rounds - 1} rounds (median):")
    print(f"  cache reused:  {warm:8.1f} ms  evaluated {statistics.median(warm_eval):6.0f} prompt tokens")
    print(f"  cache cleared: {cold:8.1f} ms  evaluated {statistics.median(cold_eval):6.0f} prompt tokens")
    print(f"  speed-up from KV reuse: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()

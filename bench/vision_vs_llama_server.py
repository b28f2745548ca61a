"""Images: localqwen serve beside llama.cpp's own llama-server, same vision GGUF and projector, one run.

Run:  python bench/vision_vs_llama_server.py [--model VL.gguf --mmproj MMPROJ.gguf] [--llama-server PATH] [--rounds 5]

Without --model: a bench-sized tiny Qwen2.5-VL the package writes (random weights, ~34M
text parameters and a 4-block vision encoder), cached under ~/.cache/localqwen-bench; the
same script takes a real Qwen2.5-VL or Qwen3-VL GGUF and its mmproj where one is on disk.
Both servers run with their own default thread choice, the same context, and take turns
request by request, so the shared machine's load falls on them alike.

For each picture size, a chat turn with a fresh picture (so neither cache holds it):
- prompt tokens as each server counts them: must be equal (the same picture costs the same);
- the greedy answer: must be the same text (the same engine, the same positions after the image);
- seconds to the whole answer (encoding the image, reading the prompt, 16 tokens), as a ratio
  localqwen / llama-server (above 1: localqwen is slower).
Then the next turn of each of those chats (the picture in its history, as a chat client
sends it again with every message): both servers find the picture in their KV cache, so
what is left is preparing it again (localqwen keeps the last prompt's pictures prepared),
the new question and the answer.
"""

from __future__ import annotations

import argparse
import base64
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_llama_server import CACHE, free_port, llama_server, median, started  # noqa: E402

from localqwen.tinymodel import TinySpec, write_tiny_gguf  # noqa: E402
from localqwen.tinymodel.picture import png  # noqa: E402
from localqwen.tinymodel.vision import TinyVisionSpec, write_tiny_projector  # noqa: E402

TEXT = TinySpec(arch="qwen2vl", n_layer=8, n_embd=512, n_head=8, n_head_kv=4, n_ff=2048, context_length=8192,
                thinking=False, name="bench-qwen2.5-vl")
VISION = TinyVisionSpec(n_embd=256, n_head=4, n_ff=1024, n_layer=4)
SIZES = ((640, 480), (1280, 720), (1920, 1080))
CTX = 8192


def bench_files() -> tuple[Path, Path]:
    folder = CACHE / "bench-vl"
    model, mmproj = folder / "bench-qwen2.5-vl.gguf", folder / "mmproj-bench-qwen2.5-vl.gguf"
    if not model.exists():
        write_tiny_gguf(model, TEXT)
    if not mmproj.exists():
        write_tiny_projector(mmproj, TEXT, VISION)
    return model, mmproj


def turn(picture: bytes, answer: str | None = None) -> list[dict]:
    """A chat's first turn with `picture`; given an `answer` to it, its second turn."""
    url_data = "data:image/png;base64," + base64.b64encode(picture).decode()
    messages: list[dict] = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url_data}},
                                                         {"type": "text", "text": "What does this picture show?"}]}]
    if answer is not None:
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And its colours?"}]
    return messages


def ask(client: httpx.Client, url: str, messages: list[dict]) -> tuple[float, int, str]:
    """(seconds, prompt tokens, answer) of one chat turn."""
    body = {"messages": messages, "max_tokens": 16, "temperature": 0}
    response = client.post(url + "/v1/chat/completions", json=body)
    response.raise_for_status()
    data = response.json()
    return response.elapsed.total_seconds(), data["usage"]["prompt_tokens"], data["choices"][0]["message"]["content"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--mmproj", type=Path)
    parser.add_argument("--llama-server", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if bool(args.model) != bool(args.mmproj):
        parser.error("give --model and --mmproj together")
    model, mmproj = (args.model, args.mmproj) if args.model else bench_files()
    ports = free_port(), free_port()
    servers = {
        "llama-server": [str(llama_server(args.llama_server)), "-m", str(model), "--mmproj", str(mmproj),
                         "--port", str(ports[0]), "-c", str(CTX), "--no-webui"],
        "localqwen": [sys.executable, "-m", "localqwen", "serve", str(model), "--mmproj", str(mmproj),
                      "--port", str(ports[1]), "--ctx", str(CTX)],
    }
    print(f"model {model.name}, projector {mmproj.name}, context {CTX}, {args.rounds} rounds a size")
    with ExitStack() as stack, httpx.Client(timeout=600) as client:
        urls = {name: stack.enter_context(started(argv, port))[0] for (name, argv), port in zip(servers.items(), ports)}
        print(f"{'picture':>10} | {'prompt tokens':>15} | {'same answer':>11} | "
              f"{'llama-server s':>14} | {'localqwen s':>11} | ratio")
        agreed = True
        for label, second in (("first turn, a picture new to both", False), ("next turn, the picture in its history", True)):
            print(label)
            for shade, (width, height) in enumerate(SIZES):
                seconds: dict[str, list[float]] = {name: [] for name in urls}
                counts, texts = set(), set()
                for round_ in range(args.rounds):
                    picture = png(width, height, shade=5 + 3 * round_ + 17 * shade + 100 * second)  # new to both caches
                    for name, url in urls.items():
                        took, prompt, text = ask(client, url, turn(picture))
                        if second:  # after one fixed answer, so that both read the same prompt
                            took, prompt, text = ask(client, url, turn(picture, "It is a picture."))
                        seconds[name].append(took)
                        counts.add(prompt)
                        texts.add((round_, text))
                same = len(texts) == args.rounds
                agreed &= same and len(counts) == 1
                ours, theirs = median(seconds["localqwen"]), median(seconds["llama-server"])
                print(f"{width:>5}x{height:<4} | {'/'.join(map(str, sorted(counts))):>15} | {'yes' if same else 'NO':>11} | "
                      f"{theirs:>14.3f} | {ours:>11.3f} | {ours / theirs:.2f}")
    print("prompt counts and answers agree" if agreed else "DISAGREEMENT: see the rows marked above")
    return 0 if agreed else 1


if __name__ == "__main__":
    raise SystemExit(main())

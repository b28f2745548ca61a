"""localqwen serve beside llama.cpp's own llama-server on the same GGUF, one run, as ratios.

Run:  python bench/vs_llama_server.py [--model REAL.gguf] [--llama-server PATH] [--rounds 5]

Defaults: the real Qwen2.5-Coder-0.5B GGUF that ../shared/tools/real-model.sh brings
and the llama-server that ../shared/tools/llama-server.sh builds (both cached under
~/.cache/localqwen-bench). Both servers run with their own default thread choice.

The servers take turns sample by sample (start-up: started and stopped in turn; the
rest: all up at once on different ports, each request sent to one and then the next),
so load from the rest of a shared machine falls on them alike; one server measured
after the other drifted by up to 40% between runs here.

Measured (the ratio is localqwen / llama-server, so above 1 is faster for rates,
slower for times):
- ready: from the process start to the first `/health` 200 (the plan included);
- chat TTFT: a short chat turn streamed through /v1/chat/completions;
- decode tok/s: 128 greedy tokens streamed through /completion, timed by the client;
  the texts must be the same (same engine, same greedy choice);
- prompt tok/s: ~700 new tokens through /infill, timed to its first token;
- typing replay: llama.vim's request (256 lines before the cursor, 64 after, its
  ring-buffer chunks), one /infill a keystroke, timed to the whole answer as the editor
  waits for it, and how many answers came back empty; against llama-server's defaults
  and its FIM preset (`--fim-qwen-1.5b-default`: `--cache-reuse 256 -b 1024 -ub 1024`,
  model given here). `--only typing --rounds N` runs just localqwen and the preset, N times;
- resident memory after the run (RSS, and PSS, which counts shared pages once).
Clients run in this process and only read sockets, so they do not steal the servers'
threads for long; every number is a median of `--rounds` unless said otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable

import httpx

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "localqwen-bench"
REAL_MODEL = CACHE / "qwen2.5-coder-0.5b-q4_k_m.gguf"
FIM_PRESET = ["--cache-reuse", "256", "-b", "1024", "-ub", "1024", "-fa", "on", "-ngl", "99"]
DECODE_PROMPT = "# A Python module with a linked list class and many small methods\n\nclass Node:\n"
FILE = "".join(f"def handler_{i}(request, value={i}):\n    result = process(request) + value\n    return result\n\n"
               for i in range(120))  # 480 lines, the cursor on line 300
EXTRA = [{"filename": f"lib/mod{j}.py", "time": 0,
          "text": "".join(f"def helper_{j}_{i}(x):\n    return x * {i} + {j}\n" for i in range(32))}
         for j in range(3)]  # llama.vim's ring-buffer chunks of 64 lines
TYPED = "    answer = handler_3(request) + handler_4(request)"


def llama_server(given: Path | None) -> Path:
    """The llama-server given, or the one ../shared/tools/llama-server.sh builds (cached)."""
    script = Path(__file__).resolve().parents[2] / "shared/tools/llama-server.sh"
    return given or Path(subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True).stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def memory_bytes(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and its children. PSS counts a page mapped twice once:
    two contexts over one memory-mapped GGUF share its pages, which RSS counts twice."""
    rss = pss = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


@contextmanager
def started(argv: list[str], port: int):
    """The server's process once `/health` answers 200, and the seconds that took."""
    log = tempfile.TemporaryFile("w+")  # a pipe nobody reads would fill and stall the server
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"{argv[0]} exited {proc.returncode}: {log.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        yield url, proc, time.perf_counter() - began
    except BaseException:
        log.seek(0)
        print(f"{argv[0]} said, at the end:\n{log.read()[-3000:]}", file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def stream_times(client: httpx.Client, url: str, route: str, body: dict) -> tuple[float, float, int, str]:
    """(seconds to the first text, seconds to the last, tokens generated, text) of an SSE stream.

    Tokens are the server's own count (`tokens_predicted` in the last event), not events:
    a server may send several tokens in one event."""
    began = time.perf_counter()
    first = last = 0.0
    count, text = 0, []
    with client.stream("POST", url + route, json={**body, "stream": True}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            count = chunk.get("tokens_predicted", count)
            piece = chunk.get("content")
            if piece is None and chunk.get("choices"):
                delta = chunk["choices"][0].get("delta", {})
                piece = delta.get("content") or delta.get("reasoning_content")
            if piece:
                now = time.perf_counter() - began
                first = first or now
                last = now
                text.append(piece)
    return first, last, count, "".join(text)


def chat_ttft(client: httpx.Client, url: str, i: int) -> float:
    body = {"messages": [{"role": "user", "content": f"Say hello to user number {i}."}], "max_tokens": 8,
            "temperature": 0}
    return stream_times(client, url, "/v1/chat/completions", body)[0]


def decode(client: httpx.Client, url: str, tokens: int) -> tuple[float, str]:
    body = {"prompt": DECODE_PROMPT, "n_predict": tokens, "temperature": 0, "cache_prompt": True}
    first, last, count, text = stream_times(client, url, "/completion", body)
    return (count - 1) / (last - first), text


def prompt_rate(client: httpx.Client, url: str, i: int) -> float:
    """New tokens a second: a ~700-token prompt the cache has not seen (a fresh number leads it)."""
    prefix = f"# revision {i * 7919}\n" + FILE[:2800]
    body = {"input_prefix": prefix, "input_suffix": "\n", "prompt": "", "n_predict": 1, "cache_prompt": True}
    timings = client.post(url + "/infill", json=body).json()["timings"]
    return timings["prompt_n"] / (timings["prompt_ms"] / 1000)


class Typist:
    """llama.vim typing into one server, one keystroke a call, so that two servers can take
    turns keystroke by keystroke and meet the same machine load.

    Its body as `autoload/llama.vim` sends it (not streamed, n_predict 128, the 500 ms
    prompt and 250 ms predict budgets, which llama-server ignores and localqwen keeps),
    after its warm-up request (the chunks alone, n_predict 0) as opening the file sends.
    `verbose`: each keystroke's time, tokens evaluated, cached and generated, on stderr.
    """

    def __init__(self, client: httpx.Client, url: str, name: str = "", verbose: bool = False) -> None:
        lines = FILE.splitlines(keepends=True)
        row = 300
        self.prefix, self.suffix = "".join(lines[row - 256 : row]), "".join(lines[row + 1 : row + 65])
        self.client, self.url, self.name, self.verbose = client, url, name, verbose
        self.base = {"id_slot": 0, "input_extra": EXTRA, "stop": [], "n_indent": 4, "top_k": 40, "top_p": 0.90,
                     "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
                     "t_max_prompt_ms": 500, "t_max_predict_ms": 250, "model": "",
                     "response_fields": ["content", "timings/prompt_n", "timings/prompt_ms", "timings/prompt_per_token_ms",
                                         "timings/prompt_per_second", "timings/predicted_n", "timings/predicted_ms",
                                         "timings/predicted_per_token_ms", "timings/predicted_per_second", "truncated",
                                         "tokens_cached"]}
        self.times: list[float] = []
        self.empties: list[bool] = []
        client.post(url + "/infill", json={**self.base, "input_prefix": "", "input_suffix": "", "prompt": "", "n_predict": 0})

    def key(self, k: int) -> None:
        body = {**self.base, "input_prefix": self.prefix, "prompt": TYPED[:k], "input_suffix": "\n" + self.suffix,
                "n_predict": 128}
        began = time.perf_counter()
        answer = self.client.post(self.url + "/infill", json=body).json()
        self.times.append(time.perf_counter() - began)
        self.empties.append(not answer.get("content", "").strip())
        if self.verbose:
            print(f"  {self.name} keystroke {k:2d}: {self.times[-1]:6.3f} s, prompt {answer.get('timings/prompt_n')} "
                  f"tokens in {answer.get('timings/prompt_ms', 0):.0f} ms ({answer.get('tokens_cached')} cached), "
                  f"predicted {answer.get('timings/predicted_n')} in {answer.get('timings/predicted_ms', 0):.0f} ms: "
                  f"{answer.get('content', '')[:40]!r}", file=sys.stderr)

    def result(self) -> dict[str, object]:
        """Seconds each answer took, how many were empty, and the seconds from the first
        keystroke to the first answer that was not."""
        answered = next((k for k, was_empty in enumerate(self.empties) if not was_empty), len(self.times) - 1)
        return {"typing": self.times, "typing_empty": sum(self.empties), "first_answer_s": sum(self.times[: answered + 1])}


def chat_prompt_seconds(model: str) -> float:
    """`localqwen chat MODEL --plain` on a terminal: seconds until it shows `you> `."""
    import pty
    import select

    controller, terminal = pty.openpty()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "localqwen", "chat", model, "--plain"],
                            stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = b""
    try:
        while b"you> " not in seen:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                raise SystemExit(f"chat --plain showed no prompt in 60 s: {seen[-500:]!r}")
            seen += os.read(controller, 4096)
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(controller)


def ready_seconds(argv: list[str], port: int) -> float:
    with started(argv, port) as (_, _, ready):
        return ready


def side_by_side(sides: dict[str, Callable[[int], list[str]]], args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Every figure for every server, the servers taking turns sample by sample.

    Start-up: each started and stopped in turn, `--rounds` times. The rest with all of
    them up at once (different ports): each sample is taken on one server and then on the
    next, so load from the rest of a shared machine falls on them alike."""
    out: dict[str, dict[str, object]] = {name: {"ready": [], "chat": [], "decode": [], "prompt": []} for name in sides}
    for _ in range(args.rounds):
        for name, argv in sides.items():
            port = free_port()
            out[name]["ready"].append(ready_seconds(argv(port), port))
    ports = {name: free_port() for name in sides}
    with ExitStack() as stack:
        running = {name: stack.enter_context(started(argv(ports[name]), ports[name])) for name, argv in sides.items()}
        client = stack.enter_context(httpx.Client(timeout=600, headers={"Connection": "close"}))
        urls = {name: url for name, (url, _, _) in running.items()}
        full = [name for name in sides if name != "preset"]
        for i in range(args.rounds):
            for name in full:
                out[name]["chat"].append(chat_ttft(client, urls[name], i))
            for name in full:
                rate, out[name]["decode_text"] = decode(client, urls[name], args.tokens)
                out[name]["decode"].append(rate)
            for name in full:
                out[name]["prompt"].append(prompt_rate(client, urls[name], i))
        print("chat, decode and prompt measured; typing", file=sys.stderr)
        typists = {name: Typist(client, url, name, args.per_keystroke) for name, url in urls.items()}
        for k in range(args.keystrokes):
            for typist in typists.values():
                typist.key(k)
        for name, (_, proc, _) in running.items():
            out[name].update(typists[name].result())
            out[name]["rss"], out[name]["pss"] = memory_bytes(proc.pid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REAL_MODEL)
    parser.add_argument("--llama-server", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--keystrokes", type=int, default=24)
    parser.add_argument("--per-keystroke", action="store_true", help="print each typing request's figures")
    parser.add_argument("--only", choices=["typing"],
                        help="typing alone: localqwen and the FIM preset up at once, taking turns a keystroke each, "
                             "--rounds times, keystrokes pooled")
    parser.add_argument("--ctx", type=int, default=32768, help="context for both (llama-server's default: the model's)")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: no such file (../shared/tools/real-model.sh brings it)")
    server = llama_server(args.llama_server)
    model = str(args.model)

    def ours(port: int) -> list[str]:
        return [sys.executable, "-m", "localqwen", "serve", model, "--port", str(port), "--ctx", str(args.ctx)]

    def theirs(port: int) -> list[str]:
        return [str(server), "-m", model, "--port", str(port), "-c", str(args.ctx)]

    def preset(port: int) -> list[str]:
        return theirs(port) + FIM_PRESET

    if args.only == "typing":  # both servers up at once, taking turns keystroke by keystroke, --rounds times
        rounds = []
        for _ in range(args.rounds):
            ports = free_port(), free_port()
            with started(ours(ports[0]), ports[0]) as (ours_url, _, _), \
                    started(preset(ports[1]), ports[1]) as (preset_url, _, _), \
                    httpx.Client(timeout=600, headers={"Connection": "close"}) as client:
                pair = Typist(client, ours_url, "localqwen", args.per_keystroke), \
                    Typist(client, preset_url, "preset", args.per_keystroke)
                for k in range(args.keystrokes):
                    for typist in pair:
                        typist.key(k)
                rounds.append([typist.result() for typist in pair])
        mine, fim = ({"typing": [t for pair in rounds for t in pair[side]["typing"]],
                      "first_answer_s": median([pair[side]["first_answer_s"] for pair in rounds]),
                      "typing_empty": sum(pair[side]["typing_empty"] for pair in rounds)} for side in (0, 1))
        total = args.keystrokes * args.rounds
        print(f"\n{args.model.name}, {os.cpu_count()} CPUs, {args.rounds} rounds of {args.keystrokes} keystrokes, "
              f"the two servers taking turns\n")
        print("| what | llama-server FIM preset | localqwen | ratio |\n|---|---|---|---|")
        typing_rows(fim, mine, first_answer=False)
        print(f"| typing answers left empty (of {total}) | {fim['typing_empty']} | {mine['typing_empty']} | |")
        return
    chat_prompt = median([chat_prompt_seconds(model) for _ in range(3)])
    got = side_by_side({"llama-server": theirs, "localqwen": ours, "preset": preset}, args)
    a, b, fim = got["llama-server"], got["localqwen"], got["preset"]

    print(f"\n{args.model.name}, {os.cpu_count()} CPUs, median of {args.rounds}, {args.keystrokes} keystrokes, "
          f"the servers taking turns\n")
    print("| what | llama-server | localqwen | ratio |")
    print("|---|---|---|---|")
    row("ready (s)", median(a["ready"]), median(b["ready"]), ".2f", "lower is better")
    row("chat time to first token (s)", median(a["chat"]), median(b["chat"]), ".3f", "lower is better")
    row("decode (tok/s)", median(a["decode"]), median(b["decode"]), ".1f", "higher is better")
    row("prompt (tok/s)", median(a["prompt"]), median(b["prompt"]), ".1f", "higher is better")
    typing_rows(fim, b, a, first_answer=False)
    print(f"| typing answers left empty (of {args.keystrokes}) | {a['typing_empty']} (preset "
          f"{fim['typing_empty']}) | {b['typing_empty']} | |")
    row("resident memory, RSS (GB)", a["rss"] / 1e9, b["rss"] / 1e9, ".2f", "lower is better")
    row("resident memory, PSS (GB)", a["pss"] / 1e9, b["pss"] / 1e9, ".2f", "lower is better")
    print(f"\n`localqwen chat {args.model.name} --plain` shows its prompt in {chat_prompt:.2f} s (median of 3)")
    same = a["decode_text"] == b["decode_text"]
    print(f"\ngreedy decode texts {'identical' if same else 'DIFFER'}")
    if not same:
        x, y = str(a["decode_text"]), str(b["decode_text"])
        at = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        print(f"  from character {at} (of {len(x)} / {len(y)}):\n  llama-server: {x[at - 40:at + 80]!r}\n"
              f"  localqwen:    {y[at - 40:at + 80]!r}")


def row(what: str, a: float, b: float, unit: str, better: str) -> None:
    print(f"| {what} | {a:{unit}} | {b:{unit}} | {b / a:.2f} ({better}) |")


def typing_rows(preset: dict, ours: dict, theirs: dict | None = None, *, first_answer: bool = True) -> None:
    if first_answer:
        row("typing: first keystroke to first completion (s)", preset["first_answer_s"], ours["first_answer_s"], ".2f",
            "lower is better")
    for name, pick in (("p50", median), ("p95", p95)):
        row(f"typing {name} vs its FIM preset (s)", pick(preset["typing"]), pick(ours["typing"]), ".3f",
            "lower is better")
        if theirs is not None:
            row(f"typing {name} vs its defaults (s)", pick(theirs["typing"]), pick(ours["typing"]), ".3f",
                "lower is better")

if __name__ == "__main__":
    main()

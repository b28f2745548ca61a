"""Safe by default: API key, loopback, unix socket rights, loading state, garbage in."""

from __future__ import annotations

import json
import random
import socket
import stat
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from localqwen.errors import UserInputError
from localqwen.server.app import create_app
from localqwen.server.errors import ApiError
from localqwen.server.host import ModelHost
from localqwen.server.llama_routes import parse_extra, parse_gen
from localqwen.server.run import open_socket, serve_in_background
from localqwen.server.settings import ServerSettings
from tests.server_fixtures import live_server


def test_api_key_is_required_everywhere_but_health(tiny_qwen3: Path) -> None:
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, api_key="s3cret")) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/health").status_code == 200
            body = {"input_prefix": "a", "input_suffix": "b", "n_predict": 2}
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                response = client.post("/infill", json=body, headers=headers)
                assert response.status_code == 401
                assert response.json()["error"]["type"] == "authentication_error"
            assert client.get("/v1/models").status_code == 401
            ok = client.post("/infill", json=body, headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200


def test_refuses_other_addresses_without_a_key() -> None:
    with pytest.raises(UserInputError, match="without an API key"):
        open_socket(ServerSettings(host="0.0.0.0", port=0))


def test_port_in_use_is_a_clear_error() -> None:
    taken = open_socket(ServerSettings(port=0))
    try:
        with pytest.raises(UserInputError, match="cannot listen on 127.0.0.1"):
            open_socket(ServerSettings(port=taken.getsockname()[1]))
    finally:
        taken.close()


def test_unix_socket_is_0600_and_serves(tmp_path: Path, tiny_qwen3: Path) -> None:
    path = tmp_path / "lq.sock"
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(socket_path=str(path))):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://localqwen", timeout=60) as client:
            assert client.get("/health").json() == {"status": "ok"}
            assert client.post("/infill", json={"input_prefix": "x", "input_suffix": "", "n_predict": 2}).status_code == 200


def test_unix_socket_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(UserInputError, match="is not a socket"):
        open_socket(ServerSettings(socket_path=str(path)))
    assert path.read_text() == "keep me"


def test_health_says_loading_until_the_model_is_in(tiny_qwen3: Path) -> None:
    release = threading.Event()

    def slow_load():
        release.wait(30)
        from localqwen.engine.llama import LlamaEngine
        from localqwen.plan.placement import Placement
        return LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=1))

    host = ModelHost("tiny", slow_load)
    loader = host.start()
    settings = ServerSettings(port=0)
    background = serve_in_background(create_app(host, settings), open_socket(settings))
    try:
        with httpx.Client(base_url=background.address, timeout=30) as client:
            loading = client.get("/health")
            assert loading.status_code == 503
            assert loading.json() == {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
            assert client.post("/infill", json={"input_prefix": "", "input_suffix": ""}).status_code == 503
            release.set()
            loader.join(30)
            assert client.get("/health").json() == {"status": "ok"}
    finally:
        background.stop()
        host.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from([
    "n_predict", "n_cmpl", "temperature", "top_k", "top_p", "min_p", "seed", "stop", "stream", "n_indent",
    "t_max_prompt_ms", "t_max_predict_ms", "id_slot", "response_fields", "samplers", "cache_prompt",
    "input_extra", "presence_penalty", "repeat_penalty",
])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=8))
def test_request_parsing_accepts_or_answers_400_never_crashes(body: dict) -> None:
    try:
        params = parse_gen(body, 2048, 0.0)
        parse_extra(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.message
        return
    assert -1 <= params.n_predict <= 2048 and 1 <= params.n_cmpl <= 8
    assert 0.0 <= params.sampling.temperature <= 5.0


def test_garbage_thrown_at_a_live_server_then_health(tiny_qwen3: Path) -> None:
    rng = random.Random(7)
    routes = ["/infill", "/completion", "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/x"]
    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=512) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for i in range(120):
                route = rng.choice(routes)
                kind = i % 4
                if kind == 0:
                    content = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
                elif kind == 1:
                    content = b'{"input_prefix": "' + b"\xff\xfe" * rng.randrange(5) + b'"'
                elif kind == 2:
                    content = ('{"prompt": %s, "n_predict": %d, "messages": %s}' % (
                        rng.choice(['"hi"', "null", "[1,2]", '{"a":1}']), rng.randrange(-10, 3000),
                        rng.choice(["[]", '[{"role":"user","content":"x"}]', '"no"', "[null]"]))).encode()
                else:
                    content = b'{"input_prefix": "' + b"a" * rng.randrange(10_000) + b'", "input_suffix": "", "n_predict": 2}'
                response = client.post(route, content=content, headers={"content-type": "application/json"})
                assert response.status_code < 500, (route, content[:80], response.text)
            raw = socket.create_connection((server.url.split("//")[1].split(":")[0], int(server.url.rsplit(":", 1)[1])))
            raw.sendall(b"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"input_pre")
            raw.close()  # a client that vanishes mid-body
            assert client.get("/health").json() == {"status": "ok"}
            assert client.post("/infill", json={"input_prefix": "a", "input_suffix": "", "n_predict": 2}).status_code == 200


def test_a_model_without_fim_tokens_answers_infill_with_a_clear_400(tmp_path: Path) -> None:
    from localqwen.tinymodel import TinySpec, write_tiny_gguf

    chat_only = write_tiny_gguf(tmp_path / "chat-only.gguf", TinySpec(fim_tokens=False))
    with live_server(chat_only, chat_only, n_ctx=512) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post("/infill", json={"input_prefix": "def f(", "input_suffix": ")"})
            assert response.status_code == 400
            assert "no fill-in-the-middle tokens" in response.json()["error"]["message"]
            chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
            assert chat.status_code == 200


NASTY_TEXT = [  # (route, raw body, the field the 400 must name)
    ("/completion", b'{"prompt": "\\ud800", "n_predict": 8}', "'prompt'"),
    ("/infill", b'{"input_prefix": "a\\udfffb", "input_suffix": ""}', "'input_prefix'"),
    ("/infill", b'{"input_prefix": "", "input_extra": [{"text": "ok"}, {"text": "\xed\xa0\x80"}]}', "'input_extra[1].text'"),
    ("/v1/completions", b'{"prompt": "def f(", "suffix": "\\ud834"}', "'suffix'"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi \\udc00"}]}', "'messages[0].content'"),
    ("/infill", b'{"input_prefix": "", "n_predict": ' + b"9" * 5000 + b"}", "'n_predict'"),
]


def test_text_json_cannot_carry_and_numbers_python_will_not_convert_are_400s_naming_the_field(tiny_qwen3: Path) -> None:
    """Each was a 500: a lone surrogate (valid JSON, not encodable text), a 5,000-digit integer,
    a body nested 10,000 deep."""
    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=512) as server:
        with httpx.Client(base_url=server.url, timeout=60, headers={"content-type": "application/json"}) as client:
            for route, content, field in NASTY_TEXT:
                response = client.post(route, content=content)
                assert response.status_code == 400, (route, response.text)
                assert field in response.json()["error"]["message"], (route, response.text)
            for deep in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
                response = client.post("/infill", content=deep)
                assert response.status_code == 400 and "nested too deeply" in response.json()["error"]["message"]
            huge_unknown = b'{"input_prefix": "a", "input_suffix": "", "n_predict": 2, "other": ' + b"7" * 5000 + b"}"
            assert client.post("/infill", content=huge_unknown).status_code == 200  # a field nobody reads does no harm
            assert client.get("/health").json() == {"status": "ok"}


def test_thousands_of_extra_chunks_are_refused_and_the_cap_is_served(tiny_qwen3: Path) -> None:
    from localqwen.server.llama_routes import MAX_EXTRA_CHUNKS

    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=2048) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            chunks = [{"text": "x", "filename": f"f{i}.py"} for i in range(5000)]
            body = {"input_prefix": "def f(", "input_suffix": ")", "n_predict": 2}
            refused = client.post("/infill", json={**body, "input_extra": chunks})
            assert refused.status_code == 400 and "'input_extra' has 5000 chunks" in refused.text
            served = client.post("/infill", json={**body, "input_extra": chunks[:MAX_EXTRA_CHUNKS]})
            assert served.status_code == 200, served.text


def test_infill_without_n_predict_keeps_its_prompt(tiny_qwen3: Path) -> None:
    """It reserved the whole context for the answer and cut the prompt to ~1 token."""
    from localqwen.server.llama_routes import INFILL_PREDICT

    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=512) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answer = client.post("/infill", json={"input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n"}).json()
    assert answer["truncated"] is False and answer["tokens_evaluated"] > 10, answer
    assert answer["tokens_predicted"] <= INFILL_PREDICT


def test_the_event_loop_answers_while_a_prompt_is_being_built(tiny_qwen3: Path) -> None:
    """Building a prompt tokenizes the whole body (a 5 MB prompt took seconds): it runs off
    the event loop. Here the build is held at its start until /health has answered."""
    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=512) as server:
        server.fim_gate.hold_calls()
        answers: list[int] = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            infill = threading.Thread(target=lambda: answers.append(client.post(
                "/infill", json={"input_prefix": "a", "input_suffix": "", "n_predict": 2}).status_code))
            infill.start()
            assert server.fim_gate.call_held.wait(30), "the /infill never began building its prompt"
            assert httpx.get(f"{server.url}/health", timeout=5).json() == {"status": "ok"}
            server.fim_gate.release_calls()
            infill.join(60)
    assert answers == [200]


def test_a_body_that_stalls_half_way_is_a_408_and_the_connection_closes(tiny_qwen3: Path) -> None:
    """A client that sends half a body and goes quiet held its connection open for ever."""
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, body_timeout_s=0.5), n_ctx=512) as server:
        host, port = server.url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            raw.sendall(b"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"input_pre")
            answer = b""
            while chunk := raw.recv(4096):  # to the end: the server closes the connection
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 0.5 s" in body
        assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}


def _raw_exchange(url: str, *sends: bytes) -> tuple[bytes, bytes]:
    """Send these bytes on one connection, then read until the server closes it: the last
    answer's (head, body)."""
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        for data in sends:
            raw.sendall(data)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    head, _, body = answer[answer.rindex(b"HTTP/1.1 "):].partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("sent", [b"", b"POST /infill HT", b"GET /health HTTP/1.1\r\nHost: x\r\n"],
                         ids=["nothing", "half a request line", "headers without their end"])
def test_headers_that_stall_are_a_408_and_the_connection_closes(tiny_qwen3: Path, sent: bytes) -> None:
    """uvicorn waited for a request's headers for ever: a connection that went quiet before
    its headers ended held its socket as long as the server ran."""
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, header_timeout_s=0.5), n_ctx=512) as server:
        head, body = _raw_exchange(server.url, sent)
        assert head.startswith(b"HTTP/1.1 408"), head
        assert json.loads(body)["error"]["message"] == "the request's headers did not arrive within 0.5 s"
        assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}


def test_the_second_request_on_a_kept_connection_is_timed_too(tiny_qwen3: Path) -> None:
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, header_timeout_s=0.5), n_ctx=512) as server:
        head, body = _raw_exchange(server.url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /hea")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"headers did not arrive" in body


def test_a_slow_but_steady_request_is_not_cut(tiny_qwen3: Path) -> None:
    """The timer covers waiting for headers only: a request whose headers arrive in time is
    answered however long its handling takes afterwards."""
    with live_server(tiny_qwen3, tiny_qwen3, ServerSettings(port=0, header_timeout_s=0.5), n_ctx=512) as server:
        server.fim_gate.hold_calls()
        held = threading.Timer(1.0, server.fim_gate.release_calls)  # held past the header timeout
        held.start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answer = client.post("/infill", json={"input_prefix": "a", "input_suffix": "", "n_predict": 2})
        held.join()
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("body", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"], ids=["bad size", "bad end"])
def test_a_malformed_chunked_body_is_a_json_400(tiny_qwen3: Path, body: bytes) -> None:
    """The HTTP layer answered it in plain text ("Invalid HTTP request received.")."""
    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=512) as server:
        head, answer = _raw_exchange(server.url, b"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n" + body)
        assert head.startswith(b"HTTP/1.1 400"), head
        assert b"application/json" in head
        error = json.loads(answer)["error"]
        assert error["message"].startswith("the request is not valid HTTP/1.1: "), error
        assert error["code"] == 400
        assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}

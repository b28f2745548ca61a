"""The socket as editors and OpenAI clients use it: real uvicorn on loopback, the tiny models."""

from __future__ import annotations

from http.client import HTTPConnection
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.held import wait_until
from tests.server_fixtures import live_server

LLAMA_VIM_BODY = {
    "id_slot": 0,
    "input_prefix": "import os\nimport sys\n\ndef main():\n",
    "input_suffix": "\n\nif __name__ == '__main__':\n    main()\n",
    "input_extra": [{"text": "def helper():\n    return 42\n", "time": 1700000000, "filename": "util.py"}],
    "prompt": "    print(",
    "n_predict": 16,
    "stop": [],
    "n_indent": 4,
    "top_k": 40,
    "top_p": 0.90,
    "samplers": ["top_k", "top_p", "infill"],
    "stream": False,
    "cache_prompt": True,
    "t_max_prompt_ms": 500,
    "t_max_predict_ms": 250,
    "response_fields": ["content", "timings/prompt_n", "timings/predicted_n", "timings/predicted_ms",
                        "truncated", "tokens_cached"],
    "model": "",
}
BEARER = {"Authorization": "Bearer "}


@pytest.fixture(scope="module")
def server(tiny_opens_think: Path, tiny_qwen3: Path):
    with live_server(tiny_opens_think, tiny_qwen3) as live:
        yield live


@pytest.fixture
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def curl_like_post(url: str, path: str, body: dict) -> tuple[int, dict]:
    """POST as llama.vim's curl does, with its empty `Authorization: Bearer ` header."""
    parsed = urlsplit(url)
    connection = HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **BEARER})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]


def test_health_is_ok_once_loaded(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_llama_vim_warmup_then_completion_reuses_the_cache(server) -> None:
    warmup = {**LLAMA_VIM_BODY, "input_prefix": "", "input_suffix": "", "prompt": "", "n_predict": 0}
    status, warm = curl_like_post(server.url, "/infill", warmup)
    assert status == 200 and warm["content"] == ""
    status, body = curl_like_post(server.url, "/infill", LLAMA_VIM_BODY)
    assert status == 200, body
    assert set(body) == set(LLAMA_VIM_BODY["response_fields"])  # flat, literal paths as keys
    assert isinstance(body["content"], str) and body["timings/prompt_n"] > 0
    assert body["tokens_cached"] > 0  # the input_extra chunk was cached by the warm-up
    typed = {**LLAMA_VIM_BODY, "prompt": "    print(os"}
    _, second = curl_like_post(server.url, "/infill", typed)
    assert second["tokens_cached"] > body["tokens_cached"]
    assert second["timings/prompt_n"] < body["timings/prompt_n"] + body["tokens_cached"]


def test_a_warmup_fills_the_cache_whatever_its_prompt_time_limit(server) -> None:
    """llama.vim's warm-up (n_predict 0) carries t_max_prompt_ms too; nobody waits for its
    answer, so the whole of its chunks is evaluated (it stopped after the first batch)."""
    chunks = [{"text": "".join(f"def warm_{j}_{i}(x):\n    return x + {i}\n" for i in range(12)), "time": 0,
               "filename": f"lib/warm{j}.py"} for j in range(3)]
    body = {**LLAMA_VIM_BODY, "input_extra": chunks, "t_max_prompt_ms": 1}
    status, warm = curl_like_post(server.url, "/infill", {**body, "input_prefix": "", "input_suffix": "", "prompt": "",
                                                           "n_predict": 0})
    assert status == 200 and warm["timings/prompt_n"] > 600  # past one batch
    status, typed = curl_like_post(server.url, "/infill", {**body, "t_max_prompt_ms": 0})
    assert status == 200 and typed["tokens_cached"] >= warm["timings/prompt_n"] - 2, typed


def test_full_infill_result_and_n_cmpl_array(http: httpx.Client) -> None:
    body = {k: v for k, v in LLAMA_VIM_BODY.items() if k != "response_fields"}
    one = http.post("/infill", json=body).json()
    for key in ("content", "stop", "tokens_predicted", "tokens_evaluated", "tokens_cached", "truncated", "timings"):
        assert key in one
    assert set(one["timings"]) >= {"cache_n", "prompt_n", "prompt_ms", "prompt_per_second", "predicted_n", "predicted_ms", "predicted_per_second"}
    three = http.post("/infill", json={**body, "n_cmpl": 3, "t_max_predict_ms": 0, "n_indent": 0}).json()
    assert isinstance(three, list) and [r["index"] for r in three] == [0, 1, 2]


def test_streaming_infill_ends_with_the_full_object_and_no_done(http: httpx.Client) -> None:
    """As llama-server: the last event has the stats and empty content, so a client that
    appends every event's content gets the answer once."""
    body = {**LLAMA_VIM_BODY, "stream": True, "response_fields": [], "n_indent": 0, "t_max_predict_ms": 0}
    with http.stream("POST", "/infill", json=body) as response:
        events = sse_events(response)
    assert events and "[DONE]" not in events
    parsed = [json.loads(e) for e in events]
    assert all(not p["stop"] for p in parsed[:-1]) and parsed[-1]["stop"] is True
    assert parsed[-1]["content"] == "" and "".join(p["content"] for p in parsed).strip()
    assert parsed[-1]["tokens_predicted"] == 16


def test_completion_parses_special_tokens_written_in_the_prompt(http: httpx.Client, server) -> None:
    prompt = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
    result = http.post("/completion", json={"prompt": prompt, "n_predict": 4, "temperature": 0}).json()
    engine = server.host.fim
    assert result["tokens_evaluated"] == len(engine.tokenize(prompt, special=True)) < len(engine.tokenize(prompt))


def test_openai_completions_with_suffix_is_real_fim(server) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    prefix, suffix = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    result = client.completions.create(model="localqwen-tiny", prompt=prefix, suffix=suffix, max_tokens=8, temperature=0)
    engine = server.host.fim
    held_back = 1  # the cursor line's last token, for the answer to heal (engine/fim.py)
    assert result.usage.prompt_tokens == 3 + len(engine.tokenize(prefix)) + len(engine.tokenize(suffix)) - held_back
    assert result.usage.completion_tokens == 8 and result.choices[0].finish_reason == "length"
    plain = client.completions.create(model="localqwen-tiny", prompt=prefix, max_tokens=4, temperature=0)
    assert plain.usage.prompt_tokens == len(engine.tokenize(prefix))
    chunks = list(client.completions.create(model="localqwen-tiny", prompt=prefix, suffix=suffix, max_tokens=8, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == result.choices[0].text


def test_openai_chat_returns_reasoning_beside_content(server) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    messages = [{"role": "user", "content": "hello"}]
    thinking = client.chat.completions.create(model="localqwen-tiny", messages=messages, max_tokens=8, temperature=0)
    message = thinking.choices[0].message
    assert message.reasoning_content and message.content == ""  # this model's prompt opens <think>
    direct = client.chat.completions.create(
        model="localqwen-tiny", messages=messages, max_tokens=8, temperature=0,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    assert direct.choices[0].message.content and not getattr(direct.choices[0].message, "reasoning_content", None)
    stream = client.chat.completions.create(model="localqwen-tiny", messages=messages, max_tokens=8, temperature=0, stream=True)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in stream if c.choices)
    assert reasoning == message.reasoning_content
    assert [m.id for m in client.models.list()][0] == "localqwen-tiny"


def test_a_no_think_message_samples_with_the_non_thinking_preset(server) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    messages = [{"role": "user", "content": "tell me a story /no_think"}]

    def answer(**sampling: float) -> str:
        reply = client.chat.completions.create(model="localqwen-tiny", messages=messages, max_tokens=24, seed=7, extra_body=sampling)
        return reply.choices[0].message.content

    def spelled_out(preset) -> dict[str, float]:
        return {"temperature": preset.temperature, "top_p": preset.top_p, "top_k": preset.top_k,
                "min_p": preset.min_p, "presence_penalty": preset.presence_penalty}

    presets = server.host.chat.presets
    as_thinking = answer(**spelled_out(presets.thinking))
    as_non_thinking = answer(**spelled_out(presets.non_thinking))
    assert as_thinking != as_non_thinking  # the two presets sample differently on this model
    assert answer() == as_non_thinking


def test_any_model_name_is_answered_by_the_served_model(server) -> None:
    """Clients send their own labels ("gpt-4o", "default"); llama-server answers them all."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    listed = [m.id for m in client.models.list().data]
    assert "localqwen" in listed and server.host.name in listed
    for label in ("gpt-9", "default", "localqwen", ""):
        reply = client.chat.completions.create(model=label, max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert reply.model == server.host.name and reply.system_fingerprint.startswith("localqwen-")
        text = client.completions.create(model=label, prompt="def f(", suffix=")", max_tokens=2)
        assert text.model == server.host.fim.info.name  # a separate completion model here


def test_with_a_separate_completion_model_names_route_to_the_model_they_name(tiny_qwen3: Path, tiny_qwen2: Path) -> None:
    with live_server(tiny_qwen3, tiny_qwen2) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        fim_name = server.host.fim.info.name
        assert fim_name != server.host.chat.info.name and fim_name in [m.id for m in client.models.list().data]
        reply = client.chat.completions.create(model=fim_name, max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert reply.model == fim_name and len(server.fim_gate.streams) == 1 and not server.chat_gate.streams
        text = client.completions.create(model=server.host.name, prompt="def f(", max_tokens=2)
        assert text.model == server.host.name and len(server.chat_gate.streams) == 1
        client.completions.create(model="my-autocomplete", prompt="def f(", max_tokens=2)  # unknown: the default
        assert len(server.fim_gate.streams) == 2


@pytest.mark.parametrize(
    "route, payload, status, words",
    [
        ("/infill", b"{not json", 400, "not valid JSON"),
        ("/infill", b"[1, 2]", 400, "JSON object"),
        ("/infill", {"input_suffix": ""}, 400, "'input_prefix' is required"),
        ("/infill", {"input_prefix": 3, "input_suffix": ""}, 400, "'input_prefix' must be a string"),
        ("/infill", {"input_prefix": "", "input_suffix": "", "n_predict": -5}, 400, "'n_predict' must be between"),
        ("/infill", {"input_prefix": "", "input_suffix": "", "n_predict": 10**12}, 400, "'n_predict' must be between"),
        ("/infill", {"input_prefix": "", "input_suffix": "", "top_p": "high"}, 400, "'top_p' must be a number"),
        ("/infill", {"input_prefix": "", "input_suffix": "", "input_extra": [1]}, 400, "list of objects"),
        ("/completion", {"prompt": "hello " * 3000}, 400, "context holds"),
        ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "role must be one of"),
        ("/v1/chat/completions", {"messages": []}, 400, "non-empty list"),
        ("/v1/completions", {"prompt": ["a", "b"]}, 400, "one prompt per request"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "n": 2}, 400, "one choice per request"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "logprobs": True}, 400,
         "'logprobs' is not supported"),
        ("/v1/completions", {"prompt": "x", "logprobs": 3}, 400, "'logprobs' is not supported"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}, 400,
         "was loaded without a vision projector, so it cannot read images"),
        ("/nowhere", {}, 404, "no such route"),
    ],
)
def test_bad_requests_get_openai_shaped_errors_and_the_server_lives(http: httpx.Client, route, payload, status, words) -> None:
    kwargs = {"content": payload} if isinstance(payload, bytes) else {"json": payload}
    response = http.post(route, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"] and error["type"]
    assert http.get("/health").status_code == 200


def test_a_developer_message_is_a_system_message_and_text_parts_are_joined(server) -> None:
    """OpenAI's newer SDKs send the system prompt as role `developer`."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    reply = client.chat.completions.create(model="localqwen", max_tokens=4, messages=[
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi."}]}])
    assert reply.choices[0].finish_reason in ("stop", "length")
    prompt = server.host.chat.detokenize(server.chat_gate.streams[-1].prompt_tokens, special=True)
    assert "<|im_start|>system\nBe brief." in prompt and "<|im_start|>user\nSay hi." in prompt


def test_body_over_the_limit_is_413(http: httpx.Client) -> None:
    from localqwen.server.settings import MAX_BODY_BYTES

    response = http.post("/infill", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over" in response.json()["error"]["message"]
    assert http.get("/health").status_code == 200


def test_client_that_disconnects_frees_the_model(server) -> None:
    gate = server.chat_gate
    gate.arm(after=4)  # the answer pauses after 4 pieces: in flight until the client goes away
    body = {"messages": [{"role": "user", "content": "tell a long story"}], "max_tokens": 1500, "stream": True}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            with client.stream("POST", "/v1/chat/completions", json=body) as response:
                wait_until(gate.held.is_set, "the answer, held mid-way")
                lines = response.iter_lines()  # kept: a dropped iterator closes the response, and the client is gone
                assert next(lines).startswith("data: ")
                assert server.host.chat.busy
        # The client is gone: the server cancels its stream, which leaves the gate into its cancel.
        wait_until(lambda: not server.host.chat.busy, "the engine to be free after the client left")
        assert gate.streams[-1].stats.stop_reason == "cancelled"
    finally:
        gate.release()


def test_a_newer_infill_cancels_the_stale_one(server, http: httpx.Client) -> None:
    long = {**LLAMA_VIM_BODY, "n_predict": 1500, "stream": True, "response_fields": [], "n_indent": 0, "t_max_predict_ms": 0}
    finals: list[dict] = []

    def stale() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            with client.stream("POST", "/infill", json=long) as response:
                finals.append(json.loads(sse_events(response)[-1]))

    gate = server.fim_gate
    gate.arm(after=8)  # the stale completion pauses after 8 pieces; the fresh one asks for 4, so it passes
    thread = threading.Thread(target=stale)
    thread.start()
    try:
        wait_until(gate.held.is_set, "the stale completion, held mid-way")
        fresh = http.post("/infill", json={**LLAMA_VIM_BODY, "n_predict": 4})
    finally:
        gate.release()
    thread.join(30)
    assert not thread.is_alive(), "the stale completion never ended"
    assert fresh.status_code == 200
    held = gate.streams[-2].stats  # the stale one; the fresh one came after it
    assert held.stop_reason == "cancelled" and 8 <= held.predicted_n < 1500
    assert finals and finals[0]["stop_type"] == "none" and finals[0]["tokens_predicted"] == held.predicted_n


def test_fim_is_served_while_a_long_chat_streams(server, http: httpx.Client) -> None:
    chat_done = threading.Event()

    def chat() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "go"}], "max_tokens": 2000})
        chat_done.set()

    gate = server.chat_gate
    gate.arm(after=4)  # the chat pauses after 4 pieces, holding its context, until released
    thread = threading.Thread(target=chat)
    thread.start()
    try:
        wait_until(gate.held.is_set, "the chat, held mid-answer")
        fim = http.post("/infill", json={**LLAMA_VIM_BODY, "n_predict": 8})
        assert fim.status_code == 200
        assert server.host.chat.busy and not chat_done.is_set()  # answered while the chat still holds its context
    finally:
        gate.release()
    thread.join(120)
    assert chat_done.is_set(), "the chat never finished after its release"


SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 2, 3]}}, "required": ["ok", "n"]}


def test_openai_chat_answers_json_under_response_format(server) -> None:
    """The tiny model's weights are random: only the grammar makes its answer JSON. Thinking
    is off under a grammar (the answer is JSON from its first token)."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    ask = [{"role": "user", "content": "Is it ok? Answer in JSON."}]
    for stream in (False, True):
        kwargs = dict(model="localqwen", messages=ask, max_tokens=64, temperature=1.0, seed=3,
                      response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA}})
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(stream=True, **kwargs)
                           if c.choices)
        else:
            reply = client.chat.completions.create(**kwargs)
            assert reply.choices[0].finish_reason == "stop" and not getattr(reply.choices[0].message, "reasoning_content", None)
            text = reply.choices[0].message.content
        answer = json.loads(text)
        assert isinstance(answer["ok"], bool) and answer["n"] in (1, 2, 3)
    any_object = client.chat.completions.create(model="x", messages=ask, max_tokens=200, seed=1,
                                               response_format={"type": "json_object"})
    content = any_object.choices[0].message.content
    assert content.startswith("{")  # an object from its first character
    if any_object.choices[0].finish_reason == "stop":  # a free-form object may outrun max_tokens
        assert isinstance(json.loads(content), dict)


def test_completion_takes_llama_servers_json_schema_and_grammar(http: httpx.Client) -> None:
    answer = http.post("/completion", json={"prompt": "JSON:", "n_predict": 64, "json_schema": SCHEMA, "seed": 5}).json()
    assert set(json.loads(answer["content"])) == {"ok", "n"}
    yes_no = http.post("/completion", json={"prompt": "Say:", "n_predict": 8, "grammar": 'root ::= "yes" | "no"'}).json()
    assert yes_no["content"] in ("yes", "no")


@pytest.mark.parametrize("route, body, words", [
    ("/completion", {"prompt": "x", "grammar": "root ::= ( unclosed"}, "could not parse the grammar"),
    ("/completion", {"prompt": "x", "json_schema": {"type": "frob"}}, "'json_schema' cannot be turned into a grammar"),
    ("/completion", {"prompt": "x", "json_schema": [1]}, "'json_schema' must be a JSON object"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                              "response_format": {"type": "json_schema", "json_schema": {"schema": {
                                  "$ref": "https://example.com/s.json"}}}},
     "'response_format.json_schema.schema' cannot be turned into a grammar: a $ref to another document"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}},
     "'response_format.type' must be text, json_object or json_schema"),
])
def test_a_schema_or_grammar_that_cannot_be_used_is_a_400_naming_it(http: httpx.Client, route, body, words) -> None:
    response = http.post(route, json=body)
    assert response.status_code == 400 and words in response.json()["error"]["message"], response.text

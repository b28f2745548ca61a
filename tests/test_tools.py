"""Tool calls: each real Qwen template's own form, calls read back out of answers, the
grammar that makes `tool_choice` "required" certain, and the round trip through the
official openai client against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from localqwen.engine.chat_template import render_chat
from localqwen.engine.errors import GrammarError
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.tool_calls import ToolCallSplitter, call_grammar, parse_call, tool_form
from localqwen.engine.types import ChatMessage, Sampling, ToolCall, ToolUse
from localqwen.plan.placement import Placement
from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.tinymodel.template import QWEN3_CHAT_TEMPLATE
from tests.server_fixtures import live_server

TEMPLATES = Path(__file__).parent / "data" / "templates"  # the chat templates of the real GGUFs
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Lyon", "Oslo"]},
                                                    "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                   "required": ["city"]}}}  # bounded values: the tiny model's random words end
CLOCK = {"type": "function", "function": {"name": "get_time", "description": "The time now.",
                                          "parameters": {"type": "object", "properties": {}}}}
CONVERSATION = [
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", "", (ToolCall("get_weather", '{"city": "Paris"}', "call_1"),)),
    ChatMessage("tool", "sunny, 21 C", tool_call_id="call_1"),
]


def template(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text()


@pytest.mark.parametrize(("name", "form"), [("qwen2.5", "json"), ("qwen3", "json"), ("qwen3-coder", "xml")])
def test_each_template_says_which_form_its_calls_take(name: str, form: str) -> None:
    assert tool_form(template(name)) == form


def test_a_template_without_tools_has_no_form() -> None:
    assert tool_form(QWEN3_CHAT_TEMPLATE) is None and tool_form(None) is None


@pytest.mark.parametrize("name", ["qwen2.5", "qwen3"])
def test_json_templates_render_tools_calls_and_results(name: str) -> None:
    prompt = render_chat(template(name), CONVERSATION, enable_thinking=False, tools=[WEATHER])
    assert json.dumps(WEATHER, ensure_ascii=False) in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\nsunny, 21 C\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n") or prompt.endswith("<think>\n\n</think>\n\n")


def test_qwen3_coder_renders_calls_in_its_xml() -> None:
    prompt = render_chat(template("qwen3-coder"), CONVERSATION, enable_thinking=False, tools=[WEATHER])
    assert "<name>get_weather</name>" in prompt
    assert "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>" in prompt
    assert "<tool_response>\nsunny, 21 C\n</tool_response>" in prompt


def test_without_tools_the_prompt_has_none() -> None:
    for name in ("qwen2.5", "qwen3", "qwen3-coder"):
        prompt = render_chat(template(name), [ChatMessage("user", "hi")], enable_thinking=False)
        assert "<tools>" not in prompt


@pytest.mark.parametrize("form", ["json", "xml"])
def test_calls_are_read_out_of_an_answer_however_it_is_cut(form: str) -> None:
    call = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>' if form == "json"
            else "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                 "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>")
    answer = "Let me look.\n" + call + "\n" + call.replace("Paris", "Lyon")
    for cut in range(1, len(answer)):
        splitter = ToolCallSplitter(form, [WEATHER])  # type: ignore[arg-type]
        items = splitter.feed(answer[:cut]) + splitter.feed(answer[cut:]) + splitter.flush()
        text = "".join(i for i in items if isinstance(i, str))
        calls = [i for i in items if isinstance(i, ToolCall)]
        assert text == "Let me look.", (cut, items)
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris", "days": 2}), ("get_weather", {"city": "Lyon", "days": 2})]
        assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id


def test_a_block_that_is_not_a_call_stays_text() -> None:
    splitter = ToolCallSplitter("json", [WEATHER])
    items = splitter.feed("<tool_call>not json</tool_call> and <tool_call>{unclosed") + splitter.flush()
    assert "".join(i for i in items if isinstance(i, str)) == "<tool_call>not json</tool_call> and <tool_call>{unclosed"
    assert parse_call('{"name": 3}', "json", []) is None
    call = parse_call('{"name": "f", "arguments": "{\\"a\\": 1}"}', "json", [])
    assert call is not None and (call.name, json.loads(call.arguments)) == ("f", {"a": 1})


@pytest.fixture(scope="module")
def tiny_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model speaking through Qwen3's real template, tools and all."""
    path = tmp_path_factory.mktemp("tools") / "tiny-tools.gguf"
    return write_tiny_gguf(path, TinySpec(arch="qwen3", chat_template=template("qwen3")))


@pytest.mark.parametrize("form", ["json", "xml"])
def test_a_required_call_is_what_the_grammar_lets_out(tiny_tools: Path, form: str) -> None:
    """Random weights, any seed: the answer is well-formed calls to the offered tools."""
    grammar = call_grammar(ToolUse((WEATHER, CLOCK), "required"), form)  # type: ignore[arg-type]
    with LlamaEngine(tiny_tools, Placement(n_ctx=1024, n_threads=2)) as engine:
        for seed in range(4):
            sampling = Sampling(temperature=1.0, top_p=1.0, top_k=0, seed=seed, grammar=grammar)
            with engine.chat(CONVERSATION[:1], thinking=False, sampling=sampling, max_tokens=160,
                             tools=ToolUse((WEATHER, CLOCK))) as stream:
                _, answer = stream.collect()
            assert stream.stats.stop_reason != "length", answer
            splitter = ToolCallSplitter(form, [WEATHER, CLOCK])  # type: ignore[arg-type]
            items = splitter.feed(answer) + splitter.flush()
            assert items and all(isinstance(i, ToolCall) for i in items), answer
            assert all(i.name in ("get_weather", "get_time") for i in items)  # type: ignore[union-attr]


def test_the_engine_holds_a_required_single_call_itself(tiny_tools: Path) -> None:
    """`ToolUse` asks the engine for the call; with `parallel` false the grammar lets out one,
    however a random model would go on."""
    use = ToolUse((WEATHER, CLOCK), "required", parallel=False)
    with LlamaEngine(tiny_tools, Placement(n_ctx=1024, n_threads=2)) as engine:
        for seed in range(4):
            sampling = Sampling(temperature=1.0, top_p=1.0, top_k=0, seed=seed)
            with engine.chat(CONVERSATION[:1], thinking=False, sampling=sampling, max_tokens=160, tools=use) as stream:
                _, answer = stream.collect()
            assert stream.stats.stop_reason == "eos", answer
            items = ToolCallSplitter("json", [WEATHER, CLOCK]).feed(answer)
            assert len(items) == 1 and isinstance(items[0], ToolCall), answer
        with pytest.raises(GrammarError, match="cannot both shape one answer"):
            engine.chat(CONVERSATION[:1], thinking=False, sampling=Sampling(grammar='root ::= "x"'), tools=use)


def test_calls_after_the_first_are_dropped_where_parallel_calls_are_off() -> None:
    two = ('<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>\n'
           '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>')
    splitter = ToolCallSplitter("json", [WEATHER, CLOCK], parallel=False)
    assert [i.name for i in splitter.feed(two) + splitter.flush()] == ["get_time"]  # type: ignore[union-attr]
    bare = ToolCallSplitter("json", [WEATHER, CLOCK], parallel=False)
    bodies = '{"name": "get_time", "arguments": {}}\n{"name": "get_time", "arguments": {}}'
    assert len(bare.feed(bodies) + bare.flush()) == 1


def test_a_named_function_is_the_only_one_called(tiny_tools: Path) -> None:
    grammar = call_grammar(ToolUse((WEATHER, CLOCK), "get_time"), "json")
    assert "get_weather" not in grammar
    with pytest.raises(Exception, match="not among the tools"):
        call_grammar(ToolUse((WEATHER,), "nope"), "json")


# --- the server, through the official openai client -------------------------------------


def test_a_tool_round_trip_through_the_openai_client(tiny_tools: Path) -> None:
    with live_server(tiny_tools, tiny_tools, n_ctx=2048) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        first = client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
            tool_choice="required", max_tokens=200, temperature=0.8, seed=3)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        call = choice.message.tool_calls[0]
        arguments = json.loads(call.function.arguments)
        assert call.function.name == "get_weather" and isinstance(arguments.get("city"), str) and call.id
        followed = client.chat.completions.create(
            model="anything", max_tokens=8, temperature=0, tools=[WEATHER],
            messages=[{"role": "user", "content": "Weather in Paris?"}, choice.message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}])
        assert followed.choices[0].message.content is not None and followed.usage.prompt_tokens > first.usage.prompt_tokens


def test_a_streamed_call_accumulates_as_the_sdk_expects(tiny_tools: Path) -> None:
    with live_server(tiny_tools, tiny_tools, n_ctx=2048) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        chunks = list(client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "What time is it?"}], tools=[WEATHER, CLOCK],
            tool_choice={"type": "function", "function": {"name": "get_time"}}, max_tokens=100, temperature=0.8,
            seed=1, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [t for d in deltas for t in (d.tool_calls or [])]
    assert calls and all(t.function.name == "get_time" for t in calls)
    assert [t.index for t in calls] == list(range(len(calls)))
    assert all(json.loads(t.function.arguments) == {} for t in calls)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_parallel_tool_calls_false_gives_one_call_streamed_or_not(tiny_tools: Path) -> None:
    with live_server(tiny_tools, tiny_tools, n_ctx=2048) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        asked = {"model": "anything", "messages": [{"role": "user", "content": "Weather, and the time?"}],
                 "tools": [WEATHER, CLOCK], "tool_choice": "required", "parallel_tool_calls": False,
                 "max_tokens": 200, "temperature": 1.0}
        for seed in range(3):
            answer = client.chat.completions.create(**asked, seed=seed)
            assert len(answer.choices[0].message.tool_calls or []) == 1, answer
            chunks = list(client.chat.completions.create(**asked, seed=seed, stream=True))
            calls = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
            assert [t.index for t in calls] == [0], calls


@pytest.mark.parametrize(("change", "named"), [
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
    ({"tools": "get_weather"}, "'tools' must be a list"),
    ({"tools": [WEATHER, WEATHER]}, "names a function twice"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice.function.name"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "'tool_choice' must be"),
    ({"tools": [], "tool_choice": "required"}, "'tools' is empty"),
    ({"tools": [WEATHER], "tool_choice": "required", "response_format": {"type": "json_object"}}, "cannot both"),
    ({"tools": [WEATHER], "parallel_tool_calls": "no"}, "'parallel_tool_calls' must be true or false"),
    ({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}, "'tools[0].function.strict'"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x", "tool_call_id": "c"}]},
     "messages[1]' is a tool result"),
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "content": "x", "tool_call_id": "b"}]}, "messages[2].tool_call_id"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"arguments": "{}"}}]}]},
     "messages[0].tool_calls[0].function.name"),
])
def test_bad_tool_requests_are_400s_naming_the_field(tiny_tools: Path, change: dict, named: str) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **change}
    with live_server(tiny_tools, tiny_tools, n_ctx=1024) as server:
        answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["error"]["message"]


def test_tools_for_a_model_whose_template_has_none_are_refused(tiny_qwen3: Path) -> None:
    with live_server(tiny_qwen3, tiny_qwen3, n_ctx=1024) as server:
        body = {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER], "max_tokens": 2}
        answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
        assert answer.status_code == 400 and "has no tool calls" in answer.json()["error"]["message"]
        body["tool_choice"] = "none"  # nothing offered: a plain answer
        assert httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).status_code == 200


def test_a_call_answered_as_bare_json_is_a_call_and_other_json_is_text() -> None:
    """Qwen2.5-Coder-0.5B answered `{"name": "get_weather", "arguments": {...}}` without
    its tags (bench/tool_call.py): a whole answer of such objects naming offered tools is
    read as calls; JSON that names no offered tool stays the answer it is."""
    def split(answer: str, pieces: int = 3) -> list:
        splitter = ToolCallSplitter("json", [WEATHER, CLOCK])
        size = max(1, len(answer) // pieces)
        items = [i for at in range(0, len(answer), size) for i in splitter.feed(answer[at:at + size])]
        return items + splitter.flush()

    one = split(' {"name": "get_weather", "arguments": {"city": "Paris"}}')
    assert [(c.name, json.loads(c.arguments)) for c in one] == [("get_weather", {"city": "Paris"})]
    two = split('{"name": "get_time", "arguments": {}}\n{"name": "get_weather", "arguments": {"city": "Oslo"}}')
    assert [c.name for c in two] == ["get_time", "get_weather"]
    for text in ('{"name": "delete_all", "arguments": {}}', '{"answer": 42}', '{"name": "get_time", "arguments": {}} ok'):
        assert "".join(split(text)) == text
    assert "".join(split("It is {sunny} today")) == "It is {sunny} today"


def test_tools_reach_the_model_in_the_order_and_text_they_were_written() -> None:
    """Jinja's own `tojson` sorted the keys and escaped `<` as \\u003c."""
    tool = {"type": "function", "function": {"name": "run", "description": "Run a <cmd> & more",
                                             "parameters": {"type": "object", "properties": {}}}}
    prompt = render_chat(template("qwen2.5"), [ChatMessage("user", "hi")], enable_thinking=False, tools=[tool])
    assert json.dumps(tool, ensure_ascii=False) in prompt

from dataclasses import replace
import threading
from pathlib import Path

import pytest

from localqwen.engine.llama import STOPPABLE_SLICE, LlamaEngine, llama_kwargs
from localqwen.engine.types import GREEDY, ChatMessage, Sampling
from localqwen.catalog.errors import ModelFileError
from localqwen.engine.errors import ModelLoadError, PromptTooLongError
from localqwen.plan.placement import Placement
from tests.held import wait_until


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@pytest.mark.parametrize("fixture", ["tiny_qwen2", "tiny_qwen3"])
def test_tiny_model_loads_and_generates(fixture: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(fixture)
    with LlamaEngine(path, Placement(n_ctx=256, n_threads=2)) as engine:
        info = engine.info
        assert info.architecture == fixture.removeprefix("tiny_")
        assert info.n_ctx == 256 and info.n_ctx_train == 4096
        assert info.n_vocab > 256 and info.chat_template and info.supports_fim
        with engine.complete("hello world", max_tokens=12, sampling=GREEDY) as stream:
            _, text = stream.collect()
        assert stream.stats.predicted_n == 12 and stream.stats.stop_reason == "length"
        assert text.strip() and text.isascii()
        with engine.complete("hello world", max_tokens=12, sampling=GREEDY) as again:
            assert again.collect()[1] == text  # greedy is repeatable


@pytest.mark.parametrize(("split", "why"), [("row", "cannot split rows"), ("tensor", "has no GPU backend")])
def test_a_split_this_build_cannot_do_is_one_clear_error(tiny_qwen3: Path, split: str, why: str) -> None:
    """llama.cpp would throw mid-load ("does not support split buffers") or fail to make
    its tensor-parallel device; the one load path says which split and why, first."""
    with pytest.raises(ModelLoadError) as caught:
        LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_gpu_layers=0, split_mode=split))
    assert f"split mode {split}: this llama.cpp" in caught.value.message and why in caught.value.message
    assert caught.value.fix and "split layer" in caught.value.fix


def test_chat_streams_and_thinking_switch_changes_the_prompt(engine: LlamaEngine) -> None:
    messages = [ChatMessage("user", "hello")]
    with engine.chat(messages, thinking=True, max_tokens=8, sampling=GREEDY) as on:
        deltas = list(on)
    assert deltas and on.stats.predicted_n == 8
    with engine.chat(messages, thinking=False, max_tokens=1) as off:
        off.collect()
    think = engine.special_token_id("<think>")
    end_think = engine.special_token_id("</think>")
    assert think is not None and end_think is not None
    assert end_think not in on.prompt_tokens
    assert off.prompt_tokens[-6:-2].count(end_think) == 1  # "<think>\n\n</think>\n\n" pre-filled
    with engine.chat([ChatMessage("user", "hello /no_think")], max_tokens=1) as soft:
        soft.collect()
    assert end_think in soft.prompt_tokens


def test_prompt_that_opens_thinking_streams_reasoning(tiny_opens_think: Path) -> None:
    with LlamaEngine(tiny_opens_think, Placement(n_ctx=256, n_threads=2)) as engine:
        with engine.chat([ChatMessage("user", "hi")], max_tokens=8, sampling=GREEDY) as thinking:
            kinds = {delta.kind for delta in thinking}
        assert kinds == {"reasoning"}
        with engine.chat([ChatMessage("user", "hi /no_think")], max_tokens=8, sampling=GREEDY) as direct:
            kinds = {delta.kind for delta in direct}
        assert kinds == {"content"}


def test_chat_prompt_parses_the_templates_special_tokens(engine: LlamaEngine) -> None:
    with engine.chat([ChatMessage("system", "be brief"), ChatMessage("user", "hi")], max_tokens=1) as stream:
        stream.collect()
    im_start = engine.special_token_id("<|im_start|>")
    assert stream.prompt_tokens[0] == im_start and stream.prompt_tokens.count(im_start) == 3


def test_cancel_stops_a_stream_within_one_token(engine: LlamaEngine) -> None:
    stream = engine.chat([ChatMessage("user", "tell me a long story")], max_tokens=400, sampling=GREEDY)
    seen = 0
    for _ in stream:
        seen = stream.stats.predicted_n
        if seen >= 3:
            stream.cancel()
    assert stream.stats.stop_reason == "cancelled"
    assert stream.stats.predicted_n == seen <= 4


def test_engine_cancel_from_another_thread(engine: LlamaEngine) -> None:
    started = threading.Event()
    stream = engine.complete("once upon a time", max_tokens=900, sampling=GREEDY)

    def consume() -> None:
        for _ in stream:
            started.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(30)
    stream.cancel()
    worker.join(30)
    assert not worker.is_alive()
    assert stream.stats.stop_reason == "cancelled" and stream.stats.predicted_n < 900


def test_threads_hammering_one_engine_get_their_own_answers(engine: LlamaEngine) -> None:
    prompts = {
        "fim": lambda: engine.fim("def add(a, b):\n    return ", "\n", max_tokens=10),
        "chat": lambda: engine.chat([ChatMessage("user", "hello")], max_tokens=10, sampling=GREEDY),
        "raw": lambda: engine.complete("import os\nimport", max_tokens=10, sampling=GREEDY),
    }
    expected = {name: make().collect() for name, make in prompts.items()}
    assert len({v for v in expected.values()}) == 3
    results: list[tuple[str, tuple[str, str]]] = []
    errors: list[BaseException] = []

    def hammer(order: list[str]) -> None:
        try:
            for _ in range(4):
                for name in order:
                    with prompts[name]() as stream:
                        results.append((name, stream.collect()))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(order,)) for order in (["fim", "chat", "raw"], ["raw", "fim", "chat"], ["chat", "raw", "fim"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(results) == 36
    for name, answer in results:
        assert answer == expected[name], name


def test_second_fim_request_that_extends_the_first_reuses_the_cache(engine: LlamaEngine) -> None:
    engine.complete("something unrelated", max_tokens=1).collect()
    prefix = "import os\nimport sys\n\ndef main():\n    "
    with engine.fim(prefix, "\n", max_tokens=5) as first:
        first.collect()
    with engine.fim(prefix + "print(", "\n", max_tokens=5) as second:
        second.collect()
    shared = common_prefix(first.prompt_tokens, second.prompt_tokens)
    assert shared > 10
    assert second.stats.cached_n == shared
    assert second.stats.evaluated_n == len(second.prompt_tokens) - shared
    with engine.fim(prefix + "print(", "\n", max_tokens=0) as warm:
        assert list(warm) == []
    assert warm.stats.stop_reason == "prefill"
    assert warm.stats.cached_n == len(warm.prompt_tokens) - 1


def test_prompt_longer_than_the_context_is_refused(engine: LlamaEngine) -> None:
    with pytest.raises(PromptTooLongError, match="context holds 1024"):
        engine.complete("hello " * 2000)


def test_stop_strings_end_the_stream_and_are_not_emitted(engine: LlamaEngine) -> None:
    _, text = engine.complete("hello world", max_tokens=30, sampling=GREEDY).collect()
    stop = text[5:8]
    with engine.complete("hello world", max_tokens=30, sampling=GREEDY, stop=[stop]) as stream:
        _, cut = stream.collect()
    assert stream.stats.stop_reason == "stop"
    assert cut == text[: text.index(stop)]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing.gguf", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: (tmp / "notes.gguf", (tmp / "notes.gguf").write_text("hello"))[0], "not a GGUF file"),
    ],
)
def test_bad_paths_name_the_file_and_the_problem(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ModelFileError, match=message) as info:
        LlamaEngine(path)
    assert str(path) in str(info.value)


def test_truncated_gguf_is_refused_before_llama_cpp(tmp_path: Path, tiny_qwen3: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_qwen3.read_bytes()[: tiny_qwen3.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        LlamaEngine(cut)


def test_the_micro_batch_is_one_number_for_the_plan_and_the_engine() -> None:
    """The compute buffer the plan charges is sized for the micro-batch the engine loads with."""
    from localqwen.plan import memory

    assert llama_kwargs(Placement())["n_ubatch"] == Placement().n_ubatch == memory.N_UBATCH
    assert llama_kwargs(Placement(n_ubatch=256))["n_ubatch"] == 256
    assert llama_kwargs(Placement(n_batch=128))["n_ubatch"] == 128  # llama.cpp never takes more than n_batch
    with pytest.raises(ValueError, match="n_ubatch"):
        Placement(n_ubatch=0)


def test_an_engine_samples_with_its_catalog_models_presets(tmp_path: Path, tiny_qwen3: Path) -> None:
    """A pulled build (known by its file name) or a GGUF whose header names a catalog model
    (here a person's own TOML for `tiny-qwen3`) chats with that model's presets, not Qwen's defaults."""
    import os
    import shutil

    from localqwen.catalog.loader import load_catalog
    from localqwen.engine.sampling import QWEN_PRESETS, presets_for
    from localqwen.engine.types import Sampling

    build = shutil.copy(tiny_qwen3, tmp_path / "Qwen3.6-27B-Q4_K_M.gguf")
    with LlamaEngine(build, Placement(n_ctx=64, n_threads=1)) as engine:
        assert engine.presets == presets_for(load_catalog().find("qwen3.6-27b")) != QWEN_PRESETS
        assert engine.presets.thinking.temperature == 1.0
    own = Path(os.environ["LOCALQWEN_HOME"]) / "models"
    own.mkdir(parents=True)
    (own / "tiny.toml").write_text(
        '[[model]]\nid = "tiny-qwen3"\nname = "Tiny"\nfamily = "qwen3"\ncontext = 4096\nthinking = true\nfim = true\nparams_b = 0.01\n'
        "[model.arch]\nlayers = 2\nattention_layers = 2\nheads = 2\nkv_heads = 1\nhead_dim = 32\nhidden = 64\nvocab = 500\n"
        "[model.sampling.thinking]\ntemperature = 0.9\ntop_p = 0.9\ntop_k = 10\n"
    )
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=64, n_threads=1)) as engine:
        assert engine.presets.thinking == Sampling(temperature=0.9, top_p=0.9, top_k=10)
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=64, n_threads=1), presets=QWEN_PRESETS) as engine:
        assert engine.presets == QWEN_PRESETS  # a caller's own choice wins


@pytest.mark.parametrize(
    "sampling",
    [GREEDY, Sampling(temperature=0.9, top_k=30, top_p=0.9, min_p=0.02, presence_penalty=1.5, seed=7)],
    ids=["greedy", "seeded"],
)
def test_the_decode_loop_answers_as_llama_cpp_pythons_own_generate(tiny_qwen3: Path, sampling: Sampling) -> None:
    """The engine samples with llama.cpp's chain itself; the tokens must be the ones
    llama-cpp-python's `Llama.generate` picks with the same settings and seed."""
    import llama_cpp

    prompt = "def add(a, b):\n    return"
    with LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=1)) as engine:
        with engine.complete(prompt, max_tokens=24, sampling=sampling) as stream:
            ours = "".join(d.text for d in stream)
        tokens = engine.tokenize(prompt, special=True)
    ref = llama_cpp.Llama(model_path=str(tiny_qwen3), n_ctx=256, n_threads=1, seed=sampling.seed or 0, verbose=False)
    try:
        picked = []
        for token in ref.generate(tokens, temp=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                                  min_p=sampling.min_p, presence_penalty=sampling.presence_penalty,
                                  repeat_penalty=sampling.repeat_penalty):
            if llama_cpp.llama_vocab_is_eog(ref._model.vocab, token) or len(picked) == 24:
                break
            picked.append(token)
        theirs = ref.detokenize(picked).decode("utf-8", "replace")
    finally:
        ref.close()
    assert ours == theirs and len(ours) > 0


def test_a_prompt_cut_short_by_its_time_limit_still_reports_what_it_reused(engine: LlamaEngine) -> None:
    """An editor's t_max_prompt_ms: the answer is empty, but its timings must say how much
    of the prompt came from the cache (they said 0, hiding that the cache was filling)."""
    start = "def shared_start():\n    return 1\n" * 3
    with engine.complete(start, max_tokens=1, sampling=GREEDY) as first:
        first.collect()
    shared = len(engine.tokenize(start, special=True)) - 1
    long_tail = ""
    while len(engine.tokenize(long_tail)) < 600:  # past one batch: the limit is checked between them
        long_tail += f"value_{len(long_tail)} = 1\n"
    assert shared + 600 < engine.info.n_ctx - 8
    with engine.complete(start + long_tail, max_tokens=4, sampling=GREEDY) as cut:
        cut.prompt_time_limit_s = 1e-9
        assert cut.collect() == ("", "")
    assert cut.stats.stop_reason == "prompt_timeout"
    assert cut.stats.cached_n >= shared - 2
    # One slice was evaluated before the limit was looked at, and prompt_n says so (it said the whole rest).
    assert cut.stats.evaluated_n == STOPPABLE_SLICE and cut.stats.left_n == cut.stats.prompt_n - cut.stats.cached_n - STOPPABLE_SLICE


def test_a_prompt_cut_short_goes_on_filling_the_cache_until_the_next_request(engine: LlamaEngine) -> None:
    """The editor's next keystroke mostly shares the prompt: what the time limit cut off is
    evaluated in the background, and the same prompt again finds all of it cached."""
    prompt = ""
    while len(engine.tokenize(prompt)) < 3 * STOPPABLE_SLICE:
        prompt += f"fill_{len(prompt)} = 1\n"
    assert len(engine.tokenize(prompt)) < engine.info.n_ctx - 8
    with engine.complete(prompt, max_tokens=2, sampling=GREEDY) as cut:
        cut.prompt_time_limit_s = 1e-9
        cut.collect()
    assert cut.stats.stop_reason == "prompt_timeout" and cut.stats.left_n > 0
    wait_until(lambda: not engine.busy, "the background fill to end")
    with engine.complete(prompt, max_tokens=2, sampling=GREEDY) as again:
        again.collect()
    assert again.stats.cached_n == again.stats.prompt_n - 1, again.stats


def test_the_time_limit_never_cuts_the_cursor_line_and_suffix_of_a_fim_prompt(engine: LlamaEngine) -> None:
    """What changes with each keystroke is evaluated whole once reached: cut short, it
    would only be left for the next keystroke to evaluate again, and no answer would
    ever come where the suffix takes longer than the limit. The lines before it may be cut."""
    lines = "".join(f"row_{i} = {i}\n" for i in range(40))
    suffix = "".join(f"\nafter_{i} = {i}" for i in range(60))
    assert len(engine.tokenize(suffix)) > STOPPABLE_SLICE

    def timed(prefix: str):
        with engine.fim(prefix, suffix, max_tokens=2, sampling=GREEDY) as stream:
            stream.prompt_time_limit_s = 1e-9
            stream.collect()
        return stream

    cold = timed("# cold\n" + lines + "    x = ")
    assert cold.stats.stop_reason == "prompt_timeout"
    assert cold.stats.cached_n + cold.stats.evaluated_n < cold.cut_before  # stopped inside the lines
    wait_until(lambda: not engine.busy, "the background fill to end")
    typed = timed("# cold\n" + lines + "    x = r")
    assert typed.stats.stop_reason != "prompt_timeout" and typed.stats.left_n == 0
    assert typed.stats.cached_n >= typed.cut_before - 1 and typed.stats.evaluated_n > STOPPABLE_SLICE


def test_closing_the_engine_ends_a_stream_left_suspended(tiny_qwen3: Path) -> None:
    """A consumer that stopped iterating without closing its stream (a bug of its own) must
    not make close() wait forever for the context that stream holds."""
    engine = LlamaEngine(tiny_qwen3, Placement(n_ctx=256, n_threads=1))
    left = engine.chat([ChatMessage("user", "hello")], max_tokens=16, sampling=GREEDY)
    next(left)  # holds the context, suspended at its first piece
    closing = threading.Thread(target=engine.close)
    closing.start()
    closing.join(30)
    assert not closing.is_alive(), "close() waited for the suspended stream"
    assert left.stats.stop_reason is not None and list(left) == []


def test_a_stream_cancelled_while_it_waited_ends_at_once_and_leaves_the_cache_alone(engine: LlamaEngine) -> None:
    """Stale completions queued behind the running one: each ends when its turn comes, without
    evaluating a token or dropping the cached prompt the newest request shares."""
    kept = "def kept():\n    return 1\n" * 8
    with engine.complete(kept, max_tokens=1, sampling=GREEDY) as first:
        first.collect()
    stale = engine.complete("something else entirely", max_tokens=4, sampling=GREEDY)
    stale.cancel()  # cancelled while it waited for the context
    assert stale.collect() == ("", "") and stale.stats.stop_reason == "cancelled" and stale.stats.evaluated_n == 0
    with engine.complete(kept, max_tokens=1, sampling=GREEDY) as again:
        again.collect()
    assert again.stats.cached_n == again.stats.prompt_n - 1, again.stats


BOOL_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 2, 3]}},
               "required": ["ok", "n"]}


def test_a_grammar_from_a_json_schema_holds_whatever_the_model_would_say(engine: LlamaEngine) -> None:
    """The tiny model's weights are random: only the grammar makes its answer JSON."""
    import json

    from localqwen.engine.grammar import json_schema_grammar

    grammar = json_schema_grammar(BOOL_SCHEMA)
    for seed in range(5):
        sampling = Sampling(temperature=1.0, top_p=1.0, top_k=0, seed=seed, grammar=grammar)
        with engine.complete("Answer in JSON:", max_tokens=64, sampling=sampling) as stream:
            _, text = stream.collect()
        assert stream.stats.stop_reason == "eos", (text, stream.stats)  # the grammar ended it
        answer = json.loads(text)
        assert set(answer) == {"ok", "n"} and isinstance(answer["ok"], bool) and answer["n"] in (1, 2, 3)


def test_a_schema_or_grammar_llama_cpp_cannot_take_is_refused_before_any_answer(engine: LlamaEngine) -> None:
    from localqwen.engine.errors import GrammarError
    from localqwen.engine.grammar import json_schema_grammar

    with pytest.raises(GrammarError, match=r"cannot be turned into a grammar: a \$ref to another document"):
        json_schema_grammar({"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}})
    with pytest.raises(GrammarError, match="could not parse the grammar"):
        engine.complete("x", max_tokens=4, sampling=Sampling(grammar="root ::= ( unclosed"))


def test_contexts_over_one_file_share_its_weights_until_the_last_closes(tiny_qwen3: Path) -> None:
    """serve's completion context over the chat model's file loaded the weights a second
    time: on a GPU, twice the memory the plan kept. Now both contexts use one model, which
    outlives whichever context closes first."""
    from localqwen.engine import weights
    from localqwen.engine.llama import weights_key

    placement = Placement(n_ctx=256, n_threads=1)
    key = weights_key(tiny_qwen3, placement)
    others = weights.users(key)  # engines other tests keep open
    first, second = LlamaEngine(tiny_qwen3, placement), LlamaEngine(tiny_qwen3, replace(placement, n_ctx=512))
    try:
        assert weights.users(key) == others + 2
        assert first._llm._model is second._llm._model
        with second.complete("hello", max_tokens=4, sampling=GREEDY) as alone:
            expected = alone.collect()
        first.close()
        assert weights.users(key) == others + 1
        with second.complete("hello", max_tokens=4, sampling=GREEDY) as after:
            assert after.collect() == expected  # the weights are still there
    finally:
        first.close()
        second.close()
    assert weights.users(key) == others
    other = LlamaEngine(tiny_qwen3, replace(placement, n_gpu_layers=0))
    try:
        assert weights.users(key) == others  # other layers on other devices: its own weights
    finally:
        other.close()


def test_a_stream_says_how_much_of_its_prompt_is_read(engine: LlamaEngine) -> None:
    """`read_n` follows the prompt into the cache: all of it once read, where it stopped
    when a time limit cut it (a screen shows "reading the prompt N/M" meanwhile)."""
    prompt = "".join(f"line {i} of a long prompt\n" for i in range(30))
    with engine.complete(prompt, max_tokens=1, sampling=GREEDY) as whole:
        whole.collect()
    assert whole.stats.read_n == whole.stats.prompt_n
    with engine.complete("# fresh\n" + prompt, max_tokens=1, sampling=GREEDY) as cut:
        cut.prompt_time_limit_s = 1e-9
        cut.collect()
    assert cut.stats.stop_reason == "prompt_timeout"
    assert cut.stats.read_n == cut.stats.prompt_n - cut.stats.left_n < cut.stats.prompt_n
    wait_until(lambda: not engine.busy, "the background fill to end")


def test_a_load_reports_llama_cpps_progress_to_whoever_listens(tmp_path: Path) -> None:
    """Opening a real GGUF took 10-33 s behind a bare "Loading…": llama.cpp's own progress
    callback now reaches the face that waits, from 0 to 1; a context that borrows weights
    already loaded reads nothing, so it reports nothing."""
    from localqwen.engine.load_progress import reporting
    from localqwen.tinymodel import write_tiny_gguf

    path = write_tiny_gguf(tmp_path / "progress.gguf")
    seen: list[float] = []
    with reporting(seen.append):
        first = LlamaEngine(path, Placement(n_ctx=256, n_threads=1))
    try:
        assert len(seen) > 2 and seen[-1] == 1.0 and seen == sorted(seen)
        lent: list[float] = []
        with reporting(lent.append):
            second = LlamaEngine(path, Placement(n_ctx=512, n_threads=1))
        second.close()
        assert lent == []
    finally:
        first.close()
    count = len(seen)
    LlamaEngine(path, Placement(n_ctx=256, n_threads=1)).close()  # nobody listening
    assert len(seen) == count

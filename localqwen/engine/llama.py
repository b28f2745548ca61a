"""One GGUF model loaded in llama.cpp (llama-cpp-python): chat, FIM and raw completion streams.

A `Llama` holds one context and no locks, so every use of it goes through
`self._lock`. Consecutive prompts that share a start reuse the KV cache for it.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import llama_cpp

from localqwen.catalog.gguf_header import read_gguf_header
from localqwen.engine.chat_template import opens_thinking, render_chat, resolve_thinking, thinking_mode_of
from localqwen.engine.fim import build_fim_prompt, find_fim_tokens
from localqwen.engine.cpu_share import PROCESS_CPU
from localqwen.engine.kv_reuse import ShiftPlan, plan_shift
from localqwen.engine.native import OneToken, SamplerChain, Vocabulary, grammar_sampler
from localqwen.engine.sampling import Presets, catalog_model_for, presets_for
from localqwen.engine.stops import StopMatcher
from localqwen.engine.stream import Stream
from localqwen.engine.thinking import ThinkSplitter
from localqwen.engine.tensor_overrides import CpuOverrides, expert_patterns
from localqwen.engine import load_progress
from localqwen.engine.weights import ParamsHook, open_llama, release
from localqwen.engine.tool_calls import call_grammar, one_shape, tool_form
from localqwen.engine.types import (
    GREEDY, MEDIA_MARKER, ChatMessage, Delta, ExtraChunk, Image, ModelInfo, Sampling, ToolUse,
)
from localqwen.engine.errors import (
    FimUnsupportedError, GrammarError, ImageError, ImagesUnsupportedError, ModelLoadError, PromptTooLongError,
)
from localqwen.engine.vision import ImageSpan, Projector
from localqwen.hardware.cpu import cpu_counts
from localqwen.plan.placement import Placement

SPLIT_MODE_IDS = {
    "none": llama_cpp.LLAMA_SPLIT_MODE_NONE,
    "layer": llama_cpp.LLAMA_SPLIT_MODE_LAYER,
    "row": llama_cpp.LLAMA_SPLIT_MODE_ROW,
    "tensor": llama_cpp.LLAMA_SPLIT_MODE_TENSOR,
}
KV_TYPE_IDS = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30,
}
SPECIAL_ATTRS = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
STOPPABLE_SLICE = 128
"""Prompt tokens a call where stopping soon matters more than the batch size: a prompt
with a time limit (an editor's t_max_prompt_ms), a background fill any request stops.
llama.cpp stops between calls only, and a 512-token batch took 3.4 s on 2 cores, while
the CPU rate was the same from 64 tokens a call up (148-161 tok/s on the real 0.5B)."""

PROGRESS_SLICE = 512
"""Prompt tokens a call otherwise: a long prompt's progress (`read_n`) moves every slice,
and llama.cpp computes in micro-batches of 512 (n_ubatch) whatever the call's size."""


def llama_kwargs(placement: Placement) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "n_gpu_layers": placement.n_gpu_layers,
        "split_mode": SPLIT_MODE_IDS[placement.split_mode],
        "main_gpu": placement.main_gpu,
        "tensor_split": list(placement.tensor_split) or None,
        "n_ctx": placement.n_ctx,
        "n_batch": placement.n_batch,
        "n_ubatch": min(placement.n_batch, placement.n_ubatch),
        "type_k": KV_TYPE_IDS[placement.type_k],
        "type_v": KV_TYPE_IDS[placement.type_v],
        "flash_attn": placement.flash_attn,
    }
    cpus = cpu_counts() if placement.n_threads is None or placement.n_threads_batch is None else None
    kwargs["n_threads"] = placement.n_threads or cpus.cores  # type: ignore[union-attr]
    kwargs["n_threads_batch"] = placement.n_threads_batch or cpus.threads  # type: ignore[union-attr]
    return kwargs


def weights_key(path: str | Path, placement: Placement) -> tuple[object, ...]:
    """What makes two loads of a file the same weights: the file and where its tensors go."""
    return (str(Path(path).resolve()), placement.n_gpu_layers, placement.split_mode, placement.main_gpu,
            tuple(placement.tensor_split), placement.n_cpu_moe)


def load_llama(path: str | Path, placement: Placement, *, seed: int = 0, verbose: bool = False) -> llama_cpp.Llama:
    """The one way a GGUF becomes a `Llama`: `placement` in full (MoE experts in RAM
    included), its weights shared with any context already open over them. The caller
    closes it, then `release(weights_key(path, placement))`."""
    _check_split(path, placement.split_mode)
    hooks: list[ParamsHook] = []
    if placement.n_cpu_moe:
        hooks.append(CpuOverrides(expert_patterns(placement.n_cpu_moe)))
    if (progress := load_progress.current()) is not None:
        hooks.append(progress)
    return open_llama(
        weights_key(path, placement),
        lambda: llama_cpp.Llama(model_path=str(path), seed=seed, verbose=verbose, **llama_kwargs(placement)),
        hooks,
    )


def _check_split(path: str | Path, split_mode: str) -> None:
    """A split this build cannot do, said before llama.cpp throws on it mid-load."""
    from localqwen.engine.build import row_split

    fix = "choose split layer, which every GPU build can do"
    if split_mode == "row" and not row_split():
        raise ModelLoadError(f"{path}: split mode row: this llama.cpp cannot split rows (no backend has split buffers)", fix=fix)
    if split_mode == "tensor" and not llama_cpp.llama_supports_gpu_offload():
        raise ModelLoadError(f"{path}: split mode tensor: this llama.cpp build has no GPU backend", fix=fix)


class LlamaEngine:
    """A loaded model. Streams hold the context one at a time; others wait their turn."""

    def __init__(
        self,
        path: str | Path,
        placement: Placement = Placement(),
        *,
        presets: Presets | None = None,
        seed: int = 0,
        verbose: bool = False,
        reuse_shifted_chunks: int = 0,
        mmproj: str | Path | None = None,
    ) -> None:
        """`reuse_shifted_chunks=N` (N > 0) moves cached chunks of N+ tokens instead of
        re-evaluating them when text was deleted mid-prompt (see kv_reuse.py).
        `presets=None`: the presets of the catalog model this file is, else Qwen's.
        `mmproj`: the model's vision projector, loaded beside it (where the placement says)."""
        header = read_gguf_header(path)
        self.placement = placement
        self.reuse_shifted_chunks = reuse_shifted_chunks
        model = catalog_model_for(path, header.name)
        self.presets = presets if presets is not None else presets_for(model)
        self.seed = seed
        self._lock = threading.Lock()
        self._active: Stream | None = None
        self._fill: Stream | None = None  # a cut-short prompt filling the cache in the background
        self._closed = False
        self._images: list[ImageSpan] = []  # the images in the KV cache, in order
        self._projector: Projector | None = None
        self._weights = weights_key(header.path, placement)
        try:
            self._llm = load_llama(header.path, placement, seed=seed, verbose=verbose)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{header.path}: llama.cpp could not load this GGUF ({exc})") from exc
        self._vocab = self._llm._model  # the model: token attributes, training context
        if mmproj is not None:
            try:
                self._projector = Projector(
                    mmproj, self._vocab.model, gpu=placement.projector_gpu,
                    n_threads=llama_cpp.llama_n_threads_batch(self._llm.ctx), image_max_tokens=placement.image_max_tokens,
                )
            except BaseException:
                self._llm.close()
                release(self._weights)
                raise
        self._tokens = Vocabulary(self._vocab.vocab)
        self._step = OneToken()
        metadata = dict(self._llm.metadata)
        self.info = ModelInfo(
            path=str(header.path),
            name=header.name or Path(header.path).stem,
            architecture=header.architecture,
            n_ctx=self._llm.n_ctx(),
            n_ctx_train=self._vocab.n_ctx_train(),
            n_vocab=self._llm.n_vocab(),
            chat_template=metadata.get("tokenizer.chat_template"),
            fim=find_fim_tokens(metadata, self.special_token_id),
            metadata=metadata,
            n_threads=llama_cpp.llama_n_threads(self._llm.ctx),
            n_threads_batch=llama_cpp.llama_n_threads_batch(self._llm.ctx),
            thinking_mode=model.thinking_mode if model else thinking_mode_of(metadata.get("tokenizer.chat_template")),
            thinking_default=model.thinking_default if model else True,
            vision=self._projector is not None,
        )
        self._threads_all = self._threads_now = (self.info.n_threads, self.info.n_threads_batch)

    # --- vocabulary -------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        return self._llm.detokenize(list(tokens), special=special).decode("utf-8", "replace")

    def special_token_id(self, text: str) -> int | None:
        """The id of the single special token spelled `text`, if the vocabulary has one."""
        ids = self.tokenize(text, special=True)
        if len(ids) == 1 and self._vocab.token_get_attr(ids[0]) & SPECIAL_ATTRS:
            return ids[0]
        return None

    # --- requests ---------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        thinking: bool | None = None,
        sampling: Sampling | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        tools: ToolUse | None = None,
    ) -> Stream:
        """Chat with the model's own template. `thinking=None`: `/think`, `/no_think`, else
        on; a model that always or never thinks does so whatever is asked. A call `tools`
        require is made certain by a grammar over the template's own call form."""
        thinking = resolve_thinking(self.info.thinking_mode, thinking, messages, self.info.thinking_default)
        template = self.info.chat_template
        if not template:
            raise ModelLoadError(f"{self.info.path}: the GGUF has no chat template")
        use = tools or ToolUse()
        sampling = sampling or self.presets.for_chat(thinking)
        if use.forced:
            sampling = replace(sampling, grammar=self._call_grammar(use, template, sampling))
        prompt = render_chat(template, messages, enable_thinking=thinking, tools=use.tools)
        images = [image for message in messages for image in message.images]
        for i, message in enumerate(messages):
            if images and message.content.count(MEDIA_MARKER) != len(message.images):
                raise ImageError(f"messages[{i}] has {len(message.images)} images but its text marks "
                                 f"{message.content.count(MEDIA_MARKER)} places for images ({MEDIA_MARKER})")
        tokens, spans = self._read_prompt(prompt, images)
        splitter = ThinkSplitter(in_think=opens_thinking(prompt))
        return self.generate(tokens, sampling=sampling, max_tokens=max_tokens, stop=stop, splitter=splitter,
                             images=spans)

    def _call_grammar(self, use: ToolUse, template: str, sampling: Sampling) -> str:
        form = tool_form(template)
        if form is None:
            raise GrammarError(f"{self.info.name}: its chat template has no tool calls, so none can be required")
        one_shape(use, sampling.grammar)
        return call_grammar(use, form)

    def fim(
        self,
        prefix: str,
        suffix: str,
        *,
        extra: Sequence[ExtraChunk] = (),
        repo_name: str = "project",
        filename: str = "file",
        max_tokens: int = 128,
        sampling: Sampling | None = None,
        stop: Sequence[str] = (),
    ) -> Stream:
        """Fill in the middle between `prefix` and `suffix`."""
        fim = self.info.fim
        if fim is None:
            raise FimUnsupportedError(
                f"{self.info.name} has no fill-in-the-middle tokens in its vocabulary",
                fix="use a FIM model such as Qwen2.5-Coder or Qwen3-Coder",
            )
        max_tokens = max(0, min(max_tokens, self.info.n_ctx - 4))
        prompt = build_fim_prompt(
            self.tokenize,
            fim,
            prefix,
            suffix,
            budget=self.info.n_ctx - max(max_tokens, 1),
            extra=extra,
            repo_name=repo_name,
            filename=filename,
            heal=sampling is None or sampling.grammar is None,  # a grammar constrains the answer from its start
        )
        stream = self.generate(
            prompt.tokens, sampling=sampling or self.presets.fim, max_tokens=max_tokens, stop=stop
        )
        stream.stats.truncated = prompt.truncated
        stream.cut_before = prompt.suffix_at
        stream.heal = b"" if prompt.heal is None else self._tokens.piece(prompt.heal)
        return stream

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        stop: Sequence[str] = (),
        images: Sequence[Image] = (),
    ) -> Stream:
        """A raw prompt; special tokens written in it (`<|fim_prefix|>` …) are parsed as such,
        and each MEDIA_MARKER is where the next of `images` goes."""
        tokens, spans = self._read_prompt(prompt, images)
        return self.generate(
            tokens,
            sampling=sampling or self.presets.non_thinking,
            max_tokens=max_tokens,
            stop=stop,
            images=spans,
        )

    def _read_prompt(self, prompt: str, images: Sequence[Image]) -> tuple[list[int], list[ImageSpan]]:
        """The prompt's tokens; with images, each a run of ids where its marker is (vision.py)."""
        if not images:
            return self.tokenize(prompt, special=True), []
        if self._projector is None:
            raise ImagesUnsupportedError(
                f"{self.info.name} was loaded without a vision projector, so it cannot read images",
                fix="load a vision model with its mmproj file (localqwen pulls it with the model; or --mmproj PATH)",
            )
        if prompt.count(MEDIA_MARKER) != len(images):
            raise ImageError(f"the prompt marks {prompt.count(MEDIA_MARKER)} places for images ({MEDIA_MARKER}) "
                             f"but {len(images)} came with it")
        return self._projector.tokenize(prompt, images)

    def generate(
        self,
        tokens: list[int],
        *,
        sampling: Sampling,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        splitter: ThinkSplitter | None = None,
        images: Sequence[ImageSpan] = (),
    ) -> Stream:
        """The core: prefill (reusing the cached prefix), then sample until a stop.
        `images`: where `tokens` holds images (vision.py), encoded in the prefill."""
        n_ctx = self.info.n_ctx
        if not tokens:
            raise PromptTooLongError("the prompt is empty")
        if len(tokens) >= n_ctx:
            raise PromptTooLongError(
                f"the prompt has {len(tokens)} tokens but the context holds {n_ctx}",
                fix="shorten it or load the model with a larger context",
            )
        room = n_ctx - len(tokens)
        limit = room if max_tokens is None else max(0, min(max_tokens, room))
        if sampling.grammar is not None:  # a grammar llama.cpp cannot parse is refused now, not mid-answer
            llama_cpp.llama_sampler_free(grammar_sampler(self._vocab.vocab, sampling.grammar))

        def run(stream: Stream) -> Iterator[Delta]:
            self._stop_filling(unless=stream)
            with self._lock, PROCESS_CPU.computing():
                if self._closed or stream.cancelled.is_set():
                    stream.stats.left_n, stream.stats.stop_reason = len(tokens), "cancelled"
                    return
                self._active = stream
                try:
                    yield from self._run(stream, tokens, images, sampling, limit, stop, splitter)
                finally:
                    self._active = None

        return Stream(run, tokens)

    @property
    def threads_now(self) -> tuple[int, int]:
        """The (generation, batch) threads llama.cpp runs this context with at present."""
        return llama_cpp.llama_n_threads(self._llm.ctx), llama_cpp.llama_n_threads_batch(self._llm.ctx)

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens the KV cache holds now: the last prompt and its answer but the last token."""
        return [int(token) for token in self._llm.input_ids[: self._llm.n_tokens]]

    @property
    def busy(self) -> bool:
        """A stream holds the context now, or a background fill is yet to end."""
        fill = self._fill
        return self._active is not None or (fill is not None and fill.stats.stop_reason is None)

    def close(self) -> None:
        """Stop the stream that holds the context (within one token), then free the model.

        A stream its consumer left suspended (neither iterated on nor closed) would hold the
        context forever: it is closed here, which ends it at the piece it was waiting to hand over."""
        for stream in (self._active, self._fill):
            if stream is not None:
                stream.cancel()
        while not self._lock.acquire(timeout=0.05):
            active = self._active
            if active is not None:
                try:
                    active.close()
                except ValueError:  # running in its consumer's thread: it sees the cancel within a token
                    pass
        try:
            if not self._closed:
                self._closed = True
                self._step.close()
                if self._projector is not None:
                    self._projector.close()
                self._llm.close()
                release(self._weights)
        finally:
            self._lock.release()

    def __enter__(self) -> "LlamaEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep_filling(self, tokens: list[int]) -> None:
        """A prompt cut short by its time limit goes on filling the cache in the background
        (up to where keystrokes change it), so the editor's next request finds it there.
        Any request on this context stops it, within a slice."""
        fill = self.generate(tokens, sampling=GREEDY, max_tokens=0)
        self._fill = fill
        threading.Thread(target=fill.collect, name="localqwen-fill", daemon=True).start()

    def _stop_filling(self, unless: Stream) -> None:
        fill = self._fill
        if fill is not None and fill is not unless:
            fill.cancel()

    # --- inside the lock --------------------------------------------------------------

    def _share_threads(self) -> None:
        """Before each llama.cpp call: this context's part of its threads while other
        streams in the process compute too (see cpu_share.py); all of them alone."""
        wanted = (PROCESS_CPU.part(self._threads_all[0]), PROCESS_CPU.part(self._threads_all[1]))
        if wanted != self._threads_now:
            llama_cpp.llama_set_n_threads(self._llm.ctx, *wanted)
            self._threads_now = wanted

    def _prefill(self, tokens: list[int], images: Sequence[ImageSpan], stream: Stream) -> int | str:
        """Evaluate the prompt, reusing the longest cached prefix; return how many were reused.

        Returns "cancelled" or "prompt_timeout" when stopped early; the batches already
        evaluated stay in the cache.

        Always evaluates at least the last prompt token, so the logits sampled next are
        fresh whatever the previous request left behind. An image is reused whole or
        encoded again whole.
        """
        llm = self._llm
        cache = llm.input_ids[: llm.n_tokens].tolist()
        cached = 0
        for have, want in zip(cache, tokens):
            if have != want:
                break
            cached += 1
        cached = min(cached, len(tokens) - 1)
        cached = next((span.start for span in [*self._images, *images] if span.start < cached < span.end), cached)
        limit = stream.prompt_time_limit_s
        deadline = None if limit is None else time.perf_counter() + limit
        plan = None if images or self._images else plan_shift(cache, tokens, cached, self.reuse_shifted_chunks)
        if plan is not None and self._apply_shift(plan):
            cached = plan.reused
        elif cached < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, self._position(cached), -1):
            cached = 0  # recurrent layers cannot drop a tail: start over
            llm.reset()
        llm.n_tokens = cached
        self._images = [span for span in self._images if span.end <= cached]
        stream.stats.cached_n = stream.stats.read_n = cached  # reported even when the prompt is cut short below
        start = cached
        pending = [span for span in images if span.start >= cached]
        while start < len(tokens):
            stoppable = start < stream.cut_before and (deadline is not None or stream is self._fill)
            stopped = "cancelled" if stream.cancelled.is_set() else None
            if stoppable and deadline is not None and start > cached and time.perf_counter() > deadline:
                stopped = "prompt_timeout"
            if stopped:
                stream.stats.left_n = len(tokens) - start
                return stopped
            self._share_threads()
            if pending and pending[0].start == start:
                end = self._read_image(pending.pop(0), tokens)
            else:
                end = (min(start + min(llm.n_batch, STOPPABLE_SLICE), stream.cut_before) if stoppable
                       else start + min(llm.n_batch, PROGRESS_SLICE))
                end = min(end, len(tokens), pending[0].start if pending else len(tokens))
                self._read_text(tokens[start:end])
            start = stream.stats.read_n = end
        return cached

    def _position(self, index: int) -> int:
        """The position of the cache's `index`-th entry: an image moves it by its own
        measure (M-RoPE: its grid's longer side), not by its count of embeddings."""
        return index - sum(span.n_tokens - span.n_pos for span in self._images if span.end <= index)

    def _read_text(self, tokens: list[int]) -> None:
        """Evaluate text tokens after what the cache holds; logits for the last. Anything
        the cache holds past that (a decode that failed half way) is dropped first, as
        llama-cpp-python's own `eval` does."""
        llm, position = self._llm, self._position(self._llm.n_tokens)
        llm._ctx.kv_cache_seq_rm(-1, position, -1)
        llm._batch.set_batch(batch=tokens, n_past=position, logits_all=False)
        llm._ctx.decode(llm._batch)
        llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
        llm.n_tokens += len(tokens)

    def _read_image(self, span: ImageSpan, tokens: list[int]) -> int:
        """Encode an image into the cache after what it holds; return where the prompt goes on."""
        llm, projector = self._llm, self._projector
        assert projector is not None and span.start == llm.n_tokens
        position = self._position(span.start)
        llm._ctx.kv_cache_seq_rm(-1, position, -1)
        projector.evaluate(span, llm.ctx, position, llm.n_batch)
        llm.input_ids[span.start : span.end] = tokens[span.start : span.end]
        llm.n_tokens = span.end
        self._images.append(span)
        return span.end

    def _apply_shift(self, plan: ShiftPlan) -> bool:
        """Drop the deleted span and move the chunk after it into its place."""
        llm, ctx = self._llm, self._llm._ctx
        if not ctx.kv_cache_seq_rm(-1, plan.common, plan.src):
            return False  # recurrent layers cannot drop a span
        ctx.kv_cache_seq_rm(-1, plan.src + plan.length, -1)
        ctx.kv_cache_seq_shift(0, plan.src, plan.src + plan.length, plan.common - plan.src)
        chunk = llm.input_ids[plan.src : plan.src + plan.length].copy()
        llm.input_ids[plan.common : plan.reused] = chunk
        llm.n_tokens = plan.reused
        return True

    def _run(
        self,
        stream: Stream,
        tokens: list[int],
        images: Sequence[ImageSpan],
        sampling: Sampling,
        limit: int,
        stop: Sequence[str],
        splitter: ThinkSplitter | None,
    ) -> Iterator[Delta]:
        stats = stream.stats
        started = time.perf_counter()
        cached = self._prefill(tokens, images, stream)
        stats.prompt_ms = (time.perf_counter() - started) * 1000
        if isinstance(cached, str):
            stats.stop_reason = cached  # type: ignore[assignment]
            if cached == "prompt_timeout":
                self._keep_filling(tokens[: stream.cut_before])
            return
        stats.cached_n = cached
        if limit == 0:
            stats.stop_reason = "prefill"
            return

        llm, ctx, vocab, step = self._llm, self._llm.ctx, self._tokens, self._step
        seed = self.seed if sampling.seed is None else sampling.seed
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        stopper = StopMatcher(stop)
        splitter = splitter or ThinkSplitter(in_think=False, enabled=False)
        started = time.perf_counter()
        reason = "length"
        behind = llm.n_tokens - self._position(llm.n_tokens)  # what images put between cache entries and positions
        # The last token sampled is never decoded: the cache holds what the next prompt
        # can share (prompt and answer but the last token), and `input_ids` says so.
        try:
            heal = stream.heal
            with SamplerChain(sampling, seed, self._vocab.vocab) as sampler:
                while True:
                    if heal:
                        vocab.allow_only(ctx, vocab.starting_with(heal))
                    token = sampler.sample(ctx)
                    if vocab.ends_generation(token):
                        reason = "eos"
                        break
                    stats.predicted_n += 1
                    piece, heal = vocab.piece(token)[len(heal):], b""
                    text, hit = stopper.feed(decoder.decode(piece))
                    yield from splitter.feed(text)
                    if hit:
                        reason = "stop"
                        break
                    if stats.predicted_n >= limit:
                        break
                    if stream.cancelled.is_set():
                        reason = "cancelled"
                        break
                    self._share_threads()
                    step.decode(ctx, token, llm.n_tokens - behind)
                    llm.input_ids[llm.n_tokens] = token
                    llm.n_tokens += 1
        finally:
            stats.predicted_ms = (time.perf_counter() - started) * 1000
            stats.stop_reason = reason  # type: ignore[assignment]
        if reason != "stop":
            tail, _ = stopper.feed(decoder.decode(b"", final=True))
            yield from splitter.feed(tail + stopper.flush())
        yield from splitter.flush()

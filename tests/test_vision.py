"""Images through the real llama.cpp mtmd path, on the tiny Qwen2.5-VL the package writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from localqwen.catalog.errors import ModelFileError
from localqwen.catalog.gguf_arch import spec_from_file
from localqwen.catalog.types import Vision
from localqwen.engine.errors import ImageError, ImagesUnsupportedError, ModelLoadError
from localqwen.engine.images import MAX_IMAGE_BYTES, check_image
from localqwen.engine.llama import LlamaEngine
from localqwen.engine.types import GREEDY, ChatMessage, Image, message_with_images
from localqwen.engine.vision import Projector
from localqwen.errors import UserInputError
from localqwen.hardware import load_profile
from localqwen.launch import LaunchOptions, open_model
from localqwen.plan import PlanOptions, choose, plan_model
from localqwen.plan.placement import Placement
from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.tinymodel.vision import write_tiny_projector
from tests.conftest import TinyVision
from tests.pictures import jpeg_header, png, png_header_only

QWEN25_VL = Vision(patch=14)  # the tiny projectors' patch and merge, as Qwen's own
QWEN3_VL = Vision(patch=16)
PLACEMENT = Placement(n_ctx=1024, n_threads=2)


@pytest.fixture(scope="module", params=["qwen2.5-vl", "qwen3-vl"])
def family(request: pytest.FixtureRequest) -> tuple[TinyVision, Vision]:
    """Each tiny vision model, with how its family sees (the catalog's Vision)."""
    if request.param == "qwen2.5-vl":
        return request.getfixturevalue("tiny_vl"), QWEN25_VL
    return request.getfixturevalue("tiny_vl3"), QWEN3_VL


@pytest.fixture(scope="module")
def seeing(family: tuple[TinyVision, Vision]):
    with LlamaEngine(family[0].model, PLACEMENT, mmproj=family[0].mmproj) as loaded:
        loaded.sees = family[1]
        yield loaded


def ask(engine: LlamaEngine, *parts: str | Image, history: tuple[ChatMessage, ...] = ()) -> tuple[str, object]:
    stream = engine.chat([*history, message_with_images("user", list(parts))], sampling=GREEDY, max_tokens=8,
                         thinking=False)
    _, text = stream.collect()
    return text, stream


def test_an_image_costs_the_tokens_the_plan_counts_for_it(seeing: LlamaEngine) -> None:
    assert seeing.info.vision
    _, alone = ask(seeing, "what is this?")
    for width, height in ((64, 48), (300, 200), (20, 900)):
        _, shown = ask(seeing, Image(png(width, height)), "what is this?")
        grown = len(shown.prompt_tokens) - len(alone.prompt_tokens)
        assert grown == seeing.sees.image_tokens(width, height) > 2  # the embeddings and their two markers
        assert shown.stats.prompt_n == len(shown.prompt_tokens)


def test_the_answer_depends_on_the_picture(seeing: LlamaEngine) -> None:
    first, _ = ask(seeing, Image(png(64, 48, shade=7)), "what is this?")
    other, _ = ask(seeing, Image(png(64, 48, shade=50)), "what is this?")
    again, _ = ask(seeing, Image(png(64, 48, shade=7)), "what is this?")
    assert first != other and first == again


def test_the_next_turn_reads_the_image_from_the_cache_and_answers_as_a_fresh_engine(
        family: tuple[TinyVision, Vision], seeing: LlamaEngine) -> None:
    picture = Image(png(96, 64, shade=11))
    reply, first = ask(seeing, "look:", picture, "what is it?")
    history = (message_with_images("user", ["look:", picture, "what is it?"]), ChatMessage("assistant", reply))
    followed, second = ask(seeing, "and the colours?", history=history)
    image_end = max(i for i, token in enumerate(first.prompt_tokens) if token < 0) + 1  # its run of ids
    assert second.stats.cached_n >= image_end  # the image was not encoded again
    with LlamaEngine(family[0].model, PLACEMENT, mmproj=family[0].mmproj) as fresh:
        assert ask(fresh, "and the colours?", history=history)[0] == followed  # positions after the image agree


def test_positions_after_an_image_are_llama_cpps_own(family: tuple[TinyVision, Vision]) -> None:
    """The greedy answer, token for token, as llama.cpp's mtmd helper path gives it (the
    prompt evaluated by mtmd_helper_eval_chunks, each token then decoded at the position
    it returns), so the engine's positions after an image (M-RoPE: the grid's longer side,
    not its count) are the reference's, in the prompt and in the answer."""
    prompt = "<|im_start|>user\nlook <__media__> what is it?<|im_end|>\n<|im_start|>assistant\n"
    picture, tiny = png(96, 64, shade=11), family[0]
    with LlamaEngine(tiny.model, PLACEMENT, mmproj=tiny.mmproj) as engine:
        stream = engine.complete(prompt, images=[Image(picture)], sampling=GREEDY, max_tokens=12)
        stream.collect()
        ours = engine.cached_tokens[len(stream.prompt_tokens):]  # the answer but its last token
    assert len(ours) == 11
    assert ours == _mtmd_reference(tiny, prompt, [picture], len(ours))


def test_a_prompt_with_pictures_reads_as_mtmd_reads_it_whole(family: tuple[TinyVision, Vision]) -> None:
    """The engine reads a prompt piece by piece (so that a picture can be kept prepared);
    the answer is still the one mtmd's helper gives for the whole prompt: the same picture
    twice, another between."""
    prompt = "<|im_start|>user\nfirst <__media__> then <__media__>, again <__media__> what?<|im_end|>\n<|im_start|>assistant\n"
    a, b, tiny = png(96, 64, shade=11), png(40, 80, shade=3), family[0]
    with LlamaEngine(tiny.model, PLACEMENT, mmproj=tiny.mmproj) as engine:
        stream = engine.complete(prompt, images=[Image(a), Image(b), Image(a)], sampling=GREEDY, max_tokens=12)
        stream.collect()
        ours = engine.cached_tokens[len(stream.prompt_tokens):]
    assert ours == _mtmd_reference(tiny, prompt, [a, b, a], len(ours))


def _mtmd_reference(tiny: TinyVision, prompt: str, pictures: list[bytes], n: int) -> list[int]:
    import ctypes

    import llama_cpp
    import numpy as np
    from llama_cpp import mtmd_cpp as mtmd

    llm = llama_cpp.Llama(model_path=str(tiny.model), n_ctx=1024, n_threads=2, verbose=False)
    params = mtmd.mtmd_context_params_default()
    params.use_gpu, params.n_threads, params.print_timings = False, 2, False
    ctx = mtmd.mtmd_init_from_file(str(tiny.mmproj).encode(), llm._model.model, params)
    bitmaps = [mtmd.mtmd_helper_bitmap_init_from_buf(ctx, (ctypes.c_uint8 * len(p)).from_buffer_copy(p), len(p), False)
               for p in pictures]
    chunks, text = mtmd.mtmd_input_chunks_init(), prompt.encode()
    given = mtmd.mtmd_input_text(text, len(text), False, True)
    array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
    assert mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(given), array, len(bitmaps)) == 0
    position = llama_cpp.llama_pos(0)
    assert mtmd.mtmd_helper_eval_chunks(ctx, llm.ctx, chunks, 0, 0, 512, True, ctypes.byref(position)) == 0
    batch, tokens, at = llama_cpp.llama_batch_init(1, 0, 1), [], position.value
    try:
        for _ in range(n):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            tokens.append(int(np.argmax(logits)))
            batch.n_tokens, batch.token[0], batch.pos[0], batch.n_seq_id[0] = 1, tokens[-1], at, 1
            batch.seq_id[0][0], batch.logits[0] = 0, 1
            assert llama_cpp.llama_decode(llm.ctx, batch) == 0
            at += 1
    finally:
        llama_cpp.llama_batch_free(batch)
        mtmd.mtmd_input_chunks_free(chunks)
        for bitmap in bitmaps:
            mtmd.mtmd_bitmap_free(bitmap)
        mtmd.mtmd_free(ctx)
        llm.close()
    return tokens


@pytest.fixture(scope="module")
def projector(family: tuple[TinyVision, Vision]):
    import llama_cpp

    tiny = family[0]
    llm = llama_cpp.Llama(model_path=str(tiny.model), n_ctx=1024, n_threads=2, verbose=False)
    loaded = Projector(tiny.mmproj, llm._model.model, gpu=None, n_threads=2, image_max_tokens=0)
    yield loaded
    loaded.close()
    llm.close()


def test_the_pictures_of_the_last_prompt_are_not_prepared_again(projector: Projector) -> None:
    a, b, c = (Image(png(64, 48, shade=s)) for s in (21, 22, 23))
    _, first = projector.tokenize("look <__media__> and <__media__>, <__media__>", [a, b, a])
    assert first[0].input is first[2].input and first[1].input is not first[0].input  # one picture, prepared once
    _, second = projector.tokenize("look <__media__> and <__media__>, now <__media__>", [a, b, c])
    assert second[0].input is first[0].input and second[1].input is first[1].input
    _, third = projector.tokenize("only <__media__>", [c])
    _, fourth = projector.tokenize("<__media__> again", [a])  # the last prompt had only c: a is prepared anew
    assert third[0].input is second[2].input and fourth[0].input is not first[0].input


def test_a_large_picture_is_scaled_down_to_the_placements_image_budget(tiny_vl: TinyVision) -> None:
    with LlamaEngine(tiny_vl.model, replace(PLACEMENT, image_max_tokens=20), mmproj=tiny_vl.mmproj) as capped:
        _, alone = ask(capped, "what?")
        _, shown = ask(capped, Image(png(600, 400)), "what?")
    assert len(shown.prompt_tokens) - len(alone.prompt_tokens) == QWEN25_VL.image_tokens(600, 400, 20) <= 22


def test_a_bad_image_is_named_and_the_engine_goes_on(seeing: LlamaEngine) -> None:
    cases = [
        (Image(b"GIF89a\x10\x00\x10\x00 and then nothing", "cat.gif"), "cat.gif: the image could not be decoded"),
        (Image(b"%PDF-1.7 not a picture", "scan.pdf"), "scan.pdf: not an image"),
        (Image(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "x.webp"), "x.webp: WebP"),
        (Image(png_header_only(20_000, 20_000), "bomb.png"), "bomb.png: 20000x20000 is over 50 megapixels"),
    ]
    for image, message in cases:
        with pytest.raises(ImageError, match=message.replace("(", r"\(")):
            ask(seeing, image, "what?")
    assert ask(seeing, Image(png(32, 32)), "what?")[1].stats.stop_reason == "length"


def test_images_need_a_projector(tiny_vl: TinyVision) -> None:
    with LlamaEngine(tiny_vl.model, PLACEMENT) as blind:
        assert not blind.info.vision
        with pytest.raises(ImagesUnsupportedError, match="without a vision projector"):
            ask(blind, Image(png(32, 32)), "what?")
        assert ask(blind, "what?")[1].stats.stop_reason == "length"  # text goes on as before


def test_a_marker_typed_in_text_cannot_stand_for_a_missing_image(seeing: LlamaEngine) -> None:
    typed = message_with_images("user", ["<__media__> is ", Image(png(32, 32)), " a picture"])
    assert typed.content.count("<__media__>") == 1
    forged = ChatMessage("user", "<__media__><__media__>", images=(Image(png(32, 32)),))
    with pytest.raises(ImageError, match=r"messages\[0\] has 1 images but its text marks 2 places"):
        seeing.chat([forged])


def test_a_file_that_is_not_this_models_projector_is_refused_at_load(tiny_vl: TinyVision, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a vision projector"):
        LlamaEngine(tiny_vl.model, PLACEMENT, mmproj=tiny_vl.model)
    wider = TinySpec(arch="qwen2vl", thinking=False, n_embd=128)
    other = write_tiny_projector(tmp_path / "mmproj-wider.gguf", wider)
    with pytest.raises(ModelLoadError, match="could not load this vision projector"):
        LlamaEngine(tiny_vl.model, PLACEMENT, mmproj=other)
    assert write_tiny_gguf(tmp_path / "after.gguf", TinySpec()).is_file()  # the process is alive


@pytest.mark.parametrize("data,expected", [
    (png(640, 480), ("PNG", 640, 480)),
    (jpeg_header(1920, 1080), ("JPEG", 1920, 1080)),
    (b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little") + b"\x00" * 8, ("GIF", 300, 200)),
    (b"BM" + b"\x00" * 16 + (800).to_bytes(4, "little") + (-600).to_bytes(4, "little", signed=True),
     ("BMP", 800, 600)),
])
def test_image_headers_are_read_without_decoding(data: bytes, expected: tuple[str, int, int]) -> None:
    facts = check_image(data, "x")
    assert (facts.format, facts.width, facts.height) == expected


def test_an_image_over_the_size_limit_is_refused_before_anything_reads_it() -> None:
    with pytest.raises(ImageError, match=r"big.png: 20.0 MiB is over the 20 MiB limit"):
        check_image(png(8, 8) + b"\x00" * (MAX_IMAGE_BYTES - 60), "big.png")
    with pytest.raises(ImageError, match="empty.png: its PNG header says 0x10 pixels"):
        check_image(png_header_only(0, 10), "empty.png")


def test_opening_a_vision_gguf_finds_its_projector_beside_it_and_plans_images(tiny_vl: TinyVision) -> None:
    opening = open_model(str(tiny_vl.model), LaunchOptions(ctx=1024, serving=True), lambda: load_profile("rtx4090"))
    chat = opening.chat
    assert chat.mmproj == tiny_vl.mmproj and chat.placement is not None
    assert chat.placement.image_max_tokens == 512 and chat.placement.projector_gpu == 0  # half the context; on the card
    assert opening.fim is not None and opening.fim.mmproj is None  # completions read no images
    engine = opening.chat.load()
    try:
        assert engine.info.vision
        _, shown = ask(engine, Image(png(64, 48)), "what?")
        assert shown.stats.stop_reason == "length"
    finally:
        engine.close()


def test_the_plan_counts_a_projector_given_by_hand(tiny_vl: TinyVision) -> None:
    bare = spec_from_file(tiny_vl.model)
    seeing = spec_from_file(tiny_vl.model, tiny_vl.mmproj)
    assert bare.vision is None and seeing.vision == Vision(patch=14, merge=2)
    assert seeing.builds[0].mmproj_bytes == tiny_vl.mmproj.stat().st_size
    plan = choose(plan_model(seeing, load_profile("laptop-cpu-16g"), PlanOptions(ctx=1024)))
    assert "projector" in plan.note and plan.placement.projector_gpu is None  # no GPU: it runs in RAM


def test_a_wrong_mmproj_is_one_clear_line(tiny_vl: TinyVision, tmp_path: Path) -> None:
    def opened(what: str, mmproj: str) -> None:
        open_model(what, LaunchOptions(ctx=1024, mmproj=mmproj), lambda: load_profile("rtx4090"))

    with pytest.raises(UserInputError, match=r"--mmproj .*nothing.gguf: no such file"):
        opened(str(tiny_vl.model), str(tmp_path / "nothing.gguf"))
    with pytest.raises(UserInputError, match="--mmproj goes with a .gguf model, not a backend URL"):
        opened("http://127.0.0.1:9/v1", str(tiny_vl.mmproj))
    with pytest.raises(ModelFileError, match="not a vision projector"):
        opened(str(tiny_vl.model), str(tiny_vl.model))

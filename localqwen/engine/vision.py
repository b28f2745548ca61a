"""A vision projector (an "mmproj" GGUF) beside a loaded text model, through llama.cpp's mtmd.

A prompt with images becomes token ids the engine's KV-cache bookkeeping already
understands: each image is a run of as many ids as it has embeddings, all one negative
id made from the image's SHA-256, so the same picture in the next turn of a chat is
found in the cache and not encoded again. What only an image knows (its embeddings'
source, how far it moves the position under Qwen's M-RoPE) travels beside the ids as
`ImageSpan`s.

Preparing a picture for the encoder (decoding it, scaling it to the patch grid, cutting
the patches) takes about 50 ms for a 1080p one on a 2-core machine, and a chat sends every
picture of its history again with each message; so the pictures of the last prompt are
kept prepared, and the next prompt prepares only the new ones (0.1 ms for that picture).
"""

from __future__ import annotations

import ctypes
import hashlib
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import ModuleType

import llama_cpp

from localqwen.catalog.gguf_arch import projector_header
from localqwen.engine.build import gpu_device
from localqwen.engine.errors import ImageError, ModelLoadError
from localqwen.engine.images import check_image
from localqwen.engine.types import MEDIA_MARKER, Image

_ERROR_LEVEL = 4  # GGML_LOG_LEVEL_ERROR
_MESSAGES: deque[str] = deque(maxlen=8)
"""mtmd's recent error lines, for the exception that follows them."""


@llama_cpp.llama_log_callback
def _keep_errors(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    if level == _ERROR_LEVEL:
        _MESSAGES.append(text.decode("utf-8", "replace").strip())


@cache
def mtmd_library() -> ModuleType:
    """llama.cpp's multimodal library, quieted: mtmd writes every image's progress to
    stderr; only its errors are kept, for our messages. A build without it (CMAKE_ARGS
    with -DLLAVA_BUILD=OFF, as localqwen's own before vision) reads text only."""
    try:
        from llama_cpp import mtmd_cpp
    except (ImportError, OSError) as exc:
        raise ModelLoadError(f"this llama-cpp-python has no multimodal library (mtmd), so it cannot read images ({exc})",
                             fix="reinstall it without -DLLAVA_BUILD=OFF in CMAKE_ARGS (see README)") from None
    mtmd_cpp.mtmd_helper_log_set(_keep_errors, None)
    return mtmd_cpp


def _last_error() -> str:
    """What mtmd said last since the call began (`_MESSAGES.clear()` before each one)."""
    return next((line for line in reversed(_MESSAGES) if line), "no reason given")


@dataclass(eq=False)
class EncoderInput:
    """A prepared picture, as mtmd hands it to the encoder (an input chunk); freed with this object."""

    chunk: ctypes.c_void_p

    def __post_init__(self) -> None:
        weakref.finalize(self, mtmd_library().mtmd_input_chunk_free, self.chunk)


@dataclass(frozen=True)
class ImageSpan:
    """One image in a prompt: where its run of ids starts, how many embeddings it is,
    how far it moves the position, and the encoder's input (shared by every span of the
    same picture)."""

    start: int
    n_tokens: int
    n_pos: int
    input: EncoderInput = field(repr=False)

    @property
    def end(self) -> int:
        return self.start + self.n_tokens


@dataclass(frozen=True)
class _Piece:
    """What one marker becomes: ids (a picture's run, with the text mtmd puts around it)
    and its spans, counted from the piece's start."""

    ids: list[int]
    spans: list[ImageSpan]


class Projector:
    """A projector file loaded for one text model; encodes images into its embeddings."""

    def __init__(self, path: str | Path, model: llama_cpp.llama_model_p, *, gpu: int | None, n_threads: int,
                 image_max_tokens: int) -> None:
        """`gpu`: the card it runs on, where the plan counted it; None, or a build without
        that card, on the CPU."""
        projector_header(path)  # a file that is not a projector is refused here: given one, mtmd can abort
        self._kept: dict[str, _Piece] = {}
        """The last prompt's pictures, prepared, by SHA-256."""
        mtmd = mtmd_library()
        _MESSAGES.clear()
        params = mtmd.mtmd_context_params_default()
        device = gpu_device(gpu) if gpu is not None else None
        params.use_gpu = device is not None
        params.device = device
        params.n_threads = n_threads
        params.print_timings = False
        params.media_marker = MEDIA_MARKER.encode()
        params.image_max_tokens = image_max_tokens
        self._ctx = mtmd.mtmd_init_from_file(str(path).encode(), model, params)
        if not self._ctx:
            raise ModelLoadError(f"{path}: llama.cpp could not load this vision projector ({_last_error()})",
                                 fix="use the mmproj file made for this model")
        if not mtmd.mtmd_support_vision(self._ctx):
            self.close()
            raise ModelLoadError(f"{path}: this projector reads no images (an audio one?)")

    def tokenize(self, prompt: str, images: Sequence[Image]) -> tuple[list[int], list[ImageSpan]]:
        """The prompt's ids, each image a run of its own id where its marker is.

        mtmd reads the text between markers, and each picture, apart from the rest; so
        the prompt is read piece by piece, as mtmd would read it whole, and a picture the
        last prompt held is not prepared again."""
        texts = prompt.split(MEDIA_MARKER)
        assert len(texts) == len(images) + 1, "the caller checks that each image has its marker"
        ids, spans = self._read(texts[0]).ids, []
        kept: dict[str, _Piece] = {}
        for image, text in zip(images, texts[1:]):
            digest = hashlib.sha256(image.data).hexdigest()
            piece = kept.get(digest) or self._kept.get(digest) or self._read(MEDIA_MARKER, image, digest)
            kept[digest] = piece
            spans.extend(replace(span, start=len(ids) + span.start) for span in piece.spans)
            ids.extend(piece.ids)
            ids.extend(self._read(text).ids)
        self._kept = kept
        return ids, spans

    def _read(self, text: str, picture: Image | None = None, digest: str = "") -> _Piece:
        """mtmd's reading of `text`; given a `picture` (and its SHA-256 `digest`), at its one marker."""
        mtmd = mtmd_library()
        _MESSAGES.clear()
        bitmaps: list[ctypes.c_void_p] = []
        chunks = None
        try:
            if picture is not None:
                bitmaps.append(self._bitmap(picture, digest))
            chunks = mtmd.mtmd_input_chunks_init()
            encoded = text.encode("utf-8")
            given = mtmd.mtmd_input_text(encoded, len(encoded), False, True)
            array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
            code = mtmd.mtmd_tokenize(self._ctx, chunks, ctypes.byref(given), array, len(bitmaps))
            if code != 0:
                raise ImageError(f"llama.cpp could not prepare the images (mtmd_tokenize returned {code}: {_last_error()})")
            return self._ids(chunks)
        finally:
            if chunks is not None:
                mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)

    def evaluate(self, span: ImageSpan, lctx: llama_cpp.llama_context_p, position: int, n_batch: int) -> None:
        """Encode the image and put its embeddings in the KV cache at `position`."""
        mtmd = mtmd_library()
        _MESSAGES.clear()
        new_position = llama_cpp.llama_pos(0)
        code = mtmd.mtmd_helper_eval_chunk_single(self._ctx, lctx, span.input.chunk, position, 0, n_batch, False,
                                                  ctypes.byref(new_position))
        if code != 0:
            raise ImageError(f"llama.cpp could not encode an image (code {code}: {_last_error()})")

    def close(self) -> None:
        self._kept = {}
        if self._ctx:
            mtmd_library().mtmd_free(self._ctx)
            self._ctx = None

    def _bitmap(self, image: Image, digest: str) -> ctypes.c_void_p:
        mtmd = mtmd_library()
        check_image(image.data, image.name)
        buffer = (ctypes.c_uint8 * len(image.data)).from_buffer_copy(image.data)
        bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self._ctx, buffer, len(image.data), False)
        if not bitmap:
            raise ImageError(f"{image.name}: the image could not be decoded ({_last_error()})",
                             fix="send a valid PNG, JPEG, GIF or BMP file")
        mtmd.mtmd_bitmap_set_id(bitmap, digest.encode())  # what image_id reads
        return bitmap

    @staticmethod
    def _ids(chunks: ctypes.c_void_p) -> _Piece:
        mtmd = mtmd_library()
        ids: list[int] = []
        spans: list[ImageSpan] = []
        for index in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, index)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                count = ctypes.c_size_t(0)
                tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                ids.extend(tokens[i] for i in range(count.value))
                continue
            n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            spans.append(ImageSpan(len(ids), n_tokens, mtmd.mtmd_input_chunk_get_n_pos(chunk),
                                   EncoderInput(mtmd.mtmd_input_chunk_copy(chunk))))
            ids.extend([image_id(mtmd.mtmd_input_chunk_get_id(chunk))] * n_tokens)
        return _Piece(ids, spans)


def image_id(digest: bytes) -> int:
    """The negative id an image's embeddings carry in the cache: no token has it, and two
    images share it only if their SHA-256 digests (hex) start alike, 28 bits of them."""
    return -1 - int(digest.decode()[:7], 16)

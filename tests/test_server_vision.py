"""Images over the socket: OpenAI `image_url` parts and llama-server's `multimodal_data`,
the real server on loopback, the official `openai` client, the tiny Qwen2.5-VL."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

from localqwen.catalog.types import Vision
from localqwen.engine.errors import ImagesUnsupportedError
from localqwen.server.settings import ServerSettings
from tests.conftest import TinyVision
from tests.pictures import png, png_header_only
from tests.server_fixtures import live_server

PICTURE = png(64, 48)
QWEN25_VL = Vision(patch=14)


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def user(*parts: dict) -> list[dict]:
    return [{"role": "user", "content": list(parts)}]


def text(words: str) -> dict:
    return {"type": "text", "text": words}


def image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.fixture(scope="module")
def server(tiny_vl: TinyVision, tiny_qwen2: Path):
    with live_server(tiny_vl.model, tiny_qwen2, mmproj=tiny_vl.mmproj) as live:
        yield live


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def test_a_png_streams_an_answer_whose_prompt_counts_the_image(client: openai.OpenAI) -> None:
    def asked(*parts: dict) -> tuple[str, int]:
        stream = client.chat.completions.create(model="any", messages=user(*parts), max_tokens=6, temperature=0,
                                                stream=True, stream_options={"include_usage": True})
        pieces, usage = [], None
        for chunk in stream:
            pieces += [c.delta.content or "" for c in chunk.choices]
            usage = chunk.usage or usage
        return "".join(pieces), usage.prompt_tokens

    answer, with_image = asked(image(data_url(PICTURE)), text("what is this?"))
    _, without = asked(text("what is this?"))
    assert answer and with_image - without == QWEN25_VL.image_tokens(64, 48)


def test_the_models_list_says_the_chat_model_reads_images(server) -> None:
    models = httpx.get(f"{server.url}/v1/models").json()["data"]
    by_name = {m["id"]: m["capabilities"] for m in models}
    assert "multimodal" in by_name["tiny-qwen2.5-vl"] and by_name["tiny-qwen2"] == ["completion"]


def test_llama_servers_multimodal_data_prompt(server) -> None:
    body = {"prompt": {"prompt_string": "<|im_start|>user\n<__media__>what?<|im_end|>\n<|im_start|>assistant\n",
                       "multimodal_data": [base64.b64encode(PICTURE).decode()]},
            "n_predict": 4, "temperature": 0}
    answer = httpx.post(f"{server.url}/completion", json=body, timeout=60).json()
    plain = httpx.post(f"{server.url}/completion", json={**body, "prompt": "<|im_start|>user\nwhat?<|im_end|>\n"
                                                         "<|im_start|>assistant\n"}, timeout=60).json()
    assert answer["content"] and answer["tokens_evaluated"] - plain["tokens_evaluated"] == QWEN25_VL.image_tokens(64, 48)


def test_llama_servers_older_image_data_with_img_tags(server) -> None:
    body = {"prompt": "<|im_start|>user\n[img-12]what?<|im_end|>\n<|im_start|>assistant\n", "n_predict": 4,
            "image_data": [{"data": base64.b64encode(PICTURE).decode(), "id": 12}]}
    answer = httpx.post(f"{server.url}/completion", json=body, timeout=60)
    assert answer.status_code == 200 and answer.json()["content"]
    unknown = httpx.post(f"{server.url}/completion", json={**body, "prompt": "[img-13] what?"}, timeout=60)
    assert unknown.status_code == 400
    assert "the prompt names [img-13] but 'image_data' has no image with id 13" in unknown.json()["error"]["message"]


@pytest.mark.parametrize("part,message", [
    (image("data:image/png;base64,@@@not-base64@@@"), "messages[0].content[0]: the image data is not valid base64"),
    (image(data_url(b"just some text", "text/plain")), "messages[0].content[0]: a data: URL of text/plain"),
    (image(data_url(b"%PDF-1.7")), "messages[0].content[0]: not an image localqwen can read"),
    (image(data_url(png_header_only(30_000, 30_000))), "messages[0].content[0]: 30000x30000 is over 50 megapixels"),
    (image(data_url(PICTURE + b"\0" * (21 * 2**20))), "messages[0].content[0]: 21.0 MiB is over the 20 MiB limit"),
    (image("https://example.com/cat.png"), "messages[0].content[0]: remote image URLs are off on this server"),
    (image("file:///etc/passwd"), "messages[0].content[0]: file:// URLs are never read"),
    ({"type": "input_audio", "input_audio": {}}, "messages[0].content[0] is a 'input_audio' part"),
])
def test_each_bad_image_gets_a_400_naming_it_and_the_server_goes_on(server, part: dict, message: str) -> None:
    response = httpx.post(f"{server.url}/v1/chat/completions", timeout=60,
                          json={"messages": user(part, text("what?")), "max_tokens": 2})
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_an_image_in_an_assistant_turn_is_refused(server) -> None:
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": [image(data_url(PICTURE))]}]
    response = httpx.post(f"{server.url}/v1/chat/completions", json={"messages": messages}, timeout=60)
    assert response.status_code == 400 and "images go in user messages" in response.json()["error"]["message"]


class _Pictures(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/cat.png":
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.end_headers()
            self.wfile.write(PICTURE)
        elif self.path == "/elsewhere":
            self.send_response(302)
            self.send_header("location", "ftp://127.0.0.1/cat.png")  # urllib itself would follow it
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


def test_remote_image_urls_are_fetched_only_where_turned_on(tiny_vl: TinyVision, tiny_qwen2: Path) -> None:
    pictures = ThreadingHTTPServer(("127.0.0.1", 0), _Pictures)
    threading.Thread(target=pictures.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{pictures.server_address[1]}"
    try:
        with live_server(tiny_vl.model, tiny_qwen2, ServerSettings(port=0, allow_image_urls=True),
                         mmproj=tiny_vl.mmproj) as live:
            def ask(url: str) -> httpx.Response:
                return httpx.post(f"{live.url}/v1/chat/completions", timeout=60,
                                  json={"messages": user(image(url), text("what?")), "max_tokens": 2})

            fetched = ask(f"{base}/cat.png")
            assert fetched.status_code == 200, fetched.text
            assert fetched.json()["usage"]["prompt_tokens"] > QWEN25_VL.image_tokens(64, 48)
            missing = ask(f"{base}/dog.png").json()["error"]["message"]
            assert "fetching" in missing and "HTTP 404" in missing
            assert "redirect to a URL that is not http(s)" in ask(f"{base}/elsewhere").json()["error"]["message"]
            assert "file:// URLs are never read" in ask("file:///etc/passwd").json()["error"]["message"]
    finally:
        pictures.shutdown()
        pictures.server_close()


def test_a_text_only_model_refuses_images_by_name(tiny_qwen3: Path, tiny_qwen2: Path) -> None:
    with live_server(tiny_qwen3, tiny_qwen2) as live:
        response = httpx.post(f"{live.url}/v1/chat/completions", timeout=60,
                              json={"messages": user(image(data_url(PICTURE)), text("what?")), "max_tokens": 2})
    assert response.status_code == 400
    assert "tiny-qwen3 was loaded without a vision projector" in response.json()["error"]["message"]


def test_images_reach_a_remote_server_through_the_openai_backend(server) -> None:
    """localqwen in front of another server (here: localqwen itself, a vision model): the
    picture travels as a data: URL part and the remote prompt counts it."""
    from localqwen.engine.openai_backend import OpenAIBackend
    from localqwen.engine.types import GREEDY, Image, message_with_images

    backend = OpenAIBackend(f"{server.url}/v1")
    try:
        assert backend.info.vision  # the remote lists "multimodal"
        stream = backend.chat([message_with_images("user", [Image(PICTURE, "cat.png"), "what is it?"])],
                              sampling=GREEDY, max_tokens=4)
        _, answer = stream.collect()
        assert answer and stream.stats.prompt_n > QWEN25_VL.image_tokens(64, 48)
        with pytest.raises(ImagesUnsupportedError, match="takes text only"):
            backend.complete("<__media__>", images=[Image(PICTURE)])
    finally:
        backend.close()


@pytest.mark.parametrize("body,message", [
    ({"prompt": {"prompt_string": 3, "multimodal_data": []}}, "a 'prompt' object needs 'prompt_string'"),
    ({"prompt": {"prompt_string": "<__media__>", "multimodal_data": "AAAA"}}, "'multimodal_data' (a list)"),
    ({"prompt": {"prompt_string": "<__media__>", "multimodal_data": [7]}}, "prompt.multimodal_data[0] must be a base64"),
    ({"prompt": {"prompt_string": "<__media__>", "multimodal_data": ["@@"]}}, "prompt.multimodal_data[0]: the image data is not valid base64"),
    ({"prompt": {"prompt_string": "no marker", "multimodal_data": [base64.b64encode(PICTURE).decode()]}},
     "the prompt marks 0 places for images"),
    ({"prompt": "[img-1]", "image_data": "AAAA"}, "'image_data' must be a list"),
    ({"prompt": "[img-1]", "image_data": [{"id": 1, "data": None}]}, "image_data[0] must be a base64 string"),
])
def test_bad_multimodal_prompts_on_completion_get_a_400_naming_them(server, body: dict, message: str) -> None:
    response = httpx.post(f"{server.url}/completion", json={**body, "n_predict": 2}, timeout=60)
    assert response.status_code == 400 and message in response.json()["error"]["message"], response.text

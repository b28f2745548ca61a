"""The ASGI app: routes, readiness, API key, body limit, errors and one log line per request.

`create_app(host, settings)` takes everything it serves as arguments: no globals, so
tests build as many servers as they like.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from localqwen.errors import LocalQwenError, UserInputError
from localqwen.server import llama_routes, openai_routes
from localqwen.server.errors import ApiError
from localqwen.server.host import ModelHost
from localqwen.server.settings import ServerSettings

log = logging.getLogger("localqwen.server")
Handler = Callable[[Request], Awaitable[Response]]


def _authorized(request: Request, key: str | None) -> bool:
    if not key:
        return True
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    return secrets.compare_digest(token.encode(), key.encode())


async def _limited_body(request: Request, limit: int, timeout_s: float) -> None:
    """Read the body once, refusing more than `limit` bytes (413) before holding it all,
    and a body that has not arrived whole within `timeout_s` (408)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is over {limit} bytes")
    size, chunks = 0, []
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"the request body is over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout_s:g} s ({size} bytes came)") from None
    request._body = b"".join(chunks)  # Starlette's own cache: request.body() returns it


def endpoint(handler: Handler, settings: ServerSettings, *, needs_model: bool = True) -> Handler:
    async def wrapped(request: Request) -> Response:
        started = time.perf_counter()
        try:
            if not _authorized(request, settings.api_key):
                raise ApiError(401, "invalid or missing API key (send Authorization: Bearer KEY)")
            host: ModelHost = request.app.state.host
            if needs_model and host.state != "ready":
                raise ApiError(503, "Loading model" if host.state == "loading" else f"model failed to load: {host.error}")
            if request.method == "POST":
                await _limited_body(request, settings.max_body_bytes, settings.body_timeout_s)
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
            if exc.status == 408:
                response.headers["connection"] = "close"  # the rest of its body may still come: no reuse
        except UserInputError as exc:
            response = ApiError(400, exc.one_line()).response()
        except LocalQwenError as exc:
            response = ApiError(500, exc.one_line()).response()
        except Exception as exc:  # the server survives its own bugs; the log keeps them
            log.exception("error in %s", request.url.path)
            response = ApiError(500, f"internal error: {type(exc).__name__}").response()
        response.background = BackgroundTask(_log_line, request, response, started)
        return response

    return wrapped


def _log_line(request: Request, response: Response, started: float) -> None:
    stats = getattr(request.state, "stats", None)
    outcome = getattr(request.state, "outcome", None)
    stats = stats or (outcome.stats if outcome else None)
    tokens = f" in={stats.prompt_n} cached={stats.cached_n} out={stats.predicted_n}" if stats else ""
    ms = (time.perf_counter() - started) * 1000
    log.info("%s %s %d%s %.0fms", request.method, request.url.path, response.status_code, tokens, ms)
    if request.app.state.settings.log_prompts and getattr(request, "_body", b""):
        log.info("  body: %s", request._body[:4000].decode("utf-8", "replace"))


async def health(request: Request) -> Response:
    host: ModelHost = request.app.state.host
    if host.state == "ready":
        return JSONResponse({"status": "ok"})
    message = "Loading model" if host.state == "loading" else f"model failed to load: {host.error}"
    return ApiError(503, message).response()


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = "no such route" if status == 404 else "method not allowed" if status == 405 else str(exc)
    return ApiError(status, f"{request.method} {request.url.path}: {message}").response()


def create_app(host: ModelHost, settings: ServerSettings) -> Starlette:
    def post(path: str, handler: Handler) -> Route:
        return Route(path, endpoint(handler, settings), methods=["POST"])

    routes = [
        Route("/health", health, methods=["GET"]),  # no API key: editors and scripts probe it
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/models", endpoint(openai_routes.models, settings), methods=["GET"]),
        Route("/models", endpoint(openai_routes.models, settings), methods=["GET"]),
        post("/infill", llama_routes.infill),
        post("/completion", llama_routes.completion),
        post("/completions", llama_routes.completion),
        post("/v1/completions", openai_routes.completions),
        post("/v1/chat/completions", openai_routes.chat_completions),
        post("/chat/completions", openai_routes.chat_completions),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})
    app.state.host = host
    app.state.settings = settings
    return app

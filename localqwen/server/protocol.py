"""uvicorn's HTTP/1.1 protocol (h11) with the two things a long-running local server lacks.

- A request's headers must arrive whole within `header_timeout_s`: uvicorn has no such
  limit, so a client that opens a connection and sends half a request line (or nothing)
  held it, and a file descriptor, for ever. It is answered 408 and closed.
- A request the HTTP layer cannot parse (a malformed chunked body, a broken request
  line) is answered in the same JSON error shape as every other 400, not in plain text.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, H11Protocol

from localqwen.server.errors import ApiError
from localqwen.server.settings import HEADER_TIMEOUT_S


def _error(status: int, reason: str, message: str) -> bytes:
    """The raw answer, in the shape every other error has (ApiError's), written before
    any request exists to route: there is no ASGI app to answer it."""
    body = json.dumps(ApiError(status, message).body()).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


class _Connection(h11.Connection):
    """h11's connection, keeping why the peer's bytes could not be parsed (uvicorn drops it)."""

    why = "cannot parse it"

    def next_event(self):  # type: ignore[no-untyped-def]
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.why = str(exc)
            raise


class Protocol(H11Protocol):
    header_timeout_s = HEADER_TIMEOUT_S

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._headers_due: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        """Time the headers while the connection waits for them: from the first byte of a
        request (or the connection's opening) until the request line and headers are in.
        An idle keep-alive connection is uvicorn's own keep-alive timeout's business."""
        idle_kept = self.timeout_keep_alive_task is not None and not self.conn.trailing_data[0]  # none pipelined
        waiting = (self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE and not idle_kept
                   and not self.transport.is_closing())
        if waiting and self._headers_due is None:
            self._headers_due = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)
        elif not waiting:
            self._stop_watching()

    def _stop_watching(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_too_slow(self) -> None:
        self._headers_due = None
        if not self.transport.is_closing():
            self.transport.write(_error(408, "Request Timeout",
                                        f"the request's headers did not arrive within {self.header_timeout_s:g} s"))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # an answer is already on its way: it cannot become a 400
            return
        self.transport.write(_error(400, "Bad Request", f"the request is not valid HTTP/1.1: {self.conn.why}"))
        self.transport.close()


def protocol_with(header_timeout_s: float) -> type[Protocol]:
    """The protocol class for uvicorn's `http=` option, with this header timeout."""
    return type("Protocol", (Protocol,), {"header_timeout_s": header_timeout_s})

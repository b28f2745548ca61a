"""How the server listens and who may talk to it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from localqwen.errors import UserInputError

DEFAULT_PORT = 8012  # llama.vim's and llama.vscode's default
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Room for two images at their 20 MiB limit as base64 (4/3 of it): a larger image is then
answered by name (engine/images.py), not by the body's size."""
BODY_TIMEOUT_S = 30.0
"""A request body must arrive whole within this long: a client that stalls mid-body is
answered 408 and its connection closed, instead of holding it open for ever."""
HEADER_TIMEOUT_S = 30.0
"""The same for a request's line and headers, from its first byte (or the connection's
opening): uvicorn itself waits for them for ever."""


class PortError(UserInputError):
    """The port cannot be listened on (most often: another server holds it)."""

    title = "Port in use"

    def __init__(self, port: int, message: str) -> None:
        super().__init__(message, fix="another server may hold the port; pass --port")
        self.port = port


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    socket_path: str | None = None
    api_key: str | None = None
    log_prompts: bool = False
    allow_image_urls: bool = False
    """Fetch http(s) image URLs a request names (off: only data: URLs, so a request cannot
    make the server reach other addresses)."""
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout_s: float = BODY_TIMEOUT_S
    header_timeout_s: float = HEADER_TIMEOUT_S

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

"""Listen and serve: the socket is opened here, so its rights and its address are checked by us.

A unix socket is created 0600 (uvicorn's own `uds` would make it 0666). Anything but
loopback needs an API key.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from localqwen.errors import UserInputError
from localqwen.server.protocol import protocol_with
from localqwen.server.settings import PortError, ServerSettings


def check_bind(settings: ServerSettings) -> None:
    if settings.socket_path is None and not settings.loopback and not settings.api_key:
        raise UserInputError(
            f"refusing to listen on {settings.host} without an API key",
            fix="pass --api-key or --api-key-file, or keep the default 127.0.0.1",
        )


def open_socket(settings: ServerSettings) -> socket.socket:
    check_bind(settings)
    if settings.socket_path:
        return _unix_socket(Path(settings.socket_path))
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise PortError(settings.port, f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def _unix_socket(path: Path) -> socket.socket:
    if path.exists():
        if not stat.S_ISSOCK(path.stat().st_mode):
            raise UserInputError(f"{path}: exists and is not a socket; will not replace it")
        path.unlink()  # a stale socket from an earlier run
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise UserInputError(f"{path}: cannot create the socket ({exc.strerror})") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def _server(app: Starlette) -> uvicorn.Server:
    settings: ServerSettings = app.state.settings
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2,
                            http=protocol_with(settings.header_timeout_s))
    return uvicorn.Server(config)


def serve_forever(app: Starlette, sock: socket.socket) -> None:
    """Serve in this thread until Ctrl-C."""
    _server(app).run(sockets=[sock])


@dataclass
class BackgroundServer:
    """A server on its own thread and event loop (tests, the TUI's server screen)."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    on_stop: Callable[[], None] | None = None  # e.g. close an engine that lives only for this server

    @property
    def address(self) -> str:
        name = self.sock.getsockname()
        return name if isinstance(name, str) else f"http://{name[0]}:{name[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        if self.on_stop is not None:
            self.on_stop()
            self.on_stop = None


def serve_in_background(app: Starlette, sock: socket.socket, timeout: float = 10,
                        on_stop: Callable[[], None] | None = None) -> BackgroundServer:
    server = _server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="localqwen-server", daemon=True)
    thread.start()
    for _ in range(int(timeout * 100)):
        if server.started:
            break
        threading.Event().wait(0.01)
    return BackgroundServer(server, thread, sock, on_stop)

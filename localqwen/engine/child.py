"""A child process that serves HTTP (vLLM): started, waited for, logged, restarted once, stopped.

Its output goes to a log file, never to our terminal; a child that dies after it was
healthy is started again once, and a second death is reported, not retried forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from localqwen.engine.errors import ChildError


@dataclass
class ChildServer:
    argv: Sequence[str]
    base_url: str  # e.g. http://127.0.0.1:8100
    log_path: Path
    health_path: str = "/health"
    start_timeout: float = 600.0
    max_restarts: int = 1
    env: dict[str, str] | None = None
    restarts: int = 0
    process: subprocess.Popen | None = None
    healthy: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    failure: str | None = None

    def start(self) -> None:
        """Start the child and wait until it answers its health check."""
        self._spawn()
        self._wait_healthy()
        self.healthy.set()
        self._watcher = threading.Thread(target=self._watch, name="localqwen-child-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})}, start_new_session=True,
            )
        except OSError as exc:
            raise ChildError(f"cannot start {self.argv[0]}: {exc.strerror}") from None
        finally:
            log.close()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ChildError(f"{self.argv[0]} exited with code {code} while starting; see {self.log_path}")
            try:
                if httpx.get(self.base_url + self.health_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self._kill()
        raise ChildError(f"{self.argv[0]} did not become healthy in {self.start_timeout:.0f} s; see {self.log_path}")

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                if self.restarts >= self.max_restarts:
                    self.failure = f"{self.argv[0]} died again (exit {process.returncode}); see {self.log_path}"
                    return
                self.healthy.clear()
                self.restarts += 1
                try:
                    self._spawn()
                    self._wait_healthy()
                    self.healthy.set()
                except ChildError as exc:
                    self.failure = exc.one_line()
                    return
            self._stopping.wait(0.2)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _kill(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def stop(self) -> None:
        self._stopping.set()
        self._kill()
        if self._watcher is not None:
            self._watcher.join(5)

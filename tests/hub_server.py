"""A fake Hugging Face Hub on loopback that speaks what huggingface_hub sends and reads.

Two real HTTP servers: the Hub (`/api/models/...` metadata and `/resolve/` with the
headers `get_hf_file_metadata` reads: X-Repo-Commit, X-Linked-Etag, X-Linked-Size,
ETag, Location) and a "CDN" on another port (another origin, as on the real Hub, so
the client drops its token) that serves LFS blobs by sha256 with Range. It counts
the body bytes it serves and can misbehave on request: drop (close or reset) the
connection or stall after N bytes, go down (503) after a drop, serve corrupted bytes, refuse without a token,
or list its files without a field huggingface_hub reads (a mirror that is not quite a Hub).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PIECE = 64 * 1024


@dataclass
class HubFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class HubRepo:
    files: dict[str, HubFile]
    commit: str = "c0ffee" + "0" * 34
    token: str | None = None  # a gated repo: its files need `Authorization: Bearer TOKEN`
    downloads: int = 0  # what the search sorts by


@dataclass
class Hub:
    repos: dict[str, HubRepo] = field(default_factory=dict)
    drop_after: int | None = None  # close the connection after this many body bytes, once
    reset: bool = False  # the drop is a reset (RST, as Wi-Fi, NAT and proxies give), not a close
    stall_after: int | None = None  # stop sending after this many body bytes until `release` is set
    down_after_drop: bool = False  # answer 503 to everything after the drop
    down: bool = False
    corrupt: set[str] = field(default_factory=set)  # sha256s served with flipped bytes
    lfs_without_sha256: bool = False  # the file list's LFS entries lack "sha256": huggingface_hub raises KeyError
    bytes_served: int = 0
    requests: list[str] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    cdn_base: str = ""
    cdn_saw_token: bool = False  # the client must not send its token to another origin

    def add_repo(self, repo_id: str, files: dict[str, bytes | Path], *, token: str | None = None) -> HubRepo:
        """Files ending in .gguf or .safetensors are LFS files, as on the Hub; the rest live in git."""
        repo = HubRepo(
            {name: HubFile(data if isinstance(data, bytes) else data.read_bytes(), name.endswith((".gguf", ".safetensors")))
             for name, data in files.items()},
            token=token,
        )
        self.repos[repo_id] = repo
        return repo

    def blob(self, sha256: str) -> HubFile | None:
        return next((f for r in self.repos.values() for f in r.files.values() if f.lfs and f.sha256 == sha256), None)

    def reset_counters(self) -> None:
        self.bytes_served = 0
        self.requests.clear()


_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_CDN = re.compile(r"^/cdn/([0-9a-f]{64})$")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def _route(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(f"{self.command} {path} {self.headers.get('Range', '')}".strip())
            if hub.down:
                return self._error(503, "Service Unavailable", "")
            if path == "/api/agent-harnesses":  # huggingface_hub asks for this registry once a day
                return self._send_bytes(b'{"standardEnvVars": [], "harnesses": {}}', head, {})
            if path == "/api/models":
                return self._search(head)
            if match := _API.match(path):
                return self._api(match.group(1), match.group(2) or "main", head)
            if match := _RESOLVE.match(path):
                return self._resolve(match.group(1), match.group(2), match.group(3), head)
            if match := _CDN.match(path):
                return self._cdn(match.group(1), head)
            self._error(404, "Not Found", "")

        def _error(self, code: int, message: str, error_code: str, commit: str | None = None) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(code)
            if error_code:
                self.send_header("X-Error-Code", error_code)
                self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _search(self, head: bool) -> None:
            """The Hub's model search: repos whose id holds `search`, with a .gguf file when
            `filter=gguf`, most downloaded first, at most `limit`."""
            query = parse_qs(urlsplit(self.path).query)
            text = query.get("search", [""])[0].lower()
            gguf = "gguf" in query.get("filter", [])
            hits = [(repo_id, repo) for repo_id, repo in hub.repos.items() if text in repo_id.lower()
                    and (not gguf or any(name.endswith(".gguf") for name in repo.files))]
            hits.sort(key=lambda hit: -hit[1].downloads)
            limit = int(query.get("limit", ["1000"])[0])
            body = [{"id": repo_id, "modelId": repo_id, "downloads": repo.downloads, "tags": ["gguf"] if gguf else []}
                    for repo_id, repo in hits[:limit]]
            self._send_bytes(json.dumps(body).encode(), head, {"Content-Type": "application/json"})

        def _repo(self, repo_id: str, revision: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "Repository not found", "RepoNotFound")
            elif revision not in ("main", repo.commit):
                self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
                return None
            return repo

        def _api(self, repo_id: str, revision: str, head: bool) -> None:
            repo = self._repo(repo_id, revision)
            if repo is None:
                return
            siblings = [
                {"rfilename": name, "size": len(f.data), "blobId": f.git_oid,
                 **({"lfs": {"size": len(f.data), "sha256": f.sha256, "pointerSize": 134}} if f.lfs else {})}
                for name, f in repo.files.items()
            ]
            if hub.lfs_without_sha256:
                for sibling in siblings:
                    sibling.get("lfs", {}).pop("sha256", None)
            info = {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                    "gated": "manual" if repo.token else False, "siblings": siblings}
            self._send_bytes(json.dumps(info).encode(), head, {"Content-Type": "application/json"})

        def _resolve(self, repo_id: str, revision: str, filename: str, head: bool) -> None:
            repo = self._repo(repo_id, revision)
            if repo is None:
                return
            if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                return self._error(401, f"Access to model {repo_id} is restricted.", "GatedRepo")
            entry = repo.files.get(filename)
            if entry is None:
                return self._error(404, "Entry not found", "EntryNotFound", commit=repo.commit)
            headers = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
            if not entry.lfs:
                return self._send_bytes(entry.data, head, {**headers, "ETag": f'"{entry.git_oid}"'})
            headers.update({
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(len(entry.data)),
                "ETag": f'"{entry.git_oid}"',
                "Location": f"{hub.cdn_base}/cdn/{entry.sha256}",
                "Content-Length": "0",
            })
            self.send_response(302)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def _cdn(self, sha256: str, head: bool) -> None:
            entry = hub.blob(sha256)
            hub.cdn_saw_token = hub.cdn_saw_token or "Authorization" in self.headers
            if entry is None:
                return self._error(404, "Not Found", "")
            data = entry.data
            if sha256 in hub.corrupt:
                data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
            self._send_bytes(data, head, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}, ranges=True)

        def _send_bytes(self, data: bytes, head: bool, headers: dict[str, str], ranges: bool = False) -> None:
            match = _RANGE.fullmatch(self.headers.get("Range", ""))
            start, end = 0, len(data) - 1
            if ranges and match:
                start = int(match.group(1))
                end = min(int(match.group(2) or end), end)
                if start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end + 1 - start))
            self.end_headers()
            if not head:
                self._write_body(data[start : end + 1], counted=ranges)

        def _write_body(self, body: bytes, counted: bool) -> None:
            """Write in pieces, so a drop or a stall lands on an exact byte count."""
            limit = hub.drop_after if hub.drop_after is not None else hub.stall_after
            sent = 0
            try:
                while sent < len(body):
                    piece = body[sent : sent + PIECE]
                    if counted and limit is not None and sent + len(piece) > limit:
                        piece = piece[: max(limit - sent, 0)]
                        self.wfile.write(piece)
                        hub.bytes_served += len(piece)
                        self.wfile.flush()
                        return self._misbehave()
                    self.wfile.write(piece)
                    sent += len(piece)
                    if counted:
                        hub.bytes_served += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _misbehave(self) -> None:
            if hub.drop_after is not None:
                hub.drop_after = None
                hub.down = hub.down_after_drop
                if hub.reset:  # close with linger 0: the kernel answers with RST
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
            else:
                hub.stall_after = None
                hub.stalled.set()
                hub.release.wait(60)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler


@contextmanager
def serve_hub(hub: Hub) -> Iterator[str]:
    """Start the Hub and its CDN; yield the Hub's base URL (the value for HF_ENDPOINT)."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub)) for _ in range(2)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    hub.cdn_base = f"http://127.0.0.1:{servers[1].server_address[1]}"
    try:
        yield f"http://127.0.0.1:{servers[0].server_address[1]}"
    finally:
        hub.release.set()
        for server in servers:
            server.shutdown()
            server.server_close()

"""`localqwen pull` against a fake Hub on loopback: fresh, resumed, corrupted, no room, offline, 404, gated, dropped."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.units import mib
from tests.held import wait_until
from tests.hub_server import Hub, serve_hub
from tests.test_cli import localqwen

TOKEN = "hf_test_token"

CATALOG = """
[[model]]
id = "{id}"
name = "{name}"
family = "qwen3"
context = 4096
thinking = true
fim = true
params_b = 0.01

[model.arch]
layers = 2
attention_layers = 2
heads = 2
kv_heads = 1
head_dim = 32
hidden = 64
vocab = 1000
"""
BUILD = """
[[model.build]]
quant = "{quant}"
format = "gguf"
repo = "{repo}"
files = {files}
size_bytes = {size}
"""


@pytest.fixture(scope="session")
def big_gguf(models_dir: Path) -> Path:
    """About 43 MB: big enough that "half way" leaves whole 10 MB pieces on disk."""
    return write_tiny_gguf(models_dir / "big-qwen3.gguf", TinySpec(n_embd=256, n_ff=2048, n_layer=6))


def ctrl_c_reaches_it() -> None:
    """In the child before it starts: SIGINT as a terminal's Ctrl-C gives it. A suite run from
    a background job (`.ci/run &`, nohup) has SIGINT ignored, every child inherits that, and
    Python then installs no KeyboardInterrupt at all: the pull ignored the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class World:
    hub: Hub
    endpoint: str
    home: Path
    cache: Path
    files: dict[str, bytes]

    def env(self, **extra: str) -> dict[str, str]:
        return {"HF_ENDPOINT": self.endpoint, "HF_HOME": str(self.cache.parent), "HF_HUB_CACHE": str(self.cache),
                "HF_HUB_OFFLINE": "0", "HF_TOKEN": "", "LOCALQWEN_HOME": str(self.home), **extra}

    def run(self, *args: str, stdin_text: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return localqwen(*args, stdin=stdin_text, env=self.env(**env))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, **self.env(HF_HUB_DOWNLOAD_TIMEOUT="120"),  # a stall must not end in a retry
               "PYTHONFAULTHANDLER": "1"}
        return subprocess.Popen([sys.executable, "-m", "localqwen", *args], env=env, preexec_fn=ctrl_c_reaches_it,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def blobs(self, repo: str = "org/tiny-GGUF") -> Path:
        return self.cache / ("models--" + repo.replace("/", "--")) / "blobs"

    def partial(self, name: str) -> Path:
        return self.blobs() / f"{hashlib.sha256(self.files[name]).hexdigest()}.incomplete"

    def sha(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()

    def models(self) -> list[dict]:
        result = self.run("models", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def _catalog(home: Path, tiny: bytes, big: bytes) -> None:
    text = CATALOG.format(id="tiny-test", name="Tiny-Test")
    text += BUILD.format(quant="Q6_K", repo="org/tiny-GGUF", files='["tiny-Q6_K.gguf"]', size=len(tiny))
    text += BUILD.format(quant="Q4_K_M", repo="org/tiny-GGUF", files='["tiny-Q4_K_M.gguf"]', size=len(big))
    # A split GGUF named by its first part only: the pull must fetch every part.
    text += BUILD.format(quant="Q8_0", repo="org/tiny-GGUF", files='["split/tiny-Q8_0-00001-of-00003.gguf"]', size=2 * len(tiny))
    text += CATALOG.format(id="gated-test", name="Gated-Test")
    text += BUILD.format(quant="Q6_K", repo="org/gated-GGUF", files='["tiny-Q6_K.gguf"]', size=len(tiny))
    text += CATALOG.format(id="ghost-test", name="Ghost-Test")
    text += BUILD.format(quant="Q6_K", repo="org/ghost-GGUF", files='["tiny-Q6_K.gguf"]', size=len(tiny))
    text += CATALOG.format(id="stale-test", name="Stale-Test")
    text += BUILD.format(quant="Q6_K", repo="org/tiny-GGUF", files='["renamed-Q6_K.gguf"]', size=len(tiny))
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "models" / "test.toml").write_text(text)


@pytest.fixture
def world(tmp_path: Path, tiny_qwen3: Path, big_gguf: Path) -> Iterator[World]:
    tiny, big = tiny_qwen3.read_bytes(), big_gguf.read_bytes()
    third = len(tiny) // 3
    files = {
        "tiny-Q6_K.gguf": tiny,
        "tiny-Q4_K_M.gguf": big,
        "split/tiny-Q8_0-00001-of-00003.gguf": tiny[:third],
        "split/tiny-Q8_0-00002-of-00003.gguf": tiny[third : 2 * third],
        "split/tiny-Q8_0-00003-of-00003.gguf": tiny[2 * third :],
        "README.md": b"# tiny\n",
    }
    hub = Hub()
    hub.add_repo("org/tiny-GGUF", files)
    hub.add_repo("org/gated-GGUF", {"tiny-Q6_K.gguf": tiny}, token=TOKEN)
    home = Path(os.environ["LOCALQWEN_HOME"])
    _catalog(home, tiny, big)
    with serve_hub(hub) as endpoint:
        yield World(hub, endpoint, home, tmp_path / "hf" / "hub", files)


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("localqwen: error: ")
    return lines[0]


def assert_no_half_file(world: World, name: str) -> None:
    """Nothing presents the file as whole: no blob, no snapshot link, not listed by `models`."""
    assert not (world.blobs() / world.sha(name)).exists()
    assert not list((world.blobs().parent / "snapshots").rglob(name.rsplit("/", 1)[-1]))
    assert not [m for m in world.models() if m["source"] == "hub" and m["complete"]]


def test_fresh_pull_takes_the_plans_choice_and_is_verified(world: World) -> None:
    result = world.run("pull", "tiny-test", "--hardware", "laptop-cpu-16g", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["build"] == "Q6_K" and data["fetched_bytes"] == len(world.files["tiny-Q6_K.gguf"])
    path = Path(data["path"])
    assert path.read_bytes() == world.files["tiny-Q6_K.gguf"]
    assert os.path.realpath(path) == str(world.blobs() / world.sha("tiny-Q6_K.gguf"))  # the Hub cache layout
    assert (world.blobs().parent / "refs" / "main").read_text() == world.hub.repos["org/tiny-GGUF"].commit
    assert [f["action"] for f in data["files"]] == ["fetched"] and data["files"][0]["verified"]
    [listed] = world.models()
    assert listed["model"] == "tiny-test" and listed["build"] == "Q6_K" and listed["verified"] and listed["path"] == str(path)

    world.hub.reset_counters()
    again = world.run("pull", "tiny-test:Q6_K")
    assert again.returncode == 0, again.stderr
    assert world.hub.bytes_served == 0 and "present" in again.stdout and again.stdout.strip().endswith(str(path))


def test_the_cache_is_the_one_huggingface_hub_reads(world: World) -> None:
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    code = ("from huggingface_hub import hf_hub_download\n"
            "print(hf_hub_download('org/tiny-GGUF', 'tiny-Q6_K.gguf', local_files_only=True))")
    env = {**os.environ, **world.env(HF_HUB_OFFLINE="1")}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).read_bytes() == world.files["tiny-Q6_K.gguf"]


def test_split_gguf_is_fetched_whole_as_a_set(world: World) -> None:
    result = world.run("pull", "tiny-test:Q8_0", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [f["file"] for f in data["files"]] == [f"split/tiny-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert data["path"].endswith("split/tiny-Q8_0-00001-of-00003.gguf")
    assert b"".join(Path(f["path"]).read_bytes() for f in data["files"]) == world.files["tiny-Q6_K.gguf"]
    [listed] = world.models()
    assert len(listed["files"]) == 3 and listed["complete"] and listed["verified"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_pull_stopped_half_way_resumes_where_it_stopped(world: World, sig: signal.Signals) -> None:
    name, size = "tiny-Q4_K_M.gguf", len(world.files["tiny-Q4_K_M.gguf"])
    world.hub.stall_after = 25_000_000
    child = world.popen("pull", "tiny-test:Q4_K_M")
    assert world.hub.stalled.wait(60), "the pull never reached the stall"
    kept = 25_000_000  # every byte that came before the stall: nothing received is thrown away
    wait_until(lambda: world.partial(name).is_file() and world.partial(name).stat().st_size >= kept,
               f"the {kept:,} bytes before the stall on disk")
    child.send_signal(sig)
    try:
        _, stderr = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # say where the child was, not only that it hung
        child.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER=1: every thread's stack on stderr
        _, stderr = child.communicate(timeout=30)
        pytest.fail(f"the pull ignored {sig.name} for 60 s; its threads then:\n{stderr[-8000:]}", pytrace=False)
    finally:
        world.hub.release.set()
    if sig == signal.SIGINT:
        assert child.returncode == 130, stderr
        line = stderr.strip().splitlines()[-1]
        assert "stopped" in line and "kept" in line and "run the same pull again to resume" in line
    assert world.partial(name).stat().st_size == kept
    assert_no_half_file(world, name)

    world.hub.reset_counters()
    result = world.run("pull", "tiny-test:Q4_K_M", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert world.hub.bytes_served == size - kept  # only the remainder crossed the wire
    assert any(r.endswith(f"bytes={kept}-") for r in world.hub.requests), world.hub.requests
    assert data["files"][0]["resumed_from"] == kept and data["fetched_bytes"] == size - kept
    assert Path(data["path"]).read_bytes() == world.files[name] and not world.partial(name).exists()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_dropped_connection_is_resumed_within_the_same_pull_from_its_last_byte(world: World, reset: bool) -> None:
    """Closed (a body cut short) or reset (ECONNRESET, what Wi-Fi, NAT and proxies give: it
    failed the pull), the rest is asked for at once, from the last byte that arrived. A reset
    also throws away what the client's kernel held unread, so that part comes again."""
    size = len(world.files["tiny-Q4_K_M.gguf"])
    world.hub.drop_after, world.hub.reset = 15_000_000, reset
    result = world.run("pull", "tiny-test:Q4_K_M", "--json")
    assert result.returncode == 0, result.stderr
    [resumed_at] = [int(r.rsplit("bytes=", 1)[1].rstrip("-")) for r in world.hub.requests if "bytes=" in r]
    assert resumed_at == 15_000_000 if not reset else 0 < resumed_at <= 15_000_000, world.hub.requests
    assert world.hub.bytes_served == 15_000_000 + size - resumed_at  # nothing that arrived was fetched again
    assert Path(json.loads(result.stdout)["path"]).read_bytes() == world.files["tiny-Q4_K_M.gguf"]
    assert "Traceback" not in result.stderr and "Trying to resume" not in result.stderr


def test_a_server_that_drops_and_goes_down_fails_clearly_then_resumes(world: World) -> None:
    name, size = "tiny-Q4_K_M.gguf", len(world.files["tiny-Q4_K_M.gguf"])
    world.hub.drop_after, world.hub.down_after_drop = 25_000_000, True
    line = one_error_line(world.run("pull", "tiny-test:Q4_K_M"), 1)
    assert f"fetching {name} failed" in line and "HTTP 503" in line and f"{mib(25_000_000)} of {mib(size)} are kept" in line
    assert urlsplit(world.hub.cdn_base).netloc in line  # the host that failed: the CDN, not the Hub
    assert "run the same pull again to resume" in line
    assert_no_half_file(world, name)

    world.hub.down = False
    world.hub.reset_counters()
    result = world.run("pull", "tiny-test:Q4_K_M")
    assert result.returncode == 0, result.stderr
    assert world.hub.bytes_served == size - 25_000_000 and f"resumed at {mib(25_000_000)}" in result.stdout


def test_a_full_disk_is_said_to_be_the_disk_and_what_arrived_is_kept(world: World) -> None:
    """A write that fails (here the file size limit, EFBIG, as the fault suite found it; a full
    disk is ENOSPC) read as "cannot fetch ...", a network problem."""
    import resource

    name = "tiny-Q4_K_M.gguf"
    env = {**os.environ, **world.env()}
    limit = 20_000_000

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "localqwen", "pull", "tiny-test:Q4_K_M"], env=env, text=True,
                            capture_output=True, timeout=300, preexec_fn=small_disk)
    line = one_error_line(result, 1)
    assert f"fetching {name} stopped: writing to disk failed (File too large)" in line, line
    assert "free some disk space" in line and "cannot fetch" not in line
    assert world.partial(name).stat().st_size == limit  # every byte the disk took is kept
    assert_no_half_file(world, name)


def test_corrupted_download_is_deleted_and_said_so(world: World) -> None:
    name = "tiny-Q6_K.gguf"
    world.hub.corrupt.add(world.sha(name))
    line = one_error_line(world.run("pull", "tiny-test:Q6_K"), 1)
    assert f"{name} from org/tiny-GGUF is not what the Hub publishes" in line and "sha256" in line
    assert "the download was deleted" in line
    assert_no_half_file(world, name)
    assert not world.partial(name).exists()

    world.hub.corrupt.clear()
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0


def test_a_damaged_copy_already_in_the_cache_is_replaced(world: World) -> None:
    name = "tiny-Q6_K.gguf"
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    (world.home / "store.json").unlink()  # as if another tool had put the file there
    blob = world.blobs() / world.sha(name)
    blob.write_bytes(b"\0" * len(world.files[name]))
    world.hub.reset_counters()
    result = world.run("pull", "tiny-test:Q6_K", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["action"] == "replaced"
    assert blob.read_bytes() == world.files[name] and world.hub.bytes_served == len(world.files[name])


def test_models_verify_finds_a_file_damaged_after_its_pull_and_the_next_pull_replaces_it(world: World) -> None:
    """Damage of the same size keeps the blob's name and size: only hashing again finds it."""
    name = "tiny-Q6_K.gguf"
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    ok = world.run("models", "--verify")
    assert ok.returncode == 0 and "ok       tiny-test:Q6_K: 1 file(s) match" in ok.stdout, ok.stdout + ok.stderr
    blob = world.blobs() / world.sha(name)
    damaged = bytearray(blob.read_bytes())
    damaged[100] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    assert [m["verified"] for m in world.models()] == [True]  # the store cannot know
    found = world.run("models", "--verify")
    assert found.returncode == 1
    assert f"DAMAGED  tiny-test:Q6_K: {name}: its sha256 is" in found.stdout and "`localqwen pull tiny-test:Q6_K`" in found.stdout
    assert [m["verified"] for m in world.models()] == [False]
    world.hub.reset_counters()
    again = world.run("pull", "tiny-test:Q6_K", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["files"][0]["action"] == "replaced"
    assert blob.read_bytes() == world.files[name] and [m["verified"] for m in world.models()] == [True]


def test_not_enough_disk_refuses_with_the_numbers_before_fetching(world: World) -> None:
    line = one_error_line(world.run("pull", "tiny-test:Q4_K_M", LOCALQWEN_TEST_FREE_BYTES="1000000"), 1)
    assert "not enough disk for tiny-test:Q4_K_M" in line
    assert "needs 41.4 MiB (+ 512.0 MiB margin) and 1.0 MiB is free" in line and "HF_HUB_CACHE" in line
    assert world.hub.bytes_served == 0 and not any("/cdn/" in r for r in world.hub.requests)
    assert not world.partial("tiny-Q4_K_M.gguf").exists()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_with_the_file_present_never_touches_the_network(world: World, how: str) -> None:
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    world.hub.reset_counters()
    args, env = (["--offline"], {}) if how == "flag" else ([], {"HF_HUB_OFFLINE": "1"})
    result = world.run("pull", "tiny-test:Q6_K", *args, **env)
    assert result.returncode == 0, result.stderr
    assert world.hub.requests == []
    assert Path(result.stdout.strip().splitlines()[-1]).read_bytes() == world.files["tiny-Q6_K.gguf"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_without_the_files_says_which_are_missing(world: World, how: str) -> None:
    assert world.run("pull", "tiny-test:Q8_0").returncode == 0
    part2 = world.cache / "models--org--tiny-GGUF" / "snapshots" / world.hub.repos["org/tiny-GGUF"].commit / "split" / "tiny-Q8_0-00002-of-00003.gguf"
    part2.unlink()
    world.hub.reset_counters()
    args, env = (["--offline"], {}) if how == "flag" else ([], {"HF_HUB_OFFLINE": "1"})
    line = one_error_line(world.run("pull", "tiny-test:Q8_0", *args, **env), 1)
    assert "offline, and tiny-test:Q8_0 is not on disk: missing split/tiny-Q8_0-00002-of-00003.gguf" in line
    assert "00001-of" not in line and "00003-of" not in line
    line = one_error_line(world.run("pull", "tiny-test:Q4_K_M", *args, **env), 1)
    assert "missing tiny-Q4_K_M.gguf" in line
    assert world.hub.requests == []


def test_a_repo_the_hub_does_not_have_is_one_clear_line(world: World) -> None:
    line = one_error_line(world.run("pull", "ghost-test:Q6_K"), 2)
    assert "org/ghost-GGUF: no such repository on " + world.endpoint in line and "HF_TOKEN" in line


def test_a_catalog_file_the_repo_lacks_is_one_clear_line(world: World) -> None:
    line = one_error_line(world.run("pull", "stale-test:Q6_K"), 2)
    assert "org/tiny-GGUF has no file renamed-Q6_K.gguf (the catalog entry is out of date" in line
    assert world.hub.bytes_served == 0


def test_a_gated_repo_needs_hf_token_and_the_token_stays_with_the_hub(world: World) -> None:
    line = one_error_line(world.run("pull", "gated-test:Q6_K"), 2)
    assert "org/gated-GGUF is gated and no token was given" in line and "set HF_TOKEN" in line
    line = one_error_line(world.run("pull", "gated-test:Q6_K", HF_TOKEN="hf_wrong"), 2)
    assert "the token in HF_TOKEN was refused" in line
    result = world.run("pull", "gated-test:Q6_K", HF_TOKEN=TOKEN)
    assert result.returncode == 0, result.stderr
    assert not world.hub.cdn_saw_token


@pytest.mark.parametrize(
    "target, problem",
    [
        ("tiny-tset", "unknown model 'tiny-tset' (did you mean tiny-test"),
        ("tiny-test:Q2_K", "tiny-test has no build 'Q2_K' (builds: tiny-test:Q6_K, tiny-test:Q4_K_M, tiny-test:Q8_0)"),
        ("tiny-test:", "'tiny-test:' is not NAME or NAME:BUILD"),
    ],
)
def test_bad_pull_targets_are_one_line_and_exit_2(world: World, target: str, problem: str) -> None:
    line = one_error_line(world.run("pull", target), 2)
    assert problem in line
    assert world.hub.requests == []


def test_pulled_build_is_what_chat_and_serve_open_by_name(world: World) -> None:
    """The whole path a person takes: plan, pull, then chat and serve by catalog name."""
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    chat = world.run("chat", "tiny-test:Q6_K", "--plain", "--max-tokens", "8", stdin_text="hello\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    missing = world.run("chat", "tiny-test:Q4_K_M", stdin_text="hello\n")
    assert "is not on disk" in one_error_line(missing, 2)


def test_any_hub_gguf_repo_is_planned_pulled_and_opened_by_its_name(world: World) -> None:
    """`pull owner/repo` for a repo outside the catalog: its quants from the file names,
    the plan's choice from one header read by range, then chat opens it by that name."""
    result = world.run("pull", "org/tiny-GGUF", "--hardware", "laptop-cpu-16g", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "org/tiny-GGUF" and data["repo"] == "org/tiny-GGUF"
    assert data["build"] in ("Q6_K", "Q4_K_M", "Q8_0")
    assert any(r.startswith("GET /cdn/") and "bytes=0-" in r for r in world.hub.requests)  # the header, by range
    listed = {m["build"] for m in world.models() if m["model"] == "org/tiny-GGUF"}
    assert data["build"] in listed
    again = world.run("pull", "hf.co/org/tiny-GGUF:q6_k", "--json")  # Ollama's and llama.cpp's -hf form
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["build"] == "Q6_K"
    chat = world.run("chat", "org/tiny-GGUF:Q6_K", "--plain", "--max-tokens", "4", stdin_text="hello\n")
    assert chat.returncode == 0, chat.stderr
    split = world.run("pull", "org/tiny-GGUF:Q8_0", "--json")
    assert [f["file"] for f in json.loads(split.stdout)["files"]] == [
        f"split/tiny-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]


def test_a_hub_repo_pulled_before_is_known_offline(world: World) -> None:
    assert world.run("pull", "org/tiny-GGUF:Q6_K").returncode == 0
    world.hub.requests.clear()
    offline = world.run("pull", "org/tiny-GGUF:Q6_K", "--offline")
    assert offline.returncode == 0, offline.stderr
    assert world.hub.requests == []
    never = world.run("pull", "org/other-GGUF:Q6_K", "--offline")
    assert "offline, and org/other-GGUF was never pulled" in one_error_line(never, 1)
    other = world.run("pull", "org/tiny-GGUF:Q2_K", "--offline")  # pulled, but not that quant: which there are
    assert "org/tiny-GGUF has no build 'Q2_K' (builds: org/tiny-GGUF:" in one_error_line(other, 2)
    assert world.hub.requests == []


@pytest.mark.parametrize(
    "target, problem",
    [
        ("org/tiny-GGUF:Q2_K", "org/tiny-GGUF has no build 'Q2_K' (builds: org/tiny-GGUF:"),
        ("org/missing-GGUF", "org/missing-GGUF: no such repository"),
        ("org/notes", "org/notes holds no GGUF file with a quant in its name"),
    ],
)
def test_bad_hub_repos_are_one_line_and_exit_2(world: World, target: str, problem: str) -> None:
    world.hub.add_repo("org/notes", {"README.md": b"# notes\n"})
    assert problem in one_error_line(world.run("pull", target), 2)


def test_search_lists_gguf_repos_with_the_best_quant_that_fits(world: World) -> None:
    world.hub.repos["org/tiny-GGUF"].downloads = 50
    world.hub.add_repo("org/tiny-safetensors", {"model.safetensors": b"x" * 100})  # no GGUF: not listed
    small = world.hub.add_repo("other/tiny-small-GGUF", {"tiny-Q4_K_M.gguf": world.files["tiny-Q6_K.gguf"]})
    small.downloads = 900
    result = world.run("search", "tiny", "--hardware", "laptop-cpu-16g", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [f["repo"] for f in found] == ["other/tiny-small-GGUF", "org/tiny-GGUF"]  # most downloaded first
    tiny = found[1]
    assert {b["quant"] for b in tiny["builds"]} == {"Q6_K", "Q4_K_M", "Q8_0"}
    assert tiny["best"] == max(tiny["builds"], key=lambda b: b["size_bytes"])["quant"] and tiny["where"] == "RAM"
    text = world.run("search", "tiny", "--hardware", "laptop-cpu-16g")
    assert "pull org/tiny-GGUF:" in text.stdout and "(RAM)" in text.stdout
    nothing = world.run("search", "zebra")
    assert nothing.returncode == 0 and "no GGUF repository on the Hub matches 'zebra'" in nothing.stdout


def test_search_offline_says_so_without_asking(world: World) -> None:
    line = one_error_line(world.run("search", "tiny", HF_HUB_OFFLINE="1"), 1)
    assert "offline: searching asks the Hub" in line and world.hub.requests == []


def test_a_gated_hub_repo_header_is_read_with_the_token_which_stays_with_the_hub(world: World) -> None:
    """The header read by range (to plan before pulling) sent HF_TOKEN on to the CDN."""
    result = world.run("pull", "org/gated-GGUF:Q6_K", HF_TOKEN=TOKEN, HF_HUB_DISABLE_IMPLICIT_TOKEN="1")
    assert result.returncode == 0, result.stderr
    assert any(r.startswith("GET /cdn/") and "bytes=0-" in r for r in world.hub.requests)
    assert not world.hub.cdn_saw_token


@pytest.mark.parametrize("limit", ["0", "-2"])
def test_search_refuses_a_limit_below_one_before_asking(world: World, limit: str) -> None:
    result = world.run("search", "tiny", "--limit", limit)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(f"argument --limit: {limit} must be at least 1")
    assert world.hub.requests == []

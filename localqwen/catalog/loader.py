"""Load the catalog from TOML: the shipped `profiles/models/*.toml`, then a person's own.

A person extends the catalog by dropping a TOML file with the same schema into
`$LOCALQWEN_HOME/models/`; a model there with a known id replaces the shipped one.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from localqwen.catalog.types import FORMATS, ArchNumbers, Build, ModelSpec, SamplingPreset, Vision
from localqwen.catalog.errors import CatalogError, UnknownModelError
from localqwen.paths import home, profiles_dir, write_text_atomic


def _need(table: dict, key: str, kind: type | tuple[type, ...], where: str) -> object:
    if key not in table:
        raise CatalogError(f"{where}: {key!r} is missing")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CatalogError(f"{where}: {key!r} should be {expected}, not {value!r}")
    return value


def _model(table: dict, where: str) -> ModelSpec:
    model_id = str(_need(table, "id", str, where))
    where = f"{where}: model {model_id}"
    name = str(_need(table, "name", str, where))
    family = str(_need(table, "family", str, where))
    context = int(_need(table, "context", int, where))  # type: ignore[arg-type]
    thinking = bool(_need(table, "thinking", bool, where))
    fim = bool(_need(table, "fim", bool, where))
    params = float(_need(table, "params_b", float, where))  # type: ignore[arg-type]
    arch_table = _need(table, "arch", dict, where)
    arch = ArchNumbers(
        **{key: int(_need(arch_table, key, int, f"{where}: arch")) for key in (  # type: ignore[arg-type]
            "layers", "attention_layers", "heads", "kv_heads", "head_dim", "hidden", "vocab")},
        experts=int(arch_table.get("experts", 0)),  # type: ignore[union-attr]
        experts_active=int(arch_table.get("experts_active", 0)),  # type: ignore[union-attr]
    )
    try:
        return ModelSpec(
            id=model_id,
            name=name,
            family=family,
            context=context,
            thinking=thinking,
            fim=fim,
            params_b=params,
            active_params_b=float(table.get("active_params_b", params)),
            arch=arch,
            builds=tuple(_build(b, f"{where}: build {i + 1}") for i, b in enumerate(table.get("build", []))),
            sampling={mode: SamplingPreset(**preset) for mode, preset in table.get("sampling", {}).items()},
            source=where.split(":")[0],
            thinking_mode=table.get("thinking_mode", "hybrid" if thinking else "never"),
            thinking_default=bool(table.get("thinking_default", thinking)),
            architecture=str(table.get("architecture", "")),
            vision=_vision(table["vision"], f"{where}: vision") if "vision" in table else None,
        )
    except ValueError as exc:  # ModelSpec's own checks (a thinking_mode that contradicts `thinking`)
        raise CatalogError(f"{where}: {str(exc).removeprefix(model_id + ': ')}") from None


def _build(table: dict, where: str) -> Build:
    fmt = _need(table, "format", str, where)
    if fmt not in FORMATS:
        raise CatalogError(f"{where}: format should be one of {', '.join(FORMATS)}, not {fmt!r}")
    return Build(
        quant=str(_need(table, "quant", str, where)),
        format=fmt,  # type: ignore[arg-type]
        repo=str(_need(table, "repo", str, where)),
        files=tuple(table.get("files", [])),
        size_bytes=int(_need(table, "size_bytes", int, where)),  # type: ignore[arg-type]
        expert_bytes=int(table.get("expert_bytes", 0)),
        mmproj=str(table.get("mmproj", "")),
        mmproj_bytes=int(table.get("mmproj_bytes", 0)),
    )


def _vision(table: object, where: str) -> Vision:
    if not isinstance(table, dict):
        raise CatalogError(f"{where}: should be a table (patch = 14, merge = 2)")
    unknown = set(table) - {"patch", "merge", "max_image_tokens"}
    if unknown:
        raise CatalogError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    return Vision(patch=int(_need(table, "patch", int, where)), merge=int(table.get("merge", 2)),  # type: ignore[arg-type]
                  max_image_tokens=int(table.get("max_image_tokens", 4096)))


def load_file(path: Path) -> list[ModelSpec]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return [_model(table, str(path)) for table in data.get("model", [])]
    except TypeError as exc:  # a preset with an unknown key, and the like
        raise CatalogError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Catalog:
    models: tuple[ModelSpec, ...]

    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def find(self, name: str) -> ModelSpec:
        """By id or display name, case-insensitive; an unknown name suggests the nearest."""
        wanted = name.strip().lower()
        for model in self.models:
            if wanted in (model.id.lower(), model.name.lower()):
                return model
        near = difflib.get_close_matches(wanted, self.ids(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else "see `localqwen plan` for the list"
        raise UnknownModelError(f"unknown model {name!r}", fix=hint)

    def for_gguf(self, path: str | Path, header_name: str | None = None) -> ModelSpec | None:
        """The catalog model a GGUF file is: one of its builds' files by name (a pulled build,
        or the first part of a split one), else the model its header names; None: neither."""
        filename = Path(path).name.lower()
        for model in self.models:
            if any(Path(f).name.lower() == filename for b in model.builds for f in b.files):
                return model
        wanted = (header_name or "").strip().lower()
        return next((m for m in self.models if wanted and wanted in (m.id.lower(), m.name.lower())), None)


def model_toml(model: ModelSpec) -> str:
    """A model in the catalog's own TOML schema (what `load_file` reads back)."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string

    lines = ["[[model]]"]
    for key in ("id", "name", "family", "architecture", "context", "thinking", "thinking_mode", "thinking_default",
                "fim", "params_b", "active_params_b"):
        lines.append(f"{key} = {value(getattr(model, key))}")
    lines.append("arch = {" + ", ".join(f"{k} = {value(v)}" for k, v in vars(model.arch).items()) + "}")
    if model.vision is not None:
        lines.append("vision = {" + ", ".join(f"{k} = {value(v)}" for k, v in vars(model.vision).items()) + "}")
    for build in model.builds:
        lines += ["", "[[model.build]]"] + [f"{key} = {value(getattr(build, key))}"
                                           for key in ("quant", "format", "repo", "files", "size_bytes")]
        if build.expert_bytes:
            lines.append(f"expert_bytes = {build.expert_bytes}")
        if build.mmproj:
            lines += [f"mmproj = {value(build.mmproj)}", f"mmproj_bytes = {build.mmproj_bytes}"]
    return "\n".join(lines) + "\n"


def save_model(model: ModelSpec, folder: Path | None = None) -> Path:
    """Write `model` into the person's catalog (one file per model), so every command
    knows it by its id from now on; written whole, then renamed into place."""
    folder = folder or home() / "models"
    path = folder / ("pulled-" + "".join(c if c.isalnum() or c in "._-" else "--" for c in model.id.lower()) + ".toml")
    write_text_atomic(path, f"# written by `localqwen pull {model.id}`\n" + model_toml(model))
    return path


@dataclass(frozen=True)
class Match:
    model: ModelSpec
    quant: str
    how: str  # "size": a build of exactly this size; "architecture": the same numbers, the nearest name


def match_file(catalog: Catalog, found: ModelSpec, file_size: int) -> Match | None:
    """The catalog model (and build) a GGUF is, judged by what its header says, not by its
    `general.name` (an official Qwen2.5-Coder-0.5B Q4_K_M names itself "... AWQ").

    A GGUF build of exactly this file's size is that build. Else the models whose
    architecture numbers are the file's (layers, width, heads, KV heads, head size,
    experts) are candidates, the one whose name is nearest the header's chosen, with the
    file's own quant. None: no model has this architecture."""
    sized = {m.id: (m, b) for m in catalog.models for b in m.builds if b.format == "gguf" and b.size_bytes == file_size}
    if sized:
        model = _nearest(found.name, [m for m, _ in sized.values()])
        return Match(model, sized[model.id][1].quant, "size")
    same = [m for m in catalog.models if _shape(m) == _shape(found)]
    if not same:
        return None
    return Match(_nearest(found.name, same), found.builds[0].quant, "architecture")


def _shape(model: ModelSpec) -> tuple[int, ...]:
    a = model.arch
    return a.layers, a.hidden, a.heads, a.kv_heads, a.head_dim, a.experts, a.experts_active


def _nearest(name: str, models: list[ModelSpec]) -> ModelSpec:
    wanted = name.lower().replace(" ", "-")
    return max(models, key=lambda m: max(difflib.SequenceMatcher(None, wanted, m.id.lower()).ratio(),
                                         difflib.SequenceMatcher(None, wanted, m.name.lower()).ratio()))


def catalog_dirs() -> list[Path]:
    return [profiles_dir() / "models", home() / "models"]


def load_catalog(dirs: Iterable[Path] | None = None) -> Catalog:
    by_id: dict[str, ModelSpec] = {}
    for folder in dirs if dirs is not None else catalog_dirs():
        for path in sorted(Path(folder).glob("*.toml")):
            for model in load_file(path):
                by_id[model.id] = model
    return Catalog(tuple(by_id.values()))

"""What `pull MODEL[:BUILD]` names: a catalog model and one of its builds, or the plan's choice."""

from __future__ import annotations

from collections.abc import Callable

from localqwen.catalog.loader import Catalog
from localqwen.catalog.types import Build, ModelSpec
from localqwen.errors import UserInputError
from localqwen.hardware.types import Hardware


def split_name(text: str) -> tuple[str, str | None]:
    """`NAME:BUILD` as (NAME, BUILD); a bare NAME as (NAME, None)."""
    name, sep, build = text.strip().rpartition(":")
    if not sep:
        return text.strip(), None
    if not name or not build:
        raise UserInputError(f"{text!r} is not NAME or NAME:BUILD")
    return name, build


def builds_hint(model: ModelSpec) -> str:
    return "builds: " + ", ".join(f"{model.id}:{b.quant}" for b in model.builds) if model.builds else "it lists no builds"


def pull_target(text: str, catalog: Catalog, hardware: Callable[[], Hardware]) -> tuple[ModelSpec, Build]:
    """The model and build to fetch; without BUILD, the one the plan picks for `hardware()`."""
    from localqwen.plan import choose, plan_model

    name, quant = split_name(text)
    model = catalog.find(name)
    if quant is not None:
        build = model.build(quant)
        if build is None:
            raise UserInputError(f"{model.id} has no build {quant!r}", fix=builds_hint(model))
        return model, build
    if not model.builds:
        raise UserInputError(f"{model.id} lists no builds to fetch")
    hw = hardware()
    choice = choose(plan_model(model, hw))
    if choice is None:
        raise UserInputError(f"no build of {model.id} fits {hw.name}", fix=f"name one to fetch anyway; {builds_hint(model)}")
    return model, choice.build

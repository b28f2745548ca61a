"""What `pull MODEL[:BUILD]` names: a catalog model and one of its builds, or the plan's choice."""

from __future__ import annotations

from collections.abc import Callable

from localqwen.catalog.errors import UnknownModelError
from localqwen.catalog.loader import Catalog
from localqwen.catalog.types import Build, ModelSpec
from localqwen.errors import UserInputError
from localqwen.hardware.types import Hardware
from localqwen.pull.errors import OfflineMissingError
from localqwen.pull.hub import HubSettings
from localqwen.pull.hub_repo import hub_model, hub_repo_name


def split_name(text: str) -> tuple[str, str | None]:
    """`NAME:BUILD` as (NAME, BUILD); a bare NAME as (NAME, None). A colon before the last
    `/` is a URL's (`https://huggingface.co/owner/repo`), not a build's."""
    name, sep, build = text.strip().rpartition(":")
    if not sep or "/" in build:
        return text.strip(), None
    if not name or not build:
        raise UserInputError(f"{text!r} is not NAME or NAME:BUILD")
    return name, build


def builds_hint(model: ModelSpec) -> str:
    return "builds: " + ", ".join(f"{model.id}:{b.quant}" for b in model.builds) if model.builds else "it lists no builds"


def pull_target(text: str, catalog: Catalog, hardware: Callable[[], Hardware], *,
                offline: bool = False) -> tuple[ModelSpec, Build]:
    """The model and build to fetch; without BUILD, the one the plan picks for `hardware()`.

    NAME is a catalog model, or a Hub repo (`owner/repo`, `hf.co/owner/repo`): one pulled
    before is in the catalog; else (or for a quant it did not have then) the Hub is asked
    for its files, unless `offline`."""
    from localqwen.plan import choose, plan_model

    name, quant = split_name(text)
    repo = hub_repo_name(name)
    model = _known(catalog, repo or name, must=repo is None)
    if repo is not None and (model is None or (quant is not None and model.build(quant) is None)):
        settings = HubSettings.from_env(offline=offline)
        if not settings.offline:
            model = hub_model(repo, settings)
        elif model is None:
            raise OfflineMissingError(f"offline, and {repo} was never pulled: its files are on the Hub",
                                      fix="pull it once with the network on")
    assert model is not None
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


def _known(catalog: Catalog, name: str, *, must: bool) -> ModelSpec | None:
    try:
        return catalog.find(name)
    except UnknownModelError:
        if must:
            raise
        return None

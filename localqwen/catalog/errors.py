"""What the catalog refuses: a model file that is not a usable GGUF, a catalog entry, a name."""

from __future__ import annotations

from localqwen.errors import UserInputError


class ModelFileError(UserInputError):
    """The model file is missing, a directory, not a GGUF or damaged."""

    title = "Model file"


class CatalogError(UserInputError):
    title = "Model catalog"


class UnknownModelError(UserInputError):
    title = "Unknown model"

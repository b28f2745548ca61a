"""The ways a loaded model (or the runtime behind it) refuses, each one line a person can act on."""

from __future__ import annotations

from localqwen.errors import LocalQwenError, UserInputError


class ModelLoadError(LocalQwenError):
    """llama.cpp refused a file that looked like a valid GGUF."""

    title = "Model load failed"
    exit_code = 2


class PromptTooLongError(UserInputError):
    """The prompt cannot fit the loaded context, even after trimming."""

    title = "Prompt too long"


class FimUnsupportedError(UserInputError):
    """The model's vocabulary has no fill-in-the-middle tokens."""

    title = "No FIM support"


class GrammarError(UserInputError):
    """A JSON schema or GBNF grammar for structured output that llama.cpp cannot use."""

    title = "Bad grammar"


class ChatTemplateError(LocalQwenError):
    title = "Chat template"


class BackendError(LocalQwenError):
    """A remote OpenAI-compatible server is unreachable or answered with an error."""

    title = "Remote backend"
    exit_code = 2


class ChildError(LocalQwenError):
    """A runtime child process (vLLM) would not start or died."""

    title = "Runtime process"


class VllmMissingError(UserInputError):
    title = "vLLM needed"


class ImageError(UserInputError):
    """An image a person sent that cannot be read or is too large."""

    title = "Bad image"


class ImagesUnsupportedError(UserInputError):
    """Images sent to a model loaded without a vision projector."""

    title = "No vision"

"""The ways a pull can fail, each one line a person can act on."""

from __future__ import annotations

from localqwen.errors import LocalQwenError, UserInputError


class PullError(LocalQwenError):
    """The fetch itself failed: network, server, or a file that is not what the Hub says."""

    title = "Download failed"


class NotEnoughDiskError(PullError):
    title = "Not enough disk"


class ChecksumError(PullError):
    title = "Checksum mismatch"


class OfflineMissingError(PullError):
    title = "Offline"


class NoNetworkError(PullError):
    """The Hub's host cannot be resolved or reached at all: no network, most likely."""

    title = "No network"


class PullInterrupted(PullError):
    """Ctrl-C or a cancel from the UI; what was fetched is kept for the next pull."""

    title = "Download stopped"
    exit_code = 130


class RepoAccessError(UserInputError):
    """The repository does not exist, or needs a token this machine lacks."""

    title = "Repository"


class StoreError(UserInputError):
    """A NAME:BUILD or an import that the local store cannot act on."""

    title = "Local models"


class StoreFileError(LocalQwenError):
    """`store.json` cannot be read as localqwen's store; it is moved aside, never written over."""

    title = "Local store"

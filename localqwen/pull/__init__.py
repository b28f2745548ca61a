"""Fetch a build from the Hugging Face Hub into its cache: resumable, verified, with progress, offline-safe.

The CLI and the TUI call the same functions and read the same `PullEvent`s; nothing
here prints. See `fetch.py` for why files are fetched with huggingface_hub's `http_get`
rather than `hf_hub_download`.
"""

from localqwen.pull.errors import (
    ChecksumError,
    NotEnoughDiskError,
    OfflineMissingError,
    PullError,
    PullInterrupted,
    RepoAccessError,
    StoreError,
)
from localqwen.pull.events import ProgressListener, PullEvent
from localqwen.pull.fetch import FileOutcome
from localqwen.pull.local import LocalBuild, Recheck, find_local, import_gguf, local_builds, recheck_builds, remove_local
from localqwen.pull.run import PullResult, pull_build
from localqwen.pull.target import pull_target

__all__ = [
    "ChecksumError", "FileOutcome", "LocalBuild", "NotEnoughDiskError", "OfflineMissingError", "ProgressListener",
    "PullError", "PullEvent", "PullInterrupted", "PullResult", "Recheck", "RepoAccessError", "StoreError", "find_local",
    "import_gguf", "local_builds", "pull_build", "pull_target", "recheck_builds", "remove_local",
]

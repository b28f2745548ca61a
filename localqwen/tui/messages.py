"""What the app's workers report back to the app (on its own thread, as messages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from localqwen.engine.backend import Backend
from localqwen.errors import LocalQwenError
from localqwen.hardware.types import Hardware
from localqwen.launch import Side
from localqwen.plan.placement import Placement
from localqwen.tui.rows import PlanTable

if TYPE_CHECKING:
    from localqwen.doctor.report import DoctorReport


@dataclass(frozen=True)
class LoadedModel:
    """The chat's backend, and the completion side `launch` decided for the Server screen."""

    engine: Backend
    label: str
    placement: Placement | None = None
    """None for vLLM (it places the model itself)."""
    fim: Side | None = None
    """A second context over the same file, started with the server; None: the server shares `engine`."""
    key: str = ""
    """Its row in the Models table (`model:QUANT`, or `file:PATH`): where measured speeds are kept."""


@dataclass
class HardwareReady(Message):
    hardware: Hardware
    source: str | None
    llama_build: dict[str, object] | None


@dataclass
class HardwareFailed(Message):
    source: str | None
    error: LocalQwenError


@dataclass
class PlanReady(Message):
    table: PlanTable
    profiles: tuple[str, ...]


@dataclass
class PlanFailed(Message):
    error: LocalQwenError


@dataclass
class DoctorDone(Message):
    report: DoctorReport


@dataclass
class ModelLoaded(Message):
    loaded: LoadedModel


@dataclass
class ModelLoadFailed(Message):
    label: str
    error: LocalQwenError

"""Conversations kept on disk, one JSON file each, in one folder per model.

`<data dir>/chats/<model>/<id>.json`, written atomically (a temporary file, then a
rename), so a crash never leaves half a conversation. A file that cannot be read is
left out of the list rather than taking the list down.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from localqwen.engine.types import Image
from localqwen.errors import LocalQwenError
from localqwen.paths import write_text_atomic

Role = Literal["user", "assistant"]


class HistoryError(LocalQwenError):
    title = "Saved conversation"


@dataclass
class Turn:
    role: Role
    content: str
    reasoning: str = ""
    images: tuple[Image, ...] = ()
    """What a person attached to the message. Saved by name only: a restored conversation
    shows which pictures it had, and the model no longer sees them."""


@dataclass
class Conversation:
    model: str
    id: str = ""
    created: str = ""
    turns: list[Turn] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.created:
            self.created = datetime.now().isoformat(timespec="seconds")
        if not self.id:
            self.id = self.created.replace(":", "").replace("-", "") + "-" + secrets.token_hex(2)

    @property
    def title(self) -> str:
        first = next((t.content for t in self.turns if t.role == "user"), "")
        line = " ".join(first.split())
        return line[:60] + ("…" if len(line) > 60 else "") or "(empty)"


def slug(name: str) -> str:
    """A folder name for a model: letters, digits, dot, dash and underscore."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def _saved(conversation: Conversation) -> dict[str, object]:
    """What a conversation's file holds: each image by its name, not its bytes."""
    turns = [{"role": t.role, "content": t.content, "reasoning": t.reasoning,
              **({"images": [image.name for image in t.images]} if t.images else {})} for t in conversation.turns]
    return {"model": conversation.model, "id": conversation.id, "created": conversation.created, "turns": turns}


class HistoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "chats"

    def folder(self, model: str) -> Path:
        return self.root / slug(model)

    def save(self, conversation: Conversation) -> Path:
        path = self.folder(conversation.model) / f"{conversation.id}.json"
        write_text_atomic(path, json.dumps(_saved(conversation), ensure_ascii=False, indent=1))
        return path

    def conversations(self, model: str) -> list[Conversation]:
        """The model's readable conversations, newest first."""
        found = []
        folder = self.folder(model)
        for path in folder.glob("*.json") if folder.is_dir() else ():
            try:
                found.append(self._read(path))
            except HistoryError:
                continue
        return sorted(found, key=lambda c: (c.created, c.id), reverse=True)

    def load(self, model: str, conversation_id: str) -> Conversation:
        return self._read(self.folder(model) / f"{slug(conversation_id)}.json")

    @staticmethod
    def _read(path: Path) -> Conversation:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            turns = [Turn(t["role"], t["content"], t.get("reasoning", ""),
                          tuple(Image(b"", str(name)) for name in t.get("images", ()))) for t in data["turns"]]
            if any(t.role not in ("user", "assistant") for t in turns):
                raise ValueError("a turn's role is neither user nor assistant")
            return Conversation(data["model"], data["id"], data["created"], turns)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HistoryError(f"{path}: cannot be read ({exc})", fix="delete the file") from exc

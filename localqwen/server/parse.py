"""Request bodies checked field by field: a wrong type or range is a 400 naming the field.

Unknown fields are ignored, as llama.cpp's server and the OpenAI API do.
"""

from __future__ import annotations

import json
import math
from typing import Any

from localqwen.server.errors import ApiError

_MISSING = object()


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def text(body: dict, name: str, default: Any = _MISSING) -> str:
    value = body.get(name, default)
    if value is _MISSING:
        raise ApiError(400, f"'{name}' is required")
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string")
    return value


def integer(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise ApiError(400, f"'{name}' must be an integer")
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}")
    return int(value)


def number(body: dict, name: str, default: float | None, low: float, high: float) -> float | None:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"'{name}' must be a number")
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}")
    return float(value)


def flag(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be true or false")
    return value


def stop_list(body: dict, name: str = "stop") -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 16:
        return value
    raise ApiError(400, f"'{name}' must be a string or a list of at most 16 strings")


def string_list(body: dict, name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise ApiError(400, f"'{name}' must be a list of strings")


def objects(body: dict, name: str) -> list[dict]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise ApiError(400, f"'{name}' must be a list of objects")

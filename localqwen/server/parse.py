"""Request bodies checked field by field: a wrong type or range is a 400 naming the field.

Unknown fields are ignored, as llama.cpp's server and the OpenAI API do.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from localqwen.server.errors import ApiError

_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_DIGITS = 4000  # Python refuses to convert more than 4,300 digits (a ValueError, which was a 500)


def _json_int(digits: str) -> int | float:
    """A JSON integer too long for `int` becomes a float (inf): every integer and number
    field refuses it by name, and a field nobody reads does no harm."""
    return int(digits) if len(digits) <= _INT_DIGITS else float(digits)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object whose every string is text: a 400 for anything else."""
    try:
        body = json.loads(raw or b"{}", parse_int=_json_int)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    where = _lone_surrogate(body)
    if where is not None:
        raise ApiError(400, f"'{where}' is not valid text: it holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return body


def _lone_surrogate(body: dict[str, Any]) -> str | None:
    """Where a string holds a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot encode it,
    and the tokenizer failed with a 500): its path, as `input_extra[3].text`."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path or "(body)"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return f"{path}.{key!r}" if path else repr(key)
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


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
    if isinstance(value, float) and math.isinf(value):  # past _INT_DIGITS digits
        raise ApiError(400, f"'{name}' must be between {low} and {high}")
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

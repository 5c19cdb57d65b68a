"""Small typed accessors that turn untrusted JSON into clean values or a RecordError naming the field.

Readers use these instead of ``d["x"]`` so a malformed record says *which* field was wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tidewatch.errors import RecordError

_MAX_ID_LENGTH = 256


@contextmanager
def inside(label: str) -> Iterator[None]:
    """Prefix errors raised within with the record's place, so messages name the full path."""
    try:
        yield
    except RecordError as error:
        raise RecordError(f"{label}.{error.message}") from error


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"{field}: expected an object, got {_kind(value)}")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list, got {_kind(value)}")
    return value


def dicts(value: Any, field: str) -> list[dict[str, Any]]:
    """A list of objects; anything else in it is an error naming the position."""
    items = as_list(value, field)
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError(f"{field}[{position}]: expected an object, got {_kind(item)}")
    return items


def get(record: dict[str, Any], path: str) -> Any:
    """``get(d, "a.b.c")`` follows nested objects; a missing step gives None.

    The accessors below that readers call for every field (``text``, ``req_id``, ``opt_id``)
    do the common case themselves (a plain key of a JSON object) and call this only for
    the rest: a post reads about ten fields, and the calls were the largest cost of
    reading an X page after building its models."""
    if "." not in path:  # the common case, without splitting
        return record.get(path) if isinstance(record, dict) else None
    value: Any = record
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def as_id(value: Any, field: str) -> str:
    """A platform id as a string. Numbers are accepted (TikTok) but floats are not: they have
    already lost digits (ids over 2**53), so silently using them would link the wrong post."""
    if type(value) is str:  # nearly always: the common case first, with one test
        text = value.strip()
        if text and len(text) <= _MAX_ID_LENGTH:
            return text
    if isinstance(value, bool):
        raise RecordError(f"{field}: expected an id, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise RecordError(
            f"{field}: id {value!r} is a floating-point number and has lost precision"
        )
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise RecordError(f"{field}: id is empty")
        if len(text) > _MAX_ID_LENGTH:
            raise RecordError(f"{field}: id is {len(text)} characters long")
        return text
    raise RecordError(f"{field}: expected an id, got {_kind(value)}")


def req_id(record: dict[str, Any], path: str, where: str = "") -> str:
    value = record.get(path) if type(record) is dict and "." not in path else get(record, path)
    name = f"{where}.{path}" if where else path
    if value is None:
        raise RecordError(f"{name}: required field is missing")
    return as_id(value, name)


def opt_id(record: dict[str, Any], path: str) -> str:
    value = record.get(path) if type(record) is dict and "." not in path else get(record, path)
    return "" if value is None or value == "" else as_id(value, path)


def as_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{field}: expected text, got {_kind(value)}")


def text(record: dict[str, Any], path: str) -> str:
    value = record.get(path) if type(record) is dict and "." not in path else get(record, path)
    return value if type(value) is str else as_text(value, path)


def as_count(value: Any, field: str) -> int | None:
    """Counts arrive as numbers or as strings of digits (YouTube statistics); None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field}: expected a count, got a boolean")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        count = int(value.strip())
    else:
        raise RecordError(f"{field}: expected a count, got {value!r:.40}")
    if count < 0:
        raise RecordError(f"{field}: count {count} is negative")
    return count


def count(record: dict[str, Any], path: str) -> int | None:
    return as_count(get(record, path), path)


def as_bool(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise RecordError(f"{field}: expected true or false, got {_kind(value)}")


_LINK_SHIMS = {
    # host -> query parameter holding the real destination
    "l.facebook.com": "u",
    "lm.facebook.com": "u",
    "l.instagram.com": "u",
    "www.youtube.com": "q",  # /redirect?q=
}


def unwrap_link(url: str) -> str:
    """Undo the redirect shims platforms wrap outbound links in (l.facebook.com/l.php?u=...).

    The destination is the selector that links accounts; the shim is the same for everyone.
    """
    if "facebook.com" not in url and "instagram.com" not in url and "youtube.com" not in url:
        return url  # the common case, without parsing
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if host not in _LINK_SHIMS:
        return url
    if host == "www.youtube.com" and parts.path != "/redirect":
        return url
    values = parse_qs(parts.query).get(_LINK_SHIMS[host])
    return values[0] if values else url


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__

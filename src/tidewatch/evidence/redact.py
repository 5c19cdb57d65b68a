"""Redaction of people who are not suspects: commenters, people tagged, other authors on the
same page of results. Their names, handles, ids and words are masked in exported copies;
the sealed originals stay untouched in the store (a disclosure of an original is a custody
event of its own)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
POST_MASK = "[REDACTED: post by a third party]"
_MIN_NAME = 3  # shorter "names" would mask ordinary words and digits


class NotRedactable(ValueError):
    """The artifact holds third-party data in a form that cannot be masked (not text)."""


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    usable = sorted(
        {n.lstrip("@") for n in names if len(n.lstrip("@")) >= _MIN_NAME}, key=len, reverse=True
    )
    if not usable:
        return None
    return re.compile("|".join(re.escape(n) for n in usable), re.IGNORECASE)


def redact_text(text: str, names: Iterable[str], texts: Iterable[str] = ()) -> str:
    for body in sorted(set(texts), key=len, reverse=True):
        if body:
            text = text.replace(body, POST_MASK)
    pattern = _name_pattern(names)
    return pattern.sub(MASK, text) if pattern else text


def _walk(value: Any, names: re.Pattern[str] | None, texts: set[str]) -> Any:
    if isinstance(value, str):
        if value in texts:
            return POST_MASK
        return names.sub(MASK, value) if names else value
    if isinstance(value, list):
        return [_walk(v, names, texts) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, names, texts) for k, v in value.items()}
    return value


def redact_bytes(
    content: bytes, media_type: str, names: Iterable[str], texts: Iterable[str] = ()
) -> bytes:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise NotRedactable("not UTF-8 text") from None
    if media_type == "application/json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            return redact_text(text, names, texts).encode()
        masked = _walk(document, _name_pattern(names), set(texts))
        return json.dumps(masked, ensure_ascii=False, indent=2, sort_keys=True).encode()
    if media_type.startswith("text/"):
        return redact_text(text, names, texts).encode()
    raise NotRedactable(f"{media_type} cannot be masked")

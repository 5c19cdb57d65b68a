"""Parse the many ways platforms write a moment into a :class:`~tidewatch.model.Stamp`.

Seen in the real payloads: ISO 8601 with ``Z`` (X v2, YouTube), ``+0000`` offsets (Meta Graph),
``Wed Oct 10 20:19:24 +0000 2018`` (X v1.1), ``2019-09-07 19:04:03`` without a zone
(CrowdTangle: UTC), epoch seconds as numbers or strings (TikTok, Telegram ``date_unixtime``).
A time without a zone is read as UTC only where the format documents it; callers say so with
``naive_is_utc``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tidewatch.errors import RecordError
from tidewatch.model import Stamp
from tidewatch.trusted import builder

# 1990-01-01 .. 2100-01-01: outside this an epoch value is almost surely milliseconds or junk.
_EPOCH_MIN = 631152000
_EPOCH_MAX = 4102444800

# Built here only from aware times converted to UTC, which is all Stamp's validator checks.
_stamp = builder(Stamp)

# Stamps already made, by (raw text, naive_is_utc): archives repeat times (a user's creation
# time on every page it appears on; tweets made in the same second). A Stamp is immutable,
# so one instance can serve every record that gave the same text. Emptied when full, which
# bounds its memory without the bookkeeping of an LRU.
_CACHE_SIZE = 8192
_cache: dict[tuple[str, bool], Stamp] = {}


def parse_time(value: Any, *, field: str, naive_is_utc: bool = False) -> Stamp:
    """Read ``value`` as a moment; raise :class:`RecordError` naming ``field`` if it is not one."""
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{field}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(value, raw=str(value), field=field)
    if not isinstance(value, str):
        raise RecordError(f"{field}: expected a time, got {type(value).__name__}")
    key = (value, naive_is_utc)
    stamp = _cache.get(key)
    if stamp is None:
        stamp = _parse_text(value, field=field, naive_is_utc=naive_is_utc)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = stamp
    return stamp


def _parse_text(value: str, *, field: str, naive_is_utc: bool) -> Stamp:
    text = value.strip()
    if not text:
        raise RecordError(f"{field}: empty time")
    if text.lstrip("-").isdigit():
        return _from_epoch(int(text), raw=value, field=field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)  # RFC 2822 style, X v1.1
        except (TypeError, ValueError, IndexError):
            moment = _twitter_v1(text, field)
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise RecordError(f"{field}: time {value!r} has no time zone")
        moment = moment.replace(tzinfo=UTC)
    return _stamp(utc=moment if moment.tzinfo is UTC else moment.astimezone(UTC), raw=value)


def maybe_time(value: Any, *, field: str, naive_is_utc: bool = False) -> Stamp | None:
    """Like :func:`parse_time`, but absent values (None, "") give None."""
    if value is None or value == "":
        return None
    if type(value) is str:  # a time already seen, without parse_time's checks
        stamp = _cache.get((value, naive_is_utc))
        if stamp is not None:
            return stamp
    return parse_time(value, field=field, naive_is_utc=naive_is_utc)


def _from_epoch(seconds: int | float, *, raw: str, field: str) -> Stamp:
    if not (_EPOCH_MIN <= seconds <= _EPOCH_MAX):
        raise RecordError(f"{field}: epoch value {raw} is outside 1990-2100 (milliseconds?)")
    return _stamp(utc=datetime.fromtimestamp(seconds, tz=UTC), raw=raw)


def _twitter_v1(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        raise RecordError(f"{field}: {text!r} is not a time this reader understands") from None


def now_stamp() -> Stamp:
    moment = datetime.now(UTC)
    return Stamp(utc=moment, raw=moment.isoformat())

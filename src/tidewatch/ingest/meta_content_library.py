"""Meta Content Library (MCL) exports: CSV with dot-notation columns, JSON or JSON lines.

Field names are the "API field" column of Meta's MCL data dictionary (see
``shared/formats/meta_content_library/MCL_FIELDS.md``): Facebook posts, Instagram posts and
Instagram comments. CSV columns use the dictionary's dot notation (``post_owner.id``,
``statistics.like_count``); JSON has the same fields as nested objects. A JSON document may be
one item, an array of items, or a response page (``{"data": [...]}``).

Mapping decisions
-----------------
* **Ids are MCL ids, not platform ids.** The dictionary says an MCL ``id`` "cannot be used to
  search on Meta's technologies". It is still the item's only stable id, so it is the
  ``native_id`` (and the owner's MCL id the account's), but no URL is built from it: ``url``
  stays empty unless the record itself carries one (``url``, ``post_url`` or ``permalink``
  column). A referral needs the public URL, obtained separately.
* **Platform.** MCL records do not name their platform. It is taken from, in order: a
  ``platform`` field; the reader option ``platform``; the owner ``type`` (``business`` /
  ``creator`` / ``personal`` are Instagram account types, ``page`` / ``profile`` / ``group``
  / ``event`` Facebook ones); the record's shape (an Instagram comment has ``post_id`` and
  ``owner``; ``surface``, ``link_attachment_fields`` or ``shared_post_id`` are
  Facebook-only; ``hashtags`` is Instagram-only). If none of these says, the record is an
  error rather than a guess, since a wrong platform files the post under the wrong key.
* **Owner.** ``post_owner`` (the dictionary lists Facebook's as ``post_owner.data.*``, so
  both shapes are read) or ``owner`` (comments). ``is_verified`` -> the owner's
  ``verified``. Owner name/username are absent for ineligible owners; the account keeps
  its id.
* **Times** must carry a zone (ISO 8601 with ``Z`` or an offset). The dictionary does not
  state a zone for zone-less values, and guessing would misdate evidence, so a time without
  one is an error naming the field. ``modified_time`` -> ``edited_at`` when it differs from
  ``creation_time``.
* **Comments**: ``post_id`` makes a COMMENT (a REPLY when ``parent_comment_id`` is set);
  ``parent_id`` is the comment replied to or else the post, ``conversation_id`` the post.
  A Facebook post with ``shared_post_id`` is a QUOTE (or a REPOST when it adds no text).
* **Statistics**: like/comment/share counts and ``views`` map to Metrics; reactions
  (``love_count``...) and ``reaction_count`` go to ``extra`` without ``_count``.
* **CSV cells**: an empty cell is an absent field. ``multimedia`` may be a JSON array in one
  cell; ``hashtags`` a JSON array or a comma-separated list. Counts arrive as digit strings
  and booleans as ``true``/``false``; both are converted.
"""

from __future__ import annotations

import json
from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Media, Metrics, Platform, Post, PostKind, Stamp
from tidewatch.timeparse import maybe_time

_OWNER_KEYS = ("post_owner", "owner", "statistics")
_INSTAGRAM_OWNER_TYPES = frozenset({"business", "creator", "personal"})
_FACEBOOK_OWNER_TYPES = frozenset({"page", "profile", "user", "group", "event"})
_FACEBOOK_ONLY = ("surface", "link_attachment_fields", "shared_post_id", "match_type")
_STATISTICS = {
    "like_count": "likes",
    "comment_count": "comments",
    "share_count": "shares",
    "views": "views",
}
_URL_FIELDS = ("url", "post_url", "permalink")


@register
class MetaContentLibraryReader(Reader):
    name = "meta_content_library"
    description = "Meta Content Library exports: CSV with dot-notation columns, JSON or JSON lines"
    framings = frozenset({Framing.JSONL, Framing.JSON, Framing.CSV})

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            value = value["data"]
        if isinstance(value, list) and framing is Framing.JSON:
            value = value[0] if value else None
        return isinstance(value, dict) and _is_item(value)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        bundle = Bundle(source=self.source(unit, context))
        seen: set[tuple[str, str]] = set()
        for label, record in _records(unit):
            post, account = _item(record, label, context)
            bundle.posts.append(post)
            if account is not None and (account.platform, account.native_id) not in seen:
                seen.add((account.platform, account.native_id))
                bundle.accounts.append(account)
        return bundle


def _is_item(value: dict[str, Any]) -> bool:
    """An MCL item has ``id``, ``creation_time`` and an owner or statistics, nested (JSON)
    or as dot-notation columns (CSV)."""
    if "id" not in value or "creation_time" not in value:
        return False
    return any(key in value or any(k.startswith(f"{key}.") for k in value) for key in _OWNER_KEYS)


def _records(unit: Unit) -> list[tuple[str, dict[str, Any]]]:
    value = unit.value
    if unit.framing is Framing.CSV:
        return [("row", _unflatten(f.as_dict(value, "row")))]
    if isinstance(value, dict) and "data" in value:
        value = f.as_list(value["data"], "data")
    if isinstance(value, list):
        return [(f"[{i}]", f.as_dict(item, f"[{i}]")) for i, item in enumerate(value)]
    return [("record", f.as_dict(value, "record"))]


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """``{"post_owner.id": "1"}`` -> ``{"post_owner": {"id": "1"}}``; empty cells are absent."""
    nested: dict[str, Any] = {}
    for column, cell in row.items():
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        *parents, leaf = column.split(".")
        target = nested
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise RecordError(f"{column}: column clashes with column {part!r}")
            target = child
        if isinstance(target.get(leaf), dict):
            raise RecordError(f"{column}: column clashes with the {column}.* columns")
        target[leaf] = cell
    return nested


# --- one item -------------------------------------------------------------------------------


def _item(record: dict[str, Any], label: str, context: ReadContext) -> tuple[Post, Account | None]:
    owner = _owner(record, label)
    platform = _platform(record, owner, label, context)
    account = _account(record, owner, platform, label) if owner else None
    created_at = maybe_time(record.get("creation_time"), field=f"{label}.creation_time")
    modified_at = maybe_time(record.get("modified_time"), field=f"{label}.modified_time")
    text = f.text(record, "text")
    kind, parent_id, quoted_id = _relations(record, text)
    return (
        Post(
            platform=platform,
            native_id=f.req_id(record, "id", label),
            kind=kind,
            account_id=account.native_id if account else "",
            text=text,
            lang=f.text(record, "lang"),
            created_at=created_at,
            edited_at=_edit_time(created_at, modified_at),
            parent_id=parent_id,
            quoted_id=quoted_id,
            conversation_id=f.opt_id(record, "post_id"),
            url=next((u for u in (f.text(record, k).strip() for k in _URL_FIELDS) if u), ""),
            links=_links(record),
            hashtags=_hashtags(record.get("hashtags"), f"{label}.hashtags"),
            media=_media(record.get("multimedia"), f"{label}.multimedia"),
            metrics=_metrics(record.get("statistics"), f"{label}.statistics"),
        ),
        account,
    )


def _edit_time(created_at: Stamp | None, modified_at: Stamp | None) -> Stamp | None:
    """``modified_time`` is set on unedited items too (equal to ``creation_time``)."""
    if modified_at is None or (created_at is not None and modified_at.utc == created_at.utc):
        return None
    return modified_at


def _relations(record: dict[str, Any], text: str) -> tuple[PostKind, str, str]:
    """(kind, parent_id, quoted_id) for comments, replies and shares."""
    post_id = f.opt_id(record, "post_id")
    parent_comment = f.opt_id(record, "parent_comment_id")
    if parent_comment:
        return PostKind.REPLY, parent_comment, ""
    if post_id:
        return PostKind.COMMENT, post_id, ""
    shared = f.opt_id(record, "shared_post_id")
    if shared:
        return (PostKind.QUOTE if text.strip() else PostKind.REPOST), "", shared
    return PostKind.POST, "", ""


def _owner(record: dict[str, Any], label: str) -> dict[str, Any]:
    for key in ("post_owner", "owner"):
        value = record.get(key)
        if value is None:
            continue
        owner = f.as_dict(value, f"{label}.{key}")
        # Facebook posts nest the owner one level deeper (post_owner.data.*).
        data = owner.get("data")
        return f.as_dict(data, f"{label}.{key}.data") if data is not None else owner
    return {}


def _platform(
    record: dict[str, Any], owner: dict[str, Any], label: str, context: ReadContext
) -> Platform:
    named = f.text(record, "platform") or context.options.get("platform", "")
    if named:
        platform = Platform.parse(named)
        if platform not in (Platform.FACEBOOK, Platform.INSTAGRAM):
            raise RecordError(f"{label}.platform: {named!r:.40} is not Facebook or Instagram")
        return platform
    owner_type = f.text(owner, "type").strip().lower()
    if owner_type in _INSTAGRAM_OWNER_TYPES:
        return Platform.INSTAGRAM
    if owner_type in _FACEBOOK_OWNER_TYPES:
        return Platform.FACEBOOK
    if "post_id" in record and "owner" in record:
        return Platform.INSTAGRAM  # the dictionary has comments for Instagram only
    if any(key in record for key in _FACEBOOK_ONLY):
        return Platform.FACEBOOK
    if "hashtags" in record:
        return Platform.INSTAGRAM
    raise RecordError(
        f"{label}: cannot tell whether this is a Facebook or an Instagram item "
        "(no platform field, owner type or platform-specific field)"
    )


def _account(
    record: dict[str, Any], owner: dict[str, Any], platform: Platform, label: str
) -> Account | None:
    owner_id = owner.get("id")
    if owner_id in (None, ""):
        return None
    return Account(
        platform=platform,
        native_id=f.as_id(owner_id, f"{label}.owner.id"),
        handle=f.text(owner, "username"),
        display_name=f.text(owner, "name"),
        verified=f.as_bool(record.get("is_verified"), f"{label}.is_verified"),
    )


def _links(record: dict[str, Any]) -> tuple[str, ...]:
    links = (f.text(record, "link_attachment_fields.link"), f.text(record, "link_attachment.url"))
    return tuple(dict.fromkeys(f.unwrap_link(link.strip()) for link in links if link.strip()))


def _hashtags(value: Any, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _json_cell(value, field) if value.lstrip().startswith("[") else value.split(",")
    tags = (f.as_text(tag, field).strip().lstrip("#") for tag in f.as_list(value, field))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def _media(value: Any, field: str) -> tuple[Media, ...]:
    if isinstance(value, str):
        value = _json_cell(value, field)
    if isinstance(value, dict):  # CSV dot notation gives one item: multimedia.type, .url...
        value = [value]
    found: list[Media] = []
    for position, item in enumerate(f.dicts(value, field)):
        where = f"{field}[{position}]"
        found.append(
            Media(
                kind=f.text(item, "type").lower() or "unknown",
                native_id=f.opt_id(item, "id"),
                url=f.text(item, "url"),
                duration_ms=_seconds_to_ms(item.get("duration"), f"{where}.duration"),
            )
        )
    return tuple(found)


def _seconds_to_ms(value: Any, field: str) -> int | None:
    """The dictionary gives video duration in seconds, possibly fractional."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field}: expected a duration in seconds, got a boolean")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{field}: expected a duration in seconds, got {value!r:.40}") from None
    if not 0 <= seconds < 10**7:  # also rejects NaN
        raise RecordError(f"{field}: duration {value!r:.40} is out of range")
    return round(seconds * 1000)


def _json_cell(cell: str, field: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError as error:
        raise RecordError(f"{field}: cell is not valid JSON ({error.msg})") from None
    except RecursionError:
        raise RecordError(f"{field}: cell is JSON nested too deeply") from None


def _metrics(value: Any, field: str) -> Metrics:
    if value is None:
        return Metrics()
    known: dict[str, int] = {}
    extra: dict[str, int] = {}
    for key, raw in f.as_dict(value, field).items():
        number = f.as_count(raw, f"{field}.{key}")
        if number is None:
            continue
        if key in _STATISTICS:
            known[_STATISTICS[key]] = number
        else:
            extra[key.removesuffix("_count")] = number
    return Metrics(
        likes=known.get("likes"),
        comments=known.get("comments"),
        shares=known.get("shares"),
        views=known.get("views"),
        extra=extra,
    )

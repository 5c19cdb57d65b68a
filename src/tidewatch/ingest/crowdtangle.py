"""CrowdTangle API ``/posts`` (and ``/posts/search``) responses.

Input units: a response document (``{"status": 200, "result": {"posts": [...]}}``), JSON lines
of responses, or posts on their own (a JSON array of posts, or one post per line), as tools
that page through CrowdTangle often save them.

Mapping decisions
-----------------
* ``platformId`` (the Facebook/Instagram id, ``<page id>_<post id>`` on Facebook) is the
  ``native_id``, always as a string. CrowdTangle's own numeric ``id`` is not a platform id and
  is not used.
* ``date`` (``2019-09-07 19:04:03``) has no zone; CrowdTangle documents it as UTC, so it is
  read as UTC and the raw value kept. ``updated`` is when CrowdTangle last refreshed the
  counts, not an edit, so it is not mapped.
* Text: ``message`` (the author's words). Instagram posts carry the caption in
  ``description`` and have no ``message``, so ``description`` is the text when ``message`` is
  missing; on a Facebook link post ``description`` is the linked page's teaser and is left in
  the raw record. ``title`` is the link or video title.
* Links: every ``expandedLinks[].expanded`` (else ``original``) and ``link``, with Facebook's
  ``l.facebook.com`` redirect shims undone.
* Media: ``full`` (the larger image) when given, else ``url``; ``url`` is then the preview.
  ``width``/``height`` describe ``url`` (a resized copy), so they are kept only when ``url``
  is the media's URL.
* Counts: ``statistics.actual`` (``expected`` is CrowdTangle's prediction, not an observation):
  likes (Instagram: ``favoriteCount``), shares, comments, views; reactions such as
  ``loveCount`` go to ``extra`` as ``love`` etc.
* The account's ``native_id`` is its ``platformId`` (the page id, so the same page read from
  the Graph API is the same account), falling back to CrowdTangle's ``id`` when absent.
  ``subscriberCount`` -> followers.
"""

from __future__ import annotations

from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Media, Metrics, Platform, Post
from tidewatch.timeparse import maybe_time

_STATISTICS = {
    "likeCount": "likes",
    "favoriteCount": "likes",  # Instagram's name for likes
    "shareCount": "shares",
    "commentCount": "comments",
    "viewCount": "views",
}


@register
class CrowdTangleReader(Reader):
    name = "crowdtangle"
    description = "CrowdTangle API posts responses (result.posts) or saved CrowdTangle posts"
    framings = frozenset({Framing.JSONL, Framing.JSON})

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if isinstance(value, list) and framing is Framing.JSON:
            value = value[0] if value else None
        if not isinstance(value, dict):
            return False
        result = value.get("result")
        if isinstance(result, dict) and isinstance(result.get("posts"), list):
            return True
        return _is_post(value)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        bundle = Bundle(source=self.source(unit, context))
        seen: set[str] = set()
        for label, post in _posts(unit.value):
            account = _account(post, label)
            bundle.posts.append(_post(post, label, account))
            if account is not None and account.native_id not in seen:
                seen.add(account.native_id)
                bundle.accounts.append(account)
        return bundle


def _is_post(value: dict[str, Any]) -> bool:
    return (
        "platformId" in value and "platform" in value and ("postUrl" in value or "account" in value)
    )


def _posts(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """(label, post) pairs of a response, a list of posts, or one post."""
    if isinstance(value, list):
        return [(f"[{i}]", f.as_dict(post, f"[{i}]")) for i, post in enumerate(value)]
    record = f.as_dict(value, "record")
    if "result" not in record:
        if not _is_post(record):
            raise RecordError(
                "not a CrowdTangle response or post: no result.posts and no platformId"
            )
        return [("post", record)]
    result = f.as_dict(record["result"], "result")
    posts = f.dicts(result.get("posts"), "result.posts")
    return [(f"result.posts[{i}]", post) for i, post in enumerate(posts)]


def _post(post: dict[str, Any], label: str, account: Account | None) -> Post:
    platform = Platform.parse(f.text(post, "platform"))
    return Post(
        platform=platform,
        native_id=f.req_id(post, "platformId", label),
        account_id=account.native_id if account else "",
        text=f.text(post, "message") or f.text(post, "description"),
        title=f.text(post, "title"),
        lang=f.text(post, "languageCode"),
        created_at=maybe_time(post.get("date"), field=f"{label}.date", naive_is_utc=True),
        url=f.text(post, "postUrl"),
        links=_links(post, label),
        media=_media(post, label),
        metrics=_metrics(post.get("statistics"), f"{label}.statistics"),
    )


def _links(post: dict[str, Any], label: str) -> tuple[str, ...]:
    links: list[str] = []
    for position, item in enumerate(f.dicts(post.get("expandedLinks"), f"{label}.expandedLinks")):
        where = f"{label}.expandedLinks[{position}]"
        links.append(
            f.as_text(item.get("expanded"), f"{where}.expanded") or f.text(item, "original")
        )
    links.append(f.text(post, "link"))
    return tuple(dict.fromkeys(f.unwrap_link(link.strip()) for link in links if link.strip()))


def _media(post: dict[str, Any], label: str) -> tuple[Media, ...]:
    found: list[Media] = []
    for position, item in enumerate(f.dicts(post.get("media"), f"{label}.media")):
        where = f"{label}.media[{position}]"
        preview = f.text(item, "url")
        full = f.text(item, "full")
        width = f.as_count(item.get("width"), f"{where}.width")
        height = f.as_count(item.get("height"), f"{where}.height")
        found.append(
            Media(
                kind=f.text(item, "type") or "photo",
                url=full or preview,
                preview_url=preview if full else "",
                # The sizes given are those of ``url`` (a resized copy), not of ``full``.
                width=None if full else width,
                height=None if full else height,
            )
        )
    return tuple(found)


def _metrics(value: Any, field: str) -> Metrics:
    if value is None:
        return Metrics()
    actual = f.get(f.as_dict(value, field), "actual")
    if actual is None:
        return Metrics()
    known: dict[str, int] = {}
    extra: dict[str, int] = {}
    for key, raw in f.as_dict(actual, f"{field}.actual").items():
        number = f.as_count(raw, f"{field}.actual.{key}")
        if number is None:
            continue
        if key in _STATISTICS:
            known[_STATISTICS[key]] = number
        else:
            extra[key.removesuffix("Count")] = number
    return Metrics(
        likes=known.get("likes"),
        shares=known.get("shares"),
        comments=known.get("comments"),
        views=known.get("views"),
        extra=extra,
    )


def _account(post: dict[str, Any], label: str) -> Account | None:
    value = post.get("account")
    if value is None:
        return None
    account = f.as_dict(value, f"{label}.account")
    where = f"{label}.account"
    platform_id = account.get("platformId")
    native_id = (
        f.as_id(platform_id, f"{where}.platformId")
        if platform_id not in (None, "")
        else f.req_id(account, "id", where)
    )
    return Account(
        platform=Platform.parse(f.text(account, "platform") or f.text(post, "platform")),
        native_id=native_id,
        handle=f.text(account, "handle"),
        display_name=f.text(account, "name"),
        url=f.text(account, "url"),
        verified=f.as_bool(account.get("verified"), f"{where}.verified"),
        metrics=Metrics(followers=f.count(account, "subscriberCount")),
    )

"""YouTube Data API v3 responses: videos, comment threads, comments, channels, error bodies.

One response per unit (a JSON document, or one per JSON line). The response's ``kind``
(``youtube#videoListResponse``...) says what its items are; a single resource (``youtube#video``)
without the list around it is read the same way.

* Videos are posts: ``title`` -> title, ``description`` -> text, ``tags`` -> hashtags (YouTube's
  own keyword list; nothing is scraped from the text), ``statistics`` counts arrive as strings
  and become ints, ``contentDetails.duration`` (ISO 8601, ``PT21M7S``) becomes the video's
  ``duration_ms``; ``status`` says whether it is private or deleted. Url:
  ``https://www.youtube.com/watch?v=ID``.
* Top-level comments are :attr:`PostKind.COMMENT` with ``parent_id`` = the video; replies are
  :attr:`PostKind.REPLY` with ``parent_id`` = the comment they answer (``snippet.parentId``).
  Text is ``textOriginal``: ``textDisplay`` is HTML, used only when the original is withheld,
  and for the links its anchors carry. Url: ``watch?v=VIDEO&lc=COMMENT`` when the video is known.
* Channels are accounts (``customUrl`` is the handle, without its ``@``).
* An error body (``{"error": {"code", "message", "errors": [{"reason"}]}}``) is a
  :class:`RecordError` naming the code and the reasons.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import (
    Account,
    Availability,
    Bundle,
    Media,
    Metrics,
    Platform,
    Post,
    PostKind,
    Stamp,
)
from tidewatch.timeparse import maybe_time

WATCH_URL = "https://www.youtube.com/watch?v={}"
CHANNEL_URL = "https://www.youtube.com/channel/{}"

# What each list response holds, so items without their own ``kind`` are still read.
_ITEM_KIND = {
    "youtube#videoListResponse": "youtube#video",
    "youtube#commentThreadListResponse": "youtube#commentThread",
    "youtube#commentListResponse": "youtube#comment",
    "youtube#channelListResponse": "youtube#channel",
}
_THUMBNAIL_SIZES = ("maxres", "standard", "high", "medium", "default")
_DURATION = re.compile(
    # Bounded digit runs: a hostile "PT999...9S" is refused instead of overflowing.
    r"P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,10}(?:\.\d{1,9})?)S)?)?"
)
_ANCHOR = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

Accounts = dict[str, Account]
ItemReader = Callable[[dict[str, Any], list[Post], Accounts], None]


@register
class YouTubeReader(Reader):
    name = "youtube"
    description = (
        "YouTube Data API v3: videos, commentThreads, comments and channels lists, error bodies"
    )
    framings = frozenset({Framing.JSON, Framing.JSONL})
    priority = 20  # "kind": "youtube#..." cannot be mistaken for anything else

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if not isinstance(value, dict):
            return False
        kind = value.get("kind")
        return (isinstance(kind, str) and kind.startswith("youtube#")) or _is_google_error(value)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        response = f.as_dict(unit.value, "response")
        if "error" in response:
            raise _error_of(response["error"])
        kind = f.text(response, "kind")
        items, label = _items(response, kind)
        posts: list[Post] = []
        accounts: Accounts = {}
        for position, item in enumerate(items):
            with f.inside(label.format(position)):
                item_kind = f.text(item, "kind") or _ITEM_KIND.get(kind, "")
                reader = _READERS.get(item_kind)
                if reader is None:
                    raise RecordError(
                        f"kind: {item_kind or kind!r} is not a resource this reader reads"
                    )
                reader(item, posts, accounts)
        return Bundle(
            source=self.source(unit, context), accounts=list(accounts.values()), posts=posts
        )


def _items(response: dict[str, Any], kind: str) -> tuple[list[dict[str, Any]], str]:
    if kind in _ITEM_KIND:
        return f.dicts(response.get("items"), "items"), "items[{}]"
    if kind in _READERS:
        return [response], "resource"
    raise RecordError(
        f"kind: {kind!r} is not a response this reader reads (videos, commentThreads, comments, channels)"
    )


# --- errors -----------------------------------------------------------------------------


def _is_google_error(value: dict[str, Any]) -> bool:
    """Google's error body; Graph errors carry ``type``/``fbtrace_id``, TikTok's a text code."""
    error = value.get("error")
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and ("errors" in error or "status" in error)
        and "fbtrace_id" not in error
        and "type" not in error
    )


def _error_of(value: Any) -> RecordError:
    error = f.as_dict(value, "error")
    details = f.dicts(error.get("errors"), "error.errors")
    reasons = [f.text(d, "reason") for d in details] + [f.text(error, "status")]
    messages = [f.text(error, "message")] + [f.text(d, "message") for d in details]
    reason_text = ", ".join(dict.fromkeys(r for r in reasons if r)) or "no reason given"
    message_text = "; ".join(dict.fromkeys(m for m in messages if m)) or "no message"
    code = f.text(error, "code") or "?"
    return RecordError(f"YouTube API error {code} ({reason_text}): {message_text}")


# --- videos -----------------------------------------------------------------------------


def _read_video(item: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    video_id = f.req_id(item, "id")
    snippet = _part(item, "snippet")
    channel_id = f.opt_id(snippet, "channelId")
    if channel_id:
        accounts.setdefault(channel_id, _channel_stub(channel_id, f.text(snippet, "channelTitle")))
    url = WATCH_URL.format(video_id)
    posts.append(
        Post(
            platform=Platform.YOUTUBE,
            native_id=video_id,
            account_id=channel_id,
            title=f.text(snippet, "title"),
            text=f.text(snippet, "description"),
            lang=f.text(snippet, "defaultLanguage"),
            created_at=maybe_time(snippet.get("publishedAt"), field="snippet.publishedAt"),
            url=url,
            hashtags=_tags(snippet),
            media=(_video_media(item, video_id, url),),
            metrics=_video_metrics(_part(item, "statistics")),
            availability=_availability(_part(item, "status")),
        )
    )


def _availability(status: dict[str, Any]) -> Availability:
    """Only the unambiguous states; "rejected" or "failed" uploads say nothing about why."""
    if f.text(status, "uploadStatus") == "deleted":
        return Availability.DELETED
    if f.text(status, "privacyStatus") == "private":
        return Availability.PRIVATE
    return Availability.AVAILABLE


def _video_media(item: dict[str, Any], video_id: str, url: str) -> Media:
    thumbnails = _part(_part(item, "snippet"), "thumbnails", "snippet.")
    preview = next(
        (f.text(thumbnails, f"{size}.url") for size in _THUMBNAIL_SIZES if size in thumbnails), ""
    )
    duration = f.text(_part(item, "contentDetails"), "duration").strip()
    return Media(
        kind="video",
        native_id=video_id,
        url=url,
        preview_url=preview,
        duration_ms=_duration_ms(duration, "contentDetails.duration") if duration else None,
    )


def _duration_ms(value: str, field: str) -> int:
    """ISO 8601 durations as YouTube writes them: PT21M7S, PT1H2M, P1DT3H, P0D (live)."""
    match = _DURATION.fullmatch(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        raise RecordError(f"{field}: {value!r:.40} is not an ISO 8601 duration")
    parts = {name: float(number) if number else 0.0 for name, number in match.groupdict().items()}
    seconds = (
        parts["weeks"] * 604800
        + parts["days"] * 86400
        + parts["hours"] * 3600
        + parts["minutes"] * 60
        + parts["seconds"]
    )
    return round(seconds * 1000)


def _video_metrics(statistics: dict[str, Any]) -> Metrics:
    extra = {
        name: value
        for name, value in (
            ("dislikes", f.count(statistics, "dislikeCount")),
            ("favorites", f.count(statistics, "favoriteCount")),
        )
        if value is not None
    }
    return Metrics(
        views=f.count(statistics, "viewCount"),
        likes=f.count(statistics, "likeCount"),
        comments=f.count(statistics, "commentCount"),
        extra=extra,
    )


def _tags(snippet: dict[str, Any]) -> tuple[str, ...]:
    tags = f.as_list(snippet.get("tags"), "snippet.tags")
    cleaned = (
        f.as_text(tag, f"snippet.tags[{n}]").strip().lstrip("#") for n, tag in enumerate(tags)
    )
    return tuple(dict.fromkeys(tag for tag in cleaned if tag))


# --- comments ---------------------------------------------------------------------------


def _read_thread(item: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    snippet = _part(item, "snippet")
    video_id = f.opt_id(snippet, "videoId")
    top = f.as_dict(snippet.get("topLevelComment"), "snippet.topLevelComment")
    with f.inside("snippet.topLevelComment"):
        top_post = _comment(
            top, accounts, video_id=video_id, replies=f.count(snippet, "totalReplyCount")
        )
    posts.append(top_post)
    replies = f.dicts(f.get(item, "replies.comments"), "replies.comments")
    for position, reply in enumerate(replies):
        with f.inside(f"replies.comments[{position}]"):
            posts.append(_comment(reply, accounts, video_id=video_id, parent_id=top_post.native_id))


def _read_comment(item: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    posts.append(_comment(item, accounts))


def _comment(
    item: dict[str, Any],
    accounts: Accounts,
    *,
    video_id: str = "",
    parent_id: str = "",
    replies: int | None = None,
) -> Post:
    comment_id = f.req_id(item, "id")
    snippet = _part(item, "snippet")
    video_id = f.opt_id(snippet, "videoId") or video_id
    parent_id = f.opt_id(snippet, "parentId") or parent_id
    created_at = maybe_time(snippet.get("publishedAt"), field="snippet.publishedAt")
    display = f.text(snippet, "textDisplay")
    return Post(
        platform=Platform.YOUTUBE,
        native_id=comment_id,
        kind=PostKind.REPLY if parent_id else PostKind.COMMENT,
        parent_id=parent_id or video_id,
        conversation_id=video_id,
        account_id=_comment_author(snippet, accounts),
        text=f.text(snippet, "textOriginal") if "textOriginal" in snippet else _html_text(display),
        created_at=created_at,
        edited_at=_edited(snippet, created_at),
        url=f"{WATCH_URL.format(video_id)}&lc={comment_id}" if video_id else "",
        links=_anchor_links(display),
        metrics=Metrics(likes=f.count(snippet, "likeCount"), comments=replies),
    )


def _comment_author(snippet: dict[str, Any], accounts: Accounts) -> str:
    channel_id = f.opt_id(snippet, "authorChannelId.value")
    if channel_id:
        account = Account(
            platform=Platform.YOUTUBE,
            native_id=channel_id,
            display_name=f.text(snippet, "authorDisplayName"),
            url=f.text(snippet, "authorChannelUrl") or CHANNEL_URL.format(channel_id),
        )
        accounts.setdefault(channel_id, account)
    return channel_id


def _edited(snippet: dict[str, Any], created_at: Stamp | None) -> Stamp | None:
    """``updatedAt`` equals ``publishedAt`` until the author edits the comment."""
    updated = maybe_time(snippet.get("updatedAt"), field="snippet.updatedAt")
    if updated is None or (created_at is not None and updated.utc == created_at.utc):
        return None
    return updated


def _html_text(display: str) -> str:
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", display)))


def _anchor_links(display: str) -> tuple[str, ...]:
    """Outbound links from textDisplay's anchors; YouTube's own hashtag-search links are not."""
    links = []
    for href in _ANCHOR.findall(display):
        url = f.unwrap_link(html.unescape(href))
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        own_host = (parts.hostname or "").endswith("youtube.com")
        if own_host and (parts.path == "/results" or parts.path.startswith("/hashtag/")):
            continue
        links.append(url)
    return tuple(dict.fromkeys(links))


# --- channels ---------------------------------------------------------------------------


def _read_channel(item: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    channel_id = f.req_id(item, "id")
    snippet = _part(item, "snippet")
    statistics = _part(item, "statistics")
    hidden = f.as_bool(statistics.get("hiddenSubscriberCount"), "statistics.hiddenSubscriberCount")
    accounts[channel_id] = Account(
        platform=Platform.YOUTUBE,
        native_id=channel_id,
        handle=f.text(snippet, "customUrl").strip().lstrip("@"),
        display_name=f.text(snippet, "title"),
        bio=f.text(snippet, "description"),
        url=CHANNEL_URL.format(channel_id),
        created_at=maybe_time(snippet.get("publishedAt"), field="snippet.publishedAt"),
        location=f.text(snippet, "country"),
        metrics=Metrics(
            followers=None if hidden else f.count(statistics, "subscriberCount"),
            posts=f.count(statistics, "videoCount"),
            views=f.count(statistics, "viewCount"),
        ),
    )


def _channel_stub(channel_id: str, title: str) -> Account:
    return Account(
        platform=Platform.YOUTUBE,
        native_id=channel_id,
        display_name=title,
        url=CHANNEL_URL.format(channel_id),
    )


def _part(item: dict[str, Any], name: str, prefix: str = "") -> dict[str, Any]:
    """A resource part (snippet, statistics...): absent when the request did not ask for it."""
    value = item.get(name)
    return {} if value is None else f.as_dict(value, prefix + name)


_READERS: dict[str, ItemReader] = {
    "youtube#video": _read_video,
    "youtube#commentThread": _read_thread,
    "youtube#comment": _read_comment,
    "youtube#channel": _read_channel,
}

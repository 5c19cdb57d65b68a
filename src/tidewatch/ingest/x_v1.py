"""X (Twitter) API v1.1 tweets, and Gnip activity-streams records of the same tweets.

Input units: one tweet as a JSON document, JSON lines of tweets, a JSON array of tweets, or a
search response (``{"statuses": [...]}``). A Gnip activity-streams record
(``objectType: activity``, from the Gnip/enterprise APIs) is read too: it carries the same
tweet under other names, so it is mapped onto the same fields.

Mapping decisions
-----------------
* Ids come only from the ``*_str`` fields (``id_str``, ``user.id_str``,
  ``in_reply_to_status_id_str``...). The numeric ``id`` is never used: JavaScript clients
  round ids above 2**53 (``872836479608733696`` arrives as ``872836479608733700``), and a
  rounded id silently names somebody else's tweet. A tweet without ``id_str`` is an error.
* Text: ``extended_tweet.full_text`` (streaming, compatibility mode) > ``full_text``
  (``tweet_mode=extended``) > ``text``; entities and media are taken from the same level.
* A retweet (``retweeted_status``) is a REPOST whose ``quoted_id`` is the original, and the
  original is emitted as its own Post (its text is the complete one; the retweet's "RT @..."
  copy is truncated). A ``quoted_status`` is emitted the same way. Then
  ``in_reply_to_status_id_str`` -> REPLY with ``parent_id``; a quote -> QUOTE.
* Media: ``extended_entities.media`` (all photos) over ``entities.media`` (first only); the
  URL of a video or GIF is its highest-bitrate MP4 variant, the thumbnail its preview; the
  size is the ``large`` size, the closest the payload gives to the original.
* ``withheld_in_countries`` / ``withheld_copyright`` -> WITHHELD; a protected user -> PRIVATE.

Gnip activity streams (decision: supported)
-------------------------------------------
``id`` ``tag:search.twitter.com,2005:<id>`` and ``actor.id`` ``id:twitter.com:<id>`` give the
ids (digits after the last colon); ``body`` (or ``long_object.body``) the text; ``verb:
share`` a repost whose ``object`` is the original activity; ``inReplyTo.link`` the parent;
``twitter_quoted_status`` a quote; ``twitter_entities`` / ``twitter_extended_entities`` have
the v1.1 shape and are read by the same code.
"""

from __future__ import annotations

from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.ingest.x_v2 import best_variant, profile_url, status_url
from tidewatch.model import Account, Availability, Bundle, Media, Metrics, Platform, Post, PostKind
from tidewatch.timeparse import maybe_time

_MAX_NESTING = 4  # a retweet of a quote of a quote...: deeper than real payloads ever go


def _extra(**counts: int | None) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value is not None}


@register
class XV1Reader(Reader):
    name = "x_v1"
    description = (
        "X (Twitter) API v1.1 tweets (JSON, JSON lines, search responses) and Gnip activity streams"
    )
    framings = frozenset({Framing.JSONL, Framing.JSON})

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if isinstance(value, dict) and isinstance(value.get("statuses"), list):
            value = value["statuses"]
        if isinstance(value, list) and framing is Framing.JSON:
            value = value[0] if value else None
        return isinstance(value, dict) and (_is_tweet(value) or _is_activity(value))

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        value = unit.value
        if isinstance(value, dict) and "statuses" in value:
            value = f.as_list(value["statuses"], "statuses")
        records = value if isinstance(value, list) else [value]
        collected = _Collected()
        for position, record in enumerate(records):
            label = f"[{position}]" if isinstance(value, list) else "tweet"
            record = f.as_dict(record, label)
            if _is_activity(record):
                _read_activity(record, label, collected, depth=0)
            else:
                _read_tweet(record, label, collected, depth=0)
        return Bundle(
            source=self.source(unit, context),
            accounts=list(collected.accounts.values()),
            posts=list(collected.posts.values()),
        )


def _is_tweet(value: dict[str, Any]) -> bool:
    return (
        "id_str" in value
        and isinstance(value.get("user"), dict)
        and ("text" in value or "full_text" in value)
    )


def _is_activity(value: dict[str, Any]) -> bool:
    return value.get("objectType") == "activity" and "actor" in value and "verb" in value


class _Collected:
    """Posts and accounts of one unit, each once (a user appears in every tweet they wrote)."""

    def __init__(self) -> None:
        self.posts: dict[str, Post] = {}
        self.accounts: dict[str, Account] = {}

    def add(self, post: Post, account: Account | None) -> None:
        self.posts.setdefault(post.native_id, post)
        if account is not None:
            self.accounts.setdefault(account.native_id, account)


def _nested(record: dict[str, Any], key: str, label: str, depth: int) -> dict[str, Any] | None:
    value = record.get(key)
    if value is None:
        return None
    if depth >= _MAX_NESTING:
        raise RecordError(f"{label}.{key}: tweets nested more than {_MAX_NESTING} deep")
    return f.as_dict(value, f"{label}.{key}")


# --- v1.1 tweets ----------------------------------------------------------------------------


def _read_tweet(tweet: dict[str, Any], label: str, out: _Collected, depth: int) -> str:
    """Add the tweet (and the tweets it embeds) to ``out``; return its id."""
    retweeted = _nested(tweet, "retweeted_status", label, depth)
    quoted = _nested(tweet, "quoted_status", label, depth)
    retweeted_id = (
        _read_tweet(retweeted, f"{label}.retweeted_status", out, depth + 1) if retweeted else ""
    )
    quoted_id = _read_tweet(quoted, f"{label}.quoted_status", out, depth + 1) if quoted else ""
    references = _kind(
        retweeted_id,
        _opt_id_str(tweet, "in_reply_to_status_id_str", label),
        quoted_id or _opt_id_str(tweet, "quoted_status_id_str", label),
    )
    user = tweet.get("user")
    account = (
        _account(f.as_dict(user, f"{label}.user"), f"{label}.user") if user is not None else None
    )
    post = _tweet_post(tweet, label, account, references)
    out.add(post, account)
    return post.native_id


def _tweet_post(
    tweet: dict[str, Any],
    label: str,
    account: Account | None,
    references: tuple[PostKind, str, str],
) -> Post:
    tweet_id = _id_str(tweet, "id_str", label)
    kind, parent_id, quoted_id = references
    extended = tweet.get("extended_tweet")
    # Text, entities and media of a long tweet all live in extended_tweet, together.
    source = f.as_dict(extended, f"{label}.extended_tweet") if extended is not None else tweet
    entities = _dict_or_empty(source.get("entities"), f"{label}.entities")
    withheld = bool(tweet.get("withheld_in_countries")) or bool(tweet.get("withheld_copyright"))
    return Post(
        platform=Platform.X,
        native_id=tweet_id,
        kind=kind,
        account_id=account.native_id if account else "",
        text=f.text(source, "full_text") or f.text(tweet, "full_text") or f.text(tweet, "text"),
        lang=f.text(tweet, "lang"),
        created_at=maybe_time(tweet.get("created_at"), field=f"{label}.created_at"),
        parent_id=parent_id,
        quoted_id=quoted_id,
        url=status_url(account.handle if account else "", tweet_id),
        links=_links(entities, label),
        hashtags=_entity_texts(entities, "hashtags", "text", label),
        mentions=_entity_texts(entities, "user_mentions", "screen_name", label),
        media=_media(source.get("extended_entities") or entities, f"{label}.extended_entities"),
        metrics=Metrics(
            likes=f.count(tweet, "favorite_count"),
            shares=f.count(tweet, "retweet_count"),
            comments=f.count(tweet, "reply_count"),
            quotes=f.count(tweet, "quote_count"),
        ),
        availability=Availability.WITHHELD if withheld else Availability.AVAILABLE,
    )


def _kind(retweeted_id: str, parent_id: str, quoted_id: str) -> tuple[PostKind, str, str]:
    """(kind, parent_id, quoted_id): a retweet first (its text is only a copy), then a reply."""
    if retweeted_id:
        return PostKind.REPOST, parent_id, retweeted_id
    if parent_id:
        return PostKind.REPLY, parent_id, quoted_id
    if quoted_id:
        return PostKind.QUOTE, "", quoted_id
    return PostKind.POST, "", ""


def _id_str(record: dict[str, Any], key: str, label: str) -> str:
    if record.get(key) in (None, ""):
        raise RecordError(
            f"{label}.{key}: required field is missing (the numeric id is not used: "
            "JavaScript clients round ids above 2**53)"
        )
    value = f.as_id(record[key], f"{label}.{key}")
    if not value.isdigit():
        raise RecordError(f"{label}.{key}: {value!r:.40} is not a tweet or user id")
    return value


def _opt_id_str(record: dict[str, Any], key: str, label: str) -> str:
    return "" if record.get(key) in (None, "") else _id_str(record, key, label)


def _dict_or_empty(value: Any, field: str) -> dict[str, Any]:
    return {} if value is None else f.as_dict(value, field)


def _account(user: dict[str, Any], label: str) -> Account:
    handle = f.text(user, "screen_name")
    if user.get("withheld_in_countries"):
        availability = Availability.WITHHELD
    elif f.as_bool(user.get("protected"), f"{label}.protected"):
        availability = Availability.PRIVATE
    else:
        availability = Availability.AVAILABLE
    entities = _dict_or_empty(user.get("entities"), f"{label}.entities")
    links = [
        _link(url, label)
        for part in ("url", "description")
        for url in f.dicts(f.get(entities, f"{part}.urls"), f"{label}.entities.{part}.urls")
    ]
    return Account(
        platform=Platform.X,
        native_id=_id_str(user, "id_str", label),
        handle=handle,
        display_name=f.text(user, "name"),
        bio=f.text(user, "description"),
        url=profile_url(handle),
        links=tuple(dict.fromkeys(link for link in links if link)),
        created_at=maybe_time(user.get("created_at"), field=f"{label}.created_at"),
        verified=f.as_bool(user.get("verified"), f"{label}.verified"),
        location=f.text(user, "location"),
        metrics=Metrics(
            followers=f.count(user, "followers_count"),
            following=f.count(user, "friends_count"),
            posts=f.count(user, "statuses_count"),
            extra=_extra(
                listed=f.count(user, "listed_count"), favourites=f.count(user, "favourites_count")
            ),
        ),
        availability=availability,
    )


# --- entities (shared by v1.1 tweets and Gnip's twitter_entities) ---------------------------


def _link(url: dict[str, Any], label: str) -> str:
    """Gnip's enrichment ``unwound.url`` is the resolved destination; else ``expanded_url``."""
    for value in (f.get(url, "unwound.url"), url.get("expanded_url"), url.get("url")):
        text = f.as_text(value, f"{label}.entities.urls").strip()
        if text:
            return f.unwrap_link(text)
    return ""


def _links(entities: dict[str, Any], label: str) -> tuple[str, ...]:
    urls = f.dicts(entities.get("urls"), f"{label}.entities.urls")
    return tuple(dict.fromkeys(link for link in (_link(u, label) for u in urls) if link))


def _entity_texts(entities: dict[str, Any], key: str, name: str, label: str) -> tuple[str, ...]:
    items = f.dicts(entities.get(key), f"{label}.entities.{key}")
    return tuple(dict.fromkeys(t for t in (f.text(item, name) for item in items) if t))


def _media(entities: dict[str, Any], label: str) -> tuple[Media, ...]:
    found: list[Media] = []
    for position, item in enumerate(f.dicts(entities.get("media"), f"{label}.media")):
        where = f"{label}.media[{position}]"
        kind = f.text(item, "type") or "photo"
        thumbnail = f.text(item, "media_url_https") or f.text(item, "media_url")
        video = _dict_or_empty(item.get("video_info"), f"{where}.video_info")
        video_url = best_variant(video.get("variants"), f"{where}.video_info.variants", "bitrate")
        large = _dict_or_empty(f.get(item, "sizes.large"), f"{where}.sizes.large")
        found.append(
            Media(
                kind=kind,
                native_id=_opt_id_str(item, "id_str", where),
                url=video_url or thumbnail,
                preview_url=thumbnail if video_url else "",
                duration_ms=f.as_count(video.get("duration_millis"), f"{where}.duration_millis"),
                width=f.as_count(large.get("w"), f"{where}.sizes.large.w"),
                height=f.as_count(large.get("h"), f"{where}.sizes.large.h"),
                alt_text=f.text(item, "ext_alt_text"),
            )
        )
    return tuple(found)


# --- Gnip activity streams ------------------------------------------------------------------


def _tail_id(value: Any, field: str, separator: str) -> str:
    """``tag:search.twitter.com,2005:123`` / ``id:twitter.com:123`` / ``.../statuses/123`` -> 123."""
    text = f.as_text(value, field).strip()
    tail = text.rsplit(separator, 1)[-1]
    if not tail.isdigit():
        raise RecordError(f"{field}: {text!r:.60} does not end in a numeric id")
    return tail


def _read_activity(activity: dict[str, Any], label: str, out: _Collected, depth: int) -> str:
    """Add the activity (and the activities it embeds) to ``out``; return its tweet id."""
    shared = activity.get("verb") == "share"
    original = _nested(activity, "object", label, depth) if shared else None
    quoted = _nested(activity, "twitter_quoted_status", label, depth)
    retweeted_id = _read_activity(original, f"{label}.object", out, depth + 1) if original else ""
    quoted_id = (
        _read_activity(quoted, f"{label}.twitter_quoted_status", out, depth + 1) if quoted else ""
    )
    reply_to = f.get(activity, "inReplyTo.link")
    parent_id = _tail_id(reply_to, f"{label}.inReplyTo.link", "/") if reply_to else ""
    actor = activity.get("actor")
    account = (
        _actor(f.as_dict(actor, f"{label}.actor"), f"{label}.actor") if actor is not None else None
    )
    post = _activity_post(activity, label, account, _kind(retweeted_id, parent_id, quoted_id))
    out.add(post, account)
    return post.native_id


def _activity_post(
    activity: dict[str, Any],
    label: str,
    account: Account | None,
    references: tuple[PostKind, str, str],
) -> Post:
    if activity.get("id") is None:
        raise RecordError(f"{label}.id: required field is missing")
    tweet_id = _tail_id(activity["id"], f"{label}.id", ":")
    kind, parent_id, quoted_id = references
    # Gnip's long_object holds the full text, entities and media of a long tweet, together.
    long_object = _dict_or_empty(activity.get("long_object"), f"{label}.long_object")
    source = long_object or activity
    entities = _dict_or_empty(source.get("twitter_entities"), f"{label}.twitter_entities")
    media = source.get("twitter_extended_entities") or entities
    return Post(
        platform=Platform.X,
        native_id=tweet_id,
        kind=kind,
        account_id=account.native_id if account else "",
        text=f.text(long_object, "body") or f.text(activity, "body"),
        lang=f.text(activity, "twitter_lang"),
        created_at=maybe_time(activity.get("postedTime"), field=f"{label}.postedTime"),
        parent_id=parent_id,
        quoted_id=quoted_id,
        url=status_url(account.handle if account else "", tweet_id),
        links=_links(entities, label),
        hashtags=_entity_texts(entities, "hashtags", "text", label),
        mentions=_entity_texts(entities, "user_mentions", "screen_name", label),
        media=_media(media, f"{label}.twitter_extended_entities"),
        metrics=Metrics(
            likes=f.count(activity, "favoritesCount"), shares=f.count(activity, "retweetCount")
        ),
    )


def _actor(actor: dict[str, Any], label: str) -> Account:
    if actor.get("id") is None:
        raise RecordError(f"{label}.id: required field is missing")
    handle = f.text(actor, "preferredUsername")
    links = [
        f.as_text(link.get("href"), f"{label}.links.href")
        for link in f.dicts(actor.get("links"), f"{label}.links")
    ]
    return Account(
        platform=Platform.X,
        native_id=_tail_id(actor["id"], f"{label}.id", ":"),
        handle=handle,
        display_name=f.text(actor, "displayName"),
        bio=f.text(actor, "summary"),
        url=profile_url(handle),
        links=tuple(dict.fromkeys(link for link in links if link)),
        created_at=maybe_time(actor.get("postedTime"), field=f"{label}.postedTime"),
        verified=f.as_bool(actor.get("verified"), f"{label}.verified"),
        location=f.text(actor, "location.displayName"),
        metrics=Metrics(
            followers=f.count(actor, "followersCount"),
            following=f.count(actor, "friendsCount"),
            posts=f.count(actor, "statusesCount"),
            extra=_extra(
                listed=f.count(actor, "listedCount"), favourites=f.count(actor, "favoritesCount")
            ),
        ),
    )

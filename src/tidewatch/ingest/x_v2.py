"""X API v2: twarc2 JSON lines, plain API responses, and batch-compliance result lines.

Input units
-----------
* **A response page** (``data``, ``includes``, ``errors``, ``meta``), as twarc2 writes it (one
  page per line with its ``__twarc`` envelope, whose ``retrieved_at`` becomes the
  SourceRecord's ``retrieved_at``) or as the API returns it (a JSON document, a JSON array of
  pages, or JSON lines of pages). ``data`` may be one tweet (filtered stream) or a list.
  Tweets in ``data`` and ``includes.tweets`` become Posts; ``includes.users`` (and ``data``
  users from a user lookup) become Accounts; ``includes.media`` is attached through
  ``attachments.media_keys``.
* **A batch-compliance result line** (``{"id", "action", "created_at", "reason"}``, what
  twarc2 writes for ``compliance-job`` downloads).

Mapping decisions
-----------------
* Edits: ``native_id`` is ``edit_history_tweet_ids[0]`` and ``version_id`` the tweet's own id,
  so every version of an edited tweet lands on one post. A later version has
  ``edited_at = created_at`` (X gives each version its own creation time). A page may hold
  several versions of one tweet; each becomes its own Post (same native_id, own version_id).
* ``note_tweet.text`` (posts over 280 characters) replaces the truncated ``text``; entities of
  both are merged because X reports the note's entities separately.
* ``referenced_tweets`` sets the kind: ``retweeted`` wins (a repost's text is X's truncated
  "RT @..." copy), then ``replied_to``, then ``quoted``. ``parent_id`` and ``quoted_id`` are
  both kept when a reply also quotes.
* Links: ``unwound_url`` (X's fully resolved URL; ``unwrapped_url`` is accepted too), else
  ``expanded_url``, then platform redirect shims are undone. URL entities that stand for
  attached media (``media_key``) are skipped: they point back at the tweet itself.
* ``withheld`` on a tweet or user gives availability WITHHELD; a protected user is PRIVATE.
* ``errors``: each problem becomes an :class:`ApiError` on the SourceRecord. The kind comes
  from the detail first ("User has been suspended" arrives with a *not-found* type), then the
  title/type: ``Authorization Error`` / ``not-authorized-for-resource`` (protected tweets) ->
  PRIVATE, ``resource-not-found`` -> NOT_FOUND.

Compliance events (decision)
----------------------------
A batch-compliance line says an id was deleted, suspended, protected or deactivated, but not
whether the id is a tweet or a user (twarc2 writes tweet and user jobs to separate files in
the same shape). Making a Post of it would invent a tweet that may be a user, so a compliance
line yields **no posts and no accounts, and one ApiError** on its SourceRecord:
``resource_id`` = the id, ``resource_type`` empty, ``title`` = ``"compliance: <action>"``,
``detail`` = the reason and times as sent, ``kind`` from the reason (deleted/deactivated ->
DELETED, suspended -> SUSPENDED, protected -> PRIVATE, anything else -> UNKNOWN). The store
can match ``resource_id`` against the posts and accounts it already holds.
"""

from __future__ import annotations

from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import (
    Account,
    ApiError,
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
from tidewatch.trusted import builder

_RESPONSE_KEYS = frozenset({"data", "includes", "errors", "meta", "__twarc"})
_COMPLIANCE_KEYS = frozenset({"id", "action", "created_at", "redacted_at", "reason"})
# Fields of other formats' items that an X tweet never has (Graph API, Meta Content Library).
_NOT_TWEET_KEYS = frozenset({"creation_time", "created_time", "message", "post_owner"})

_COMPLIANCE_REASONS = {
    "deleted": Availability.DELETED,
    "deactivated": Availability.DELETED,
    "suspended": Availability.SUSPENDED,
    "protected": Availability.PRIVATE,
}

_TWEET_METRICS = {
    "like_count": "likes",
    "retweet_count": "shares",
    "reply_count": "comments",
    "quote_count": "quotes",
    "impression_count": "views",
}
# The accessors have checked every value these are given (see tidewatch.trusted).
_post_of = builder(Post)
_account_of = builder(Account)
_metrics_of = builder(Metrics)
_NO_METRICS = Metrics()  # frozen, so one instance serves every tweet without counts
_USER_METRICS = {
    "followers_count": "followers",
    "following_count": "following",
    "tweet_count": "posts",
}


def status_url(username: str, tweet_id: str) -> str:
    """The public address of a tweet; ``/i/status/`` works when the author is unknown."""
    return f"https://x.com/{username or 'i'}/status/{tweet_id}"


def profile_url(username: str) -> str:
    return f"https://x.com/{username}" if username else ""


def best_variant(variants: Any, field: str, bitrate_key: str) -> str:
    """The highest-bitrate MP4 of a video or GIF (the HLS playlist is not a file one can keep)."""
    best_url, best_rate = "", -1
    for position, variant in enumerate(f.dicts(variants, field)):
        where = f"{field}[{position}]"
        url = f.text(variant, "url")
        if not url or f.text(variant, "content_type") != "video/mp4":
            continue
        rate = f.as_count(variant.get(bitrate_key), f"{where}.{bitrate_key}") or 0
        if rate > best_rate:
            best_url, best_rate = url, rate
    return best_url


def _unique(values: list[str]) -> tuple[str, ...]:
    """Order-preserving de-duplication without empties."""
    if len(values) == 1:  # most tweets' links and hashtags, without the generator
        return (values[0],) if values[0] else ()
    return tuple(dict.fromkeys(v for v in values if v))


@register
class XV2Reader(Reader):
    name = "x_v2"
    description = (
        "X API v2 responses (twarc2 JSON lines or plain API JSON) and batch-compliance results"
    )
    framings = frozenset({Framing.JSONL, Framing.JSON})

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if isinstance(value, list) and framing is Framing.JSON:
            value = value[0] if value else None
        if not isinstance(value, dict):
            return False
        return _looks_like_response(value) or _looks_like_compliance(value)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        value = unit.value
        if isinstance(value, dict) and _looks_like_compliance(value):
            return Bundle(source=self.source(unit, context, errors=[_compliance_error(value)]))
        pages = value if isinstance(value, list) else [value]
        page = _Page()
        for position, item in enumerate(pages):
            label = f"[{position}]" if isinstance(value, list) else "response"
            page.add(f.as_dict(item, label))
        return Bundle(
            source=self.source(unit, context, retrieved_at=page.retrieved_at, errors=page.errors),
            accounts=list(page.accounts.values()),
            posts=list(page.posts.values()),
        )


def _looks_like_response(value: dict[str, Any]) -> bool:
    if "__twarc" in value or isinstance(value.get("includes"), dict):
        return "data" in value or "errors" in value or "includes" in value
    if not value or not set(value) <= _RESPONSE_KEYS:
        return False
    data = value.get("data")
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict):
        return (
            "id" in first
            and ("text" in first or "username" in first)
            and not (_NOT_TWEET_KEYS & set(first))
        )
    errors = value.get("errors")
    return (
        data is None
        and isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and "title" in e for e in errors)
    )


def _looks_like_compliance(value: dict[str, Any]) -> bool:
    return (
        set(value) <= _COMPLIANCE_KEYS
        and isinstance(value.get("id"), str)
        and isinstance(value.get("action"), str)
        and "created_at" in value
    )


class _Page:
    """Accumulates what one or more response pages say; posts keyed by version id so a tweet
    that is both in ``data`` and ``includes.tweets`` is read once."""

    def __init__(self) -> None:
        self.posts: dict[str, Post] = {}
        self.accounts: dict[str, Account] = {}
        self.errors: list[ApiError] = []
        self.retrieved_at: Stamp | None = None

    def add(self, response: dict[str, Any]) -> None:
        if not {"data", "includes", "errors"} & set(response):
            raise RecordError("not an X API v2 response: it has no data, includes or errors")
        envelope = response.get("__twarc")
        if envelope is not None:
            envelope = f.as_dict(envelope, "__twarc")
            stamp = maybe_time(envelope.get("retrieved_at"), field="__twarc.retrieved_at")
            self.retrieved_at = self.retrieved_at or stamp
        includes = response.get("includes")
        includes = f.as_dict(includes, "includes") if includes is not None else {}
        tweets, users = _split_data(response.get("data"))
        users += _labelled(includes.get("users"), "includes.users")
        for label, user in users:
            try:
                account = _account(user)
            except RecordError as error:
                raise RecordError(f"{label}.{error.message}") from error
            self.accounts.setdefault(account.native_id, account)
        handles = {a.native_id: a.handle for a in self.accounts.values()}
        media = _media_by_key(includes.get("media"))
        tweets += _labelled(includes.get("tweets"), "includes.tweets")
        for label, tweet in tweets:
            # Fields are named relative to the tweet, and the tweet's place is added only
            # when something is wrong: formatting labels for every field of every tweet
            # was a measurable part of reading a page.
            try:
                post = _post(tweet, handles, media)
            except RecordError as error:
                raise RecordError(f"{label}.{error.message}") from error
            self.posts.setdefault(post.version_id, post)
        for position, problem in enumerate(f.dicts(response.get("errors"), "errors")):
            self.errors.append(_api_error(problem, f"errors[{position}]"))


Labelled = list[tuple[str, dict[str, Any]]]


def _labelled(items: Any, field: str) -> Labelled:
    """The objects of a list, each with its place in the response for error messages."""
    return [(f"{field}[{i}]", item) for i, item in enumerate(f.dicts(items, field))]


def _split_data(data: Any) -> tuple[Labelled, Labelled]:
    """``data`` holds tweets, or users for a user lookup; one object or a list of them."""
    items = [("data", data)] if isinstance(data, dict) else _labelled(data, "data")
    users = [(label, item) for label, item in items if _is_user(item)]
    tweets = [(label, item) for label, item in items if not _is_user(item)]
    return tweets, users


def _is_user(item: dict[str, Any]) -> bool:
    return "username" in item and "text" not in item


# --- tweets ---------------------------------------------------------------------------------


def _post(tweet: dict[str, Any], handles: dict[str, str], media: dict[str, Media]) -> Post:
    """One tweet; errors name fields relative to the tweet (the caller adds its place)."""
    tweet_id = f.req_id(tweet, "id")
    history = tweet.get("edit_history_tweet_ids")
    native_id = tweet_id
    if type(history) is list and len(history) == 1:  # an unedited tweet
        native_id = f.as_id(history[0], "edit_history_tweet_ids")
    elif history is not None:
        ids = [
            f.as_id(v, "edit_history_tweet_ids")
            for v in f.as_list(history, "edit_history_tweet_ids")
        ]
        native_id = ids[0] if ids else tweet_id
    created_at = maybe_time(tweet.get("created_at"), field="created_at")
    author_id = f.opt_id(tweet, "author_id")
    kind, parent_id, quoted_id = _references(tweet)
    urls, hashtags, mentions = _entities(tweet)
    note = tweet.get("note_tweet")
    note_text = f.text(f.as_dict(note, "note_tweet"), "text") if note is not None else ""
    attachments = tweet.get("attachments")
    metrics = tweet.get("public_metrics")
    return _post_of(
        platform=Platform.X,
        native_id=native_id,
        version_id=tweet_id,
        edited_at=created_at if tweet_id != native_id else None,
        kind=kind,
        account_id=author_id,
        text=note_text or f.text(tweet, "text"),
        lang=f.text(tweet, "lang"),
        created_at=created_at,
        parent_id=parent_id,
        quoted_id=quoted_id,
        conversation_id=f.opt_id(tweet, "conversation_id"),
        url=status_url(handles.get(author_id, ""), tweet_id),
        links=_unique([_link(u) for u in urls if "media_key" not in u]) if urls else (),
        hashtags=_unique([f.text(h, "tag") for h in hashtags]) if hashtags else (),
        mentions=_unique([f.text(m, "username") for m in mentions]) if mentions else (),
        media=_attached_media(tweet, media) if attachments is not None else (),
        metrics=_NO_METRICS
        if metrics is None
        else _metrics(metrics, "public_metrics", _TWEET_METRICS),
        availability=Availability.WITHHELD if tweet.get("withheld") else Availability.AVAILABLE,
    )


def _references(tweet: dict[str, Any]) -> tuple[PostKind, str, str]:
    """(kind, parent_id, quoted_id) from ``referenced_tweets``."""
    references = tweet.get("referenced_tweets")
    if references is None:
        return PostKind.POST, "", ""
    refs: dict[str, str] = {}
    for position, ref in enumerate(f.dicts(references, "referenced_tweets")):
        ref_type = f.text(ref, "type")
        refs.setdefault(ref_type, f.req_id(ref, "id", f"referenced_tweets[{position}]"))
    parent_id = refs.get("replied_to", "")
    if "retweeted" in refs:
        return PostKind.REPOST, parent_id, refs["retweeted"]
    quoted_id = refs.get("quoted", "")
    if parent_id:
        return PostKind.REPLY, parent_id, quoted_id
    if quoted_id:
        return PostKind.QUOTE, "", quoted_id
    return PostKind.POST, "", ""


Entities = list[dict[str, Any]]


def _entities(tweet: dict[str, Any]) -> tuple[Entities, Entities, Entities]:
    """URL, hashtag and mention entities of the tweet and of its note (long text), merged."""
    entities = tweet.get("entities")
    if entities is not None:
        entities = f.as_dict(entities, "entities")
    note = tweet.get("note_tweet")
    noted = note.get("entities") if isinstance(note, dict) else None
    if noted is not None:
        noted = f.as_dict(noted, "note_tweet.entities")
    found: list[Entities] = []
    for key, field, note_field in _ENTITY_KEYS:
        items = f.dicts(entities.get(key), field) if entities else []
        if noted:
            items = items + f.dicts(noted.get(key), note_field)
        found.append(items)
    urls, hashtags, mentions = found
    return urls, hashtags, mentions


_ENTITY_KEYS = tuple(
    (key, f"entities.{key}", f"note_tweet.entities.{key}")
    for key in ("urls", "hashtags", "mentions")
)


_LINK_KEYS = tuple(
    (key, f"entities.urls.{key}") for key in ("unwound_url", "unwrapped_url", "expanded_url", "url")
)


def _link(url_entity: dict[str, Any]) -> str:
    """The destination a person clicking the link reaches, as far as the payload tells."""
    for key, field in _LINK_KEYS:
        value = url_entity.get(key)
        if value is None:
            continue
        value = f.as_text(value, field).strip()
        if value:
            return f.unwrap_link(value)
    return ""


def _attached_media(tweet: dict[str, Any], media: dict[str, Media]) -> tuple[Media, ...]:
    field = "attachments.media_keys"
    keys = [f.as_id(key, field) for key in f.as_list(f.get(tweet, field), field)]
    # X only includes media for the page's own tweets; a quoted tweet's key often has no
    # entry, and a Media without type or URL would tell a reviewer nothing.
    return tuple(media[key] for key in keys if key in media)


def _media_by_key(items: Any) -> dict[str, Media]:
    found: dict[str, Media] = {}
    for position, item in enumerate(f.dicts(items, "includes.media")):
        label = f"includes.media[{position}]"
        key = f.req_id(item, "media_key", label)
        kind = f.text(item, "type") or "unknown"
        video_url = best_variant(item.get("variants"), f"{label}.variants", "bit_rate")
        found[key] = Media(
            kind=kind,
            native_id=key,
            url=f.text(item, "url") or video_url,
            preview_url=f.text(item, "preview_image_url"),
            duration_ms=f.as_count(item.get("duration_ms"), f"{label}.duration_ms"),
            width=f.as_count(item.get("width"), f"{label}.width"),
            height=f.as_count(item.get("height"), f"{label}.height"),
            alt_text=f.text(item, "alt_text"),
        )
    return found


def _metrics(value: Any, field: str, names: dict[str, str]) -> Metrics:
    """Known counts go to their Metrics field; other counts (bookmarks, listed) to ``extra``."""
    counts = f.as_dict(value, field)
    known: dict[str, int | None] = {}
    extra: dict[str, int] = {}
    for key, raw in counts.items():
        if type(raw) is int and raw >= 0:  # nearly always; as_count handles the rest
            number = raw
        else:
            checked = f.as_count(raw, f"{field}.{key}")
            if checked is None:
                continue
            number = checked
        name = names.get(key)
        if name:
            known[name] = number
        else:
            extra[key.removesuffix("_count")] = number
    return _metrics_of(**known, extra=extra)


# --- users ----------------------------------------------------------------------------------


def _account(user: dict[str, Any]) -> Account:
    """One user; errors name fields relative to the user (the caller adds its place)."""
    username = f.text(user, "username")
    if user.get("withheld"):
        availability = Availability.WITHHELD
    elif f.as_bool(user.get("protected"), "protected"):
        availability = Availability.PRIVATE
    else:
        availability = Availability.AVAILABLE
    metrics = user.get("public_metrics")
    return _account_of(
        platform=Platform.X,
        native_id=f.req_id(user, "id"),
        handle=username,
        display_name=f.text(user, "name"),
        bio=f.text(user, "description"),
        url=profile_url(username),
        links=_profile_links(user) if "entities" in user else (),
        created_at=maybe_time(user.get("created_at"), field="created_at"),
        verified=f.as_bool(user.get("verified"), "verified"),
        location=f.text(user, "location"),
        metrics=_NO_METRICS
        if metrics is None
        else _metrics(metrics, "public_metrics", _USER_METRICS),
        availability=availability,
    )


def _profile_links(user: dict[str, Any]) -> tuple[str, ...]:
    """The profile's website and the links in its bio, expanded from t.co."""
    links: list[str] = []
    for path in ("entities.url.urls", "entities.description.urls"):
        for url in f.dicts(f.get(user, path), path):
            links.append(_link(url))
    return _unique(links)


# --- errors and compliance ------------------------------------------------------------------


def _api_error(problem: dict[str, Any], label: str) -> ApiError:
    detail = _loose_text(problem.get("detail"))
    title = _loose_text(problem.get("title"))
    return ApiError(
        kind=_problem_kind(title, detail, _loose_text(problem.get("type"))),
        resource_type=_loose_text(problem.get("resource_type")),
        resource_id=_loose_text(problem.get("resource_id")) or _loose_text(problem.get("value")),
        title=title,
        detail=detail,
    )


def _loose_text(value: Any) -> str:
    """Error fields are informative only: an odd value is dropped rather than losing the page."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _problem_kind(title: str, detail: str, problem_type: str) -> Availability:
    # The detail is the most specific signal: X sends "User has been suspended" with the
    # resource-not-found type and the title "Forbidden".
    text = f"{title} {detail}".lower()
    if "suspended" in text:
        return Availability.SUSPENDED
    if "withheld" in text:
        return Availability.WITHHELD
    if (
        title == "Authorization Error"
        or problem_type.endswith("/not-authorized-for-resource")
        or "protected" in text
    ):
        return Availability.PRIVATE
    if title == "Not Found Error" or problem_type.endswith("/resource-not-found"):
        return Availability.NOT_FOUND
    return Availability.UNKNOWN


def _compliance_error(event: dict[str, Any]) -> ApiError:
    event_id = f.req_id(event, "id")
    action = f.text(event, "action")
    if not action:
        raise RecordError("action: required field is missing")
    reason = f.text(event, "reason")
    # Validate the times so a corrupt line is reported, but keep them as sent in the detail.
    created = maybe_time(event.get("created_at"), field="created_at")
    redacted = maybe_time(event.get("redacted_at"), field="redacted_at")
    parts = [f"reason: {reason or 'not given'}"]
    if created:
        parts.append(f"event at {created.raw}")
    if redacted:
        parts.append(f"redacted at {redacted.raw}")
    return ApiError(
        kind=_COMPLIANCE_REASONS.get(reason, Availability.UNKNOWN),
        resource_id=event_id,
        title=f"compliance: {action}",
        detail="; ".join(parts),
    )

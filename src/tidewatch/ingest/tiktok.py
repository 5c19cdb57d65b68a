"""TikTok Research API responses: video query, video comments, user info, error bodies.

Every response is ``{"data": {...}, "error": {"code", "message", "log_id"}}`` (one per unit,
as a JSON document or one per JSON line). A response whose ``error.code`` is not ``"ok"`` is
a :class:`RecordError` quoting the code, message and log_id.

* ``/v2/research/video/query/`` -> ``data.videos``: posts. Video ids are 64-bit numbers in the
  JSON (above 2**53, where JavaScript and floats lose digits); they are kept exactly as
  strings, and string ids are accepted too. ``voice_to_text`` becomes the transcript of the
  post's video :class:`Media`, so the detector reads what is said as well as what is written.
  Url: ``https://www.tiktok.com/@username/video/ID``.
* ``/v2/research/video/comment/list/`` -> ``data.comments``: :attr:`PostKind.COMMENT` with
  ``parent_id`` = the video, or :attr:`PostKind.REPLY` with ``parent_id`` = the comment named
  in ``parent_comment_id`` (the API sets it to the video id for top-level comments). The API
  names no comment author, so comments have no ``account_id``.
* ``/v2/research/user/info/`` -> ``data``: one account.

Accounts are keyed by ``username``: the Research API returns no user id, and the username is
what its own user-info endpoint takes. The user-info response does not repeat the username it
was asked for, so it must be in the record (``data.username``, as collectors add it) or passed
as the ``username`` read option.

``region_code`` is documented as the country where the *creator registered*, so it is the
account's ``location``, not the post's. ``music_id``, ``effect_ids`` and ``playlist_id`` have no
place in the model; they stay in the source record.
"""

from __future__ import annotations

from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Media, Metrics, Platform, Post, PostKind
from tidewatch.timeparse import maybe_time

PROFILE_URL = "https://www.tiktok.com/@{}"
VIDEO_URL = "https://www.tiktok.com/@{}/video/{}"
_USER_FIELDS = frozenset(
    {
        "display_name",
        "bio_description",
        "is_verified",
        "follower_count",
        "following_count",
        "likes_count",
    }
)

Accounts = dict[str, Account]


@register
class TikTokResearchReader(Reader):
    name = "tiktok"
    description = "TikTok Research API: video query, video comment list and user info responses"
    framings = frozenset({Framing.JSON, Framing.JSONL})
    priority = 30  # a text error code with a log_id, or data.videos/comments: TikTok's alone

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if not isinstance(value, dict):
            return False
        error = value.get("error")
        # Graph and Google error codes are numbers; TikTok's are text ("ok", "invalid_params").
        if isinstance(error, dict) and isinstance(error.get("code"), str) and "log_id" in error:
            return True
        data = value.get("data")
        return isinstance(data, dict) and any(
            isinstance(data.get(key), list) and _first_has(data[key], "create_time")
            for key in ("videos", "comments")
        )

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        response = f.as_dict(unit.value, "response")
        _raise_for_error(response)
        data = f.as_dict(response.get("data"), "data")
        posts: list[Post] = []
        accounts: Accounts = {}
        if "videos" in data:
            for position, video in enumerate(f.dicts(data["videos"], "data.videos")):
                with f.inside(f"data.videos[{position}]"):
                    posts.append(_video(video, accounts))
        elif "comments" in data:
            for position, comment in enumerate(f.dicts(data["comments"], "data.comments")):
                with f.inside(f"data.comments[{position}]"):
                    posts.append(_comment(comment))
        elif _USER_FIELDS & data.keys():
            with f.inside("data"):
                account = _user(data, context.options.get("username", ""))
            accounts[account.native_id] = account
        return Bundle(
            source=self.source(unit, context), accounts=list(accounts.values()), posts=posts
        )


def _first_has(items: list[Any], key: str) -> bool:
    return bool(items) and isinstance(items[0], dict) and key in items[0]


def _raise_for_error(response: dict[str, Any]) -> None:
    if response.get("error") is None:
        return
    error = f.as_dict(response["error"], "error")
    code = f.text(error, "code")
    if code == "ok":
        return
    message = f.text(error, "message") or "no message"
    log_id = f.text(error, "log_id")
    suffix = f" (log_id {log_id})" if log_id else ""
    raise RecordError(f"TikTok Research API error {code or '(no code)'}: {message}{suffix}")


# --- videos -----------------------------------------------------------------------------


def _video(video: dict[str, Any], accounts: Accounts) -> Post:
    video_id = f.req_id(video, "id")
    username = f.text(video, "username").strip().lstrip("@")
    url = VIDEO_URL.format(username, video_id) if username else ""
    if username:
        accounts.setdefault(username, _creator(username, f.text(video, "region_code")))
    return Post(
        platform=Platform.TIKTOK,
        native_id=video_id,
        account_id=username,
        text=f.text(video, "video_description"),
        created_at=maybe_time(video.get("create_time"), field="create_time"),
        url=url,
        hashtags=_names(video, "hashtag_names", "#"),
        mentions=_names(video, "video_mention_list", "@"),
        media=(_video_media(video, video_id, url),),
        metrics=_video_metrics(video),
    )


def _creator(username: str, region_code: str) -> Account:
    return Account(
        platform=Platform.TIKTOK,
        native_id=username,
        handle=username,
        url=PROFILE_URL.format(username),
        location=region_code,
    )


def _video_media(video: dict[str, Any], video_id: str, url: str) -> Media:
    """Every TikTok is a video; its speech-to-text is the transcript the detector reads."""
    seconds = f.count(video, "video_duration")
    return Media(
        kind="video",
        native_id=video_id,
        url=url,
        duration_ms=seconds * 1000 if seconds is not None else None,
        transcript=f.text(video, "voice_to_text"),
    )


def _video_metrics(video: dict[str, Any]) -> Metrics:
    # The codebook spells it both ways (favourites_count in query, favorites_count in VCE).
    favourites = f.count(video, "favourites_count")
    if favourites is None:
        favourites = f.count(video, "favorites_count")
    return Metrics(
        likes=f.count(video, "like_count"),
        comments=f.count(video, "comment_count"),
        shares=f.count(video, "share_count"),
        views=f.count(video, "view_count"),
        extra={"favourites": favourites} if favourites is not None else {},
    )


def _names(video: dict[str, Any], key: str, sign: str) -> tuple[str, ...]:
    values = f.as_list(video.get(key), key)
    names = (f.as_text(value, f"{key}[{n}]").strip().lstrip(sign) for n, value in enumerate(values))
    return tuple(dict.fromkeys(name for name in names if name))


# --- comments ---------------------------------------------------------------------------


def _comment(comment: dict[str, Any]) -> Post:
    comment_id = f.req_id(comment, "id")
    video_id = f.opt_id(comment, "video_id")
    parent = f.opt_id(comment, "parent_comment_id")
    is_reply = bool(parent) and parent != video_id
    return Post(
        platform=Platform.TIKTOK,
        native_id=comment_id,
        kind=PostKind.REPLY if is_reply else PostKind.COMMENT,
        parent_id=parent if is_reply else video_id,
        conversation_id=video_id,
        text=f.text(comment, "text"),
        created_at=maybe_time(comment.get("create_time"), field="create_time"),
        metrics=Metrics(
            likes=f.count(comment, "like_count"), comments=f.count(comment, "reply_count")
        ),
    )


# --- user info --------------------------------------------------------------------------


def _user(data: dict[str, Any], asked_for: str) -> Account:
    username = (f.text(data, "username") or asked_for).strip().lstrip("@")
    if not username:
        raise RecordError(
            "username: the user info response does not name the account; "
            "give the username the request asked for as the read option username=..."
        )
    bio_url = f.text(data, "bio_url")
    return Account(
        platform=Platform.TIKTOK,
        native_id=username,
        handle=username,
        display_name=f.text(data, "display_name"),
        bio=f.text(data, "bio_description"),
        url=PROFILE_URL.format(username),
        links=(f.unwrap_link(bio_url),) if bio_url else (),
        verified=f.as_bool(data.get("is_verified"), "is_verified"),
        metrics=Metrics(
            followers=f.count(data, "follower_count"),
            following=f.count(data, "following_count"),
            likes=f.count(data, "likes_count"),
            posts=f.count(data, "video_count"),
        ),
    )

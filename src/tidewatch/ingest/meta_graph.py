"""Meta Graph API responses: Facebook posts and comments, Instagram media, Graph error bodies.

Shapes read (one response per unit, as a JSON document or one per JSON line):

* an edge page ``{"data": [...], "paging": {...}}``: a page feed, a post's comments, an
  Instagram user's media or a media object's comments;
* a single object (a post with its reactions, an Instagram media object);
* the multi-id response of ``?ids=a,b``: an object keyed by object id;
* an error body ``{"error": {"message", "type", "code", "fbtrace_id"}}``: it carries no data,
  so reading it is a :class:`RecordError` that quotes the error's code, type and message.

Choices a reviewer should know about:

* Comments are :attr:`PostKind.COMMENT` with ``parent_id`` = the post; replies to a comment
  are :attr:`PostKind.REPLY` with ``parent_id`` = that comment. The parent comes from, in
  order: the comment's ``parent``, a ``reply_comment_id`` in its permalink, the object the
  comment is nested under, its ``object``, the ``page_post`` prefix of a three-part comment
  id, the post named in its permalink, and last the object in the page's paging URL.
* A comment fetched without its ``id`` (the comments fixture asked only for
  ``permalink_url``) gets the id the Graph API itself uses, ``{post fbid}_{comment fbid}``,
  built from the numeric permalink; without either the comment is an error.
* A post's ``id`` is ``{wall}_{post}``: the prefix is the page or profile the post is *on*,
  not necessarily its author, so the author comes only from ``from``.
* ``updated_time`` is *not* an edit time (it moves whenever someone comments), so it is not
  mapped to ``edited_at``.
* Outbound links in attachments are unwrapped from ``l.facebook.com/l.php?u=`` shims: the
  destination is what links accounts, the shim is the same for everyone.
* Likes are the ``like`` reaction (or ``likes``/``like_count``); all reactions are kept in
  ``Metrics.extra`` as ``reactions`` (total) and ``reaction:<name>`` (the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Media, Metrics, Platform, Post, PostKind
from tidewatch.timeparse import maybe_time

# Keys that only Graph API Facebook objects carry (X uses created_at, MCL creation_time).
_FB_MARKERS = frozenset({"created_time", "permalink_url", "full_picture", "status_type", "story"})
_IG_MEDIA_TYPES = frozenset({"IMAGE", "VIDEO", "CAROUSEL_ALBUM"})
_IG_MARKERS = frozenset(
    {"timestamp", "media_type", "media_url", "caption", "permalink", "username"}
)
_FB_COMMENT_MARKERS = frozenset(
    {"comment_count", "like_count", "parent", "object", "can_reply_privately", "attachment"}
)
# Reactions Graph returns as aliased edges (reactions.type(LOVE).summary(1).as(love)).
_REACTIONS = ("love", "wow", "haha", "sad", "angry", "care", "thankful", "pride")
_MAX_NESTING = 3  # post > comment > reply is all Graph nests; deeper is hostile input

Accounts = dict[str, Account]


@dataclass(frozen=True)
class _Around:
    """What the surrounding payload says about an object: the post or comment listing it."""

    platform: Platform | None = None
    container_id: str = ""  # the object whose comments edge was expanded inline
    container_is_comment: bool = False
    paging_object: str = ""  # the object named in a comments page's paging URL (a weaker hint)
    paging_edge: str = ""  # "comments" or "replies"
    depth: int = 0

    @property
    def lists_comments(self) -> bool:
        return bool(self.container_id or self.paging_edge)


@register
class MetaGraphReader(Reader):
    name = "meta_graph"
    description = (
        "Meta Graph API: Facebook page feeds, posts, comments, Instagram media, error bodies"
    )
    framings = frozenset({Framing.JSON, Framing.JSONL})
    priority = 40  # before generic; the sniff needs Graph-only keys, so it cannot steal X or MCL

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if not isinstance(value, dict):
            return False
        return (
            _is_error_body(value)
            or _is_edge_page(value)
            or _is_object(value)
            or _is_multi_id(value)
        )

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        response = f.as_dict(unit.value, "response")
        if "error" in response:
            raise _error_of(response["error"])
        posts: list[Post] = []
        accounts: Accounts = {}
        if "data" in response:
            _read_page(response, posts, accounts)
        elif _is_multi_id(response):
            for key, item in response.items():
                with f.inside(key):
                    _read_object(f.as_dict(item, "value"), _Around(), posts, accounts)
        else:
            _read_object(response, _Around(), posts, accounts)
        return Bundle(
            source=self.source(unit, context), accounts=list(accounts.values()), posts=posts
        )


# --- sniffing ---------------------------------------------------------------------------


def _is_error_body(value: dict[str, Any]) -> bool:
    error = value.get("error")
    # Google errors have an ``errors`` list, TikTok's a text code and a log_id.
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and ("fbtrace_id" in error or "type" in error)
        and "errors" not in error
    )


def _is_edge_page(value: dict[str, Any]) -> bool:
    data = value.get("data")
    if not isinstance(data, list):
        return False
    if not data:
        return isinstance(value.get("paging"), dict)
    first = data[0]
    # A bare {"id", "message"} counts only inside a Graph page: CrowdTangle posts have both.
    return isinstance(first, dict) and (
        _looks_facebook(first) or _looks_instagram(first) or {"id", "message"} <= first.keys()
    )


def _is_object(value: dict[str, Any]) -> bool:
    return "id" in value and (_looks_facebook(value) or _is_instagram_media_type(value))


def _is_multi_id(value: dict[str, Any]) -> bool:
    """``?ids=a,b`` answers ``{"a": {"id": "a", ...}, "b": {...}}``."""
    if not value or "data" in value or "error" in value:
        return False
    return all(
        isinstance(item, dict) and item.get("id") == key for key, item in value.items()
    ) and any(_is_object(item) for item in value.values())


def _looks_facebook(item: dict[str, Any]) -> bool:
    return any(key in item for key in _FB_MARKERS)


def _looks_instagram(item: dict[str, Any]) -> bool:
    if "created_time" in item:
        return False
    if _is_instagram_media_type(item):
        return True
    return "timestamp" in item and any(key in item for key in ("text", "caption", "permalink"))


def _is_instagram_media_type(item: dict[str, Any]) -> bool:
    media_type = item.get("media_type")  # may be any JSON value: only text can be looked up
    return isinstance(media_type, str) and media_type in _IG_MEDIA_TYPES


# --- errors -----------------------------------------------------------------------------


def _error_of(value: Any) -> RecordError:
    error = f.as_dict(value, "error")
    code = f.text(error, "code") or "?"
    subcode = f.text(error, "error_subcode")
    kind = f.text(error, "type") or "unknown type"
    message = f.text(error, "message") or "no message"
    code_text = f"{code}/{subcode}" if subcode else code
    return RecordError(f"Graph API error {code_text} ({kind}): {message}")


# --- traversal --------------------------------------------------------------------------


def _read_page(page: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    paging_object, edge = _paging_edge(page)
    around = _Around(paging_object=paging_object, paging_edge=edge)
    for position, item in enumerate(f.dicts(page["data"], "data")):
        with f.inside(f"data[{position}]"):
            _read_object(item, around, posts, accounts)


def _paging_edge(page: dict[str, Any]) -> tuple[str, str]:
    """A comments page names the object it lists in its paging URLs (``/v11.0/{id}/comments``)."""
    for key in ("next", "previous"):
        url = f.get(page, f"paging.{key}")
        try:
            path = urlsplit(url).path if isinstance(url, str) else ""
        except ValueError:  # a mangled URL is only a missing hint, not a bad record
            continue
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[-1] in ("comments", "replies"):
            return segments[-2], segments[-1]
    return "", ""


def _read_object(
    item: dict[str, Any], around: _Around, posts: list[Post], accounts: Accounts
) -> None:
    if around.depth > _MAX_NESTING:
        raise RecordError("comments: nested deeper than posts, comments and replies")
    instagram = around.platform is Platform.INSTAGRAM or (
        around.platform is None and _looks_instagram(item)
    )
    if instagram:
        is_comment = "text" in item or (around.lists_comments and "media_type" not in item)
        reader = _instagram_comment if is_comment else _instagram_media
    else:
        reader = _facebook_comment if _is_facebook_comment(item, around) else _facebook_post
    post = reader(item, around, accounts)
    posts.append(post)
    _read_nested_comments(item, post, around, posts, accounts)


def _is_facebook_comment(item: dict[str, Any], around: _Around) -> bool:
    if around.lists_comments or any(key in item for key in _FB_COMMENT_MARKERS):
        return True
    if "comment_id=" in f.text(item, "permalink_url"):
        return True
    return f.text(item, "id").count("_") == 2  # page_post_comment


def _read_nested_comments(
    item: dict[str, Any], post: Post, around: _Around, posts: list[Post], accounts: Accounts
) -> None:
    """Comments expanded inline (``fields=comments{...}``; Instagram replies under ``replies``)."""
    for edge in ("comments", "replies"):
        nested = item.get(edge)
        if not isinstance(nested, dict):
            continue  # a comment's ``comments`` may be a bare count
        inner = _Around(
            platform=post.platform,
            container_id=post.native_id,
            container_is_comment=post.kind is not PostKind.POST,
            depth=around.depth + 1,
        )
        for position, child in enumerate(f.dicts(nested.get("data"), f"{edge}.data")):
            with f.inside(f"{edge}.data[{position}]"):
                _read_object(child, inner, posts, accounts)


def _add_account(accounts: Accounts, account: Account | None) -> str:
    if account is None:
        return ""
    accounts.setdefault(account.native_id, account)
    return account.native_id


# --- Facebook ---------------------------------------------------------------------------


def _facebook_post(item: dict[str, Any], around: _Around, accounts: Accounts) -> Post:
    post_id = f.req_id(item, "id")
    media, links = _attachments(item)
    shared_id = f.opt_id(item, "parent_id")  # a share of another post
    return Post(
        platform=Platform.FACEBOOK,
        native_id=post_id,
        kind=PostKind.REPOST if shared_id else PostKind.POST,
        quoted_id=shared_id,
        account_id=_add_account(accounts, _from_account(item)),
        text=f.text(item, "message"),
        created_at=maybe_time(item.get("created_time"), field="created_time"),
        url=f.text(item, "permalink_url"),
        links=_unique([*links, *_outbound([f.text(item, "link")])]),
        mentions=_tag_ids(item),
        media=tuple(media),
        metrics=_facebook_metrics(item),
    )


def _facebook_comment(item: dict[str, Any], around: _Around, accounts: Accounts) -> Post:
    permalink = _Permalink.parse(f.text(item, "permalink_url"))
    comment_id = f.opt_id(item, "id") or permalink.own_id()
    if not comment_id:
        raise RecordError(
            "id: required field is missing (and permalink_url does not name the comment)"
        )
    kind, parent_id = _comment_parent(item, comment_id, permalink, around)
    media, links = _attachments(item)
    return Post(
        platform=Platform.FACEBOOK,
        native_id=comment_id,
        kind=kind,
        parent_id=parent_id,
        account_id=_add_account(accounts, _from_account(item)),
        text=f.text(item, "message"),
        created_at=maybe_time(item.get("created_time"), field="created_time"),
        url=permalink.url,
        links=links,
        mentions=_tag_ids(item),
        media=tuple(media),
        metrics=_facebook_metrics(item),
    )


def _comment_parent(
    item: dict[str, Any], comment_id: str, permalink: _Permalink, around: _Around
) -> tuple[PostKind, str]:
    """(kind, parent id), from the most to the least direct evidence (see the module doc)."""
    explicit_parent = f.opt_id(item, "parent.id")
    if explicit_parent:
        return PostKind.REPLY, explicit_parent
    if permalink.reply_id:
        return PostKind.REPLY, permalink.comment_key(permalink.comment_id)
    if around.container_id:
        kind = PostKind.REPLY if around.container_is_comment else PostKind.COMMENT
        return kind, around.container_id
    parts = comment_id.split("_")
    post_id = (
        f.opt_id(item, "object.id")
        or ("_".join(parts[:2]) if len(parts) == 3 else "")
        or permalink.post_id()
    )
    if post_id:
        return PostKind.COMMENT, post_id
    if around.paging_edge == "replies":
        return PostKind.REPLY, around.paging_object
    return PostKind.COMMENT, around.paging_object


@dataclass(frozen=True)
class _Permalink:
    """The ids a comment permalink spells out: ``/{page}/posts/{post}/?comment_id=..``."""

    url: str = ""
    page_id: str = ""
    post_fbid: str = ""
    comment_id: str = ""
    reply_id: str = ""

    @classmethod
    def parse(cls, url: str) -> _Permalink:
        if not url:
            return cls()
        try:
            parts = urlsplit(url)
        except ValueError:
            return cls(url=url)
        query = parse_qs(parts.query)
        segments = [s for s in parts.path.split("/") if s]
        page, post = "", ""
        if len(segments) >= 3 and segments[1] == "posts":
            page, post = segments[0], segments[2]
        elif segments[-1:] == ["permalink.php"]:
            page, post = query.get("id", [""])[0], query.get("story_fbid", [""])[0]
        # Only numeric ids can be recombined; pfbid.. and vanity names are not Graph ids.
        if not (page.isdigit() and post.isdigit()):
            page, post = "", ""
        comment = query.get("comment_id", [""])[0]
        reply = query.get("reply_comment_id", [""])[0]
        return cls(
            url=url,
            page_id=page,
            post_fbid=post,
            comment_id=comment if comment.isdigit() else "",
            reply_id=reply if reply.isdigit() else "",
        )

    def post_id(self) -> str:
        return f"{self.page_id}_{self.post_fbid}" if self.post_fbid else ""

    def comment_key(self, fbid: str) -> str:
        """The Graph API's id for a comment on this post: ``{post fbid}_{comment fbid}``."""
        return f"{self.post_fbid}_{fbid}" if self.post_fbid and fbid else ""

    def own_id(self) -> str:
        return self.comment_key(self.reply_id or self.comment_id)


def _from_account(item: dict[str, Any]) -> Account | None:
    author = item.get("from")
    if author is None:
        return None
    author = f.as_dict(author, "from")
    return Account(
        platform=Platform.FACEBOOK,
        native_id=f.req_id(author, "id", "from"),
        display_name=f.text(author, "name"),
    )


def _tag_ids(item: dict[str, Any]) -> tuple[str, ...]:
    """Pages and people tagged in the message, by id (Graph gives no handle)."""
    tags = f.dicts(item.get("message_tags"), "message_tags")
    return _unique(
        f.as_id(tag.get("id"), f"message_tags[{n}].id") for n, tag in enumerate(tags) if "id" in tag
    )


def _facebook_metrics(item: dict[str, Any]) -> Metrics:
    extra: dict[str, int] = {}
    total = f.count(item, "reactions.summary.total_count")
    if total is not None:
        extra["reactions"] = total
    for name in _REACTIONS:
        value = f.count(item, f"{name}.summary.total_count")
        if value is not None:
            extra[f"reaction:{name}"] = value
    return Metrics(
        likes=_likes(item),
        shares=f.count(item, "shares.count"),
        comments=_first_count(
            item, "comment_count", "comments.summary.total_count", "comments.count"
        ),
        extra=extra,
    )


def _likes(item: dict[str, Any]) -> int | None:
    likes = item.get("likes")
    if isinstance(likes, dict):  # a post's likes edge; a comment's ``likes`` is a bare number
        return f.count(item, "likes.summary.total_count")
    if likes is not None:
        return f.as_count(likes, "likes")
    return _first_count(item, "like_count", "like.summary.total_count")


def _first_count(item: dict[str, Any], *paths: str) -> int | None:
    for path in paths:
        value = f.count(item, path)
        if value is not None:
            return value
    return None


# --- attachments ------------------------------------------------------------------------


def _attachments(item: dict[str, Any]) -> tuple[list[Media], tuple[str, ...]]:
    """Posts list ``attachments.data``; comments have a single ``attachment``."""
    entries = f.dicts(f.get(item, "attachments.data"), "attachments.data")
    if "attachment" in item:
        entries = [*entries, f.as_dict(item["attachment"], "attachment")]
    media: list[Media] = []
    links: list[str] = []
    for position, entry in enumerate(entries):
        with f.inside(f"attachments.data[{position}]"):
            # An album's own entry only repeats its cover; its photos are the subattachments.
            parts = f.dicts(f.get(entry, "subattachments.data"), "subattachments.data") or [entry]
            for part in parts:
                medium = _attachment_media(part)
                media.append(medium)
                if medium.kind == "link_preview" and medium.url:
                    links.append(medium.url)
    return media, _unique(links)


def _attachment_media(part: dict[str, Any]) -> Media:
    kind = _attachment_kind(f.text(part, "type"), f.text(part, "media_type"))
    image = f.as_dict(f.get(part, "media.image") or {}, "media.image")
    image_url = f.text(image, "src")
    width, height = f.count(image, "width"), f.count(image, "height")
    target_id = f.opt_id(part, "target.id")
    if kind == "link_preview":
        destination = f.unwrap_link(f.text(part, "url") or f.text(part, "target.url"))
        destination = destination or f.text(part, "unshimmed_url")
        words = "\n".join(w for w in (f.text(part, "title"), f.text(part, "description")) if w)
        return Media(
            kind=kind,
            url=destination,
            preview_url=image_url,
            alt_text=words,
            width=width,
            height=height,
        )
    if kind == "video":
        video_url = f.text(part, "media.source") or f.text(part, "url")
        return Media(
            kind=kind,
            native_id=target_id,
            url=video_url,
            preview_url=image_url,
            width=width,
            height=height,
        )
    return Media(
        kind=kind,
        native_id=target_id,
        url=image_url or f.text(part, "url"),
        width=width,
        height=height,
    )


def _attachment_kind(kind: str, media_type: str) -> str:
    """Graph attachment ``type`` (photo, video_inline, share, animated_image_share...) to Media.kind."""
    if kind.startswith("animated_image"):
        return "animated_gif"
    if kind.startswith("video") or media_type == "video":
        return "video"
    if kind in ("share", "link") or media_type == "link":
        return "link_preview"
    if kind in ("photo", "cover_photo", "profile_media", "sticker") or media_type in (
        "photo",
        "album",
    ):
        return "photo"
    return "document"


def _outbound(urls: list[str]) -> list[str]:
    """Unwrapped destinations; links back into Facebook (a photo page) are not outbound."""
    found = []
    for url in filter(None, urls):
        destination = f.unwrap_link(url)
        try:
            host = (urlsplit(destination).hostname or "").lower()
        except ValueError:
            host = ""
        if not (host == "facebook.com" or host.endswith(".facebook.com")):
            found.append(destination)
    return found


def _unique(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


# --- Instagram --------------------------------------------------------------------------


def _instagram_media(item: dict[str, Any], around: _Around, accounts: Accounts) -> Post:
    media_id = f.req_id(item, "id")
    children = f.dicts(f.get(item, "children.data"), "children.data")
    media = [_instagram_medium(child, f"children.data[{n}]") for n, child in enumerate(children)]
    if not media and (item.get("media_url") or item.get("media_type")):
        media = [_instagram_medium(item, "media")]
    return Post(
        platform=Platform.INSTAGRAM,
        native_id=media_id,
        account_id=_add_account(accounts, _instagram_account(item, "owner.id")),
        text=f.text(item, "caption"),
        created_at=maybe_time(item.get("timestamp"), field="timestamp"),
        url=f.text(item, "permalink"),
        media=tuple(media),
        metrics=Metrics(
            likes=f.count(item, "like_count"), comments=f.count(item, "comments_count")
        ),
    )


def _instagram_medium(item: dict[str, Any], label: str) -> Media:
    with f.inside(label):
        media_type = f.text(item, "media_type")
        return Media(
            kind="video" if media_type == "VIDEO" else "photo",
            native_id=f.opt_id(item, "id"),
            url=f.text(item, "media_url"),
            preview_url=f.text(item, "thumbnail_url"),
        )


def _instagram_comment(item: dict[str, Any], around: _Around, accounts: Accounts) -> Post:
    comment_id = f.req_id(item, "id")
    explicit_parent = f.opt_id(item, "parent_id")
    if explicit_parent or around.container_is_comment or around.paging_edge == "replies":
        kind = PostKind.REPLY
        parent_id = explicit_parent or around.container_id or around.paging_object
    else:
        kind = PostKind.COMMENT
        parent_id = around.container_id or f.opt_id(item, "media.id") or around.paging_object
    return Post(
        platform=Platform.INSTAGRAM,
        native_id=comment_id,
        kind=kind,
        parent_id=parent_id,
        account_id=_add_account(accounts, _instagram_account(item, "from.id")),
        text=f.text(item, "text"),
        created_at=maybe_time(item.get("timestamp"), field="timestamp"),
        metrics=Metrics(likes=f.count(item, "like_count")),
    )


def _instagram_account(item: dict[str, Any], id_path: str) -> Account | None:
    """Instagram names the author by ``owner``/``from`` id; ``username`` alone is no stable key."""
    account_id = f.opt_id(item, id_path)
    if not account_id:
        return None
    prefix = id_path.split(".")[0]
    handle = f.text(item, "username") or f.text(item, f"{prefix}.username")
    return Account(
        platform=Platform.INSTAGRAM,
        native_id=account_id,
        handle=handle,
        url=f"https://www.instagram.com/{handle}/" if handle else "",
    )

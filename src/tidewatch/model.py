"""The domain types every stage shares.

Rules that hold for every type here, because the real payloads in ``shared/formats`` break
each of them somewhere:

* Every platform id is a ``str``. Twitter's JavaScript clients mangle ids above 2**53,
  TikTok sends 64-bit ids as JSON numbers, YouTube ids are not numbers at all.
* Every time is a :class:`Stamp`: a timezone-aware UTC ``datetime`` *and* the raw value the
  platform sent, so nobody has to trust our parsing to check a date quoted in court.
* Counts are ``int`` (platforms send some of them as strings; readers convert).
* A :class:`SourceRecord` keeps the raw payload byte for byte; everything else is derived.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)


class Platform(StrEnum):
    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    TELEGRAM = "telegram"
    OTHER = "other"

    @classmethod
    def parse(cls, value: str | None) -> Platform:
        """Map the many spellings platforms and tools use ("Twitter", "FB", "ig") to one name."""
        if not value:
            return cls.OTHER
        key = value.strip().lower()
        return _PLATFORM_ALIASES.get(key, cls.OTHER)


_PLATFORM_ALIASES: dict[str, Platform] = {
    "x": Platform.X,
    "twitter": Platform.X,
    "tw": Platform.X,
    "facebook": Platform.FACEBOOK,
    "fb": Platform.FACEBOOK,
    "meta": Platform.FACEBOOK,
    "instagram": Platform.INSTAGRAM,
    "ig": Platform.INSTAGRAM,
    "tiktok": Platform.TIKTOK,
    "youtube": Platform.YOUTUBE,
    "yt": Platform.YOUTUBE,
    "telegram": Platform.TELEGRAM,
    "tg": Platform.TELEGRAM,
}


class Recipient(StrEnum):
    """Who receives referrals: a company, which may run several platforms (Meta: Facebook and
    Instagram). Partner keys, liaisons and referrals are scoped to one recipient."""

    META = "meta"
    X = "x"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    TELEGRAM = "telegram"

    @classmethod
    def of(cls, platform: Platform | str) -> Recipient:
        platform = Platform(platform)
        if platform in (Platform.FACEBOOK, Platform.INSTAGRAM):
            return cls.META
        if platform is Platform.OTHER:
            raise ValueError("posts from an unknown platform have no recipient to refer them to")
        return cls(platform.value)


class PostKind(StrEnum):
    POST = "post"
    COMMENT = "comment"
    REPLY = "reply"
    FORWARD = "forward"
    QUOTE = "quote"
    REPOST = "repost"


class Availability(StrEnum):
    """What a source said about whether an item could be seen when it was retrieved."""

    AVAILABLE = "available"
    NOT_FOUND = "not_found"
    SUSPENDED = "suspended"
    WITHHELD = "withheld"
    PRIVATE = "private"
    DELETED = "deleted"
    UNKNOWN = "unknown"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stamp(_Frozen):
    """A moment as UTC plus the exact value the source gave for it."""

    utc: datetime
    raw: str

    @field_validator("utc")
    @classmethod
    def _must_be_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time must be timezone-aware")
        return value.astimezone(UTC)

    def __str__(self) -> str:
        return self.utc.isoformat()


class ApiError(_Frozen):
    """A partial error that a platform returned next to the data (suspended user, withheld post...)."""

    kind: Availability = Availability.UNKNOWN
    resource_type: str = ""
    resource_id: str = ""
    title: str = ""
    detail: str = ""


class SourceRecord(_Frozen):
    """One unit exactly as it was retrieved: an API page, a response, an export file, a CSV row."""

    raw: bytes
    format: str
    collector: str = ""
    retrieved_at: Stamp | None = None
    origin: str = ""
    errors: tuple[ApiError, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


class Media(_Frozen):
    kind: str  # photo | video | animated_gif | audio | document | link_preview
    native_id: str = ""
    url: str = ""
    preview_url: str = ""
    duration_ms: int | None = None
    width: int | None = None
    height: int | None = None
    local_path: str = ""  # inside an export (Telegram), relative to the export folder
    alt_text: str = ""
    transcript: str = ""  # platform speech-to-text (TikTok voice_to_text, captions)
    #: Text read inside the image by OCR. No reader sets it: the media stage fills it from
    #: the stored media signals, so overlay text goes through the text detector.
    image_text: str = ""

    @property
    def key(self) -> str:
        """Identity of the media item within its post."""
        return self.native_id or self.url or self.local_path or self.preview_url


class Metrics(_Frozen):
    """Public counts as the platform reported them at retrieval time. None = not reported."""

    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    quotes: int | None = None
    views: int | None = None
    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    extra: dict[str, int] = Field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.extra and all(
            getattr(self, name) is None
            for name in (
                "likes",
                "shares",
                "comments",
                "quotes",
                "views",
                "followers",
                "following",
                "posts",
            )
        )


class Account(_Frozen):
    """An account, page, channel or profile as one source showed it."""

    platform: Platform
    native_id: str
    handle: str = ""
    display_name: str = ""
    bio: str = ""
    url: str = ""
    links: tuple[str, ...] = ()
    created_at: Stamp | None = None
    verified: bool | None = None
    location: str = ""
    metrics: Metrics = Field(default_factory=Metrics)
    availability: Availability = Availability.AVAILABLE

    @field_validator("native_id")
    @classmethod
    def _id_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("account native_id is empty")
        return value


class Post(_Frozen):
    """A post, comment, reply, forward or quote as one source showed it.

    ``native_id`` is the platform's stable id for the post. Where a platform gives each edit
    its own id (X), ``native_id`` is the first id of the edit history and ``version_id`` the
    id of the version shown here.
    """

    platform: Platform
    native_id: str
    kind: PostKind = PostKind.POST
    account_id: str = ""
    text: str = ""
    title: str = ""
    lang: str = ""  # as the platform labelled it, if it did
    created_at: Stamp | None = None
    edited_at: Stamp | None = None
    version_id: str = ""
    parent_id: str = ""  # the post this one comments on or replies to
    quoted_id: str = ""  # quoted, forwarded or reposted post
    forwarded_from: str = ""  # display name of the origin when no id is given (Telegram)
    conversation_id: str = ""
    url: str = ""
    links: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    metrics: Metrics = Field(default_factory=Metrics)
    availability: Availability = Availability.AVAILABLE

    @field_validator("native_id")
    @classmethod
    def _id_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("post native_id is empty")
        return value

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform.value, self.native_id)

    @property
    def detectable_text(self) -> str:
        """Everything a reader of the post sees as words: title, text, transcripts, alt text,
        and text written inside its images. Image text comes last, so a post without any has
        the text (and text_sha256) it always had."""
        return "\n".join(self._text_parts())

    def image_text_spans(self) -> list[tuple[int, int]]:
        """(start, end) of each image's text within :attr:`detectable_text`."""
        parts = self._text_parts()
        first_image = len(parts) - sum(1 for m in self.media if m.image_text)
        spans: list[tuple[int, int]] = []
        start = 0
        for number, part in enumerate(parts):
            if number >= first_image:
                spans.append((start, start + len(part)))
            start += len(part) + 1  # the newline that joins the parts
        return spans

    def _text_parts(self) -> list[str]:
        parts = [self.title, self.text]
        parts.extend(m.transcript for m in self.media)
        parts.extend(m.alt_text for m in self.media)
        parts.extend(m.image_text for m in self.media)
        return [p for p in parts if p]


class Bundle(BaseModel):
    """What a reader makes of one source record."""

    model_config = ConfigDict(extra="forbid")

    source: SourceRecord
    accounts: list[Account] = Field(default_factory=list)
    posts: list[Post] = Field(default_factory=list)


# --- Stored views: what the store gives back, with its own ids and dated observations. ---


class PostVersion(_Frozen):
    post_key: tuple[str, str]
    version_no: int
    version_id: str
    text: str
    text_sha256: str
    edited_at: datetime | None
    first_seen_at: datetime


class PostObservation(_Frozen):
    """One sighting of a post: never overwritten, so availability and counts have a history."""

    post_key: tuple[str, str]
    observed_at: datetime
    source_sha256: str
    availability: Availability
    metrics: Metrics


class AccountObservation(_Frozen):
    account_key: tuple[str, str]
    observed_at: datetime
    source_sha256: str
    handle: str
    display_name: str
    bio: str
    availability: Availability
    metrics: Metrics


#: Signals whose evidence names a contact selector or a place. A stored detection keeps these
#: reasons a second time, apart from the rest (``detections.entity_reasons``): the programme's
#: figures read only them, for every referred post of a five-year history.
ENTITY_SIGNALS = frozenset(
    {
        "phone_number",
        "messenger_link",
        "url",
        "handle",
        "email",
        "place_departure",
        "place_transit",
        "place_destination",
    }
)


#: ``Reason.source`` of words read in one of the post's pictures (OCR), not in its own text.
IMAGE_TEXT = "image_text"


class Reason(_Frozen):
    """One thing that moved a detection's score: which signal, the exact words (with their
    position in the original text, so an analyst can check and quote them) and its weight
    (contribution to the log-odds; negative weights pulled the score down)."""

    signal: str
    evidence: str
    start: int
    end: int
    weight: float
    #: Where the words were read: "" in the post's own text, "image_text" inside one of its
    #: images (OCR), which an analyst should check against the picture.
    source: str = ""

    @model_serializer(mode="wrap")
    def _without_empty_source(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Most reasons come from the post's own text: leaving the empty field out keeps the
        # stored reasons of every other detection as they were (and as small).
        data: dict[str, Any] = handler(self)
        if not data.get("source"):
            data.pop("source", None)
        return data


class Detection(_Frozen):
    """The detector's verdict on one post."""

    post_id: str = ""
    platform: str = ""
    account: str = ""
    score: float
    label: str  # "advert" | "not_advert"
    lang: str
    categories: list[str] = Field(default_factory=list)
    reasons: list[Reason] = Field(default_factory=list)
    model_version: str = ""
    #: 1: the linear first stage decided; 2: the embedding stage was consulted too.
    stages: int = 1


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Telegram Desktop JSON export (``result.json``): one chat, or the whole account's chats.

A single-chat export is ``{"name", "type", "id", "messages": [...]}``; the full-account export
keeps chats under ``chats.list`` (and ``left_chats.list``). The whole file is one unit.

* **Ids.** Telegram numbers messages per chat, so a message's ``native_id`` is
  ``"<chat id>/<message id>"`` (the same pair ``t.me/c/<chat>/<message>`` links use) and a
  reply's ``parent_id`` is built the same way. Accounts use the export's ``from_id`` as is
  (``"user123"``, ``"channel123"``): users and channels are numbered separately, so the
  prefix is part of the identity. A channel's own posts belong to the channel's account.
* **Times.** ``date`` is the *local* time of the machine that made the export, with no zone:
  it is never used. The moment is ``date_unixtime`` (the Stamp's raw value is that string);
  exports too old to have it give no ``created_at`` rather than a guessed one. Edits likewise
  use ``edited_unixtime``.
* **Text.** ``text`` is a string or a list of strings and entity objects ``{type, text, href}``;
  it is flattened to the plain text a reader sees. ``link`` entities and ``text_link`` hrefs
  become links (a scheme-less ``t.me/x`` gets ``https://``), ``hashtag`` and ``mention`` entities
  hashtags and mentions.
* **Kinds.** ``forwarded_from`` -> :attr:`PostKind.FORWARD` (``forwarded_from`` = the origin's
  name: the export gives no id); ``reply_to_message_id`` -> :attr:`PostKind.REPLY`.
  Service messages (joins, pins, title changes) are not posts and are skipped.
* **Media.** ``photo`` and ``file`` are paths inside the export folder (``local_path``); a file
  the export left out ("File not included...") is a media item with no path.
* **Reactions** go to ``Metrics.extra``: ``reactions`` (total) and ``reaction:<emoji>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Media, Metrics, Platform, Post, PostKind
from tidewatch.timeparse import maybe_time

_CHANNEL_TYPES = frozenset({"public_channel", "private_channel"})
# Chats whose messages t.me/c/<chat>/<message> links open (channels and supergroups).
_LINKABLE_TYPES = _CHANNEL_TYPES | {"public_supergroup", "private_supergroup"}
_FILE_KINDS = {
    "video_file": "video",
    "video_message": "video",
    "animation": "animated_gif",
    "voice_message": "audio",
    "audio_file": "audio",
    "sticker": "photo",
}

Accounts = dict[str, Account]


@dataclass(frozen=True)
class _Chat:
    chat_id: str
    chat_type: str
    account_id: str  # the channel's own account, for channels


@dataclass
class _Words:
    """A message's text flattened, with what its entities mark."""

    text: str = ""
    links: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)


@register
class TelegramExportReader(Reader):
    name = "telegram"
    description = "Telegram Desktop JSON export (result.json): one chat or the full account"
    framings = frozenset({Framing.JSON, Framing.JSONL})  # a minified result.json is one line
    priority = 30

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if not isinstance(value, dict):
            return False
        single_chat = (
            isinstance(value.get("messages"), list)
            and isinstance(value.get("type"), str)
            and "id" in value
        )
        return single_chat or isinstance(f.get(value, "chats.list"), list)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        export = f.as_dict(unit.value, "export")
        posts: list[Post] = []
        accounts: Accounts = {}
        for label, chat in _chats(export):
            with f.inside(label):
                _read_chat(chat, posts, accounts)
        return Bundle(
            source=self.source(unit, context), accounts=list(accounts.values()), posts=posts
        )


def _chats(export: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if "messages" in export:
        return [("chat", export)]
    chats: list[tuple[str, dict[str, Any]]] = []
    for section in ("chats", "left_chats"):
        listed = f.dicts(f.get(export, f"{section}.list"), f"{section}.list")
        chats.extend((f"{section}.list[{n}]", chat) for n, chat in enumerate(listed))
    return chats


def _read_chat(chat: dict[str, Any], posts: list[Post], accounts: Accounts) -> None:
    chat_id = f.req_id(chat, "id")
    chat_type = f.text(chat, "type")
    channel_account = ""
    if chat_type in _CHANNEL_TYPES:
        channel_account = f"channel{chat_id}"
        accounts.setdefault(channel_account, _account(channel_account, f.text(chat, "name")))
    where = _Chat(chat_id=chat_id, chat_type=chat_type, account_id=channel_account)
    for position, message in enumerate(f.dicts(chat.get("messages"), "messages")):
        with f.inside(f"messages[{position}]"):
            if f.text(message, "type") != "message":
                continue  # service messages (joins, pins, renames) are not posts
            posts.append(_message(message, where, accounts))


def _account(account_id: str, name: str) -> Account:
    return Account(platform=Platform.TELEGRAM, native_id=account_id, display_name=name)


def _message(message: dict[str, Any], chat: _Chat, accounts: Accounts) -> Post:
    message_id = f.req_id(message, "id")
    author = f.opt_id(message, "from_id") or chat.account_id
    if author:
        accounts.setdefault(author, _account(author, f.text(message, "from")))
    reply_to = f.opt_id(message, "reply_to_message_id")
    forwarded = "forwarded_from" in message
    words = _flatten(message)
    linkable = chat.chat_type in _LINKABLE_TYPES
    return Post(
        platform=Platform.TELEGRAM,
        native_id=f"{chat.chat_id}/{message_id}",
        kind=PostKind.FORWARD if forwarded else PostKind.REPLY if reply_to else PostKind.POST,
        account_id=author,
        text=words.text,
        created_at=maybe_time(message.get("date_unixtime"), field="date_unixtime"),
        edited_at=maybe_time(message.get("edited_unixtime"), field="edited_unixtime"),
        parent_id=f"{chat.chat_id}/{reply_to}" if reply_to else "",
        forwarded_from=f.text(message, "forwarded_from"),
        url=f"https://t.me/c/{chat.chat_id}/{message_id}" if linkable else "",
        links=tuple(dict.fromkeys(words.links)),
        hashtags=tuple(dict.fromkeys(words.hashtags)),
        mentions=tuple(dict.fromkeys(words.mentions)),
        media=_media(message),
        metrics=_reactions(message),
    )


# --- text -------------------------------------------------------------------------------


def _flatten(message: dict[str, Any]) -> _Words:
    words = _Words()
    pieces = []
    for position, entity in enumerate(_entities(message)):
        label = f"text[{position}]"
        piece = f.as_text(entity.get("text"), f"{label}.text")
        pieces.append(piece)
        kind = f.as_text(entity.get("type"), f"{label}.type")
        if kind == "link":
            words.links.append(_with_scheme(piece.strip()))
        elif kind == "text_link":
            words.links.append(_with_scheme(f.as_text(entity.get("href"), f"{label}.href").strip()))
        elif kind == "hashtag":
            words.hashtags.append(piece.strip().lstrip("#"))
        elif kind == "mention":
            words.mentions.append(piece.strip().lstrip("@"))
    words.text = "".join(pieces)
    words.links = [link for link in words.links if link]
    return words


def _entities(message: dict[str, Any]) -> list[dict[str, Any]]:
    """``text`` as entity objects: a plain string is one plain entity. Old exports have only
    ``text``; new ones repeat it as ``text_entities``, used when ``text`` is missing."""
    raw = message["text"] if "text" in message else message.get("text_entities")
    if raw is None or isinstance(raw, str):
        return [{"type": "plain", "text": raw or ""}]
    pieces = f.as_list(raw, "text")
    return [
        {"type": "plain", "text": piece}
        if isinstance(piece, str)
        else f.as_dict(piece, f"text[{n}]")
        for n, piece in enumerate(pieces)
    ]


def _with_scheme(url: str) -> str:
    """Telegram marks ``t.me/x`` and ``wa.me/49...`` as links without a scheme; one spelling
    per destination lets the same link match across posts and platforms."""
    if not url or "://" in url or url.lower().startswith(("mailto:", "tg:", "tel:")):
        return url
    return f"https://{url}"


# --- media and reactions ----------------------------------------------------------------


def _media(message: dict[str, Any]) -> tuple[Media, ...]:
    width, height = f.count(message, "width"), f.count(message, "height")
    if "photo" in message:
        path = _exported_path(message, "photo")
        return (Media(kind="photo", local_path=path, width=width, height=height),)
    if "file" in message or "media_type" in message:
        seconds = f.count(message, "duration_seconds")
        return (
            Media(
                kind=_FILE_KINDS.get(f.text(message, "media_type"), "document"),
                local_path=_exported_path(message, "file"),
                duration_ms=seconds * 1000 if seconds is not None else None,
                width=width,
                height=height,
            ),
        )
    return ()


def _exported_path(message: dict[str, Any], key: str) -> str:
    """The path inside the export folder; "(File not included. ...)" means it was left out."""
    path = f.text(message, key).strip()
    return "" if path.startswith("(") else path


def _reactions(message: dict[str, Any]) -> Metrics:
    reactions = f.dicts(message.get("reactions"), "reactions")
    if not reactions:
        return Metrics()
    extra: dict[str, int] = {"reactions": 0}
    for position, reaction in enumerate(reactions):
        label = f"reactions[{position}]"
        number = f.as_count(reaction.get("count"), f"{label}.count") or 0
        name = (
            f.as_text(reaction.get("emoji"), f"{label}.emoji")
            or f.as_text(reaction.get("document_id"), f"{label}.document_id")
            or f.as_text(reaction.get("type"), f"{label}.type")
            or "unknown"
        )
        extra["reactions"] += number
        extra[f"reaction:{name}"] = extra.get(f"reaction:{name}", 0) + number
    return Metrics(extra=extra)

"""Generic JSON lines / CSV / JSON array: the lowest common denominator.

Fields: ``id`` and ``text`` (required); ``platform``, ``author``, ``created_at``, ``url``
(optional). ``created_at`` without a time zone is read as UTC (documented in docs/formats.md);
the raw value is kept either way. Unknown extra fields are ignored, so exports from other
tools with these columns read as they are.
"""

from __future__ import annotations

from typing import Any

from tidewatch.errors import RecordError
from tidewatch.ingest import fields as f
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit, register
from tidewatch.model import Account, Bundle, Platform, Post
from tidewatch.timeparse import maybe_time

REQUIRED = ("id", "text")


@register
class GenericReader(Reader):
    name = "generic"
    description = "Generic JSON lines, JSON array or CSV with id, text and optional platform, author, created_at, url"
    framings = frozenset({Framing.JSONL, Framing.JSON, Framing.CSV})
    priority = 90

    @classmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        if isinstance(value, list):
            value = value[0] if value else {}
        return isinstance(value, dict) and all(key in value for key in REQUIRED)

    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        records: list[Any]
        if unit.framing is Framing.JSON and isinstance(unit.value, list):
            records = unit.value
        else:
            records = [unit.value]
        bundle = Bundle(source=self.source(unit, context))
        seen_accounts: set[tuple[str, str]] = set()
        for position, record in enumerate(records):
            label = f"[{position}]" if len(records) > 1 else "record"
            if not isinstance(record, dict):
                raise RecordError(f"{label}: expected an object with id and text")
            post, account = self.post(record, label)
            bundle.posts.append(post)
            if account and (account.platform, account.native_id) not in seen_accounts:
                seen_accounts.add((account.platform, account.native_id))
                bundle.accounts.append(account)
        return bundle

    @staticmethod
    def post(record: dict[str, Any], label: str) -> tuple[Post, Account | None]:
        for key in REQUIRED:
            if key not in record or record[key] is None:
                raise RecordError(f"{label}: required field {key!r} is missing")
        platform = Platform.parse(f.as_text(record.get("platform"), "platform"))
        author = f.as_text(record.get("author"), "author").strip()
        account = Account(platform=platform, native_id=author, handle=author) if author else None
        post = Post(
            platform=platform,
            native_id=f.as_id(record["id"], "id"),
            account_id=author,
            text=f.as_text(record["text"], "text"),
            created_at=maybe_time(record.get("created_at"), field="created_at", naive_is_utc=True),
            url=f.as_text(record.get("url"), "url"),
            lang=f.as_text(record.get("lang"), "lang"),
        )
        return post, account

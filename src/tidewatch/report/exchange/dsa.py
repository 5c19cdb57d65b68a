"""Platform decisions in the DSA statement-of-reasons vocabulary, and reconciliation of the
DSA Transparency Database dump with the decisions platforms sent us.

A :class:`~tidewatch.referrals.service.PlatformDecision` is read from and written as a
statement of reasons with the Transparency Database's own field names (the API's ``puid`` is
the dump's ``platform_uid``: the platform's id of the statement, which is also what platforms
give us as ``statement_id``). docs/exchange.md lists what each direction loses.

Reconciliation streams a dump (CSV, ``.csv.gz``, or the published ``.zip`` of CSVs or of
zipped CSVs, read member by member) and matches rows to our decisions by that id.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func, select

from tidewatch.model import Recipient
from tidewatch.referrals.service import PlatformDecision, dsa_enums
from tidewatch.report.cells import spreadsheet_text
from tidewatch.store import tables as t

#: How a referral reaches a platform: as a trusted flagger's notice where the unit has that
#: status (DSA Art. 22), otherwise as another kind of notification (not an Art. 16 notice).
REFERRAL_SOURCE_TYPES = ("SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION")
#: The Transparency Database's platform names for the recipients' services.
PLATFORM_NAMES = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "x": "X",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "telegram": "Telegram",
}
LIST_FIELDS = ("decision_visibility", "territorial_scope", "content_type")
SAMPLE = 20
#: The dump's columns in its own order (sor-global-2025-07-01-full, tests/fixtures).
DUMP_COLUMNS = (
    "uuid",
    "decision_visibility",
    "decision_visibility_other",
    "end_date_visibility_restriction",
    "decision_monetary",
    "decision_monetary_other",
    "end_date_monetary_restriction",
    "decision_provision",
    "end_date_service_restriction",
    "decision_account",
    "end_date_account_restriction",
    "account_type",
    "decision_ground",
    "decision_ground_reference_url",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "incompatible_content_illegal",
    "category",
    "category_addition",
    "category_specification",
    "category_specification_other",
    "content_type",
    "content_type_other",
    "content_language",
    "content_date",
    "content_id_ean",
    "territorial_scope",
    "application_date",
    "decision_facts",
    "source_type",
    "source_identity",
    "automated_detection",
    "automated_decision",
    "platform_name",
    "platform_uid",
    "created_at",
)
_DUMP_TIME = "%Y-%m-%d %H:%M:%S"


@lru_cache(maxsize=4096)
def _recipient_of_name(name: str) -> str | None:
    try:
        return Recipient.of(name.strip().lower()).value
    except (ValueError, KeyError):
        return None


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")


def _check(group: str, value: str, field_name: str) -> None:
    if value not in dsa_enums()[group]:
        raise ValueError(f"{field_name} {value!r} is not in the DSA vocabulary")


def to_statement(
    decision: PlatformDecision,
    *,
    platform: str,
    source_type: str = "SOURCE_TYPE_OTHER_NOTIFICATION",
    content_type: tuple[str, ...] = ("CONTENT_TYPE_TEXT",),
    source_identity: str = "",
) -> dict[str, Any]:
    """A decision as a statement of reasons (the Transparency Database API's JSON fields,
    plus ``platform_name`` as the dump has it). ``platform`` is the service (facebook, x...).
    A no-violation answer restricts nothing, so it has no statement: ValueError."""
    outcome = decision.outcome()  # checks every enum value
    if outcome == "no_violation":
        raise ValueError("a no-violation answer restricts nothing and has no statement of reasons")
    if source_type not in dsa_enums()["SOURCE_TYPES"]:
        raise ValueError(f"source_type {source_type!r} is not in the DSA vocabulary")
    for value in content_type:
        _check("CONTENT_TYPES", value, "content_type")
    statement: dict[str, Any] = {
        "decision_visibility": list(decision.decision_visibility),
        "decision_account": decision.decision_account,
        "decision_ground": decision.decision_ground,
        "category": decision.category,
        "territorial_scope": list(decision.territorial_scope),
        "automated_detection": _yes_no(decision.automated_detection),
        "automated_decision": decision.automated_decision,
        "content_type": list(content_type),
        "source_type": source_type,
        "source_identity": source_identity or None,
        "puid": decision.statement_id,
        "platform_name": PLATFORM_NAMES.get(platform, platform),
        "application_date": (
            decision.decided_at.astimezone(UTC).date().isoformat() if decision.decided_at else None
        ),
        "decision_facts": decision.note or None,
    }
    return {k: v for k, v in statement.items() if v not in (None, [], "")}


#: Dump columns of free text, written by whoever took the decision (and so by a platform).
FREE_TEXT_COLUMNS = frozenset(
    {
        "decision_visibility_other",
        "decision_monetary_other",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "category_specification_other",
        "content_type_other",
        "decision_facts",
        "source_identity",
    }
)


def to_dump_row(statement: Mapping[str, Any]) -> dict[str, str]:
    """A statement as a row of the dump: lists as JSON text, ``puid`` as ``platform_uid``,
    dates as ``YYYY-MM-DD HH:MM:SS``."""
    row: dict[str, str] = {}
    for name, value in statement.items():
        column = "platform_uid" if name == "puid" else name
        if isinstance(value, list):
            row[column] = json.dumps(value)
        elif name == "application_date" and len(str(value)) == 10:
            row[column] = f"{value} 00:00:00"
        else:
            row[column] = "" if value is None else str(value)
    return row


def write_dump(
    statements: Iterable[Mapping[str, Any]], stream: IO[str], *, for_spreadsheets: bool = True
) -> int:
    """Statements as a CSV in the dump's layout (every column, in its order; what we do not
    know left empty). Returns the number of rows.

    ``for_spreadsheets`` (the default: people open these files) writes free text that a
    spreadsheet would run as a formula with a leading apostrophe; ids, dates and the
    vocabulary's values are never changed, so rows still reconcile by their ids. Without it
    the text is written exactly as given, for programs that read the dump."""
    writer = csv.DictWriter(stream, fieldnames=DUMP_COLUMNS, extrasaction="raise")
    writer.writeheader()
    rows = 0
    for statement in statements:
        row = to_dump_row(statement)
        if for_spreadsheets:
            for column in FREE_TEXT_COLUMNS.intersection(row):
                row[column] = spreadsheet_text(row[column])
        writer.writerow(row)
        rows += 1
    return rows


def _list(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        parsed = json.loads(text) if text.startswith("[") else [text]
        return tuple(str(v) for v in parsed)
    return tuple(str(v) for v in value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any, field_name: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("yes", "true", "1"):
        return True
    if str(value).strip().lower() in ("no", "false", "0"):
        return False
    raise ValueError(f"{field_name} must be Yes or No, not {value!r}")


def _when(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def statement_id(row: Mapping[str, Any]) -> str | None:
    """The platform's id of a statement: ``puid`` (API), ``platform_uid`` (dump)."""
    return _text(row.get("puid")) or _text(row.get("platform_uid"))


def from_statement(row: Mapping[str, Any]) -> PlatformDecision:
    """A decision from a statement of reasons (API JSON, or a dump row with lists as JSON
    text and "Yes"/"No"). Only restrictions of visibility or of the account are decisions
    here: a statement that only suspends payments or the service raises ValueError."""
    decision = PlatformDecision(
        decision_visibility=_list(row.get("decision_visibility")),
        decision_account=_text(row.get("decision_account")),
        decision_ground=_text(row.get("decision_ground")),
        category=_text(row.get("category")),
        territorial_scope=_list(row.get("territorial_scope")),
        automated_detection=_bool(row.get("automated_detection"), "automated_detection"),
        automated_decision=_text(row.get("automated_decision")),
        statement_id=statement_id(row),
        decided_at=_when(row.get("application_date")),
        note=_text(row.get("decision_facts")) or "",
    )
    decision.outcome()
    return decision


def statement_outcome(row: Mapping[str, Any]) -> str:
    """The referral outcome a statement implies; ``restricted`` for statements that restrict
    only payments or the service (which PlatformDecision does not model)."""
    try:
        return from_statement(row).outcome()
    except ValueError:
        if _text(row.get("decision_provision")) or _text(row.get("decision_monetary")):
            return "restricted"
        raise


# --- reading a dump ---------------------------------------------------------------------------


def _csv_streams(path: Path) -> Iterator[tuple[str, IO[str]]]:
    """(name, text stream) of each CSV in a dump file, one at a time."""
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            yield from _zip_members(archive, path.name)
    elif name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
            yield path.name, stream
    else:
        with path.open(encoding="utf-8", newline="") as stream:
            yield path.name, stream


def _zip_members(archive: zipfile.ZipFile, label: str) -> Iterator[tuple[str, IO[str]]]:
    for member in sorted(archive.namelist()):
        lower = member.lower()
        if lower.endswith(".zip"):
            # The published daily dump is a zip of zipped CSV parts.
            with archive.open(member) as raw, zipfile.ZipFile(raw) as inner:
                yield from _zip_members(inner, f"{label}/{member}")
        elif lower.endswith(".csv"):
            with archive.open(member) as raw:
                yield f"{label}/{member}", io.TextIOWrapper(raw, encoding="utf-8", newline="")


def read_dump(path: Path) -> Iterator[dict[str, str]]:
    """Every row of a dump as a dict (header names as keys), streamed."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    for _name, stream in _csv_streams(path):
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            continue
        if header and header[0].startswith(codecs.BOM_UTF8.decode("utf-8")):
            header[0] = header[0][1:]
        for values in reader:
            yield dict(zip(header, values, strict=False))


# --- reconciliation ---------------------------------------------------------------------------


@dataclass
class Reconciliation:
    rows_read: int = 0
    #: Statements in both, agreeing on every field we were told.
    matched: list[dict[str, Any]] = field(default_factory=list)
    #: Statements in both that disagree: each with its fields as {ours, theirs}.
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    #: Our decisions, taken while the dump's statements were (from its earliest
    #: application_date to its latest created_at), whose statement id is not in it.
    unmatched_ours: list[dict[str, Any]] = field(default_factory=list)
    #: Our unmatched decisions outside that period (a daily dump cannot hold them).
    outside_period: int = 0
    period: tuple[str, str] | None = None
    #: Dump rows of the recipients' services that match none of our decisions (a superset of
    #: what answers our referrals: other notifiers' statements are here too): a count and
    #: the first few ids.
    unmatched_theirs: int = 0
    unmatched_theirs_sample: list[str] = field(default_factory=list)
    #: Our restricting decisions that came with no statement id (cannot be reconciled).
    without_statement: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "counts": {
                "matched": len(self.matched),
                "mismatched": len(self.mismatched),
                "unmatched_ours": len(self.unmatched_ours),
                "unmatched_theirs": self.unmatched_theirs,
                "without_statement": self.without_statement,
                "outside_period": self.outside_period,
            },
            "period": list(self.period) if self.period else None,
            "matched": self.matched,
            "mismatched": self.mismatched,
            "unmatched_ours": self.unmatched_ours,
            "unmatched_theirs_sample": self.unmatched_theirs_sample,
        }


@dataclass(frozen=True)
class OurDecision:
    statement_id: str
    referral: str
    platform: str  # the recipient (meta, x, ...)
    outcome: str
    decided_at: datetime
    decision: PlatformDecision


def our_decisions(
    engine: Engine, *, recipient: str | None = None
) -> tuple[dict[str, OurDecision], int]:
    """Our decisions by statement id, and how many restricting ones came without an id
    (``recipient``: only the decisions of that platform's referrals)."""
    d, r = t.platform_decisions, t.referrals
    found: dict[str, OurDecision] = {}
    without = 0
    query = (
        select(d, r.c.public_id, r.c.platform.label("recipient"))
        .join(r, r.c.id == d.c.referral_id)
        .order_by(d.c.id)
    )
    if recipient is not None:
        query = query.where(r.c.platform == recipient)
    with engine.connect() as conn:
        for row in conn.execute(query):
            sid = _text(row.statement_id)
            if sid is None:
                without += row.outcome != "no_violation"
                continue
            # One decision on several items is stored once per item with the same statement.
            found.setdefault(
                sid,
                OurDecision(
                    statement_id=sid,
                    referral=row.public_id,
                    platform=row.recipient,
                    outcome=row.outcome,
                    decided_at=row.decided_at,
                    decision=PlatformDecision(
                        decision_visibility=tuple(row.decision_visibility or ()),
                        decision_account=row.decision_account,
                        decision_ground=row.decision_ground,
                        category=row.category,
                        territorial_scope=tuple(row.territorial_scope or ()),
                        automated_detection=row.automated_detection,
                        automated_decision=row.automated_decision,
                        statement_id=sid,
                        decided_at=row.decided_at,
                        note=row.note or "",
                    ),
                ),
            )
    return found, without


@dataclass
class StatementExport:
    """Our restricting decisions as statements of reasons, and what could not be written."""

    statements: list[dict[str, Any]] = field(default_factory=list)
    #: Restricting decisions that came without the platform's statement id: a statement of
    #: reasons is known by that id (``puid``), so these are counted, not invented.
    without_statement: int = 0


def export_statements(
    engine: Engine,
    *,
    recipient: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    trusted_flagger: bool = False,
    unit_name: str = "",
) -> StatementExport:
    """The platforms' decisions on our referrals as statements of reasons, one per statement
    id, oldest first: what each platform told us, in the Transparency Database's fields, so
    a partner or an auditor can set them beside the database's own rows. The service is the
    referred item's platform (Meta answers for Facebook and Instagram); ``source_type`` says
    how our referral reached it (as a trusted flagger's notice where the unit has that
    status). ``start``/``end`` bound the decision time (inclusive)."""
    ours, without = our_decisions(engine, recipient=recipient)
    services = _item_services(engine)
    source_type = REFERRAL_SOURCE_TYPES[0] if trusted_flagger else REFERRAL_SOURCE_TYPES[1]
    found = StatementExport(without_statement=without)
    for decision in sorted(ours.values(), key=lambda d: (_utc(d.decided_at), d.statement_id)):
        if start is not None and _utc(decision.decided_at) < start:
            continue
        if end is not None and _utc(decision.decided_at) > end:
            continue
        service = services.get(decision.statement_id, decision.platform)
        found.statements.append(
            to_statement(
                decision.decision,
                platform=service,
                source_type=source_type,
                source_identity=unit_name if trusted_flagger else "",
            )
        )
    return found


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _item_services(engine: Engine) -> dict[str, str]:
    """The platform of the referred item each statement is about (the referral's first item
    where the decision covers the whole referral)."""
    d, i, a, p = t.platform_decisions, t.referral_items, t.accounts, t.posts
    first_item = (
        select(i.c.referral_id, func.min(i.c.id).label("item_id"))
        .group_by(i.c.referral_id)
        .subquery()
    )
    item_id = func.coalesce(d.c.item_id, first_item.c.item_id)
    query = (
        select(d.c.statement_id, func.coalesce(a.c.platform, p.c.platform).label("service"))
        .join(first_item, first_item.c.referral_id == d.c.referral_id, isouter=True)
        .join(i, i.c.id == item_id, isouter=True)
        .join(a, a.c.id == i.c.account_id, isouter=True)
        .join(p, p.c.id == i.c.post_id, isouter=True)
        .where(d.c.statement_id.is_not(None))
        .order_by(d.c.id)
    )
    services: dict[str, str] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.service:
                services.setdefault(row.statement_id, row.service)
    return services


def compare(ours: OurDecision, row: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Fields on which the dump row disagrees with what the platform told us. A field the
    platform did not tell us is not a disagreement; the outcome always is compared."""
    differences: dict[str, dict[str, Any]] = {}
    mine = ours.decision
    theirs_platform = _recipient_of_name(row.get("platform_name", ""))
    if theirs_platform is not None and theirs_platform != ours.platform:
        differences["platform"] = {"ours": ours.platform, "theirs": row.get("platform_name")}
    pairs: list[tuple[str, Any, Any]] = [
        (
            "decision_visibility",
            sorted(mine.decision_visibility),
            sorted(_list(row.get("decision_visibility"))),
        ),
        ("decision_account", mine.decision_account, _text(row.get("decision_account"))),
        ("decision_ground", mine.decision_ground, _text(row.get("decision_ground"))),
        ("category", mine.category, _text(row.get("category"))),
        (
            "territorial_scope",
            sorted(mine.territorial_scope),
            sorted(_list(row.get("territorial_scope"))),
        ),
        (
            "automated_detection",
            mine.automated_detection,
            _bool(row.get("automated_detection"), "automated_detection"),
        ),
        ("automated_decision", mine.automated_decision, _text(row.get("automated_decision"))),
    ]
    told = bool(mine.decision_visibility or mine.decision_account)
    for name, ours_value, theirs_value in pairs:
        if ours_value in (None, []) and not (name == "decision_visibility" and told):
            continue
        if ours_value != theirs_value:
            differences[name] = {"ours": ours_value, "theirs": theirs_value}
    try:
        theirs_outcome = statement_outcome(row)
    except ValueError as error:
        theirs_outcome = f"unreadable ({error})"
    if theirs_outcome != ours.outcome:
        differences["outcome"] = {"ours": ours.outcome, "theirs": theirs_outcome}
    source = _text(row.get("source_type"))
    if source not in (*REFERRAL_SOURCE_TYPES, "SOURCE_ARTICLE_16"):
        # The platform answered our referral, yet the database says it acted on its own.
        differences["source_type"] = {"ours": "a notice (our referral)", "theirs": source}
    return differences


def reconcile(
    rows: Iterator[Mapping[str, str]],
    ours: Mapping[str, OurDecision],
    *,
    without_statement: int = 0,
) -> Reconciliation:
    result = Reconciliation(without_statement=without_statement)
    recipients = {o.platform for o in ours.values()}
    seen: set[str] = set()
    first, last = "9999", ""
    for row in rows:
        result.rows_read += 1
        # Dump times are "YYYY-MM-DD HH:MM:SS": as text they sort as times.
        applied, created = row.get("application_date") or "", row.get("created_at") or ""
        if applied and applied < first:
            first = applied
        if max(applied, created) > last:
            last = max(applied, created)
        sid = (row.get("puid") or row.get("platform_uid") or "").strip()
        mine = ours.get(sid) if sid else None
        if mine is None:
            if _recipient_of_name(row.get("platform_name", "")) in recipients:
                result.unmatched_theirs += 1
                if len(result.unmatched_theirs_sample) < SAMPLE and sid:
                    result.unmatched_theirs_sample.append(sid)
            continue
        seen.add(mine.statement_id)
        entry: dict[str, Any] = {
            "statement_id": mine.statement_id,
            "referral": mine.referral,
            "platform": mine.platform,
            "uuid": row.get("uuid"),
        }
        differences = compare(mine, row)
        if differences:
            result.mismatched.append({**entry, "fields": differences})
        else:
            result.matched.append({**entry, "outcome": mine.outcome})
    start = end = None
    if last:
        result.period = (first, last)
        start, end = _when(first), _when(last)
    for sid, mine in sorted(ours.items()):
        if sid in seen:
            continue
        decided = mine.decided_at if mine.decided_at.tzinfo else mine.decided_at.replace(tzinfo=UTC)
        if start is None or end is None or not start <= decided <= end:
            result.outside_period += 1
        else:
            result.unmatched_ours.append(
                {
                    "statement_id": sid,
                    "referral": mine.referral,
                    "platform": mine.platform,
                    "outcome": mine.outcome,
                    "decided_at": mine.decided_at.isoformat(),
                }
            )
    return result


def reconcile_dump(engine: Engine, path: Path) -> Reconciliation:
    ours, without = our_decisions(engine)
    return reconcile(read_dump(path), ours, without_statement=without)

"""The programme's figures, computed from the database under versioned definitions.

``definitions.yaml`` says what each figure counts (and its version travels with every report).
The database is read in a few aggregate queries (one row per referral, one per referred post's
detection, one per double-reviewed item); everything after that is pure functions over those
rows, so the definitions are tested on small hand-built histories.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import orjson
import yaml
from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    String,
    Text,
    TypeDecorator,
    and_,
    case,
    cast,
    func,
    select,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

from tidewatch.gcpause import collector_paused
from tidewatch.store import tables as t

ACTIONED = ("removed", "restricted", "geo_blocked")
REMOVED = "removed"
#: Fixed histogram bins for time to action, in hours: [low, high).
TTA_BINS: tuple[tuple[str, float, float], ...] = (
    ("< 6 h", 0.0, 6.0),
    ("6-24 h", 6.0, 24.0),
    ("1-2 days", 24.0, 48.0),
    ("2-4 days", 48.0, 96.0),
    ("4-7 days", 96.0, 168.0),
    ("7-14 days", 168.0, 336.0),
    ("> 14 days", 336.0, math.inf),
)
REEMERGENCE_WINDOW = timedelta(days=180)
#: Detector signals whose evidence is a contact selector.
SELECTOR_SIGNALS = ("phone_number", "handle", "messenger_link", "url")
#: Detector signals whose evidence names a place (for routes).
PLACE_SIGNALS = ("place_departure", "place_transit", "place_destination")
_REPORTED_SIGNALS = frozenset(SELECTOR_SIGNALS + PLACE_SIGNALS)


@dataclass(frozen=True)
class Definition:
    name: str
    unit: str
    counts: str


@dataclass(frozen=True)
class Definitions:
    version: str
    effective_from: str
    metrics: tuple[Definition, ...]
    routes: tuple[tuple[str, tuple[str, ...]], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "effective_from": self.effective_from,
            "metrics": [{"name": m.name, "unit": m.unit, "counts": m.counts} for m in self.metrics],
            "routes": {name: list(places) for name, places in self.routes},
        }


@cache
def definitions() -> Definitions:
    text = resources.files("tidewatch.report").joinpath("definitions.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return Definitions(
        version=str(data["version"]),
        effective_from=str(data["effective_from"]),
        metrics=tuple(
            Definition(m["name"], m["unit"], " ".join(m["counts"].split())) for m in data["metrics"]
        ),
        routes=tuple(
            (r["name"], tuple(str(p).casefold() for p in r["places"])) for r in data["routes"]
        ),
    )


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralRow:
    """One delivered referral with its item counts (what every count is made of)."""

    id: int
    platform: str
    sent_at: datetime
    decided_at: datetime | None
    status: str
    accounts: int
    accounts_removed: int
    items: int
    items_removed: int
    lang: str = "und"
    route: str = "unknown"


@dataclass(frozen=True)
class AccountEvent:
    """An account's first referral or a removal, with the contact selectors of its referred posts."""

    account: str
    at: datetime
    selectors: frozenset[str]


@dataclass
class Figures:
    referrals: int = 0
    accounts_referred: int = 0
    items_referred: int = 0
    accounts_removed: int = 0
    items_removed: int = 0
    actioned: int = 0
    removal_rate: float | None = None
    actioned_rate: float | None = None
    # Removal counts of the referrals delivered in the period (the rates' numerators).
    _removed_of_referred: int = field(default=0, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "referrals": self.referrals,
            "accounts_referred": self.accounts_referred,
            "items_referred": self.items_referred,
            "accounts_removed": self.accounts_removed,
            "items_removed": self.items_removed,
            "actioned_referrals": self.actioned,
            "removal_rate": _round(self.removal_rate),
            "actioned_rate": _round(self.actioned_rate),
        }


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def _in(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def figures(rows: Iterable[ReferralRow], start: datetime, end: datetime) -> Figures:
    """Counts over [start, end): referrals by delivery, removals by decision (see definitions)."""
    f = Figures()
    for row in rows:
        sent, decided = row.sent_at, row.decided_at
        if sent is not None and start <= sent < end:
            f.referrals += 1
            f.accounts_referred += row.accounts
            f.items_referred += row.items
            f._removed_of_referred += row.accounts_removed
            if row.status in ACTIONED:
                f.actioned += 1
        if decided is not None and start <= decided < end:
            f.accounts_removed += row.accounts_removed
            f.items_removed += row.items_removed
    f.removal_rate = f._removed_of_referred / f.accounts_referred if f.accounts_referred else None
    f.actioned_rate = f.actioned / f.referrals if f.referrals else None
    return f


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of values at or below it)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(p / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def time_to_action(rows: Iterable[ReferralRow], start: datetime, end: datetime) -> dict[str, Any]:
    hours = sorted(
        (row.decided_at - row.sent_at).total_seconds() / 3600
        for row in rows
        if row.status in ACTIONED and row.decided_at is not None and _in(row.decided_at, start, end)
    )
    histogram = [
        {"bin": label, "count": sum(1 for h in hours if low <= h < high)}
        for label, low, high in TTA_BINS
    ]
    return {
        "count": len(hours),
        "mean_hours": _round(sum(hours) / len(hours), 2) if hours else None,
        "p50_hours": _round(percentile(hours, 50), 2),
        "p90_hours": _round(percentile(hours, 90), 2),
        "p95_hours": _round(percentile(hours, 95), 2),
        "histogram": histogram,
    }


def change(current: int, previous: int | None) -> float | None:
    if not previous:
        return None
    return (current - previous) / previous


def reemergence(
    removals: Iterable[AccountEvent],
    first_referrals: Iterable[AccountEvent],
    start: datetime,
    end: datetime,
    window: timedelta = REEMERGENCE_WINDOW,
) -> dict[str, Any]:
    """Share of accounts removed in [start, end) whose selectors a *different* account carried
    when it was first referred after the removal, within ``window``."""
    later: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for event in first_referrals:
        for selector in event.selectors:
            later[selector].append((event.at, event.account))
    removed = 0
    came_back = 0
    for event in removals:
        if not _in(event.at, start, end):
            continue
        removed += 1
        if any(
            account != event.account and event.at < at <= event.at + window
            for selector in event.selectors
            for at, account in later.get(selector, ())
        ):
            came_back += 1
    return {
        "accounts_removed": removed,
        "reemerged": came_back,
        "rate": _round(came_back / removed) if removed else None,
        "window_days": window.days,
    }


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Cohen's kappa of two raters' labels; None when undefined (no pairs, or chance
    agreement is total)."""
    n = len(pairs)
    if not n:
        return {"items": 0, "agreement": None, "kappa": None}
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first.keys() | second.keys()) / (n * n)
    kappa = None if expected == 1 else (observed - expected) / (1 - expected)
    return {"items": n, "agreement": _round(observed), "kappa": _round(kappa)}


def route_of(places: Iterable[str], routes: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    found = [p.casefold() for p in places]
    for name, words in routes:
        if any(place in words for place in found):
            return name
    return "unknown"


_DIGITS = re.compile(r"\D+")
_NONE: frozenset[str] = frozenset()


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) and value else value


class _Moment(TypeDecorator[datetime]):
    """A stored UTC time read for the report: SQLite's text parsed by the C parser in one
    call per value, not by the dialect's regular expression and two layers of type processing
    (a five-year history has hundreds of thousands of them); other databases' datetimes made
    UTC as UTCDateTime does."""

    impl = String
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            if len(value) == 26 and value[19] == ".":
                # The form SQLAlchemy stores on SQLite (UTC, microseconds, no offset): read
                # as UTC in the parse itself, with no second datetime made by replace().
                return parse(value + "+00:00")
            moment = parse(value)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return _UTC_COLUMN.process_result_value(moment, dialect)


_UTC_COLUMN = t.UTCDateTime()


def _moment(column: Any) -> ColumnElement[datetime]:
    return type_coerce(column, _Moment()).label(column.name)


@lru_cache(maxsize=65_536)
def selector_of(signal: str, evidence: str) -> str | None:
    """A comparable selector from a detector reason: phone numbers as digits (last 9, so the
    same number with or without its country code matches), handles and links lower-cased."""
    if signal == "phone_number":
        digits = _DIGITS.sub("", evidence)
        return f"phone:{digits[-9:]}" if len(digits) >= 7 else None
    if signal in SELECTOR_SIGNALS:
        return f"{signal}:{evidence.strip().casefold()}"
    return None


# --- the database ------------------------------------------------------------------------------


@dataclass
class Facts:
    """What the report is computed from (everything in the database, not only the period:
    cumulative totals and previous-year changes look outside it)."""

    referrals: list[ReferralRow]
    removals: list[AccountEvent]
    first_referrals: list[AccountEvent]
    review_pairs: list[tuple[str, str, datetime]]  # first decision, second, when the second
    networks: int | None
    networks_referred: int | None


def load_facts(engine: Engine) -> Facts:
    with collector_paused(), engine.connect() as conn:
        posts = _post_facts(conn)
        referrals = _referral_rows(conn, posts)
        removals, first = _account_events(conn, posts)
        pairs = _review_pairs(conn)
        networks, referred = _network_counts(conn)
    return Facts(referrals, removals, first, pairs, networks, referred)


@dataclass
class _PostFacts:
    by_referral: dict[int, list[tuple[str, list[str]]]]  # referral -> [(lang, places)]
    # "platform:native id" of the account -> selectors: one frozenset per account, shared by
    # all of its events rather than copied into each.
    selectors: dict[str, frozenset[str]]


def _post_facts(conn: Connection) -> _PostFacts:
    """Language, places and selectors of every referred post, from its latest detection."""
    i, p, d = t.referral_items, t.posts, t.detections
    # Every detection of each referred post, oldest first, so the latest one stays; a
    # "latest per post" subquery joined back makes SQLite scan it once per row.
    query = (
        select(
            i.c.referral_id,
            i.c.post_id,
            p.c.platform,
            p.c.account_native_id,
            d.c.lang,
            # Only the reasons naming places and selectors, kept apart at detection time; as
            # text, parsed below by orjson (a cast, so PostgreSQL's driver does not decode it
            # first): the JSON type's json.loads per row was most of the report's time.
            cast(d.c.entity_reasons, Text).label("reasons"),
        )
        .join(p, p.c.id == i.c.post_id)
        .join(d, d.c.post_id == i.c.post_id)
        .order_by(d.c.id)
    )
    # Rows are unpacked as tuples throughout: over a five-year history, reading columns by
    # name was a tenth of the report's time.
    latest: dict[tuple[int, int], tuple[str, str, str | None, Any]] = {}
    for referral_id, post_id, platform, account_id, lang, reasons in conn.execute(query):
        latest[(referral_id, post_id)] = (platform, account_id, lang, reasons)
    by_referral: dict[int, list[tuple[str, list[str]]]] = defaultdict(list)
    selectors: dict[str, set[str]] = defaultdict(set)
    wanted = _REPORTED_SIGNALS
    for (referral_id, _post), (platform, account_id, lang, reasons) in latest.items():
        found = [
            (r.get("signal"), str(r.get("evidence", "")))
            for r in _json(reasons) or ()
            if r.get("signal") in wanted
        ]
        places: list[str] = []
        account = f"{platform}:{account_id}"
        for signal, evidence in found:
            if signal in PLACE_SIGNALS:
                places.append(evidence)
            else:
                selector = selector_of(signal, evidence)
                if selector:
                    selectors[account].add(selector)
        by_referral[referral_id].append((lang or "und", places))
    return _PostFacts(by_referral, {k: frozenset(v) for k, v in selectors.items()})


def _referral_rows(conn: Connection, posts: _PostFacts) -> list[ReferralRow]:
    r, i = t.referrals, t.referral_items
    is_account = i.c.kind == "account"
    removed = i.c.status == REMOVED
    query = (
        select(
            r.c.id,
            r.c.platform,
            _moment(r.c.sent_at),
            _moment(r.c.decided_at),
            r.c.status,
            func.sum(case((is_account, 1), else_=0)).label("accounts"),
            func.sum(case((and_(is_account, removed), 1), else_=0)).label("accounts_removed"),
            func.count(i.c.id).label("items"),
            func.sum(case((removed, 1), else_=0)).label("items_removed"),
        )
        .join(i, i.c.referral_id == r.c.id)
        .where(r.c.direction == "outbound", r.c.sent_at.is_not(None))
        .group_by(r.c.id, r.c.platform, r.c.sent_at, r.c.decided_at, r.c.status)
    )
    routes = definitions().routes
    rows = []
    for (
        id_,
        platform,
        sent_at,
        decided_at,
        status,
        accounts,
        removed_,
        items,
        items_removed,
    ) in conn.execute(query):
        found = posts.by_referral.get(id_, [])
        rows.append(
            ReferralRow(
                id=id_,
                platform=platform,
                sent_at=sent_at,
                decided_at=decided_at,
                status=status,
                accounts=int(accounts or 0),
                accounts_removed=int(removed_ or 0),
                items=int(items or 0),
                items_removed=int(items_removed or 0),
                lang=_main_language([lang for lang, _ in found]),
                route=route_of((p for _, places in found for p in places), routes),
            )
        )
    return rows


def _main_language(langs: list[str]) -> str:
    """The most frequent language; ties go to the alphabetically first, so reports are
    reproducible."""
    if not langs:
        return "und"
    if len(set(langs)) == 1:
        return langs[0]
    counts = Counter(langs)
    return min(counts, key=lambda k: (-counts[k], k))


def _account_events(
    conn: Connection, posts: _PostFacts
) -> tuple[list[AccountEvent], list[AccountEvent]]:
    r, i, a = t.referrals, t.referral_items, t.accounts
    query = (
        select(
            a.c.platform,
            a.c.native_id,
            _moment(r.c.sent_at),
            _moment(r.c.decided_at),
            i.c.status,
        )
        .join(i, i.c.account_id == a.c.id)
        .join(r, r.c.id == i.c.referral_id)
        .where(r.c.direction == "outbound", r.c.sent_at.is_not(None), i.c.kind == "account")
    )
    first: dict[str, datetime] = {}
    removals: list[AccountEvent] = []
    for platform, native_id, sent_at, decided_at, status in conn.execute(query):
        key = f"{platform}:{native_id}"
        if key not in first or sent_at < first[key]:
            first[key] = sent_at
        if status == REMOVED and decided_at is not None:
            removals.append(AccountEvent(key, decided_at, posts.selectors.get(key, _NONE)))
    first_events = [
        AccountEvent(key, at, posts.selectors.get(key, _NONE)) for key, at in first.items()
    ]
    return removals, first_events


def _review_pairs(conn: Connection) -> list[tuple[str, str, datetime]]:
    d = t.review_decisions
    twice = (
        select(d.c.item_id)
        .group_by(d.c.item_id)
        .having(func.count(func.distinct(d.c.actor)) >= 2)
        .subquery()
    )
    decisions: dict[int, list[tuple[str, str, datetime]]] = defaultdict(list)
    for row in conn.execute(
        select(d.c.item_id, d.c.actor, d.c.decision, _moment(d.c.decided_at))
        .where(d.c.item_id.in_(select(twice.c.item_id)))
        .order_by(d.c.item_id, d.c.decided_at, d.c.id)
    ):
        decisions[row.item_id].append((row.actor, row.decision, row.decided_at))
    pairs = []
    for seen in decisions.values():
        first_actor, first_decision, _ = seen[0]
        second, at = next((dec, at) for actor, dec, at in seen[1:] if actor != first_actor)
        pairs.append((first_decision, second, at))
    return pairs


def _network_counts(conn: Connection) -> tuple[int | None, int | None]:
    run = conn.execute(select(t.link_runs).order_by(t.link_runs.c.id.desc()).limit(1)).first()
    if run is None:
        return None, None
    m, i, a = t.network_accounts, t.referral_items, t.accounts
    referred = conn.execute(
        select(func.count(func.distinct(m.c.network_id)))
        .join(a, (a.c.platform == m.c.platform) & (a.c.native_id == m.c.native_id))
        .join(i, i.c.account_id == a.c.id)
        .where(m.c.run_id == run.id)
    ).scalar_one()
    return int(run.networks), int(referred)


# --- the report --------------------------------------------------------------------------------


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _years(start: datetime, end: datetime) -> list[int]:
    last = (end - timedelta(microseconds=1)).year
    return list(range(start.year, last + 1))


def _year_span(year: int, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return max(start, datetime(year, 1, 1, tzinfo=UTC)), min(
        end, datetime(year + 1, 1, 1, tzinfo=UTC)
    )


def _breakdown(
    rows: Sequence[ReferralRow], key: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    groups: dict[str, list[ReferralRow]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    result = [
        {key if key != "lang" else "language": name, **figures(group, start, end).to_json()}
        for name, group in groups.items()
    ]
    result = [r for r in result if r["referrals"] or r["accounts_removed"]]
    return sorted(result, key=lambda r: (-r["accounts_referred"], str(next(iter(r.values())))))


def _by_year(rows: Iterable[ReferralRow]) -> dict[int, list[ReferralRow]]:
    """The rows sent or decided in each calendar year (UTC): all that figures over a span
    inside that year can count, so a yearly figure reads its year's rows, not the history."""
    index: dict[int, list[ReferralRow]] = defaultdict(list)
    for row in rows:
        sent, decided = row.sent_at, row.decided_at
        if sent is not None:
            index[sent.year].append(row)
        if decided is not None and (sent is None or decided.year != sent.year):
            index[decided.year].append(row)
    return index


def build_report(facts: Facts, start: date, end: date) -> dict[str, Any]:
    """The report over [start, end] (whole days, UTC) as plain JSON-able data."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    with collector_paused():
        return _build_report(facts, start, end)


def _build_report(facts: Facts, start: date, end: date) -> dict[str, Any]:
    lo, hi = _utc(start), _utc(end + timedelta(days=1))
    rows = facts.referrals
    yearly = _by_year(rows)
    first_year = min((r.sent_at.year for r in rows), default=lo.year)
    by_year = []
    cumulative = 0
    previous: int | None = None
    for year in range(first_year, _years(lo, hi)[-1] + 1):
        of_year = yearly.get(year, [])
        whole = figures(
            of_year, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        )
        cumulative += whole.accounts_removed
        if year >= lo.year:
            y_lo, y_hi = _year_span(year, lo, hi)
            inside = figures(of_year, y_lo, y_hi)
            by_year.append(
                {
                    "year": year,
                    "partial": (y_lo, y_hi)
                    != (datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)),
                    **inside.to_json(),
                    "change_on_previous_year": _round(change(whole.accounts_removed, previous)),
                    "cumulative_accounts_removed": cumulative,
                }
            )
        previous = whole.accounts_removed
    platform_years = [
        {
            "platform": platform,
            "year": y["year"],
            **figures(
                [r for r in yearly.get(y["year"], ()) if r.platform == platform],
                *_year_span(y["year"], lo, hi),
            ).to_json(),
        }
        for platform in sorted({r.platform for r in rows})
        for y in by_year
    ]
    return {
        "schema": "tidewatch.report/1",
        "definitions_version": definitions().version,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "totals": figures(rows, lo, hi).to_json(),
        "by_year": by_year,
        "by_platform": _breakdown(rows, "platform", lo, hi),
        "by_platform_year": platform_years,
        "by_language": _breakdown(rows, "lang", lo, hi),
        "by_route": _breakdown(rows, "route", lo, hi),
        "time_to_action": time_to_action(rows, lo, hi),
        "reemergence": reemergence(facts.removals, facts.first_referrals, lo, hi),
        "reviewer_agreement": cohen_kappa(
            [(a, b) for a, b, at in facts.review_pairs if _in(at, lo, hi)]
        ),
        "networks": {"latest_link_run": facts.networks, "with_referrals": facts.networks_referred},
        "definitions": definitions().to_json(),
    }


def report(engine: Engine, start: date, end: date) -> dict[str, Any]:
    return build_report(load_facts(engine), start, end)

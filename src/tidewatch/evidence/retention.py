"""Retention: how long each kind of data is kept, and the purge job that enforces it.

Purging drops bytes and keeps the bookkeeping: an evidence object loses its content (the
row, its hash and ``purged_at`` stay, so manifests and custody logs still explain what was
there), each artifact touched gets a ``deleted`` custody event, an unflagged raw payload is
emptied (its SHA-256 stays, so re-ingesting the same file is still recognised), and the run
leaves one audit entry with what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, bindparam, exists, func, or_, select, update

from tidewatch.errors import ConfigError
from tidewatch.evidence import custody, objects
from tidewatch.model import IMAGE_TEXT
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role

KINDS = ("third_party_artifacts", "closed_case_evidence", "unflagged_raw")


@cache
def _default_rules() -> dict[str, int | None]:
    text = resources.files("tidewatch.evidence").joinpath("retention.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text)["rules"])


def load_rules(path: Path | None = None) -> dict[str, int | None]:
    rules = dict(_default_rules())
    if path is not None:
        try:
            given = yaml.safe_load(path.read_text("utf-8"))["rules"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
            raise ConfigError(f"retention rules {path}: {error}") from None
        unknown = set(given) - set(KINDS)
        if unknown:
            raise ConfigError(
                f"retention rules {path}: unknown kinds {sorted(unknown)}; use {KINDS}"
            )
        rules.update(given)
    for kind, days in rules.items():
        if days is not None and (not isinstance(days, int) or days < 0):
            raise ConfigError(
                f"retention for {kind} must be a number of days or null, not {days!r}"
            )
    return rules


@dataclass
class PurgeReport:
    dry_run: bool
    objects: int = 0
    artifacts: int = 0
    raw_records: int = 0
    #: Texts read in pictures (`tidewatch media`) whose evidence bytes were purged: the text
    #: goes with them; the one-way hash stays.
    image_texts: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def purge(
    engine: Engine,
    actor: Actor,
    *,
    rules: dict[str, int | None] | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    actor.require(Role.SUPERVISOR, Role.ADMIN)
    rules = rules or load_rules()
    now = now or datetime.now(UTC)
    report = PurgeReport(dry_run=dry_run)
    with engine.begin() as conn:
        due: dict[int, tuple[str, str, int]] = {}  # artifact id -> (sha, kind, capture)
        a, c, k = t.artifacts, t.captures, t.cases
        if rules.get("third_party_artifacts") is not None:
            for row in conn.execute(
                select(a.c.id, a.c.sha256, a.c.capture_id)
                .join(c, c.c.id == a.c.capture_id)
                .outerjoin(k, k.c.id == c.c.case_id)
                .where(
                    a.c.has_third_party_data.is_(True),
                    a.c.captured_at < now - timedelta(days=rules["third_party_artifacts"] or 0),
                    or_(c.c.case_id.is_(None), k.c.status == "closed"),
                )
            ):
                due.setdefault(row.id, (row.sha256, "third_party_artifacts", row.capture_id))
        if rules.get("closed_case_evidence") is not None:
            for row in conn.execute(
                select(a.c.id, a.c.sha256, a.c.capture_id)
                .join(c, c.c.id == a.c.capture_id)
                .join(k, k.c.id == c.c.case_id)
                .where(
                    k.c.status == "closed",
                    k.c.updated_at < now - timedelta(days=rules["closed_case_evidence"] or 0),
                )
            ):
                due.setdefault(row.id, (row.sha256, "closed_case_evidence", row.capture_id))
        # An object shared with an artifact that must still be kept is not purged.
        shas = {sha for sha, _, _ in due.values()}
        kept = {
            row.sha256
            for row in conn.execute(select(a.c.id, a.c.sha256).where(a.c.sha256.in_(sorted(shas))))
            if row.id not in due
        }
        live = {
            sha
            for sha in conn.execute(
                select(t.evidence_objects.c.sha256).where(
                    t.evidence_objects.c.sha256.in_(sorted(shas - kept)),
                    t.evidence_objects.c.purged_at.is_(None),
                )
            ).scalars()
        }
        for artifact_id, (sha, kind, capture_id) in sorted(due.items()):
            if sha not in live:
                continue
            report.artifacts += 1
            report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
            if not dry_run:
                custody.record(
                    conn,
                    capture_id,
                    actor=actor.username,
                    event="deleted",
                    artifact_sha256=sha,
                    detail={"rule": kind, "artifact": artifact_id},
                    at=now,
                )
        report.objects = len(live)
        if not dry_run and live:
            conn.execute(
                update(t.evidence_objects)
                .where(t.evidence_objects.c.sha256.in_(sorted(live)))
                .values(content=None, purged_at=now)
            )
        if live:
            report.image_texts = _purge_image_text(conn, live, now, dry_run)
        if rules.get("unflagged_raw") is not None:
            report.raw_records = _purge_raw(
                conn, now - timedelta(days=rules["unflagged_raw"] or 0), dry_run
            )
            report.by_kind["unflagged_raw"] = report.raw_records
        audit.record(
            conn,
            actor=actor.username,
            action="retention.purge",
            entity="retention",
            entity_id="-",
            after={
                "dry_run": dry_run,
                "objects": report.objects,
                "artifacts": report.artifacts,
                "raw_records": report.raw_records,
                "image_texts": report.image_texts,
                "by_kind": report.by_kind,
                "rules": rules,
            },
            at=now,
        )
    return report


def _purge_image_text(conn: Any, purged: set[str], now: datetime, dry_run: bool) -> int:
    m = t.media_signals
    condition = (
        m.c.bytes_from == objects.BYTES_FROM,
        m.c.bytes_sha256.in_(sorted(purged)),
        m.c.ocr_text.is_not(None),
    )
    if dry_run:
        return int(conn.execute(select(func.count()).select_from(m).where(*condition)).scalar())
    posts = sorted(set(conn.execute(select(m.c.post_id).where(*condition)).scalars()))
    done = conn.execute(update(m).where(*condition).values(ocr_text=None, text_purged_at=now))
    _unquote_image_text(conn, posts)
    return int(done.rowcount)


def _unquote_image_text(conn: Any, post_ids: list[int]) -> None:
    """The detections of those posts keep their reasons, weights and spans, but no longer
    quote words read in a picture: the quote was a copy of the purged text. (Which picture a
    quote came from is not recorded, so a post's every image-text quote goes.)"""
    d = t.detections
    for start in range(0, len(post_ids), 500):
        rows = conn.execute(
            select(d.c.id, d.c.reasons, d.c.entity_reasons).where(
                d.c.post_id.in_(post_ids[start : start + 500])
            )
        ).all()
        changed = []
        for row in rows:
            reasons, entities = _unquoted(row.reasons), _unquoted(row.entity_reasons)
            if reasons != row.reasons or entities != row.entity_reasons:
                changed.append({"row_id": row.id, "new_reasons": reasons, "new_entities": entities})
        if changed:
            conn.execute(
                update(d)
                .where(d.c.id == bindparam("row_id"))
                .values(
                    reasons=bindparam("new_reasons", type_=d.c.reasons.type),
                    entity_reasons=bindparam("new_entities", type_=d.c.entity_reasons.type),
                ),
                changed,
            )


def _unquoted(reasons: Any) -> list[dict[str, Any]]:
    return [
        {**reason, "evidence": ""} if reason.get("source") == IMAGE_TEXT else reason
        for reason in reasons or ()
    ]


def _purge_raw(conn: Any, before: datetime, dry_run: bool) -> int:
    s, p, d = t.source_records, t.posts, t.detections
    flagged = exists(
        select(p.c.id)
        .join(d, d.c.post_id == p.c.id)
        .where(p.c.first_source_id == s.c.id, d.c.label == "advert")
    )
    in_case = exists(
        select(t.case_accounts.c.account_id)
        .join(t.accounts, t.accounts.c.id == t.case_accounts.c.account_id)
        .where(t.accounts.c.first_source_id == s.c.id)
    )
    query = select(s.c.id).where(s.c.ingested_at < before, ~flagged, ~in_case, s.c.raw != b"")
    ids = list(conn.execute(query).scalars())
    if ids and not dry_run:
        for start in range(0, len(ids), 500):
            conn.execute(update(s).where(s.c.id.in_(ids[start : start + 500])).values(raw=b""))
    return len(ids)

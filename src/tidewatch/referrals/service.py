"""Referrals from draft to outcome.

    draft --approve (a different supervisor)--> approved --outbox worker--> sent
    sent --> acknowledged --> removed | restricted | geo_blocked | no_violation
    sent/acknowledged --platform asks--> more_info_requested --unit answers--> acknowledged
    sent/acknowledged/more_info_requested --deadline passes--> escalated (a flag), then expired
    no_violation | expired | delivery_failed --resubmit--> a new draft linked to this one

Every step is one transaction with its audit entry. Approval freezes the package (what the
platform receives) with its SHA-256 and puts it in the outbox in the same transaction, so an
approved referral is never lost and never sent unapproved. Platform decisions use the DSA
statement-of-reasons vocabulary (``dsa_enums.json``, from the Transparency Database).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select, update

from tidewatch.errors import Conflict, NotFound, PermissionDenied
from tidewatch.model import Recipient
from tidewatch.referrals.policies import mapping_version, policies_broken
from tidewatch.referrals.urls import account_url, post_url
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role

TLP = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
DEFAULT_LEGAL_BASIS = (
    "Referral of content that facilitates unlawful immigration (e.g. UK Immigration Act 1971 "
    "s.25; EU Directive 2002/90/EC) for assessment against the platform's own terms."
)
DEFAULT_DEADLINE = timedelta(days=7)

#: Statuses a platform may decide from, and what it may decide.
DECIDABLE = ("sent", "acknowledged", "more_info_requested", "expired")
OUTCOMES = ("removed", "restricted", "geo_blocked", "no_violation")
RESUBMITTABLE = ("no_violation", "expired", "delivery_failed")
#: Statuses a platform can see: everything from delivery on.
PARTNER_VISIBLE = ("sent", "acknowledged", "more_info_requested", *OUTCOMES, "expired")


@cache
def dsa_enums() -> dict[str, dict[str, str]]:
    text = resources.files("tidewatch.referrals").joinpath("dsa_enums.json").read_text("utf-8")
    enums: dict[str, dict[str, str]] = json.loads(text)["enums"]
    return enums


def _check_enum(group: str, value: str | None, field_name: str) -> None:
    if value is not None and value not in dsa_enums()[group]:
        allowed = ", ".join(dsa_enums()[group])
        raise ValueError(f"{field_name} {value!r} is not in the DSA vocabulary ({allowed})")


@dataclass(frozen=True)
class ReferralItem:
    id: int
    kind: str
    native_id: str
    url: str
    status: str
    account_id: int | None
    post_id: int | None


@dataclass(frozen=True)
class Referral:
    id: int
    public_id: str
    direction: str
    platform: str
    case_id: int | None
    status: str
    tlp: str
    legal_basis: str
    policies: list[dict[str, Any]]
    summary: str
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    acknowledged_at: datetime | None
    decided_at: datetime | None
    deadline_at: datetime | None
    escalated_at: datetime | None
    resubmission_of: int | None
    package: dict[str, Any] | None
    package_sha256: str | None
    evidence_refs: list[Any]
    items: list[ReferralItem] = field(default_factory=list)


def _referral(conn: Connection, row: Any) -> Referral:
    items = [
        ReferralItem(i.id, i.kind, i.native_id, i.url, i.status, i.account_id, i.post_id)
        for i in conn.execute(
            select(t.referral_items)
            .where(t.referral_items.c.referral_id == row.id)
            .order_by(t.referral_items.c.id)
        )
    ]
    return Referral(
        id=row.id,
        public_id=row.public_id,
        direction=row.direction,
        platform=row.platform,
        case_id=row.case_id,
        status=row.status,
        tlp=row.tlp,
        legal_basis=row.legal_basis,
        policies=list(row.policies or []),
        summary=row.summary,
        drafted_by=row.drafted_by,
        drafted_at=row.drafted_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at,
        decided_at=row.decided_at,
        deadline_at=row.deadline_at,
        escalated_at=row.escalated_at,
        resubmission_of=row.resubmission_of,
        package=row.package,
        package_sha256=row.package_sha256,
        evidence_refs=list(row.evidence_refs or []),
        items=items,
    )


def get(conn: Connection, referral_id: int) -> Referral:
    row = conn.execute(select(t.referrals).where(t.referrals.c.id == referral_id)).first()
    if row is None:
        raise NotFound(f"no referral {referral_id}")
    return _referral(conn, row)


def get_by_public_id(conn: Connection, public_id: str) -> Referral:
    row = conn.execute(select(t.referrals).where(t.referrals.c.public_id == public_id)).first()
    if row is None:
        raise NotFound(f"no referral {public_id}")
    return _referral(conn, row)


def list_referrals(
    conn: Connection,
    *,
    platform: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    limit: int = 100,
) -> list[Referral]:
    query = select(t.referrals).order_by(t.referrals.c.id.desc()).limit(limit)
    if platform:
        query = query.where(t.referrals.c.platform == platform)
    if status:
        query = query.where(t.referrals.c.status == status)
    if direction:
        query = query.where(t.referrals.c.direction == direction)
    return [_referral(conn, row) for row in conn.execute(query)]


def _set_status(
    conn: Connection,
    referral: Referral,
    actor: str,
    action: str,
    status: str,
    *,
    allowed_from: Iterable[str],
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Move ``referral`` to ``status`` if it is still in one of ``allowed_from`` (checked in
    the UPDATE itself, so two concurrent steps cannot both apply)."""
    allowed = tuple(allowed_from)
    now = now or datetime.now(UTC)
    values = {"status": status, "updated_at": now, **(extra or {})}
    done = conn.execute(
        update(t.referrals)
        .where(t.referrals.c.id == referral.id, t.referrals.c.status.in_(allowed))
        .values(**values)
    ).rowcount
    if not done:
        current = conn.execute(
            select(t.referrals.c.status).where(t.referrals.c.id == referral.id)
        ).scalar()
        raise Conflict(
            f"referral {referral.public_id} is {current}; {action} needs it to be "
            + " or ".join(allowed)
        )
    audit.record(
        conn,
        actor=actor,
        action=action,
        entity="referral",
        entity_id=referral.public_id,
        before={"status": referral.status},
        after={k: v for k, v in values.items() if k != "updated_at"},
        at=now,
    )


# --- drafting and approval -------------------------------------------------------------------


def draft(
    engine: Engine,
    actor: Actor,
    *,
    recipient: Recipient | str,
    case_id: int | None = None,
    account_ids: Sequence[int] = (),
    post_ids: Sequence[int] = (),
    summary: str = "",
    legal_basis: str = DEFAULT_LEGAL_BASIS,
    tlp: str = "TLP:AMBER",
    evidence_refs: Sequence[dict[str, Any]] = (),
    resubmission_of: int | None = None,
    now: datetime | None = None,
) -> Referral:
    """A draft referral to ``recipient`` of the given accounts and posts; with only a case,
    the case's accounts on the recipient's platforms and their posts reviewed as adverts."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    recipient = Recipient(recipient)
    if tlp not in TLP:
        raise ValueError(f"TLP marking must be one of {', '.join(TLP)}, not {tlp!r}")
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        accounts, posts = _targets(conn, recipient, case_id, account_ids, post_ids)
        if not accounts and not posts:
            raise ValueError(
                f"nothing to refer to {recipient.value}: no accounts or reviewed posts "
                f"on its platforms{f' in case {case_id}' if case_id else ''}"
            )
        categories = _categories(conn, [p.id for p in posts])
        policies = [
            {"name": p.name, "url": p.url, "summary": p.summary}
            for p in policies_broken(recipient, categories)
        ]
        public_id = str(uuid.uuid4())
        referral_id = conn.execute(
            insert(t.referrals).values(
                public_id=public_id,
                direction="outbound",
                platform=recipient.value,
                case_id=case_id,
                status="draft",
                tlp=tlp,
                legal_basis=legal_basis,
                policies=policies,
                summary=summary,
                evidence_refs=list(evidence_refs),
                drafted_by=actor.username,
                drafted_at=now,
                resubmission_of=resubmission_of,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        handles = {a.id: a.handle or "" for a in accounts}
        rows = [
            {
                "referral_id": referral_id,
                "kind": "account",
                "account_id": a.id,
                "post_id": None,
                "native_id": a.native_id,
                "url": a.url or account_url(a.platform, a.native_id, a.handle or ""),
                "status": "pending",
            }
            for a in accounts
        ] + [
            {
                "referral_id": referral_id,
                "kind": "post",
                "account_id": None,
                "post_id": p.id,
                "native_id": p.native_id,
                "url": p.url or post_url(p.platform, p.native_id, handles.get(p.account_id, "")),
                "status": "pending",
            }
            for p in posts
        ]
        conn.execute(insert(t.referral_items), rows)
        audit.record(
            conn,
            actor=actor.username,
            action="referral.draft",
            entity="referral",
            entity_id=public_id,
            after={
                "recipient": recipient.value,
                "case_id": case_id,
                "accounts": [a.id for a in accounts],
                "posts": [p.id for p in posts],
                "resubmission_of": resubmission_of,
            },
            at=now,
        )
        return get(conn, int(referral_id))


def _targets(
    conn: Connection,
    recipient: Recipient,
    case_id: int | None,
    account_ids: Sequence[int],
    post_ids: Sequence[int],
) -> tuple[list[Any], list[Any]]:
    platforms = [
        p
        for p in ("x", "facebook", "instagram", "tiktok", "youtube", "telegram")
        if Recipient.of(p) is recipient
    ]
    a, p = t.accounts, t.posts
    ids = set(account_ids)
    if case_id is not None:
        if conn.execute(select(t.cases.c.id).where(t.cases.c.id == case_id)).first() is None:
            raise NotFound(f"no case {case_id}")
        ids |= set(
            conn.execute(
                select(t.case_accounts.c.account_id).where(t.case_accounts.c.case_id == case_id)
            ).scalars()
        )
    accounts = (
        list(
            conn.execute(
                select(a).where(a.c.id.in_(ids), a.c.platform.in_(platforms)).order_by(a.c.id)
            )
        )
        if ids
        else []
    )
    wanted_posts = set(post_ids)
    if case_id is not None and not post_ids and accounts:
        # The case's posts that an analyst reviewed as adverts.
        keys = [(row.platform, row.native_id) for row in accounts]
        for platform, natives in _group(keys).items():
            wanted_posts |= set(
                conn.execute(
                    select(p.c.id)
                    .join(t.review_items, t.review_items.c.post_id == p.c.id)
                    .where(
                        p.c.platform == platform,
                        p.c.account_native_id.in_(natives),
                        t.review_items.c.decision == "advert",
                    )
                ).scalars()
            )
    posts = (
        list(
            conn.execute(
                select(p, a.c.id.label("account_id"))
                .outerjoin(
                    a, (a.c.platform == p.c.platform) & (a.c.native_id == p.c.account_native_id)
                )
                .where(p.c.id.in_(wanted_posts), p.c.platform.in_(platforms))
                .order_by(p.c.id)
            )
        )
        if wanted_posts
        else []
    )
    missing = set(account_ids) - {row.id for row in accounts}
    missing_posts = set(post_ids) - {row.id for row in posts}
    if missing or missing_posts:
        raise NotFound(
            f"not on {recipient.value}'s platforms or not in the database: "
            f"accounts {sorted(missing)} posts {sorted(missing_posts)}"
        )
    return accounts, posts


def _group(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for platform, native in keys:
        grouped.setdefault(platform, []).append(native)
    return grouped


def _categories(conn: Connection, post_ids: list[int]) -> set[str]:
    found: set[str] = set()
    if post_ids:
        for categories in conn.execute(
            select(t.detections.c.categories).where(t.detections.c.post_id.in_(post_ids))
        ).scalars():
            found.update(categories or [])
    return found


def approve(
    engine: Engine,
    actor: Actor,
    referral_id: int,
    *,
    deadline: timedelta = DEFAULT_DEADLINE,
    unit_name: str = "Tidewatch referral unit",
    capture_evidence: bool = True,
    now: datetime | None = None,
) -> Referral:
    """Four eyes: a supervisor other than the drafter approves; the package is frozen and
    queued for delivery in the same transaction.

    Evidence is sealed first: every listed account and post must be in a sealed capture,
    checked inside the approval's transaction. With ``capture_evidence`` (the default)
    whatever is not yet sealed is captured and sealed just before; without it, approval
    is refused until someone captures it."""
    from tidewatch.evidence.gate import ensure_sealed, sealed_evidence

    actor.require(Role.SUPERVISOR)
    with engine.connect() as conn:
        drafted_by = get(conn, referral_id).drafted_by
    if drafted_by == actor.username:
        raise PermissionDenied(
            f"{actor.username} drafted referral {referral_id}; "
            "a different supervisor must approve it (four eyes)"
        )
    if capture_evidence:
        ensure_sealed(engine, actor, referral_id)
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        referral = get(conn, referral_id)
        if referral.drafted_by == actor.username:
            raise PermissionDenied(
                f"{actor.username} drafted referral {referral.public_id}; "
                "a different supervisor must approve it (four eyes)"
            )
        evidence = sealed_evidence(conn, referral.id)
        known = {ref.get("capture_id") for ref in referral.evidence_refs}
        fresh = [ref for ref in evidence if ref["capture_id"] not in known]
        referral = replace(referral, evidence_refs=[*referral.evidence_refs, *fresh])
        package = build_package(
            conn,
            referral,
            approved_by=actor.username,
            approved_at=now,
            deadline_at=now + deadline,
            unit_name=unit_name,
        )
        digest = package_sha256(package)
        _set_status(
            conn,
            referral,
            actor.username,
            "referral.approve",
            "approved",
            allowed_from=("draft",),
            extra={
                "approved_by": actor.username,
                "approved_at": now,
                "package": package,
                "package_sha256": digest,
                "evidence_refs": referral.evidence_refs,
                "deadline_at": now + deadline,
            },
            now=now,
        )
        attempt = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.referral_id == referral.id)
        ).scalar_one()
        conn.execute(
            insert(t.outbox).values(
                referral_id=referral.id,
                # The recipient's channel is looked up at delivery (the worker records which
                # one it used), so a channel configured later still applies.
                channel="",
                idempotency_key=f"referral-{referral.public_id}-{attempt + 1}",
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return get(conn, referral_id)


def package_sha256(package: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(package, option=orjson.OPT_SORT_KEYS)).hexdigest()


def build_package(
    conn: Connection,
    referral: Referral,
    *,
    approved_by: str,
    approved_at: datetime,
    deadline_at: datetime,
    unit_name: str,
) -> dict[str, Any]:
    """What the platform receives: the accounts and posts with URLs it can resolve, its own
    policies broken, the legal basis, evidence references and the TLP marking. Only suspects'
    accounts and their posts: nobody else's data is in a referral."""
    items: list[dict[str, Any]] = []
    # Items are numbered within the referral: the table's own ids run across every platform's
    # referrals, so their gaps would tell a platform how many items others received.
    for number, item in enumerate(referral.items, 1):
        entry: dict[str, Any] = {
            "item_id": number,
            "kind": item.kind,
            "native_id": item.native_id,
            "url": item.url,
        }
        if item.kind == "account" and item.account_id is not None:
            row = conn.execute(select(t.accounts).where(t.accounts.c.id == item.account_id)).one()
            entry |= {
                "platform": row.platform,
                "handle": row.handle,
                "display_name": row.display_name,
            }
        elif item.post_id is not None:
            row = conn.execute(select(t.posts).where(t.posts.c.id == item.post_id)).one()
            detection = conn.execute(
                select(t.detections)
                .where(t.detections.c.post_id == item.post_id)
                .order_by(t.detections.c.id.desc())
                .limit(1)
            ).first()
            entry |= {
                "platform": row.platform,
                "account_native_id": row.account_native_id,
                "created_at": row.created_at.isoformat() if row.created_at else None,
                "text": row.text,
                "categories": list(detection.categories) if detection else [],
                "signals": [
                    {"signal": r["signal"], "evidence": r["evidence"]}
                    for r in (detection.reasons if detection else [])
                ],
            }
        items.append(entry)
    return {
        "schema": "tidewatch.referral/1",
        "referral_id": referral.public_id,
        "resubmission_of": _public_id(conn, referral.resubmission_of),
        "recipient": referral.platform,
        "from": unit_name,
        "tlp": referral.tlp,
        "legal_basis": referral.legal_basis,
        "policies": referral.policies,
        "policy_mapping_version": mapping_version(),
        "summary": referral.summary,
        "items": items,
        "evidence": referral.evidence_refs,
        "drafted_by": referral.drafted_by,
        "approved_by": approved_by,
        "approved_at": approved_at.isoformat(),
        "respond_by": deadline_at.isoformat(),
    }


def _public_id(conn: Connection, referral_id: int | None) -> str | None:
    if referral_id is None:
        return None
    return conn.execute(
        select(t.referrals.c.public_id).where(t.referrals.c.id == referral_id)
    ).scalar()


# --- delivery (called by the outbox worker) ---------------------------------------------------


def mark_sent(
    conn: Connection,
    referral_id: int,
    *,
    actor: str,
    receipt: str = "",
    now: datetime | None = None,
) -> None:
    referral = get(conn, referral_id)
    if referral.status != "approved":
        return  # already moved on (a decision can arrive before the worker records delivery)
    now = now or datetime.now(UTC)
    _set_status(
        conn,
        referral,
        actor,
        "referral.sent",
        "sent",
        allowed_from=("approved",),
        extra={"sent_at": now},
        now=now,
    )


def mark_delivery_failed(conn: Connection, referral_id: int, *, actor: str, error: str) -> None:
    referral = get(conn, referral_id)
    _set_status(
        conn,
        referral,
        actor,
        "referral.delivery_failed",
        "delivery_failed",
        allowed_from=("approved",),
        extra={},
    )
    audit.record(
        conn,
        actor=actor,
        action="referral.delivery_error",
        entity="referral",
        entity_id=referral.public_id,
        after={"error": error[:500]},
    )


# --- the platform's answers -------------------------------------------------------------------


def acknowledge(
    conn: Connection, referral: Referral, actor: Actor, *, now: datetime | None = None
) -> Referral:
    """The platform has received the referral (idempotent: a repeat changes nothing)."""
    if referral.status != "sent":
        return referral
    now = now or datetime.now(UTC)
    _set_status(
        conn,
        referral,
        actor.username,
        "referral.acknowledge",
        "acknowledged",
        allowed_from=("sent",),
        extra={"acknowledged_at": now},
        now=now,
    )
    return get(conn, referral.id)


@dataclass(frozen=True)
class PlatformDecision:
    """A platform's decision on a referral, in the DSA statement-of-reasons vocabulary.
    ``no_violation`` is the one answer that is not a restriction (and so has no statement)."""

    no_violation: bool = False
    decision_visibility: tuple[str, ...] = ()
    decision_account: str | None = None
    decision_ground: str | None = None
    category: str | None = None
    territorial_scope: tuple[str, ...] = ()
    automated_detection: bool | None = None
    automated_decision: str | None = None
    statement_id: str | None = None
    decided_at: datetime | None = None
    item_ids: tuple[int, ...] = ()
    note: str = ""

    def outcome(self) -> str:
        if self.no_violation:
            if self.decision_visibility or self.decision_account:
                raise ValueError(
                    "a no-violation answer cannot also restrict content or the account"
                )
            return "no_violation"
        for value in self.decision_visibility:
            _check_enum("DECISION_VISIBILITIES", value, "decision_visibility")
        _check_enum("DECISION_ACCOUNTS", self.decision_account, "decision_account")
        _check_enum("DECISION_GROUNDS", self.decision_ground, "decision_ground")
        _check_enum("STATEMENT_CATEGORIES", self.category, "category")
        _check_enum("AUTOMATED_DECISIONS", self.automated_decision, "automated_decision")
        if not self.decision_visibility and not self.decision_account:
            raise ValueError(
                "a decision restricts content (decision_visibility) or the account "
                "(decision_account), or says no_violation"
            )
        if self.decision_ground is None:
            raise ValueError("decision_ground is required when content or an account is restricted")
        visibility = set(self.decision_visibility)
        if self.decision_account or "DECISION_VISIBILITY_CONTENT_REMOVED" in visibility:
            return "removed"
        if "DECISION_VISIBILITY_CONTENT_DISABLED" in visibility:
            return "geo_blocked" if self.territorial_scope else "removed"
        return "restricted"


def record_decision(
    conn: Connection,
    referral: Referral,
    decision: PlatformDecision,
    *,
    actor: str,
    source: str,
    now: datetime | None = None,
) -> Referral:
    outcome = decision.outcome()
    now = now or datetime.now(UTC)
    known = {item.id for item in referral.items}
    unknown = set(decision.item_ids) - known
    if unknown:
        raise NotFound(f"referral {referral.public_id} has no items {sorted(unknown)}")
    item_ids = decision.item_ids or tuple(sorted(known))
    decided_at = decision.decided_at or now
    conn.execute(
        insert(t.platform_decisions),
        [
            {
                "referral_id": referral.id,
                "item_id": item_id if decision.item_ids else None,
                "outcome": outcome,
                "statement_id": decision.statement_id,
                "decision_visibility": list(decision.decision_visibility),
                "decision_account": decision.decision_account,
                "decision_ground": decision.decision_ground,
                "category": decision.category,
                "territorial_scope": list(decision.territorial_scope),
                "automated_detection": decision.automated_detection,
                "automated_decision": decision.automated_decision,
                "decided_at": decided_at,
                "received_at": now,
                "source": source,
                "actor": actor,
                "note": decision.note,
            }
            for item_id in (decision.item_ids or (None,))
        ],
    )
    conn.execute(
        update(t.referral_items).where(t.referral_items.c.id.in_(item_ids)).values(status=outcome)
    )
    _set_status(
        conn,
        referral,
        actor,
        "referral.decision",
        outcome,
        allowed_from=DECIDABLE,
        extra={"decided_at": decided_at},
        now=now,
    )
    return get(conn, referral.id)


def decisions(conn: Connection, referral_id: int) -> list[dict[str, Any]]:
    return [
        dict(row._mapping)
        for row in conn.execute(
            select(t.platform_decisions)
            .where(t.platform_decisions.c.referral_id == referral_id)
            .order_by(t.platform_decisions.c.id)
        )
    ]


# --- the message thread -----------------------------------------------------------------------


def post_message(
    conn: Connection,
    referral: Referral,
    *,
    sender: str,
    author: str,
    body: str,
    information_request: bool = False,
) -> dict[str, Any]:
    """A message in the referral's thread. A platform's information request moves the
    referral to more_info_requested; the unit's answer moves it back."""
    if sender not in ("unit", "platform"):
        raise ValueError("sender is 'unit' or 'platform'")
    if not body.strip():
        raise ValueError("a message needs a body")
    if information_request and sender != "platform":
        raise ValueError("only the platform asks for more information")
    now = datetime.now(UTC)
    message_id = conn.execute(
        insert(t.referral_messages).values(
            referral_id=referral.id,
            sender=sender,
            author=author,
            kind="information_request" if information_request else "message",
            body=body,
            created_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    # The status change (a row lock on the referral) comes before the message's audit entry
    # (the audit head's lock), the order every other step takes them in: the other order
    # deadlocks against a concurrent decision on PostgreSQL.
    if information_request:
        _set_status(
            conn,
            referral,
            author,
            "referral.information_request",
            "more_info_requested",
            allowed_from=("sent", "acknowledged"),
            now=now,
        )
    elif sender == "unit" and referral.status == "more_info_requested":
        _set_status(
            conn,
            referral,
            author,
            "referral.information_given",
            "acknowledged",
            allowed_from=("more_info_requested",),
            now=now,
        )
    audit.record(
        conn,
        actor=author,
        action="referral.message",
        entity="referral",
        entity_id=referral.public_id,
        after={"message_id": message_id, "sender": sender},
    )
    return {
        "id": message_id,
        "sender": sender,
        "author": author,
        "body": body,
        "created_at": now,
        "kind": "information_request" if information_request else "message",
    }


def messages(conn: Connection, referral_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "sender": row.sender,
            "author": row.author,
            "kind": row.kind,
            "body": row.body,
            "created_at": row.created_at,
        }
        for row in conn.execute(
            select(t.referral_messages)
            .where(t.referral_messages.c.referral_id == referral_id)
            .order_by(t.referral_messages.c.id)
        )
    ]


# --- deadlines and resubmission ---------------------------------------------------------------


@dataclass
class DeadlineRun:
    escalated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


def check_deadlines(
    engine: Engine, *, now: datetime | None = None, grace: timedelta = timedelta(days=7)
) -> DeadlineRun:
    """Escalate referrals past their response deadline (once), and expire those still
    unanswered ``grace`` after it."""
    now = now or datetime.now(UTC)
    run = DeadlineRun()
    waiting = ("sent", "acknowledged", "more_info_requested")
    with engine.begin() as conn:
        rows = conn.execute(
            select(t.referrals).where(
                t.referrals.c.status.in_(waiting), t.referrals.c.deadline_at < now
            )
        ).all()
        for row in rows:
            referral = _referral(conn, row)
            if row.deadline_at + grace < now:
                _set_status(
                    conn,
                    referral,
                    "system",
                    "referral.expire",
                    "expired",
                    allowed_from=waiting,
                    now=now,
                )
                run.expired.append(referral.public_id)
            elif row.escalated_at is None:
                conn.execute(
                    update(t.referrals).where(t.referrals.c.id == row.id).values(escalated_at=now)
                )
                audit.record(
                    conn,
                    actor="system",
                    action="referral.escalate",
                    entity="referral",
                    entity_id=referral.public_id,
                    after={"deadline_at": row.deadline_at, "status": row.status},
                    at=now,
                )
                run.escalated.append(referral.public_id)
    return run


def resubmit(engine: Engine, actor: Actor, referral_id: int, *, summary: str = "") -> Referral:
    """A new draft of the same accounts and posts, linked to the earlier referral."""
    with engine.connect() as conn:
        earlier = get(conn, referral_id)
    if earlier.status not in RESUBMITTABLE:
        raise Conflict(
            f"referral {earlier.public_id} is {earlier.status}; only "
            + ", ".join(RESUBMITTABLE)
            + " referrals are resubmitted"
        )
    return draft(
        engine,
        actor,
        recipient=earlier.platform,
        case_id=None,
        account_ids=[i.account_id for i in earlier.items if i.account_id is not None],
        post_ids=[i.post_id for i in earlier.items if i.post_id is not None],
        summary=summary or earlier.summary,
        legal_basis=earlier.legal_basis,
        tlp=earlier.tlp,
        evidence_refs=earlier.evidence_refs,
        resubmission_of=earlier.id,
    )


# --- referrals from platforms to the unit -----------------------------------------------------


def receive_inbound(
    conn: Connection,
    recipient: str,
    *,
    actor: str,
    summary: str,
    items: Sequence[dict[str, str]],
    tlp: str = "TLP:AMBER",
) -> Referral:
    """A platform's own referral to the unit (accounts it found): stored for the unit's
    analysts to triage, visible to that platform only."""
    if tlp not in TLP:
        raise ValueError(f"TLP marking must be one of {', '.join(TLP)}, not {tlp!r}")
    if not items:
        raise ValueError("a referral lists at least one account or post")
    now = datetime.now(UTC)
    public_id = str(uuid.uuid4())
    referral_id = conn.execute(
        insert(t.referrals).values(
            public_id=public_id,
            direction="inbound",
            platform=Recipient(recipient).value,
            status="received",
            tlp=tlp,
            summary=summary,
            drafted_by=actor,
            drafted_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(
        insert(t.referral_items),
        [
            {
                "referral_id": referral_id,
                "kind": item["kind"],
                "native_id": item["native_id"],
                "url": item.get("url", ""),
                "status": "received",
            }
            for item in items
        ],
    )
    audit.record(
        conn,
        actor=actor,
        action="referral.receive",
        entity="referral",
        entity_id=public_id,
        after={"recipient": recipient, "items": len(items)},
    )
    return get(conn, int(referral_id))

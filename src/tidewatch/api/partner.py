"""The partner API: a platform's side of the two-way channel.

A partner key speaks for one recipient. Every lookup of a referral carries that recipient in
the same single query as the id (``platform = key's recipient``, outbound, delivered), so
another platform's referral, one not yet sent and one that never existed take the same path
and give the same 404, byte for byte. Lists are keyed by cursors built from the partner's own
referrals' public ids, and nothing returned (item numbers, message numbers, page sizes)
counts anything beyond what the platform itself received.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import Connection, Row, select
from sqlalchemy.sql.elements import ColumnElement

from tidewatch.api.auth import PartnerKey, engine_of, partner_identity
from tidewatch.api.schemas import (
    DecisionIn,
    DecisionOut,
    ErrorOut,
    ItemOut,
    MessageIn,
    MessageOut,
    PartnerReferralOut,
    PartnerReferralPage,
    SubmissionIn,
    SubmissionOut,
    SubmissionPage,
)
from tidewatch.errors import Conflict
from tidewatch.referrals import service as rs
from tidewatch.store import tables as t
from tidewatch.store.users import KeyIdentity

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, malformed, unknown or revoked key"},
    403: {"model": ErrorOut, "description": "A unit key, not a partner key"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such referral for this key's platform"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The referral's status does not allow this step"}
}

router = APIRouter(prefix="/partner/v1", tags=["partner"], responses=ERRORS)

PartnerStatus = Literal[
    "sent",
    "acknowledged",
    "more_info_requested",
    "removed",
    "restricted",
    "geo_blocked",
    "no_violation",
    "expired",
]
assert set(PartnerStatus.__args__) == set(rs.PARTNER_VISIBLE)  # type: ignore[attr-defined]

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]


def _not_found() -> HTTPException:
    # One construction for every unseen referral, so the bodies and headers cannot drift.
    return HTTPException(404, "referral not found")


def _outbound_to(identity: KeyIdentity) -> list[ColumnElement[bool]]:
    r = t.referrals.c
    return [
        r.platform == identity.platform,
        r.direction == "outbound",
        r.status.in_(rs.PARTNER_VISIBLE),
    ]


def _inbound_from(identity: KeyIdentity) -> list[ColumnElement[bool]]:
    r = t.referrals.c
    return [r.platform == identity.platform, r.direction == "inbound"]


def _visible_row(
    conn: Connection, where: list[ColumnElement[bool]], public_id: UUID
) -> Row[Any] | None:
    return conn.execute(
        select(t.referrals).where(t.referrals.c.public_id == str(public_id), *where)
    ).first()


def _items_by_referral(conn: Connection, ids: Sequence[int]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {i: [] for i in ids}
    if ids:
        for item in conn.execute(
            select(t.referral_items)
            .where(t.referral_items.c.referral_id.in_(ids))
            .order_by(t.referral_items.c.id)
        ):
            grouped[item.referral_id].append(item)
    return grouped


def items_out(items: Sequence[Any]) -> list[ItemOut]:
    return [
        ItemOut(item_id=n, kind=i.kind, native_id=i.native_id, url=i.url, status=i.status)
        for n, i in enumerate(items, 1)
    ]


def _referral_out(row: Any, items: Sequence[Any]) -> PartnerReferralOut:
    package = row.package
    return PartnerReferralOut(
        id=row.public_id,
        status=row.status,
        tlp=row.tlp,
        sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at,
        decided_at=row.decided_at,
        respond_by=row.deadline_at,
        # The package names the earlier referral by its public id (the internal one would count).
        resubmission_of=(package or {}).get("resubmission_of"),
        package=package,
        package_sha256=row.package_sha256,
        items=items_out(items),
    )


def _submission_out(row: Any, items: Sequence[Any]) -> SubmissionOut:
    return SubmissionOut(
        id=row.public_id,
        status=row.status,
        tlp=row.tlp,
        summary=row.summary,
        received_at=row.drafted_at,
        items=items_out(items),
    )


def encode_cursor(public_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{public_id}".encode()).decode().rstrip("=")


def _cursor_bad() -> HTTPException:
    return HTTPException(
        422,
        [
            {
                "loc": ["query", "cursor"],
                "msg": "not a cursor this API gave out",
                "type": "value_error",
            }
        ],
    )


def decode_cursor(conn: Connection, cursor: str, where: list[ColumnElement[bool]]) -> int:
    """The internal id to continue below. The cursor names one of the caller's own referrals;
    any other (another platform's included) is refused exactly like garbage."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        public_id = UUID(raw.removeprefix("v1:")) if raw.startswith("v1:") else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        public_id = None
    if public_id is None:
        raise _cursor_bad()
    row = _visible_row(conn, where, public_id)
    if row is None:
        raise _cursor_bad()
    return int(row.id)


def _page(
    conn: Connection,
    where: list[ColumnElement[bool]],
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], dict[int, list[Any]], str | None]:
    r = t.referrals.c
    query = select(t.referrals).where(*where).order_by(r.id.desc()).limit(limit + 1)
    if status:
        query = query.where(r.status == status)
    if cursor:
        query = query.where(r.id < decode_cursor(conn, cursor, where))
    rows = list(conn.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    items = _items_by_referral(conn, [row.id for row in rows])
    return rows, items, encode_cursor(rows[-1].public_id) if more else None


@router.get("/referrals", response_model=PartnerReferralPage, summary="Referrals to my platform")
def list_referrals(
    request: Request,
    key: PartnerKey,
    status: PartnerStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PartnerReferralPage:
    """Referrals delivered to this key's platform, newest first."""
    with engine_of(request).connect() as conn:
        where = _outbound_to(partner_identity(conn, key))
        rows, items, next_cursor = _page(conn, where, status=status, limit=limit, cursor=cursor)
    return PartnerReferralPage(
        items=[_referral_out(row, items[row.id]) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/referrals/{public_id}",
    response_model=PartnerReferralOut,
    responses=NOT_FOUND,
    summary="One referral",
)
def get_referral(request: Request, key: PartnerKey, public_id: UUID) -> PartnerReferralOut:
    with engine_of(request).connect() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _outbound_to(identity), public_id)
        if row is None:
            raise _not_found()
        return _referral_out(row, _items_by_referral(conn, [row.id])[row.id])


@router.post(
    "/referrals/{public_id}/acknowledge",
    response_model=PartnerReferralOut,
    responses=NOT_FOUND,
    summary="Confirm receipt (repeating it changes nothing)",
)
def acknowledge(request: Request, key: PartnerKey, public_id: UUID) -> PartnerReferralOut:
    with engine_of(request).connect() as conn:
        identity = partner_identity(conn, key)
        where = _outbound_to(identity)
        row = _visible_row(conn, where, public_id)
        if row is None:
            raise _not_found()
        if row.status == "sent":
            conn.commit()  # end the read; the step is its own transaction
            try:
                with conn.begin():
                    rs.acknowledge(conn, rs.get(conn, row.id), identity.actor)
            except Conflict:
                pass  # acknowledged (or decided) meanwhile by a concurrent request
            row = _visible_row(conn, where, public_id)
            assert row is not None  # a delivered referral stays visible
        return _referral_out(row, _items_by_referral(conn, [row.id])[row.id])


def _decision_out(row: Any, numbers: dict[int, int]) -> DecisionOut:
    return DecisionOut(
        outcome=row.outcome,
        item_ids=[numbers[row.item_id]] if row.item_id in numbers else [],
        statement_id=row.statement_id,
        decision_visibility=list(row.decision_visibility or []),
        decision_account=row.decision_account,
        decision_ground=row.decision_ground,
        category=row.category,
        territorial_scope=list(row.territorial_scope or []),
        automated_detection=row.automated_detection,
        automated_decision=row.automated_decision,
        decided_at=row.decided_at,
        received_at=row.received_at,
        source=row.source,
        note=row.note,
    )


def decisions_out(conn: Connection, referral: rs.Referral) -> list[DecisionOut]:
    numbers = {item.id: n for n, item in enumerate(referral.items, 1)}
    rows = conn.execute(
        select(t.platform_decisions)
        .where(t.platform_decisions.c.referral_id == referral.id)
        .order_by(t.platform_decisions.c.id)
    )
    return [_decision_out(row, numbers) for row in rows]


@router.post(
    "/referrals/{public_id}/decisions",
    response_model=list[DecisionOut],
    status_code=201,
    responses=NOT_FOUND | CONFLICT,
    summary="Record the platform's decision (DSA statement-of-reasons vocabulary)",
)
def decide(
    request: Request, key: PartnerKey, public_id: UUID, body: DecisionIn
) -> list[DecisionOut]:
    """One decision per referral: a second is a 409 and changes nothing."""
    with engine_of(request).begin() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _outbound_to(identity), public_id)
        if row is None:
            raise _not_found()
        referral = rs.get(conn, row.id)
        count = len(referral.items)
        unknown = sorted(n for n in set(body.item_ids) if n > count)
        if unknown:
            raise ValueError(
                f"item_ids {unknown} are not in this referral (its items are 1 to {count})"
            )
        decision = rs.PlatformDecision(
            no_violation=body.no_violation,
            decision_visibility=tuple(body.decision_visibility),
            decision_account=body.decision_account,
            decision_ground=body.decision_ground,
            category=body.category,
            territorial_scope=tuple(body.territorial_scope),
            automated_detection=body.automated_detection,
            automated_decision=body.automated_decision,
            statement_id=body.statement_id,
            decided_at=body.decided_at,
            item_ids=tuple(referral.items[n - 1].id for n in sorted(set(body.item_ids))),
            note=body.note,
        )
        rs.record_decision(
            conn, referral, decision, actor=identity.actor.username, source="partner_api"
        )
        return decisions_out(conn, referral)


@router.get(
    "/referrals/{public_id}/decisions",
    response_model=list[DecisionOut],
    responses=NOT_FOUND,
    summary="Decisions recorded on a referral",
)
def list_decisions(request: Request, key: PartnerKey, public_id: UUID) -> list[DecisionOut]:
    with engine_of(request).connect() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _outbound_to(identity), public_id)
        if row is None:
            raise _not_found()
        return decisions_out(conn, rs.get(conn, row.id))


def messages_out(conn: Connection, referral_id: int) -> list[dict[str, Any]]:
    return [{"number": n, **m} for n, m in enumerate(rs.messages(conn, referral_id), 1)]


@router.get(
    "/referrals/{public_id}/messages",
    response_model=list[MessageOut],
    responses=NOT_FOUND,
    summary="The referral's message thread",
)
def list_messages(request: Request, key: PartnerKey, public_id: UUID) -> list[MessageOut]:
    with engine_of(request).connect() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _outbound_to(identity), public_id)
        if row is None:
            raise _not_found()
        return [MessageOut.model_validate(m) for m in messages_out(conn, row.id)]


@router.post(
    "/referrals/{public_id}/messages",
    response_model=MessageOut,
    status_code=201,
    responses=NOT_FOUND | CONFLICT,
    summary="Write to the unit (kind information_request asks for more information)",
)
def post_message(request: Request, key: PartnerKey, public_id: UUID, body: MessageIn) -> MessageOut:
    with engine_of(request).begin() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _outbound_to(identity), public_id)
        if row is None:
            raise _not_found()
        rs.post_message(
            conn,
            rs.get(conn, row.id),
            sender="platform",
            author=identity.actor.username,
            body=body.body,
            information_request=body.kind == "information_request",
        )
        return MessageOut.model_validate(messages_out(conn, row.id)[-1])


@router.post(
    "/submissions",
    response_model=SubmissionOut,
    status_code=201,
    summary="Refer accounts or posts the platform found to the unit",
)
def submit(request: Request, key: PartnerKey, body: SubmissionIn) -> SubmissionOut:
    with engine_of(request).begin() as conn:
        identity = partner_identity(conn, key)
        assert identity.platform is not None
        referral = rs.receive_inbound(
            conn,
            identity.platform,
            actor=identity.actor.username,
            summary=body.summary,
            items=[item.model_dump() for item in body.items],
            tlp=body.tlp,
        )
        row = conn.execute(select(t.referrals).where(t.referrals.c.id == referral.id)).one()
        return _submission_out(row, _items_by_referral(conn, [row.id])[row.id])


@router.get("/submissions", response_model=SubmissionPage, summary="My platform's submissions")
def list_submissions(
    request: Request, key: PartnerKey, limit: Limit = 50, cursor: Cursor = None
) -> SubmissionPage:
    with engine_of(request).connect() as conn:
        where = _inbound_from(partner_identity(conn, key))
        rows, items, next_cursor = _page(conn, where, status=None, limit=limit, cursor=cursor)
    return SubmissionPage(
        items=[_submission_out(row, items[row.id]) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/submissions/{public_id}",
    response_model=SubmissionOut,
    responses=NOT_FOUND,
    summary="One of my platform's submissions",
)
def get_submission(request: Request, key: PartnerKey, public_id: UUID) -> SubmissionOut:
    with engine_of(request).connect() as conn:
        identity = partner_identity(conn, key)
        row = _visible_row(conn, _inbound_from(identity), public_id)
        if row is None:
            raise _not_found()
        return _submission_out(row, _items_by_referral(conn, [row.id])[row.id])

"""The unit API: the review queue, cases and referrals for the unit's own users, as thin
routes over the service layer. The key acts as one user and the services enforce that
user's role (four eyes included); errors map to statuses in one place (``app.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from tidewatch.api.auth import UnitActor, engine_of, require_reader
from tidewatch.api.partner import decisions_out, items_out, messages_out
from tidewatch.api.schemas import (
    AddedOut,
    ApproveIn,
    AuditOut,
    CaseAccountsIn,
    CaseIn,
    CaseOut,
    ClaimIn,
    ClaimOut,
    DraftIn,
    ErrorOut,
    NoteIn,
    ResubmitIn,
    ReviewDecisionIn,
    ReviewItemOut,
    UnitMessageIn,
    UnitMessageOut,
    UnitReferralDetail,
    UnitReferralOut,
)
from tidewatch.cases import cases, queue
from tidewatch.errors import Conflict
from tidewatch.referrals import service as rs
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Role

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, malformed, unknown or revoked key"},
    403: {"model": ErrorOut, "description": "Not a unit key, or the user's role does not allow it"},
    404: {"model": ErrorOut, "description": "No such item, case or referral"},
    409: {"model": ErrorOut, "description": "The current state does not allow this step"},
}

router = APIRouter(prefix="/api/v1", tags=["unit"], responses=ERRORS)

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _item(item: queue.ReviewItem) -> ReviewItemOut:
    return ReviewItemOut.model_validate(item, from_attributes=True)


# --- review queue -----------------------------------------------------------------------------


@router.get("/queue", response_model=list[ReviewItemOut], summary="Items waiting for review")
def list_queue(
    request: Request,
    actor: UnitActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    include_claimed: bool = True,
) -> list[ReviewItemOut]:
    require_reader(actor)
    with engine_of(request).connect() as conn:
        return [_item(i) for i in queue.queue(conn, limit=limit, include_claimed=include_claimed)]


@router.post(
    "/queue/claim", response_model=ClaimOut, summary="Claim an item (the next one by default)"
)
def claim(request: Request, actor: UnitActor, body: ClaimIn | None = None) -> ClaimOut:
    item = queue.claim(engine_of(request), actor, body.item_id if body else None)
    return ClaimOut(item=_item(item) if item else None)


@router.post(
    "/queue/{item_id}/decision", response_model=ReviewItemOut, summary="Decide a claimed item"
)
def decide(
    request: Request, actor: UnitActor, item_id: Id, body: ReviewDecisionIn
) -> ReviewItemOut:
    return _item(
        queue.decide(
            engine_of(request), actor, item_id, body.decision, body.reason_code, note=body.note
        )
    )


@router.post("/queue/{item_id}/release", response_model=ReviewItemOut, summary="Give a claim back")
def release(request: Request, actor: UnitActor, item_id: Id) -> ReviewItemOut:
    engine = engine_of(request)
    queue.release(engine, actor, item_id)
    with engine.connect() as conn:
        return _item(queue.get(conn, item_id))


@router.get(
    "/queue/labels",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON per line"}},
    summary="Decided posts as labelled training data (JSON Lines)",
)
def export_labels(request: Request, actor: UnitActor) -> StreamingResponse:
    require_reader(actor)
    engine = engine_of(request)

    def lines() -> Iterator[bytes]:
        with engine.connect() as conn:
            for label in queue.export_labels(conn):
                yield orjson.dumps(label) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


# --- cases ------------------------------------------------------------------------------------


def _case(request: Request, case_id: int) -> CaseOut:
    with engine_of(request).connect() as conn:
        return CaseOut.model_validate(cases.get_case(conn, case_id), from_attributes=True)


@router.post("/cases", response_model=CaseOut, status_code=201, summary="Open a case")
def open_case(request: Request, actor: UnitActor, body: CaseIn) -> CaseOut:
    case_id = cases.open_case(
        engine_of(request),
        actor,
        body.title,
        accounts=[(a.platform, a.native_id) for a in body.accounts],
        network_id=body.network_id,
    )
    return _case(request, case_id)


@router.get("/cases/{case_id}", response_model=CaseOut, summary="A case with accounts and notes")
def get_case(request: Request, actor: UnitActor, case_id: Id) -> CaseOut:
    require_reader(actor)
    return _case(request, case_id)


@router.post("/cases/{case_id}/accounts", response_model=AddedOut, summary="Add accounts")
def add_accounts(request: Request, actor: UnitActor, case_id: Id, body: CaseAccountsIn) -> AddedOut:
    added = cases.add_accounts(
        engine_of(request), actor, case_id, [(a.platform, a.native_id) for a in body.accounts]
    )
    return AddedOut(added=added)


@router.post(
    "/cases/{case_id}/notes", response_model=CaseOut, status_code=201, summary="Add a note"
)
def add_note(request: Request, actor: UnitActor, case_id: Id, body: NoteIn) -> CaseOut:
    cases.add_note(engine_of(request), actor, case_id, body.body)
    return _case(request, case_id)


# --- referrals --------------------------------------------------------------------------------


def _public_id(conn: Any, referral_id: int | None) -> str | None:
    if referral_id is None:
        return None
    found: str | None = conn.execute(
        select(t.referrals.c.public_id).where(t.referrals.c.id == referral_id)
    ).scalar()
    return found


def _referral(conn: Any, referral: rs.Referral) -> dict[str, Any]:
    fields = {
        name: getattr(referral, name)
        for name in UnitReferralOut.model_fields
        if name not in ("id", "resubmission_of", "items")
    }
    return fields | {
        "id": referral.public_id,
        "resubmission_of": _public_id(conn, referral.resubmission_of),
        "items": items_out(referral.items),
    }


def _detail(request: Request, public_id: str) -> UnitReferralDetail:
    with engine_of(request).connect() as conn:
        referral = rs.get_by_public_id(conn, public_id)
        return UnitReferralDetail.model_validate(
            _referral(conn, referral)
            | {
                "decisions": decisions_out(conn, referral),
                "messages": messages_out(conn, referral.id),
            }
        )


def _internal_id(request: Request, public_id: UUID) -> int:
    with engine_of(request).connect() as conn:
        return rs.get_by_public_id(conn, str(public_id)).id


@router.post(
    "/referrals", response_model=UnitReferralDetail, status_code=201, summary="Draft a referral"
)
def draft(request: Request, actor: UnitActor, body: DraftIn) -> UnitReferralDetail:
    referral = rs.draft(
        engine_of(request),
        actor,
        recipient=body.recipient,
        case_id=body.case_id,
        account_ids=body.account_ids,
        post_ids=body.post_ids,
        summary=body.summary,
        tlp=body.tlp,
        legal_basis=rs.DEFAULT_LEGAL_BASIS if body.legal_basis is None else body.legal_basis,
    )
    return _detail(request, referral.public_id)


@router.get("/referrals", response_model=list[UnitReferralOut], summary="Referrals, newest first")
def list_referrals(
    request: Request,
    actor: UnitActor,
    platform: Literal["meta", "x", "tiktok", "youtube", "telegram"] | None = None,
    status: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    direction: Literal["outbound", "inbound"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UnitReferralOut]:
    require_reader(actor)
    with engine_of(request).connect() as conn:
        found = rs.list_referrals(
            conn, platform=platform, status=status, direction=direction, limit=limit
        )
        return [UnitReferralOut.model_validate(_referral(conn, r)) for r in found]


@router.get(
    "/referrals/{public_id}",
    response_model=UnitReferralDetail,
    summary="A referral with its decisions and messages",
)
def get_referral(request: Request, actor: UnitActor, public_id: UUID) -> UnitReferralDetail:
    require_reader(actor)
    return _detail(request, str(public_id))


@router.post(
    "/referrals/{public_id}/approve",
    response_model=UnitReferralDetail,
    summary="Approve (a supervisor other than the drafter); queues it for delivery",
)
def approve(
    request: Request, actor: UnitActor, public_id: UUID, body: ApproveIn | None = None
) -> UnitReferralDetail:
    days = body.deadline_days if body else 7
    rs.approve(
        engine_of(request), actor, _internal_id(request, public_id), deadline=timedelta(days=days)
    )
    return _detail(request, str(public_id))


@router.post(
    "/referrals/{public_id}/messages",
    response_model=UnitMessageOut,
    status_code=201,
    summary="Write to the platform (answers an information request)",
)
def post_message(
    request: Request, actor: UnitActor, public_id: UUID, body: UnitMessageIn
) -> UnitMessageOut:
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    with engine_of(request).begin() as conn:
        referral = rs.get_by_public_id(conn, str(public_id))
        if referral.direction != "outbound" or referral.status not in rs.PARTNER_VISIBLE:
            raise Conflict(
                f"referral {referral.public_id} is {referral.status}; "
                "only referrals the platform has received have a thread"
            )
        rs.post_message(conn, referral, sender="unit", author=actor.username, body=body.body)
        return UnitMessageOut.model_validate(messages_out(conn, referral.id)[-1])


@router.post(
    "/referrals/{public_id}/resubmit",
    response_model=UnitReferralDetail,
    status_code=201,
    summary="A new draft of a referral that was not acted on",
)
def resubmit(
    request: Request, actor: UnitActor, public_id: UUID, body: ResubmitIn | None = None
) -> UnitReferralDetail:
    new = rs.resubmit(
        engine_of(request),
        actor,
        _internal_id(request, public_id),
        summary=body.summary if body else "",
    )
    return _detail(request, new.public_id)


# --- audit ------------------------------------------------------------------------------------


@router.get("/audit/verify", response_model=AuditOut, summary="Check the audit chain")
def verify_audit(request: Request, actor: UnitActor) -> AuditOut:
    actor.require(Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
    with engine_of(request).connect() as conn:
        report = audit.verify(conn)
    return AuditOut(entries=report.entries, ok=report.ok, problem=report.problem, seq=report.seq)

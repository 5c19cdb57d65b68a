"""The partner portal: a platform liaison's inbox, one referral with its thread, acknowledge,
decide (DSA statement-of-reasons vocabulary) and write to the unit.

A liaison sees only referrals delivered to its own recipient. Anything else, another
platform's referral, a draft, an id that does not exist, answers the same 404, so changing
the URL teaches nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from tidewatch.errors import NotFound
from tidewatch.referrals import service as referrals
from tidewatch.referrals.service import PlatformDecision
from tidewatch.store import tables as t
from tidewatch.store.users import Role
from tidewatch.web import auth
from tidewatch.web.app import check_csrf, current_session, engine_of, render

router = APIRouter(prefix="/portal")


def liaison_session(request: Request) -> auth.Session:
    session = current_session(request)
    if session.actor.role is not Role.LIAISON or not session.actor.platform:
        raise NotFound("no such page")
    return session


Liaison = Annotated[auth.Session, Depends(liaison_session)]


def _mine(conn: Connection, session: auth.Session, public_id: str) -> referrals.Referral:
    row = conn.execute(
        select(t.referrals.c.id).where(
            t.referrals.c.public_id == public_id,
            t.referrals.c.platform == session.actor.platform,
            t.referrals.c.direction == "outbound",
            t.referrals.c.status.in_(referrals.PARTNER_VISIBLE),
        )
    ).first()
    if row is None:
        raise NotFound("no such referral")
    return referrals.get(conn, row.id)


@router.get("", response_class=HTMLResponse)
def inbox(request: Request, session: Liaison, status: str = "") -> Response:
    with engine_of(request).connect() as conn:
        query = (
            select(t.referrals)
            .where(
                t.referrals.c.platform == session.actor.platform,
                t.referrals.c.direction == "outbound",
                t.referrals.c.status.in_(referrals.PARTNER_VISIBLE),
            )
            .order_by(t.referrals.c.sent_at.desc(), t.referrals.c.id.desc())
            .limit(500)
        )
        if status:
            query = query.where(t.referrals.c.status == status)
        rows = conn.execute(query).all()
    return render(request, "portal_inbox.html", rows=rows, status=status)


@router.get("/referrals/{public_id}", response_class=HTMLResponse)
def referral(request: Request, public_id: str, session: Liaison) -> Response:
    with engine_of(request).connect() as conn:
        mine = _mine(conn, session, public_id)
        thread = referrals.messages(conn, mine.id)
        decided = referrals.decisions(conn, mine.id)
    enums = referrals.dsa_enums()
    return render(
        request,
        "portal_referral.html",
        referral=mine,
        thread=thread,
        decisions=decided,
        visibilities=enums["DECISION_VISIBILITIES"],
        accounts=enums["DECISION_ACCOUNTS"],
        grounds=enums["DECISION_GROUNDS"],
        categories=enums["STATEMENT_CATEGORIES"],
        automated=enums["AUTOMATED_DECISIONS"],
    )


@router.post("/referrals/{public_id}/acknowledge")
async def acknowledge(request: Request, public_id: str, session: Liaison) -> Response:
    await check_csrf(request, session)
    with engine_of(request).begin() as conn:
        referrals.acknowledge(conn, _mine(conn, session, public_id), session.actor)
    return RedirectResponse(f"/portal/referrals/{public_id}", status_code=303)


@router.post("/referrals/{public_id}/decide")
async def decide(request: Request, public_id: str, session: Liaison) -> Response:
    await check_csrf(request, session)
    form = await request.form()
    decision = _decision(form)
    with engine_of(request).begin() as conn:
        referrals.record_decision(
            conn,
            _mine(conn, session, public_id),
            decision,
            actor=session.actor.username,
            source="partner_portal",
        )
    return RedirectResponse(f"/portal/referrals/{public_id}", status_code=303)


def _decision(form: Any) -> PlatformDecision:
    def one(name: str) -> str | None:
        value = form.get(name)
        return str(value) if value else None

    scope = [
        c.strip().upper() for c in str(form.get("territorial_scope") or "").split(",") if c.strip()
    ]
    automated_detection = form.get("automated_detection")
    return PlatformDecision(
        no_violation=form.get("outcome") == "no_violation",
        decision_visibility=tuple(str(v) for v in form.getlist("decision_visibility") if v),
        decision_account=one("decision_account"),
        decision_ground=one("decision_ground"),
        category=one("category"),
        territorial_scope=tuple(scope),
        automated_detection=None
        if automated_detection in (None, "")
        else automated_detection == "yes",
        automated_decision=one("automated_decision"),
        statement_id=(one("statement_id") or "")[:200] or None,
        note=str(form.get("note") or "")[:4000],
    )


@router.post("/referrals/{public_id}/messages")
async def message(request: Request, public_id: str, session: Liaison) -> Response:
    form = await check_csrf(request, session)
    with engine_of(request).begin() as conn:
        referrals.post_message(
            conn,
            _mine(conn, session, public_id),
            sender="platform",
            author=session.actor.username,
            body=form.get("body", "")[:10_000],
            information_request=form.get("kind") == "information_request",
        )
    return RedirectResponse(f"/portal/referrals/{public_id}", status_code=303)

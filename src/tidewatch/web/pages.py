"""The unit's pages: dashboard, review queue, posts, accounts, networks, cases, referrals,
audit log. Liaisons never see these (they get 404, as if the pages did not exist)."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from tidewatch.cases import cases as case_service
from tidewatch.cases import queue as review
from tidewatch.errors import NotFound
from tidewatch.referrals import service as referrals
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Role
from tidewatch.web import auth, queries
from tidewatch.web.app import check_csrf, current_session, engine_of, new_login_token, render

router = APIRouter()


def unit_session(request: Request) -> auth.Session:
    session = current_session(request)
    if session.actor.role is Role.LIAISON:
        raise NotFound("no such page")
    return session


Unit = Annotated[auth.Session, Depends(unit_session)]


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return urlsplit(value).path or "/"


# --- sign-in ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    token = new_login_token()
    response = render(request, "login.html", login_token=token, next=_safe_next(next), error=None)
    response.set_cookie("tidewatch_login", token, httponly=True, samesite="strict", max_age=900)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get("tidewatch_login", "")
    error = None
    if not cookie or not hmac.compare_digest(cookie, login_token):
        error = "The sign-in form expired: try again."
    else:
        client = request.client.host if request.client else "-"
        try:
            token = auth.login(engine_of(request), username, password, client)
        except auth.TooManyAttempts as refused:
            error = str(refused)
        except auth.LoginRefused as refused:
            error = str(refused)
    if error:
        fresh = new_login_token()
        failed = render(
            request,
            "login.html",
            401 if "wrong" in error else 429 if "many" in error else 400,
            login_token=fresh,
            next=_safe_next(next),
            error=error,
        )
        failed.set_cookie("tidewatch_login", fresh, httponly=True, samesite="strict", max_age=900)
        return failed
    response = RedirectResponse(_safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        auth.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=int(auth.LIFETIME.total_seconds()),
    )
    response.delete_cookie("tidewatch_login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = current_session(request)
    await check_csrf(request, session)
    auth.logout(engine_of(request), request.cookies.get(auth.COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE)
    return response


# --- dashboard -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    session = current_session(request)
    if session.actor.role is Role.LIAISON:
        return RedirectResponse("/portal", status_code=303)
    with engine_of(request).connect() as conn:
        figures = queries.dashboard(conn)
    programme = _programme(request)
    return render(
        request, "dashboard.html", figures=figures, programme=programme, charts=_charts(programme)
    )


#: The programme figures read every referral, so they are kept between page views until
#: anything changes: every change is audited, so the audit chain's length is the version.
_programme_cache: dict[int, tuple[tuple[int, str], dict[str, Any]]] = {}


def _programme(request: Request) -> dict[str, Any]:
    """The transparency report since the programme began (issue 8's metrics), cached."""
    from datetime import UTC, date, datetime

    from tidewatch.report.metrics import report

    engine = engine_of(request)
    today = datetime.now(UTC).date()
    with engine.connect() as conn:
        seq = conn.execute(select(t.audit_head.c.seq)).scalar_one()
    version = (seq, today.isoformat())
    cached = _programme_cache.get(id(engine))
    if cached and cached[0] == version:
        return cached[1]
    figures = report(engine, date(2021, 12, 1), today)
    _programme_cache[id(engine)] = (version, figures)
    return figures


def _charts(programme: dict[str, Any]) -> list[Any]:
    from markupsafe import Markup

    from tidewatch.report.render import svg_bar_chart

    years = [
        (str(y["year"]), y["accounts_removed"]) for y in programme["by_year"] if y["referrals"]
    ]
    platforms = [(p["platform"], p["accounts_removed"]) for p in programme["by_platform"]]
    rates = [
        (p["platform"], round((p["removal_rate"] or 0) * 100, 1)) for p in programme["by_platform"]
    ]
    waits = [(b["bin"], b["count"]) for b in programme["time_to_action"]["histogram"]]
    # svg_bar_chart escapes its labels itself (Jinja autoescape): safe to embed as markup.
    return [
        Markup(svg_bar_chart(title, bars))
        for title, bars in (
            ("Accounts removed per year", years),
            ("Accounts removed per platform", platforms),
            ("Removal rate per platform (%)", rates),
            ("Referrals by time to action", waits),
        )
        if bars
    ]


@router.get("/report")
def transparency_report(
    request: Request, session: Unit, format: str = "html", start: str = "", end: str = ""
) -> Response:
    """The transparency report for a period, as the report command writes it."""
    from datetime import UTC, date, datetime

    from tidewatch.report.metrics import report
    from tidewatch.report.render import to_csv, to_html, to_json, to_pdf

    try:
        first = date.fromisoformat(start) if start else date(2021, 12, 1)
        last = date.fromisoformat(end) if end else datetime.now(UTC).date()
    except ValueError:
        raise ValueError("dates are YYYY-MM-DD") from None
    figures = report(engine_of(request), first, last)
    name = f"tidewatch-report-{first}-{last}"
    if format == "pdf":
        return Response(
            to_pdf(figures),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    if format == "csv":
        return Response(
            to_csv(figures),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "json":
        return Response(to_json(figures), media_type="application/json")
    if format != "html":
        raise ValueError("format is html, pdf, csv or json")
    # The report's own page has an inline stylesheet; it is served as a download, not inside
    # the console, so the console's policy is not loosened for it.
    return Response(
        to_html(figures),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.html"'},
    )


# --- review queue ----------------------------------------------------------------------------


def _queue_rows(request: Request, limit: int = 100) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        items = review.queue(conn, limit=limit)
        post_ids = [i.post_id for i in items if i.post_id]
        texts = (
            dict(
                conn.execute(
                    select(t.posts.c.id, t.posts.c.text).where(t.posts.c.id.in_(post_ids))
                ).all()
            )
            if post_ids
            else {}
        )
        account_ids = [i.account_id for i in items if i.account_id]
        names = (
            {
                row.id: row
                for row in conn.execute(
                    select(
                        t.accounts.c.id,
                        t.accounts.c.handle,
                        t.accounts.c.display_name,
                        t.accounts.c.bio,
                    ).where(t.accounts.c.id.in_(account_ids))
                )
            }
            if account_ids
            else {}
        )
    rows = []
    for item in items:
        if item.post_id:
            preview = (texts.get(item.post_id) or "")[:280]
        else:
            row = names.get(item.account_id or 0)
            preview = f"{row.display_name or row.handle} — {row.bio or ''}"[:280] if row else ""
        rows.append({"item": item, "preview": preview})
    return rows


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: Unit) -> Response:
    return render(request, "queue.html", rows=_queue_rows(request), reasons=review.REASON_CODES)


@router.post("/queue/refresh")
async def queue_refresh(request: Request, session: Unit) -> Response:
    await check_csrf(request, session)
    session.actor.require(Role.ANALYST, Role.SUPERVISOR)
    from tidewatch.detect.detector import Detector

    review.refresh(engine_of(request), threshold=Detector.load(second_stage=False).threshold)
    return RedirectResponse("/queue", status_code=303)


@router.post("/queue/{item_id}/claim", response_class=HTMLResponse)
async def queue_claim(request: Request, item_id: int, session: Unit) -> Response:
    await check_csrf(request, session)
    review.claim(engine_of(request), session.actor, item_id)
    return _row_or_page(request, item_id)


@router.post("/queue/{item_id}/decide", response_class=HTMLResponse)
async def queue_decide(request: Request, item_id: int, session: Unit) -> Response:
    form = await check_csrf(request, session)
    review.decide(
        engine_of(request),
        session.actor,
        item_id,
        form.get("decision", ""),
        form.get("reason", ""),
        note=form.get("note", "")[:2000],
    )
    return _row_or_page(request, item_id)


def _row_or_page(request: Request, item_id: int) -> Response:
    if request.headers.get("hx-request"):
        with engine_of(request).connect() as conn:
            item = review.get(conn, item_id)
        row = next(
            (r for r in _queue_rows(request, 500) if r["item"].id == item_id),
            {"item": item, "preview": ""},
        )
        return render(request, "_queue_row.html", row=row, reasons=review.REASON_CODES)
    return RedirectResponse("/queue", status_code=303)


# --- posts, accounts, networks ---------------------------------------------------------------


@router.get("/posts/{post_id}", response_class=HTMLResponse)
def post_page(request: Request, post_id: int, session: Unit) -> Response:
    with engine_of(request).connect() as conn:
        data = queries.post_page(conn, post_id)
        account_id = data["account"].id if data["account"] else None
    return render(
        request, "post.html", account_id=account_id, reasons_codes=review.REASON_CODES, **data
    )


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, account_id: int, session: Unit) -> Response:
    run = queries.link_run(engine_of(request))
    with engine_of(request).connect() as conn:
        data = queries.account_page(conn, account_id, run)
    return render(request, "account.html", **data)


@router.get("/networks", response_class=HTMLResponse)
def networks_page(request: Request, session: Unit) -> Response:
    run = queries.link_run(engine_of(request))
    return render(request, "networks.html", run=run)


MAX_LINKS_SHOWN = 300


@router.get("/networks/{network_id}", response_class=HTMLResponse)
def network_page(request: Request, network_id: str, session: Unit) -> Response:
    run = queries.link_run(engine_of(request)) or {}
    network = next((n for n in run.get("networks", []) if n["id"] == network_id), None)
    if network is None:
        raise NotFound(f"no network {network_id} in the latest link run")
    with engine_of(request).connect() as conn:
        ids = queries.account_ids(conn, network["accounts"])
    # The strongest links: a network of hundreds of accounts joined by one template has
    # tens of thousands of pairs, more than a page or a graph can show usefully.
    links = sorted(network["links"], key=lambda link: -float(link.get("weight", 0)))
    shown = links[:MAX_LINKS_SHOWN]
    graph = {
        "nodes": [
            {"id": key, "label": key, "href": f"/accounts/{ids[key]}" if key in ids else ""}
            for key in network["accounts"]
        ],
        "edges": [
            {"source": link["a"], "target": link["b"], "weight": link.get("weight", 1)}
            for link in shown
        ],
    }
    # JSON inside a <script type="application/json">: "<" escaped so text cannot close the tag.
    graph_json = (
        json.dumps(graph).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return render(
        request,
        "network.html",
        network=network,
        ids=ids,
        graph_json=graph_json,
        links=shown,
        hidden_links=len(links) - len(shown),
    )


# --- cases -----------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, session: Unit) -> Response:
    with engine_of(request).connect() as conn:
        rows = conn.execute(
            select(t.cases, func.count(t.case_accounts.c.account_id).label("accounts"))
            .outerjoin(t.case_accounts, t.case_accounts.c.case_id == t.cases.c.id)
            .group_by(t.cases.c.id)
            .order_by(t.cases.c.id.desc())
        ).all()
    return render(request, "cases.html", cases=rows)


@router.post("/cases")
async def case_open(request: Request, session: Unit) -> Response:
    form = await check_csrf(request, session)
    case_id = case_service.open_case(
        engine_of(request),
        session.actor,
        form.get("title", ""),
        network_id=form.get("network_id") or None,
    )
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int, session: Unit) -> Response:
    with engine_of(request).connect() as conn:
        case = case_service.get_case(conn, case_id)
        captures = conn.execute(
            select(t.captures)
            .where(t.captures.c.case_id == case_id)
            .order_by(t.captures.c.id.desc())
        ).all()
        case_referrals = referrals.list_referrals(conn, limit=200)
    return render(
        request,
        "case.html",
        case=case,
        captures=captures,
        referrals=[r for r in case_referrals if r.case_id == case_id],
    )


@router.post("/cases/{case_id}/notes")
async def case_note(request: Request, case_id: int, session: Unit) -> Response:
    form = await check_csrf(request, session)
    case_service.add_note(engine_of(request), session.actor, case_id, form.get("body", "")[:10_000])
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/capture")
async def case_capture(request: Request, case_id: int, session: Unit) -> Response:
    await check_csrf(request, session)
    from tidewatch.evidence.capture import capture_case

    capture_case(engine_of(request), session.actor, case_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# --- referrals -------------------------------------------------------------------------------


@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(
    request: Request, session: Unit, status: str = "", platform: str = ""
) -> Response:
    with engine_of(request).connect() as conn:
        rows = referrals.list_referrals(
            conn, status=status or None, platform=platform or None, limit=500
        )
        unread: dict[int, int] = dict(
            conn.execute(
                select(t.referral_messages.c.referral_id, func.count())
                .where(t.referral_messages.c.sender == "platform")
                .group_by(t.referral_messages.c.referral_id)
            ).all()
        )
    return render(
        request, "referrals.html", referrals=rows, messages=unread, status=status, platform=platform
    )


@router.get("/referrals/new", response_class=HTMLResponse)
def referral_composer(request: Request, session: Unit, case: int) -> Response:
    with engine_of(request).connect() as conn:
        the_case = case_service.get_case(conn, case)
    from tidewatch.model import Recipient

    recipients = sorted(
        {Recipient.of(a.platform).value for a in the_case.accounts if a.platform != "other"}
    )
    return render(
        request,
        "referral_new.html",
        case=the_case,
        recipients=recipients,
        tlps=referrals.TLP,
        legal_basis=referrals.DEFAULT_LEGAL_BASIS,
    )


@router.post("/referrals")
async def referral_draft(request: Request, session: Unit) -> Response:
    form = await check_csrf(request, session)
    drafted = referrals.draft(
        engine_of(request),
        session.actor,
        recipient=form.get("recipient", ""),
        case_id=int(form.get("case_id", "0") or 0) or None,
        summary=form.get("summary", "")[:4000],
        legal_basis=form.get("legal_basis") or referrals.DEFAULT_LEGAL_BASIS,
        tlp=form.get("tlp", "TLP:AMBER"),
    )
    return RedirectResponse(f"/referrals/{drafted.id}", status_code=303)


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(request: Request, referral_id: int, session: Unit) -> Response:
    from tidewatch.referrals.recheck import latest_states

    with engine_of(request).connect() as conn:
        referral = referrals.get(conn, referral_id)
        thread = referrals.messages(conn, referral_id)
        decided = referrals.decisions(conn, referral_id)
        outbox = conn.execute(
            select(t.outbox).where(t.outbox.c.referral_id == referral_id).order_by(t.outbox.c.id)
        ).all()
    checks = latest_states(engine_of(request), referral_id)
    return render(
        request,
        "referral.html",
        referral=referral,
        thread=thread,
        decisions=decided,
        outbox=outbox,
        checks=checks,
    )


@router.post("/referrals/{referral_id}/approve")
async def referral_approve(request: Request, referral_id: int, session: Unit) -> Response:
    await check_csrf(request, session)
    referrals.approve(engine_of(request), session.actor, referral_id)
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


@router.post("/referrals/{referral_id}/messages")
async def referral_message(request: Request, referral_id: int, session: Unit) -> Response:
    form = await check_csrf(request, session)
    session.actor.require(Role.ANALYST, Role.SUPERVISOR)
    with engine_of(request).begin() as conn:
        referral = referrals.get(conn, referral_id)
        referrals.post_message(
            conn,
            referral,
            sender="unit",
            author=session.actor.username,
            body=form.get("body", "")[:10_000],
        )
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


# --- audit -----------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: Unit, entity: str = "", page: int = 1) -> Response:
    session.actor.require(Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
    per_page = 100
    with engine_of(request).connect() as conn:
        report = audit.verify(conn)
        query = select(t.audit_log).order_by(t.audit_log.c.seq.desc())
        if entity:
            query = query.where(t.audit_log.c.entity == entity)
        rows = conn.execute(query.limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return render(request, "audit.html", report=report, rows=rows, entity=entity, page=max(page, 1))

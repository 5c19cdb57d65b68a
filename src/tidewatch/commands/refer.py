"""``tidewatch refer``: draft, approve, track and re-check referrals."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tidewatch.commands.common import (
    EXIT_PARTIAL,
    ActorOption,
    DatabaseOption,
    acting,
    engine_for,
    fail,
    out,
)
from tidewatch.errors import TidewatchError

app = typer.Typer(
    help="Referrals to platforms: draft, approve (four eyes), track, re-check.",
    no_args_is_help=True,
    add_completion=False,
)
ERRORS = (TidewatchError, ValueError)


@app.command()
def draft(
    actor: ActorOption,
    recipient: Annotated[str, typer.Argument(help="meta | x | tiktok | youtube | telegram")],
    case: Annotated[
        int | None, typer.Option(help="Refer this case's accounts and reviewed adverts.")
    ] = None,
    account: Annotated[list[int] | None, typer.Option(help="Account id, repeatable.")] = None,
    post: Annotated[list[int] | None, typer.Option(help="Post id, repeatable.")] = None,
    summary: Annotated[
        str, typer.Option(help="What the platform should know, in a sentence or two.")
    ] = "",
    tlp: Annotated[str, typer.Option(help="TLP marking.")] = "TLP:AMBER",
    database_url: DatabaseOption = None,
) -> None:
    """Draft a referral (a supervisor other than you approves it)."""
    from tidewatch.referrals import service

    try:
        engine, who = acting(database_url, actor)
        referral = service.draft(
            engine,
            who,
            recipient=recipient,
            case_id=case,
            account_ids=account or [],
            post_ids=post or [],
            summary=summary,
            tlp=tlp,
        )
    except ERRORS as error:
        raise fail(error) from None
    out.print(
        Text(
            f"referral {referral.id} ({referral.public_id}) drafted for {referral.platform}: "
            f"{len(referral.items)} items; policies: {', '.join(p['name'] for p in referral.policies)}"
        )
    )


@app.command()
def approve(
    actor: ActorOption,
    referral: Annotated[int, typer.Argument(help="Referral id.")],
    database_url: DatabaseOption = None,
) -> None:
    """Approve a draft (supervisors; not your own draft): it is frozen and queued for sending."""
    from tidewatch.referrals import service

    try:
        engine, who = acting(database_url, actor)
        done = service.approve(engine, who, referral)
    except ERRORS as error:
        raise fail(error) from None
    out.print(
        Text(
            f"referral {done.id} approved by {done.approved_by}; package sha256 "
            f"{done.package_sha256}; queued for its channel (tidewatch outbox work), respond by {done.deadline_at:%Y-%m-%d}"
        )
    )


@app.command("list")
def list_referrals(
    platform: Annotated[str | None, typer.Option(help="Only this recipient.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """The referral tracker: status, deadline and escalation of each referral."""
    from tidewatch.referrals import service

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            referrals = service.list_referrals(conn, platform=platform, status=status)
    except ERRORS as error:
        raise fail(error) from None
    if as_json:
        for r in referrals:
            sys.stdout.write(
                json.dumps(
                    {
                        "id": r.id,
                        "public_id": r.public_id,
                        "direction": r.direction,
                        "platform": r.platform,
                        "status": r.status,
                        "items": len(r.items),
                        "sent_at": r.sent_at,
                        "deadline_at": r.deadline_at,
                        "escalated_at": r.escalated_at,
                    },
                    default=str,
                )
                + "\n"
            )
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in (
        "id",
        "recipient",
        "direction",
        "status",
        "items",
        "sent",
        "respond by",
        "escalated",
    ):
        table.add_column(name)
    for r in referrals:
        table.add_row(
            str(r.id),
            r.platform,
            r.direction,
            r.status,
            str(len(r.items)),
            f"{r.sent_at:%Y-%m-%d}" if r.sent_at else "",
            f"{r.deadline_at:%Y-%m-%d}" if r.deadline_at else "",
            "yes" if r.escalated_at else "",
        )
    out.print(table)


@app.command()
def deadlines(database_url: DatabaseOption = None) -> None:
    """Escalate referrals past their deadline and expire long-unanswered ones (run daily)."""
    from tidewatch.referrals import service

    try:
        run = service.check_deadlines(engine_for(database_url))
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"escalated {len(run.escalated)}, expired {len(run.expired)}"))
    for public_id in run.escalated:
        out.print(Text(f"escalated: {public_id}"))


@app.command()
def recheck(
    referral: Annotated[list[int] | None, typer.Option(help="Only these referral ids.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Look at every referred URL from the outside and record whether it is still up."""
    from tidewatch.referrals.recheck import recheck_referrals

    try:
        results = recheck_referrals(engine_for(database_url), referral_ids=referral)
    except ERRORS as error:
        raise fail(error) from None
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state] = counts.get(result.state, 0) + 1
    out.print(
        Text(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to check")
    )
    if counts.get("error"):
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def resubmit(
    actor: ActorOption,
    referral: Annotated[int, typer.Argument(help="Referral id (no violation, expired or failed).")],
    database_url: DatabaseOption = None,
) -> None:
    """Draft the same referral again, linked to the earlier one."""
    from tidewatch.referrals import service

    try:
        engine, who = acting(database_url, actor)
        again = service.resubmit(engine, who, referral)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"referral {again.id} drafted as a resubmission of {referral}"))

"""The demo's people and a little programme history, so the console has something to show:
one user per role (password printed by ``tidewatch demo``; demo only), a review queue with
some decisions, a case from the largest network, referrals drafted, approved by another
supervisor, delivered, and answered by two platforms in different ways."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from tidewatch.cases import cases, queue
from tidewatch.model import Recipient
from tidewatch.referrals import service as referrals
from tidewatch.referrals.service import PlatformDecision
from tidewatch.store import tables as t
from tidewatch.store.networks import latest_link_run
from tidewatch.store.users import Actor, create_user, get_actor

#: Demo only: every demo account has this password. Real users get their own.
DEMO_PASSWORD = "tidewatch-demo"
PEOPLE = (
    ("analyst", "analyst", None),
    ("analyst2", "analyst", None),
    ("supervisor", "supervisor", None),
    ("auditor", "auditor", None),
    ("admin", "admin", None),
    ("meta-liaison", "liaison", "meta"),
    ("x-liaison", "liaison", "x"),
    ("tiktok-liaison", "liaison", "tiktok"),
)


@dataclass
class DemoProgramme:
    created_users: bool
    decided: int = 0
    case_id: int | None = None
    referrals: int = 0


def seed_programme(engine: Engine, *, threshold: float) -> DemoProgramme:
    """Idempotent: a database that has the demo users already is left as it is."""
    from tidewatch.channels.config import load_channels
    from tidewatch.channels.outbox import run_worker
    from tidewatch.web.auth import hash_password

    with engine.begin() as conn:
        if conn.execute(select(t.users.c.id).where(t.users.c.username == "analyst")).first():
            return DemoProgramme(created_users=False)
        password = hash_password(DEMO_PASSWORD)
        for name, role, platform in PEOPLE:
            create_user(conn, name, role, platform=platform, password_hash=password)
    with engine.connect() as conn:
        analyst, analyst2 = get_actor(conn, "analyst"), get_actor(conn, "analyst2")
        supervisor = get_actor(conn, "supervisor")
    result = DemoProgramme(created_users=True)
    queue.refresh(engine, threshold=threshold)
    # The second analyst works through the top of the queue; the rest waits for you.
    for _ in range(12):
        item = queue.claim(engine, analyst2)
        if item is None:
            break
        queue.decide(engine, analyst2, item.id, "advert", "crossing_offer", note="demo")
        result.decided += 1
    run = latest_link_run(engine)
    if not run or not run.get("networks"):
        return result
    biggest = max(run["networks"], key=lambda n: n["size"])
    result.case_id = cases.open_case(
        engine, analyst2, f"Network {biggest['id']} (demo)", network_id=biggest["id"]
    )
    cases.add_note(
        engine,
        analyst2,
        result.case_id,
        "Same WhatsApp number across platforms; adverts in Arabic and English.",
    )
    recipients = sorted({Recipient.of(p).value for p in biggest["platforms"] if p != "other"})
    drafted: dict[str, referrals.Referral] = {}
    for recipient in recipients:
        try:
            drafted[recipient] = referrals.draft(
                engine,
                analyst2,
                recipient=recipient,
                case_id=result.case_id,
                summary="Accounts of one network advertising boat crossings to Italy and the UK.",
            )
        except ValueError:
            continue  # nothing of the case on that recipient's platforms
    for recipient, referral in drafted.items():
        if recipient != "youtube":  # one stays a draft, waiting for approval
            referrals.approve(engine, supervisor, referral.id)
    run_worker(engine, load_channels(env={}), once=True, lease=60)
    _answer(engine, drafted, analyst)
    result.referrals = len(drafted)
    return result


def _answer(engine: Engine, drafted: dict[str, referrals.Referral], analyst: Actor) -> None:
    with engine.begin() as conn:
        if "meta" in drafted:
            meta = referrals.get(conn, drafted["meta"].id)
            liaison = get_actor(conn, "meta-liaison")
            meta = referrals.acknowledge(conn, meta, liaison)
            referrals.record_decision(
                conn,
                meta,
                PlatformDecision(
                    decision_account="DECISION_ACCOUNT_TERMINATED",
                    decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
                    category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
                    automated_detection=False,
                    automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
                    statement_id="demo-meta-0001",
                ),
                actor=liaison.username,
                source="demo",
            )
        if "x" in drafted:
            x = referrals.get(conn, drafted["x"].id)
            referrals.post_message(
                conn,
                x,
                sender="platform",
                author="x-liaison",
                body="Which of these posts shows the price? We need the post ids.",
                information_request=True,
            )

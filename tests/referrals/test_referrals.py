"""Referrals from draft to outcome, with four eyes, the platform's policies and DSA decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.programme import seed_people, seed_posts
from tidewatch.cases import cases, queue
from tidewatch.errors import Conflict, PermissionDenied
from tidewatch.referrals import service as rs
from tidewatch.referrals.service import PlatformDecision
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> tuple[Engine, dict[str, Actor], int]:
    """A case holding the network that shares one WhatsApp number, its adverts reviewed."""
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    queue.refresh(engine, threshold=0.5)
    while (item := queue.claim(engine, people["ana"])) is not None:
        queue.decide(engine, people["ana"], item.id, "advert", "crossing_offer")
    with engine.connect() as conn:
        network = conn.execute(select(t.network_accounts.c.network_id).limit(1)).scalar_one()
    case_id = cases.open_case(engine, people["ana"], "Zuwara boats", network_id=network)
    # The Arabic copy's account shares the number too; in this six-account world the number is
    # too common to link it by itself, so the analyst adds it by hand.
    assert cases.add_accounts(engine, people["ana"], case_id, [("facebook", "smug_fb")]) == 1
    return engine, people, case_id


def test_a_draft_lists_the_recipients_accounts_and_reviewed_posts_with_resolvable_urls(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    meta = rs.draft(engine, people["ana"], recipient="meta", case_id=case_id, summary="s")
    platforms = set()
    with engine.connect() as conn:
        for item in meta.items:
            table = t.accounts if item.kind == "account" else t.posts
            row_id = item.account_id if item.kind == "account" else item.post_id
            platforms.add(
                conn.execute(select(table.c.platform).where(table.c.id == row_id)).scalar()
            )
    assert platforms == {"facebook", "instagram"}  # Meta gets both of its platforms, nothing else
    assert {i.kind for i in meta.items} == {"account", "post"}
    assert all(
        i.url.startswith("https://www.facebook.com/") or "instagram.com" in i.url
        for i in meta.items
        if i.url
    )
    assert meta.policies[0]["name"] == "Community Standards: Human Exploitation"
    x = rs.draft(engine, people["ana"], recipient="x", case_id=case_id)
    assert [i.url for i in x.items if i.kind == "post"] == ["https://x.com/i/web/status/x-1"]
    assert x.policies[0]["url"].startswith("https://help.x.com/")


def test_four_eyes_a_different_supervisor_approves_and_the_package_is_frozen(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    by_supervisor = rs.draft(engine, people["sam"], recipient="x", case_id=case_id)
    with pytest.raises(PermissionDenied, match="four eyes"):
        rs.approve(engine, people["sam"], by_supervisor.id)
    draft = rs.draft(engine, people["ana"], recipient="x", case_id=case_id)
    with pytest.raises(PermissionDenied, match="needs supervisor"):
        rs.approve(engine, people["bo"], draft.id)
    approved = rs.approve(engine, people["sue"], draft.id)
    assert approved.status == "approved" and approved.approved_by == "sue"
    assert approved.package is not None
    assert approved.package_sha256 == rs.package_sha256(approved.package)
    assert approved.package["recipient"] == "x" and approved.package["tlp"] == "TLP:AMBER"
    assert {i["kind"] for i in approved.package["items"]} == {"account", "post"}
    with engine.connect() as conn:
        outbox = conn.execute(select(t.outbox).where(t.outbox.c.referral_id == draft.id)).one()
    assert outbox.status == "pending"
    assert outbox.idempotency_key == f"referral-{draft.public_id}-1"
    with pytest.raises(Conflict, match="is approved"):
        rs.approve(engine, people["sam"], draft.id)


def _sent(
    engine: Engine, people: dict[str, Actor], case_id: int, recipient: str = "meta"
) -> rs.Referral:
    draft = rs.draft(engine, people["ana"], recipient=recipient, case_id=case_id)
    rs.approve(engine, people["sam"], draft.id)
    with engine.begin() as conn:
        rs.mark_sent(conn, draft.id, actor="worker")
        return rs.get(conn, draft.id)


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [
        (
            PlatformDecision(
                decision_account="DECISION_ACCOUNT_TERMINATED",
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
            ),
            "removed",
        ),
        (
            PlatformDecision(
                decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
                decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
            ),
            "removed",
        ),
        (
            PlatformDecision(
                decision_visibility=("DECISION_VISIBILITY_CONTENT_DISABLED",),
                territorial_scope=("IT", "MT"),
                decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
            ),
            "geo_blocked",
        ),
        (
            PlatformDecision(
                decision_visibility=("DECISION_VISIBILITY_CONTENT_DEMOTED",),
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
            ),
            "restricted",
        ),
        (PlatformDecision(no_violation=True), "no_violation"),
    ],
)
def test_platform_decisions_in_the_dsa_vocabulary_set_the_outcome(
    world: tuple[Engine, dict[str, Actor], int], decision: PlatformDecision, outcome: str
) -> None:
    engine, people, case_id = world
    referral = _sent(engine, people, case_id)
    with engine.begin() as conn:
        acked = rs.acknowledge(conn, referral, people["meta"])
        assert acked.status == "acknowledged" and acked.acknowledged_at is not None
        decided = rs.record_decision(conn, acked, decision, actor="liaison-meta", source="test")
        assert decided.status == outcome
        assert {i.status for i in decided.items} == {outcome}
        assert rs.decisions(conn, referral.id)[0]["outcome"] == outcome


def test_decisions_outside_the_dsa_vocabulary_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="decision_account 'BANNED' is not in the DSA vocabulary"):
        PlatformDecision(
            decision_account="BANNED", decision_ground="DECISION_GROUND_ILLEGAL_CONTENT"
        ).outcome()
    with pytest.raises(ValueError, match="decision_ground is required"):
        PlatformDecision(decision_account="DECISION_ACCOUNT_SUSPENDED").outcome()
    with pytest.raises(ValueError, match="cannot also restrict"):
        PlatformDecision(no_violation=True, decision_account="DECISION_ACCOUNT_SUSPENDED").outcome()


def test_a_decision_cannot_come_before_the_referral_is_sent(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    draft = rs.draft(engine, people["ana"], recipient="meta", case_id=case_id)
    with engine.begin() as conn, pytest.raises(Conflict, match="is draft"):
        rs.record_decision(conn, draft, PlatformDecision(no_violation=True), actor="x", source="t")


def test_an_information_request_and_the_units_answer_move_the_status(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    referral = _sent(engine, people, case_id)
    with engine.begin() as conn:
        rs.post_message(
            conn,
            referral,
            sender="platform",
            author="liaison-meta",
            body="Which post shows the price?",
            information_request=True,
        )
        asked = rs.get(conn, referral.id)
        assert asked.status == "more_info_requested"
        rs.post_message(conn, asked, sender="unit", author="ana", body="The first post: 2500 euro.")
        answered = rs.get(conn, referral.id)
        assert answered.status == "acknowledged"
        thread = rs.messages(conn, referral.id)
    assert [(m["sender"], m["kind"]) for m in thread] == [
        ("platform", "information_request"),
        ("unit", "message"),
    ]


def test_deadlines_escalate_then_expire_and_an_expired_referral_is_resubmitted(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    referral = _sent(engine, people, case_id)
    assert referral.deadline_at is not None
    just_after = referral.deadline_at + timedelta(hours=1)
    run = rs.check_deadlines(engine, now=just_after)
    assert run.escalated == [referral.public_id] and run.expired == []
    assert rs.check_deadlines(engine, now=just_after).escalated == []  # once only
    long_after = referral.deadline_at + timedelta(days=8)
    assert rs.check_deadlines(engine, now=long_after).expired == [referral.public_id]
    again = rs.resubmit(engine, people["ana"], referral.id)
    assert again.status == "draft" and again.resubmission_of == referral.id
    assert sorted(i.native_id for i in again.items) == sorted(i.native_id for i in referral.items)
    with engine.connect() as conn:
        assert audit.verify(conn).ok
        actions = [
            e.action for e in audit.entries(conn, entity="referral", entity_id=referral.public_id)
        ]
    assert actions == [
        "referral.draft",
        "referral.approve",
        "referral.sent",
        "referral.escalate",
        "referral.expire",
    ]


def test_a_referral_cannot_be_resubmitted_while_it_is_still_open(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    referral = _sent(engine, people, case_id)
    with pytest.raises(Conflict, match="is sent"):
        rs.resubmit(engine, people["ana"], referral.id)
    assert datetime.now(UTC) < (referral.deadline_at or datetime.now(UTC))


def test_network_summaries_count_referred_and_removed_accounts(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    from tidewatch.store.networks import latest_link_run

    engine, people, case_id = world
    before = latest_link_run(engine)
    assert before is not None
    assert [(n["referred"], n["removed"]) for n in before["networks"]] == [(0, 0)]
    # A draft and an approval are not referrals yet; delivery is.
    x = rs.draft(engine, people["ana"], recipient="x", case_id=case_id)
    rs.approve(engine, people["sam"], x.id)
    assert latest_link_run(engine)["networks"][0]["referred"] == 0  # type: ignore[index]
    meta = _sent(engine, people, case_id)
    with engine.begin() as conn:
        rs.mark_sent(conn, x.id, actor="worker")
        rs.record_decision(
            conn,
            meta,
            PlatformDecision(
                decision_account="DECISION_ACCOUNT_TERMINATED",
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
            ),
            actor="liaison-meta",
            source="test",
        )
    network = latest_link_run(engine)["networks"][0]  # type: ignore[index]
    # Both network members (x and instagram) were referred; Meta removed the instagram one.
    assert (network["size"], network["referred"], network["removed"]) == (2, 2, 1)


def test_a_referral_cannot_be_approved_before_its_evidence_is_sealed(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    engine, people, case_id = world
    draft = rs.draft(engine, people["ana"], recipient="meta", case_id=case_id)
    with pytest.raises(Conflict, match="evidence is not sealed for account:"):
        rs.approve(engine, people["sam"], draft.id, capture_evidence=False)
    with engine.connect() as conn:
        assert rs.get(conn, draft.id).status == "draft"
        assert conn.execute(select(t.outbox)).first() is None  # nothing can leave


def test_approval_seals_the_evidence_first_and_the_package_names_it(
    world: tuple[Engine, dict[str, Actor], int],
) -> None:
    import json

    engine, people, case_id = world
    draft = rs.draft(engine, people["ana"], recipient="meta", case_id=case_id)
    approved = rs.approve(engine, people["sam"], draft.id)
    assert approved.package is not None
    [reference] = approved.package["evidence"]
    with engine.connect() as conn:
        capture = conn.execute(
            select(t.captures).where(t.captures.c.id == reference["capture_id"])
        ).one()
    assert capture.status == "sealed" and capture.manifest_sha256 == reference["manifest_sha256"]
    subjects = {a["subject"] for a in json.loads(capture.manifest)["artifacts"]}
    for item in approved.items:
        assert (
            f"account:{item.account_id}" if item.kind == "account" else f"post:{item.post_id}"
        ) in subjects
    # A later referral of the same accounts reuses the sealed capture rather than re-capturing.
    again = rs.approve(
        engine, people["sue"], rs.draft(engine, people["ana"], recipient="meta", case_id=case_id).id
    )
    assert again.package is not None and again.package["evidence"] == [reference]

"""The whole programme, once, through the real parts: ingest -> detect -> link -> review ->
case -> referral -> four-eyes approval (evidence sealed first) -> delivery by the outbox
worker -> the platform's decision through the partner API over HTTP -> an independent
re-check of the referred pages -> the status, the network's counts, the audit chain and the
evidence bundle. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select

from tests.api.conftest import LiveServer
from tests.programme import seed_people, seed_posts
from tidewatch.cases import cases, queue
from tidewatch.channels.config import load_channels
from tidewatch.channels.outbox import run_worker
from tidewatch.evidence.bundle import export_capture, verify_bundle
from tidewatch.referrals import recheck
from tidewatch.referrals import service as rs
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.networks import latest_link_run
from tidewatch.store.users import create_api_key

GONE: set[str] = set()


class _PlatformPages(BaseHTTPRequestHandler):
    """Meta's public pages, as an outsider sees them: removed accounts are gone."""

    def do_GET(self) -> None:
        status, body = (
            (404, "This page isn't available") if self.path in GONE else (200, "<p>profile</p>")
        )
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def platform_pages() -> Iterator[str]:
    site = ThreadingHTTPServer(("127.0.0.1", 0), _PlatformPages)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()
    GONE.clear()


def test_from_a_post_to_a_confirmed_removal(
    server: LiveServer, engine: Engine, tmp_path: Path, platform_pages: str
) -> None:
    # Ingest and detect (and link) the collected posts.
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    with engine.begin() as conn:
        meta_key = create_api_key(conn, scope="partner", platform="meta")
        x_key = create_api_key(conn, scope="partner", platform="x")

    # Review: the analyst works through the queue.
    queue.refresh(engine, threshold=0.5)
    decided = 0
    while (item := queue.claim(engine, people["ana"])) is not None:
        queue.decide(engine, people["ana"], item.id, "advert", "crossing_offer")
        decided += 1
    assert decided >= 4

    # Case: the network that shares one number, plus the Arabic copy's account.
    run = latest_link_run(engine)
    assert run is not None
    network = run["networks"][0]["id"]
    case_id = cases.open_case(engine, people["ana"], "Zuwara boats", network_id=network)
    cases.add_accounts(engine, people["ana"], case_id, [("facebook", "smug_fb")])

    # Referral to Meta: drafted by the analyst, approved by a supervisor (evidence sealed).
    draft = rs.draft(
        engine, people["ana"], recipient="meta", case_id=case_id, summary="Zuwara crossings"
    )
    approved = rs.approve(engine, people["sam"], draft.id)
    assert approved.status == "approved" and approved.package is not None
    assert approved.package["evidence"], "approval seals the evidence first"

    # Delivery: the outbox worker hands it to the partner inbox.
    report = run_worker(engine, load_channels(env={}), once=True, lease=30)
    assert report.delivered == 1 and report.failed == 0

    # The platform, over HTTP with its key: sees it, acknowledges, decides.
    with server.client(meta_key) as meta:
        listed = meta.get("/partner/v1/referrals").json()
        assert [r["id"] for r in listed["items"]] == [draft.public_id]
        assert meta.post(f"/partner/v1/referrals/{draft.public_id}/acknowledge").status_code == 200
        decided_response = meta.post(
            f"/partner/v1/referrals/{draft.public_id}/decisions",
            json={
                "decision_account": "DECISION_ACCOUNT_TERMINATED",
                "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
                "automated_detection": False,
                "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
                "statement_id": "meta-sor-0001",
            },
        )
        assert decided_response.status_code == 201, decided_response.text
    # Another platform's key learns nothing of it.
    with server.client(x_key) as x:
        assert x.get("/partner/v1/referrals").json()["items"] == []
        assert x.get(f"/partner/v1/referrals/{draft.public_id}").status_code == 404

    # Independent re-check: the referred pages are gone.
    with engine.connect() as conn:
        referral = rs.get(conn, draft.id)
    assert referral.status == "removed"
    for item in referral.items:
        if item.url:  # an Instagram post id alone has no public URL; Meta resolves the id
            GONE.add(urlsplit(item.url).path)
    results = recheck.recheck_referrals(
        engine,
        referral_ids=[draft.id],
        rewrite={
            "https://www.facebook.com": platform_pages,
            "https://www.instagram.com": platform_pages,
        },
    )
    assert results and {r.state for r in results} == {"not_found"}
    states = recheck.latest_states(engine, draft.id)
    assert all(s["confirmed_removed"] and not s["contradicts_platform"] for s in states.values())

    # Figures and trails: the network counts it; the audit chain and the evidence hold.
    after = latest_link_run(engine)
    assert after is not None
    counted = next(n for n in after["networks"] if n["id"] == network)
    assert counted["referred"] >= 1 and counted["removed"] == counted["referred"]
    with engine.connect() as conn:
        assert audit.verify(conn).ok
        actions = [
            e.action for e in audit.entries(conn, entity="referral", entity_id=draft.public_id)
        ]
        capture_id = conn.execute(
            select(t.captures.c.id).order_by(t.captures.c.id.desc())
        ).scalar_one()
    assert actions[:3] == ["referral.draft", "referral.approve", "referral.sent"]
    assert "referral.acknowledge" in actions and actions[-1] == "referral.decision"
    bundle = tmp_path / "case.zip"
    export_capture(engine, people["ana"], capture_id, bundle)
    assert verify_bundle(bundle).ok

"""Re-checks against a loopback server playing the platform's public pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.programme import seed_people, seed_posts
from tidewatch.referrals import recheck
from tidewatch.referrals import service as rs
from tidewatch.referrals.service import PlatformDecision
from tidewatch.store import tables as t

PAGES: dict[str, tuple[int, str]] = {}


class _Platform(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = PAGES.get(self.path, (404, "<h1>Page not found</h1>"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def platform_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    PAGES.clear()


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, "<article>Boat to Italy ...</article>", "live"),
        (404, "", "not_found"),
        (200, "<p>Sorry, this page isn't available.</p>", "not_found"),
        (
            200,
            "<div>Account suspended. X suspends accounts that violate the X Rules</div>",
            "suspended",
        ),
        (200, "<h2>These posts are protected</h2>", "private"),
        (200, "<p>This account is private</p>", "private"),
        (451, "", "withheld"),
        (503, "", "error"),
    ],
)
def test_page_states_are_read_from_status_and_text(status: int, body: str, state: str) -> None:
    assert recheck.classify(status, body) == state


def test_only_platform_urls_over_https_are_fetched() -> None:
    with httpx.Client() as client:
        for url in [
            "http://x.com/i/user/1",
            "https://169.254.169.254/latest/meta-data",
            "https://x.com.evil.example/i/user/1",
            "file:///etc/passwd",
        ]:
            state, status, detail = recheck.check_url(client, url)
            assert (state, status) == ("error", None) and "not fetched" in detail


def test_rechecks_are_dated_observations_that_confirm_or_contradict_the_platform(
    engine: Engine, tmp_path: Path, platform_site: str
) -> None:
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    with engine.connect() as conn:
        account = conn.execute(
            select(t.accounts.c.id).where(t.accounts.c.native_id == "smug_x")
        ).scalar_one()
        post = conn.execute(select(t.posts.c.id).where(t.posts.c.native_id == "x-1")).scalar_one()
    draft = rs.draft(engine, people["ana"], recipient="x", account_ids=[account], post_ids=[post])
    rs.approve(engine, people["sam"], draft.id)
    with engine.begin() as conn:
        rs.mark_sent(conn, draft.id, actor="worker")
        referral = rs.get(conn, draft.id)
        rs.record_decision(
            conn,
            referral,
            PlatformDecision(
                decision_account="DECISION_ACCOUNT_SUSPENDED",
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
            ),
            actor="liaison-x",
            source="test",
        )
    rewrite = {"https://x.com": platform_site}
    # First look: the account page says suspended, but the post is still up.
    PAGES["/i/user/smug_x"] = (200, "<div>Account suspended</div>")
    PAGES["/i/web/status/x-1"] = (200, "<article>Boat to Italy from Zuwara</article>")
    first = recheck.recheck_referrals(engine, rewrite=rewrite)
    assert sorted(r.state for r in first) == ["live", "suspended"]
    states = recheck.latest_states(engine, draft.id)
    by_state = {s["state"]: s for s in states.values()}
    assert by_state["suspended"]["confirmed_removed"]
    assert by_state["live"]["contradicts_platform"]  # reported removed, still there
    # A week later the post is gone too; the earlier observation is kept.
    PAGES["/i/web/status/x-1"] = (404, "")
    recheck.recheck_referrals(engine, rewrite=rewrite)
    assert {s["state"] for s in recheck.latest_states(engine, draft.id).values()} == {
        "suspended",
        "not_found",
    }
    with engine.connect() as conn:
        history = conn.execute(select(t.rechecks.c.state).order_by(t.rechecks.c.id)).scalars().all()
    assert sorted(history[:2]) == ["live", "suspended"] and len(history) == 4

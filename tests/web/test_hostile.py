"""Every post shown in the console was written by a criminal. Script tags, event handlers,
javascript: URLs and CSS tricks in post text, display names, bios and links render as inert
text (no dialog, no request leaves, no script runs), and right-to-left text displays
right-to-left. And a liaison of one platform cannot reach anything else by changing URLs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.programme import detector, seed_posts
from tests.web.conftest import Console, console_people
from tidewatch.cases import cases, queue
from tidewatch.channels.config import load_channels
from tidewatch.channels.outbox import run_worker
from tidewatch.cli import ingest_paths
from tidewatch.referrals import service as rs
from tidewatch.store import tables as t
from tidewatch.store.users import get_actor

SCRIPT = "<script>alert('text')</script>"
HANDLER = "<img src=x onerror=\"alert('handler')\">"
CSS = '<style>body{display:none}</style><div style="position:fixed;inset:0;background:red">x</div>'
JS_URL = "javascript:alert('url')"
ARABIC = "رحلة إلى إيطاليا من زوارة، ٢٥٠٠ يورو للشخص، تواصل واتساب"
HOSTILE_TEXT = (
    f"Boat to Italy 2500 euro per person WhatsApp +218 91 555 0192 {SCRIPT} {HANDLER} {CSS}"
)


def _hostile_page(path: Path) -> Path:
    """An X API v2 response (the real shape) whose post, author name, bio and link are hostile."""
    page = {
        "data": [
            {
                "id": "1790000000000000001",
                "text": HOSTILE_TEXT + " https://t.co/abc",
                "author_id": "4400000001",
                "created_at": "2026-11-20T10:00:00.000Z",
                "edit_history_tweet_ids": ["1790000000000000001"],
                "entities": {
                    "urls": [
                        {
                            "start": 0,
                            "end": 5,
                            "url": "https://t.co/abc",
                            "expanded_url": JS_URL,
                            "display_url": "x",
                        }
                    ]
                },
            },
            {
                "id": "1790000000000000002",
                "text": ARABIC + " +218915550192",
                "author_id": "4400000001",
                "created_at": "2026-11-21T10:00:00.000Z",
                "edit_history_tweet_ids": ["1790000000000000002"],
            },
        ],
        "includes": {
            "users": [
                {
                    "id": "4400000001",
                    "username": "evil_boats",
                    "name": HANDLER + SCRIPT,
                    "description": CSS + SCRIPT,
                    "url": JS_URL,
                }
            ]
        },
    }
    target = path / "hostile.json"
    target.write_text(json.dumps(page, ensure_ascii=False), "utf-8")
    return target


def _ingest(engine: Engine, tmp_path: Path) -> None:
    _, code = ingest_paths(
        engine,
        [str(_hostile_page(tmp_path))],
        format="x_v2",
        collector="t",
        batch_size=10,
        detector=detector(),
    )
    assert code == 0


def test_hostile_text_renders_inert_everywhere_it_is_shown(
    console: Console, visitor: Any, tmp_path: Path
) -> None:
    engine = console.engine
    _ingest(engine, tmp_path)
    console_people(engine)
    queue.refresh(engine, threshold=0.5)
    with engine.connect() as conn:
        post_ids = conn.execute(select(t.posts.c.id).order_by(t.posts.c.id)).scalars().all()
        account_id = conn.execute(select(t.accounts.c.id)).scalar_one()
        ana, sam = get_actor(conn, "ana"), get_actor(conn, "sam")
    case_id = cases.open_case(engine, ana, SCRIPT, accounts=[("x", "4400000001")])
    cases.add_note(engine, ana, case_id, HANDLER)
    referral = rs.draft(
        engine, ana, recipient="x", case_id=case_id, summary=SCRIPT + CSS, post_ids=post_ids
    )
    rs.approve(engine, sam, referral.id)
    run_worker(engine, load_channels(env={}), once=True, lease=30)
    with engine.begin() as conn:
        rs.post_message(
            conn, rs.get(conn, referral.id), sender="platform", author="xavier", body=SCRIPT
        )

    analyst = visitor()
    analyst.login("ana")
    pages = [
        "/queue",
        f"/posts/{post_ids[0]}",
        f"/posts/{post_ids[1]}",
        f"/accounts/{account_id}",
        f"/cases/{case_id}",
        f"/referrals/{referral.id}",
        "/referrals",
        "/cases",
    ]
    for path in pages:
        response = analyst.go(path)
        assert response.status == 200, path
        analyst.page.wait_for_timeout(100)
        # Our own scripts only: nothing from the input became an element.
        scripts = analyst.page.eval_on_selector_all(
            "script[src]", "els => els.map(e => e.getAttribute('src'))"
        )
        assert set(scripts) <= {
            "/static/vendor/htmx.min.js",
            "/static/console.js",
            "/static/vendor/cytoscape.min.js",
            "/static/network.js",
        }, path
        assert (
            analyst.page.locator("script:not([src]):not([type='application/json'])").count() == 0
        ), path
        assert analyst.page.locator("img[onerror], style, div[style]").count() == 0, path
        assert analyst.page.locator("a[href^='javascript']").count() == 0, path
        assert analyst.page.is_visible("main"), path  # the CSS trick hid nothing
    analyst.go(f"/posts/{post_ids[0]}")
    analyst.shot("hostile post")
    shown = analyst.page.inner_text("#post-text")
    assert SCRIPT in shown and "onerror" in shown  # shown as the text it is
    assert JS_URL in analyst.page.inner_text("main")  # the link is shown, not linked
    # Right-to-left text displays right-to-left.
    analyst.go(f"/posts/{post_ids[1]}")
    direction = analyst.page.eval_on_selector("#post-text", "e => getComputedStyle(e).direction")
    assert direction == "rtl"
    analyst.shot("rtl post")

    liaison = visitor()
    liaison.login("xavier")
    liaison.go(f"/portal/referrals/{referral.public_id}")
    assert SCRIPT in liaison.page.inner_text("main")
    for person in (analyst, liaison):
        assert person.dialogs == [], person.dialogs
        assert person.foreign == [], person.foreign


def test_a_liaison_cannot_reach_other_pages_or_platforms_by_changing_urls(
    console: Console, visitor: Any, tmp_path: Path
) -> None:
    engine = console.engine
    seed_posts(engine, tmp_path)
    console_people(engine)
    with engine.connect() as conn:
        ana, sam = get_actor(conn, "ana"), get_actor(conn, "sam")
        x_account = conn.execute(
            select(t.accounts.c.id).where(t.accounts.c.platform == "x")
        ).scalar()
    to_x = rs.draft(engine, ana, recipient="x", account_ids=[x_account])
    rs.approve(engine, sam, to_x.id)
    run_worker(engine, load_channels(env={}), once=True, lease=30)
    meta = visitor()
    meta.login("lia")
    missing = meta.go("/portal/referrals/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404
    not_found_text = meta.page.inner_text("main")
    for path in [
        "/queue",
        "/posts/1",
        "/accounts/1",
        "/networks",
        "/cases",
        "/cases/1",
        f"/referrals/{to_x.id}",
        "/referrals",
        "/audit",
        f"/portal/referrals/{to_x.public_id}",
    ]:
        response = meta.go(path)
        assert response.status == 404, path
        # The same page as for something that does not exist: nothing learnt.
        assert meta.page.inner_text("main").replace(
            "no such referral", "no such page"
        ) == not_found_text.replace("no such referral", "no such page"), path
    assert to_x.public_id not in meta.go("/portal").text()
    # The dashboard sends a liaison to its own inbox.
    meta.go("/")
    assert meta.page.url.endswith("/portal")
    # A form posted to another platform's referral changes nothing.
    csrf = meta.page.get_attribute("meta[name=csrf-token]", "content")
    result = meta.page.request.post(
        f"{console.url}/portal/referrals/{to_x.public_id}/decide",
        form={"csrf": csrf or "", "outcome": "no_violation"},
        headers={"Origin": console.url},
    )
    assert result.status == 404
    with engine.connect() as conn:
        assert rs.get(conn, to_x.id).status == "sent"


@pytest.mark.parametrize("path", ["/queue", "/portal", "/referrals/1"])
def test_signed_out_visitors_are_sent_to_sign_in(console: Console, visitor: Any, path: str) -> None:
    person = visitor()
    person.go(path)
    assert "/login" in person.page.url


def test_wrong_passwords_are_rate_limited(console: Console, visitor: Any) -> None:
    console_people(console.engine)
    person = visitor()
    for _ in range(5):
        person.login("ana", "wrong password 123")
        assert "wrong username or password" in person.page.inner_text("main")
    person.login("ana")  # even the right password is refused now
    assert "too many failed sign-ins" in person.page.inner_text("main")
    other = visitor()
    other.login("sam")
    assert "/login" not in other.page.url

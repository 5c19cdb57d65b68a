"""A partner key for one platform can never read, change or learn of the existence of another
platform's referrals (nor of its own platform's referrals before they are sent)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from tests.api.conftest import LiveServer, World
from tidewatch.api.partner import encode_cursor
from tidewatch.store import tables as t

DECISION = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "automated_detection": False,
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "statement_id": "sor-1",
}


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything a partner's request could change."""
    with engine.connect() as conn:
        return {
            name: sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
            for name, table in (
                ("referrals", t.referrals),
                ("items", t.referral_items),
                ("decisions", t.platform_decisions),
                ("messages", t.referral_messages),
                ("head", t.audit_head),
            )
        } | {"audit": conn.execute(select(func.count()).select_from(t.audit_log)).scalar()}


def probes(public_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/partner/v1/referrals/{public_id}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/decisions", None),
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/acknowledge", None),
        ("POST", f"{base}/decisions", DECISION),
        ("POST", f"{base}/decisions", {"no_violation": True}),
        ("POST", f"{base}/messages", {"body": "hello", "kind": "message"}),
        ("POST", f"{base}/messages", {"body": "more?", "kind": "information_request"}),
        ("GET", f"/partner/v1/submissions/{public_id}", None),
    ]


def answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "date")
    return response.status_code, response.content, headers


def test_another_platforms_referrals_answer_exactly_like_ones_that_never_existed(
    world: World, server: LiveServer
) -> None:
    before = snapshot(world.engine)
    hidden = world.sent["x"] + world.unsent["x"] + world.unsent["meta"]
    with server.client(world.keys["meta"]) as meta:
        for method, path, body in probes(str(uuid.uuid4())):
            nowhere = answer(meta.request(method, path, json=body))
            assert nowhere[0] == 404
            assert nowhere[1] == b'{"detail":"referral not found"}'
            for public_id in hidden:
                probe = path.replace(path.split("/")[4], public_id)
                assert answer(meta.request(method, probe, json=body)) == nowhere, (method, probe)
    assert snapshot(world.engine) == before  # nothing read, acknowledged, decided or written


def test_lists_and_cursors_show_only_the_platforms_own_delivered_referrals(
    world: World, server: LiveServer
) -> None:
    with server.client(world.keys["meta"]) as meta:
        listed = meta.get("/partner/v1/referrals", params={"limit": 200}).json()
        assert [r["id"] for r in listed["items"]] == world.sent["meta"][::-1]  # newest first
        assert listed["next_cursor"] is None
        # Page by page: the same three, each cursor built from the platform's own referral.
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = meta.get("/partner/v1/referrals", params=params).json()
            seen += [r["id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert cursor == encode_cursor(seen[-1])
        assert seen == world.sent["meta"][::-1]
        # A cursor naming another platform's referral is refused just like a made-up one.
        garbage = meta.get(
            "/partner/v1/referrals", params={"cursor": encode_cursor(str(uuid.uuid4()))}
        )
        assert garbage.status_code == 422
        for public_id in world.sent["x"] + world.unsent["meta"]:
            other = meta.get("/partner/v1/referrals", params={"cursor": encode_cursor(public_id)})
            assert answer(other) == answer(garbage)
        assert (
            meta.get("/partner/v1/referrals", params={"status": "sent"}).json()["items"]
            == (listed["items"])
        )
        assert meta.get("/partner/v1/referrals", params={"status": "removed"}).json() == {
            "items": [],
            "next_cursor": None,
        }
        # Item numbers count only the referral's own items: nothing about anyone else's.
        for referral in listed["items"]:
            numbers = [i["item_id"] for i in referral["items"]]
            assert numbers == list(range(1, len(numbers) + 1))
            assert [i["item_id"] for i in referral["package"]["items"]] == numbers
            assert referral["package"]["recipient"] == "meta"


def test_submissions_are_seen_only_by_the_platform_that_sent_them(
    world: World, server: LiveServer
) -> None:
    item = {"kind": "account", "native_id": "smuggler_1", "url": "https://x.com/smuggler_1"}
    with server.client(world.keys["x"]) as x, server.client(world.keys["meta"]) as meta:
        sent = x.post("/partner/v1/submissions", json={"summary": "found", "items": [item]})
        assert sent.status_code == 201
        submission = sent.json()
        assert submission["status"] == "received" and submission["items"][0]["item_id"] == 1
        assert [s["id"] for s in x.get("/partner/v1/submissions").json()["items"]] == [
            submission["id"]
        ]
        assert x.get(f"/partner/v1/submissions/{submission['id']}").json() == submission
        assert meta.get("/partner/v1/submissions").json() == {"items": [], "next_cursor": None}
        nowhere = answer(meta.get(f"/partner/v1/submissions/{uuid.uuid4()}"))
        assert answer(meta.get(f"/partner/v1/submissions/{submission['id']}")) == nowhere
        # An inbound submission is not an outbound referral, even to its own platform.
        assert x.get(f"/partner/v1/referrals/{submission['id']}").status_code == 404

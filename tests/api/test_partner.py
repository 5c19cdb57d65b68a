"""The platform's side of the two-way channel, over a real server: keys, acknowledgement,
DSA decisions, the message thread and the platform's own referrals to the unit."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.conftest import LiveServer, World
from tidewatch.store import tables as t
from tidewatch.store.users import revoke_api_key

REMOVED = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_account": "DECISION_ACCOUNT_TERMINATED",
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "territorial_scope": ["FR", "IT"],
    "automated_detection": False,
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "statement_id": "meta-sor-8812",
    "decided_at": "2026-11-30T09:00:00Z",
    "item_ids": [1],
}


def test_a_liaison_acknowledges_asks_for_more_and_then_decides(
    world: World, server: LiveServer
) -> None:
    public_id = world.sent["meta"][0]
    path = f"/partner/v1/referrals/{public_id}"
    with server.client(world.keys["meta"]) as meta, server.client(world.keys["ana"]) as ana:
        referral = meta.get(path).json()
        assert referral["status"] == "sent" and referral["package"]["referral_id"] == public_id
        acked = meta.post(f"{path}/acknowledge").json()
        assert acked["status"] == "acknowledged" and acked["acknowledged_at"]
        assert meta.post(f"{path}/acknowledge").json() == acked  # a repeat changes nothing

        asked = meta.post(
            f"{path}/messages",
            json={"body": "Which <b>post</b> shows the price?", "kind": "information_request"},
        )
        assert asked.status_code == 201 and asked.json()["number"] == 1
        assert meta.get(path).json()["status"] == "more_info_requested"
        answered = ana.post(f"/api/v1/referrals/{public_id}/messages", json={"body": "Item 2."})
        assert answered.status_code == 201 and answered.json()["author"] == "ana"
        thread = meta.get(f"{path}/messages").json()
        # Text is returned as data, exactly as written, in JSON (never rendered as HTML).
        assert [(m["sender"], m["body"]) for m in thread] == [
            ("platform", "Which <b>post</b> shows the price?"),
            ("unit", "Item 2."),
        ]
        assert meta.get(path).json()["status"] == "acknowledged"

        decided = meta.post(f"{path}/decisions", json=REMOVED)
        assert decided.status_code == 201, decided.text
        [decision] = decided.json()
        assert decision["outcome"] == "removed" and decision["item_ids"] == [1]
        assert decision["statement_id"] == "meta-sor-8812" and decision["source"] == "partner_api"
        after = meta.get(path).json()
        assert after["status"] == "removed"
        # The decision named item 1 only: the other items keep waiting.
        statuses = [i["status"] for i in after["items"]]
        assert statuses[0] == "removed" and set(statuses[1:]) == {"pending"}
        # One decision per referral: a second is refused and changes nothing.
        again = meta.post(f"{path}/decisions", json={"no_violation": True})
        assert again.status_code == 409
        assert meta.get(f"{path}/decisions").json() == [decision]
        unit_view = ana.get(f"/api/v1/referrals/{public_id}").json()
        assert unit_view["status"] == "removed" and unit_view["decisions"] == [decision]
        assert [m["author"] for m in unit_view["messages"]][1] == "ana"


INVALID: list[tuple[dict[str, object], str]] = [
    ({**REMOVED, "decision_ground": "BECAUSE"}, "decision_ground 'BECAUSE' is not in the DSA"),
    ({**REMOVED, "decision_visibility": ["GONE"]}, "decision_visibility 'GONE' is not in"),
    ({**REMOVED, "category": "SMUGGLING"}, "category 'SMUGGLING' is not in the DSA"),
    ({**REMOVED, "automated_decision": "yes"}, "automated_decision 'yes' is not in"),
    ({**REMOVED, "decision_ground": None}, "decision_ground is required"),
    ({"no_violation": True, "decision_account": "DECISION_ACCOUNT_SUSPENDED"}, "no_violation"),
    ({"statement_id": "x"}, "restricts content (decision_visibility) or the account"),
    ({**REMOVED, "territorial_scope": ["France"]}, "String should match pattern"),
    ({**REMOVED, "item_ids": [99]}, "item_ids [99] are not in this referral"),
    ({**REMOVED, "decided_at": "2026-11-30T09:00:00"}, "decided_at needs a time zone"),
    ({**REMOVED, "note": "nul \x00 byte"}, "NUL"),
    ({**REMOVED, "surprise": 1}, "Extra inputs are not permitted"),
]


def test_decisions_outside_the_dsa_vocabulary_are_refused_naming_the_field(
    world: World, server: LiveServer
) -> None:
    public_id = world.sent["meta"][1]
    with server.client(world.keys["meta"]) as meta:
        for body, message in INVALID:
            response = meta.post(f"/partner/v1/referrals/{public_id}/decisions", json=body)
            assert response.status_code == 422, body
            assert message in str(response.json()["detail"]), body
        assert meta.get(f"/partner/v1/referrals/{public_id}").json()["status"] == "sent"


def test_no_violation_is_an_answer_too(world: World, server: LiveServer) -> None:
    public_id = world.sent["x"][0]
    with server.client(world.keys["x"]) as x:
        [decision] = x.post(
            f"/partner/v1/referrals/{public_id}/decisions", json={"no_violation": True}
        ).json()
        assert decision["outcome"] == "no_violation" and decision["item_ids"] == []
        assert x.get(f"/partner/v1/referrals/{public_id}").json()["status"] == "no_violation"


def test_keys_missing_wrong_revoked_or_of_the_other_kind_are_refused(
    world: World, server: LiveServer
) -> None:
    listing = "/partner/v1/referrals"
    with server.client() as anonymous:
        for headers in ({}, {"Authorization": "Bearer tw_nope_nope"}, {"Authorization": "Basic x"}):
            response = anonymous.get(listing, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
        # A unit key does not open the partner API, nor a partner key the unit API.
        unit = anonymous.get(listing, headers={"Authorization": f"Bearer {world.keys['ana']}"})
        assert unit.status_code == 403
        assert "insufficient_scope" in unit.headers["www-authenticate"]
        partner = anonymous.get(
            "/api/v1/queue", headers={"Authorization": f"Bearer {world.keys['meta']}"}
        )
        assert partner.status_code == 403
    with server.client(world.keys["meta"]) as meta:
        assert meta.get(listing).status_code == 200
        key_id = world.keys["meta"].split("_")[1]
        with world.engine.begin() as conn:
            revoke_api_key(conn, key_id)
        assert meta.get(listing).status_code == 401


def test_every_answer_is_json_that_browsers_will_not_sniff_or_cache(
    world: World, server: LiveServer
) -> None:
    with server.client(world.keys["meta"]) as meta:
        for path in ("/partner/v1/referrals", "/partner/v1/nothing", "/openapi.json"):
            response = meta.get(path)
            assert response.headers["content-type"] == "application/json"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-store"


def test_a_platform_refers_accounts_it_found_to_the_unit(world: World, server: LiveServer) -> None:
    body = {
        "summary": "Accounts selling crossings",
        "tlp": "TLP:GREEN",
        "items": [
            {"kind": "account", "native_id": "10042", "url": "https://www.facebook.com/10042"},
            {"kind": "post", "native_id": "10042_77"},
        ],
    }
    with server.client(world.keys["meta"]) as meta:
        created = meta.post("/partner/v1/submissions", json=body)
        assert created.status_code == 201
        submission = created.json()
    with world.engine.connect() as conn:
        row = conn.execute(
            select(t.referrals).where(t.referrals.c.public_id == submission["id"])
        ).one()
    assert (row.direction, row.platform, row.status, row.tlp) == (
        "inbound",
        "meta",
        "received",
        "TLP:GREEN",
    )
    assert [i["native_id"] for i in submission["items"]] == ["10042", "10042_77"]
    with server.client(world.keys["ana"]) as ana:
        inbound = ana.get("/api/v1/referrals", params={"direction": "inbound"}).json()
        assert [r["id"] for r in inbound] == [submission["id"]]

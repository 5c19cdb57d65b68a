"""The unit API over a real server: review, cases and referrals as the unit's users do them,
with roles (and four eyes) enforced by the services behind it."""

from __future__ import annotations

import json

from tests.api.conftest import LiveServer, World, account_ids


def test_an_analyst_reviews_opens_a_case_and_drafts_and_a_second_supervisor_approves(
    world: World, server: LiveServer
) -> None:
    with (
        server.client(world.keys["ana"]) as ana,
        server.client(world.keys["sam"]) as sam,
        server.client(world.keys["sue"]) as sue,
    ):
        assert ana.post("/api/v1/queue/claim", json={}).json() == {"item": None}  # empty queue
        # The world has no queue yet: fill it as the review command would.
        from tidewatch.cases import queue

        queue.refresh(world.engine, threshold=0.5)
        waiting = ana.get("/api/v1/queue").json()
        assert waiting and all(i["status"] == "open" for i in waiting)
        item = ana.post("/api/v1/queue/claim").json()["item"]
        assert item["id"] == waiting[0]["id"] and item["claimed_by"] == "ana"
        # Someone else cannot take it, nor decide it.
        taken = sam.post("/api/v1/queue/claim", json={"item_id": item["id"]})
        assert taken.status_code == 409
        refused = sam.post(
            f"/api/v1/queue/{item['id']}/decision",
            json={"decision": "advert", "reason_code": "crossing_offer"},
        )
        assert refused.status_code == 409
        wrong_reason = ana.post(
            f"/api/v1/queue/{item['id']}/decision",
            json={"decision": "advert", "reason_code": "unrelated"},
        )
        assert wrong_reason.status_code == 422
        assert "does not go with 'advert'" in wrong_reason.json()["detail"][0]["msg"]
        released = ana.post(f"/api/v1/queue/{item['id']}/release").json()
        assert released["status"] == "open"
        posts = [i for i in waiting if i["kind"] == "post"]
        for post in posts:
            assert ana.post("/api/v1/queue/claim", json={"item_id": post["id"]}).status_code == 200
            decided = ana.post(
                f"/api/v1/queue/{post['id']}/decision",
                json={"decision": "advert", "reason_code": "crossing_offer", "note": "price"},
            ).json()
            assert decided["status"] == "decided" and decided["decided_by"] == "ana"
        labels = ana.get("/api/v1/queue/labels")
        assert labels.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in labels.text.splitlines()]
        assert len(lines) == len(posts) and {line["label"] for line in lines} == {"advert"}

        case = ana.post(
            "/api/v1/cases",
            json={"title": "Zuwara boats", "accounts": [{"platform": "x", "native_id": "smug_x"}]},
        )
        assert case.status_code == 201
        case_id = case.json()["id"]
        added = ana.post(
            f"/api/v1/cases/{case_id}/accounts",
            json={"accounts": [{"platform": "facebook", "native_id": "smug_fb"}]},
        ).json()
        assert added == {"added": 1}
        noted = ana.post(f"/api/v1/cases/{case_id}/notes", json={"body": "same number"}).json()
        assert [n["body"] for n in noted["notes"]] == ["same number"]
        missing = ana.post(
            f"/api/v1/cases/{case_id}/accounts",
            json={"accounts": [{"platform": "x", "native_id": "nobody"}]},
        )
        assert missing.status_code == 404 and "x:nobody" in missing.json()["detail"]

        draft = ana.post("/api/v1/referrals", json={"recipient": "x", "case_id": case_id})
        assert draft.status_code == 201, draft.text
        referral = draft.json()
        assert referral["status"] == "draft" and referral["platform"] == "x"
        assert {i["kind"] for i in referral["items"]} == {"account", "post"}
        approve = f"/api/v1/referrals/{referral['id']}/approve"
        assert ana.post(approve).status_code == 403  # analysts do not approve
        approved = sue.post(approve, json={"deadline_days": 3}).json()
        assert approved["status"] == "approved" and approved["approved_by"] == "sue"
        assert approved["package_sha256"] and approved["package"]["recipient"] == "x"
        assert sue.post(approve).status_code == 409  # approved once
        listed = ana.get("/api/v1/referrals", params={"status": "approved", "platform": "x"})
        assert referral["id"] in [r["id"] for r in listed.json()]


def test_four_eyes_the_drafting_supervisor_cannot_approve(world: World, server: LiveServer) -> None:
    meta_accounts = account_ids(world.engine, "facebook", "instagram")
    with server.client(world.keys["sam"]) as sam, server.client(world.keys["sue"]) as sue:
        nothing = sam.post("/api/v1/referrals", json={"recipient": "meta"})
        assert nothing.status_code == 422 and "nothing to refer" in str(nothing.json())
        wrong = sam.post(
            "/api/v1/referrals",
            json={"recipient": "meta", "account_ids": account_ids(world.engine, "x")},
        )
        assert wrong.status_code == 404 and "not on meta's platforms" in wrong.json()["detail"]
        mine = sam.post(
            "/api/v1/referrals", json={"recipient": "meta", "account_ids": meta_accounts}
        )
        approve = f"/api/v1/referrals/{mine.json()['id']}/approve"
        refused = sam.post(approve)
        assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
        assert sue.post(approve).json()["status"] == "approved"


def test_auditors_read_and_verify_but_do_not_act(world: World, server: LiveServer) -> None:
    with server.client(world.keys["aud"]) as aud, server.client(world.keys["ana"]) as ana:
        verified = aud.get("/api/v1/audit/verify").json()
        assert verified["ok"] is True and verified["entries"] > 10
        assert ana.get("/api/v1/audit/verify").status_code == 403
        assert aud.get(f"/api/v1/referrals/{world.sent['meta'][0]}").status_code == 200
        assert aud.post("/api/v1/queue/claim").status_code == 403
        assert aud.post("/api/v1/cases", json={"title": "t"}).status_code == 403
    with server.client(world.keys["liaison"]) as liaison:
        # A liaison's own user key is not a way into the unit's records.
        assert liaison.get("/api/v1/referrals").status_code == 403


def test_resubmitting_a_referral_the_platform_found_no_violation_in(
    world: World, server: LiveServer
) -> None:
    public_id = world.sent["meta"][2]
    with server.client(world.keys["meta"]) as meta, server.client(world.keys["ana"]) as ana:
        early = ana.post(f"/api/v1/referrals/{public_id}/resubmit")
        assert early.status_code == 409
        meta.post(f"/partner/v1/referrals/{public_id}/decisions", json={"no_violation": True})
        again = ana.post(f"/api/v1/referrals/{public_id}/resubmit", json={"summary": "new proof"})
        assert again.status_code == 201
        assert again.json()["resubmission_of"] == public_id
        assert again.json()["status"] == "draft" and again.json()["summary"] == "new proof"
        unknown = ana.get("/api/v1/referrals/00000000-0000-4000-8000-000000000000")
        assert unknown.status_code == 404

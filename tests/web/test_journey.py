"""One journey through the whole programme in a real browser: an analyst reviews and drafts
a referral, a supervisor approves, the platform's liaison decides in the portal, and the
tracker and dashboard show it. Screenshots of each page are saved as test artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.programme import seed_posts
from tests.web.conftest import Console, console_people
from tidewatch.cases import queue
from tidewatch.channels.config import load_channels
from tidewatch.channels.outbox import run_worker
from tidewatch.store import tables as t


def test_review_refer_approve_decide_and_see_it_counted(
    console: Console, visitor: Any, tmp_path: Path
) -> None:
    engine = console.engine
    seed_posts(engine, tmp_path)
    console_people(engine)
    queue.refresh(engine, threshold=0.5)

    analyst = visitor()
    analyst.go("/queue")
    assert "/login" in analyst.page.url  # signed out: sent to sign in
    analyst.login("ana")
    analyst.go("/queue")
    analyst.shot("01 queue")
    rows = analyst.page.locator("#queue tr.queue-row")
    assert rows.count() >= 4
    # Keyboard: claim the selected item, choose "advert", decide with Enter.
    first = rows.first.get_attribute("id")
    analyst.page.keyboard.press("c")
    analyst.page.wait_for_selector(f"#{first} form.decide")
    analyst.page.keyboard.press("a")
    analyst.page.keyboard.press("Enter")
    analyst.page.wait_for_selector(f"#{first}.status-decided")
    assert "advert (crossing_offer)" in analyst.page.inner_text(f"#{first}")

    # The network, a case from it, the Arabic copy's post, the referral composer.
    analyst.go("/networks")
    analyst.page.click("table a[href^='/networks/']")
    analyst.page.wait_for_selector("#graph[data-ready]")
    assert int(analyst.page.get_attribute("#graph", "data-ready") or 0) >= 2
    analyst.shot("02 network")
    analyst.page.click("text=Open a case")
    analyst.page.wait_for_load_state()
    assert "/cases/" in analyst.page.url, analyst.page.inner_text("main")
    analyst.shot("03 case")
    analyst.page.click("text=Draft a referral")
    analyst.page.select_option("select[name=recipient]", "x")
    analyst.page.fill("textarea[name=summary]", "Network selling Zuwara crossings")
    analyst.shot("04 composer")
    analyst.page.click("text=Draft referral")
    analyst.page.wait_for_url("**/referrals/*")
    assert "draft" in analyst.page.inner_text("h1")
    assert "Approve" not in analyst.page.content()  # analysts cannot approve
    referral_path = analyst.page.url.replace(console.url, "")

    supervisor = visitor()
    supervisor.login("sam")
    supervisor.go(referral_path)
    supervisor.page.click("button.approve")
    supervisor.page.wait_for_load_state()
    assert "approved" in supervisor.page.inner_text("h1")
    supervisor.shot("05 approved")

    assert run_worker(engine, load_channels(env={}), once=True, lease=30).delivered == 1
    with engine.connect() as conn:
        public_id = conn.execute(select(t.referrals.c.public_id)).scalar_one()

    # Meta's liaison sees nothing of a referral to X.
    meta = visitor()
    meta.login("lia")
    assert public_id not in meta.go("/portal").text()
    assert meta.go(f"/portal/referrals/{public_id}").status == 404

    liaison = visitor()
    liaison.login("xavier")
    liaison.go("/portal")
    liaison.shot("06 portal inbox")
    liaison.page.click(f"text={public_id}")
    liaison.page.click("text=Acknowledge receipt")
    liaison.page.wait_for_load_state()
    assert "acknowledged" in liaison.page.inner_text("h1")
    liaison.page.fill("textarea[name=body]", "Suspended; thank you.")
    liaison.page.click("form[action$='/messages'] button")
    liaison.page.wait_for_load_state()
    liaison.page.select_option("select[name=decision_account]", "DECISION_ACCOUNT_SUSPENDED")
    liaison.page.select_option(
        "select[name=decision_ground]", "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    )
    liaison.page.fill("input[name=statement_id]", "x-sor-77")
    liaison.shot("07 portal decision")
    liaison.page.click("text=Record decision")
    liaison.page.wait_for_load_state()
    assert "removed" in liaison.page.inner_text("h1")

    analyst.go("/referrals")
    analyst.shot("08 tracker")
    tracker = analyst.page.inner_text("table.tracker")
    assert "removed" in tracker and "sam" in tracker
    analyst.go(referral_path)
    assert "Suspended; thank you." in analyst.page.inner_text("body")
    assert "x-sor-77" in analyst.page.inner_text("body")
    analyst.go("/")
    analyst.shot("09 dashboard")
    assert "100.0%" in analyst.page.inner_text(".cards")  # one answered, one actioned
    report = analyst.page.request.get(f"{console.url}/report?format=json").json()
    assert report["totals"]["accounts_removed"] == 1, report["totals"]
    programme = analyst.page.inner_text("main")
    assert "1\naccounts removed" in programme, programme
    assert analyst.page.locator("svg.chart").count() >= 3  # per year, per platform, rates...
    assert report["definitions_version"]
    pdf = analyst.page.request.get(f"{console.url}/report?format=pdf")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"

    auditor = visitor()
    auditor.login("aud")
    auditor.go("/audit")
    auditor.shot("10 audit")
    assert "Chain intact" in auditor.page.inner_text("body")
    for person in (analyst, supervisor, meta, liaison, auditor):
        assert person.dialogs == [] and person.foreign == []

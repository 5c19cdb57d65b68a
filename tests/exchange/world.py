"""A small referral history built through the real code: the test programme's posts
ingested, scanned and linked, reviewed, a case of the linked network, and referrals to Meta
and X approved (evidence sealed) and sent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from tests.programme import seed_people, seed_posts
from tidewatch.cases import cases, queue
from tidewatch.referrals import service as rs
from tidewatch.store import tables as t
from tidewatch.store.users import Actor


@dataclass
class World:
    engine: Engine
    people: dict[str, Actor]
    case_id: int
    meta: rs.Referral
    x: rs.Referral


def build(engine: Engine, folder: Path) -> World:
    seed_posts(engine, folder)
    people = seed_people(engine)
    queue.refresh(engine, threshold=0.5)
    while (item := queue.claim(engine, people["ana"])) is not None:
        queue.decide(engine, people["ana"], item.id, "advert", "crossing_offer")
    with engine.connect() as conn:
        network = conn.execute(select(t.network_accounts.c.network_id).limit(1)).scalar_one()
    case_id = cases.open_case(engine, people["ana"], "Zuwara boats", network_id=network)
    cases.add_accounts(engine, people["ana"], case_id, [("facebook", "smug_fb")])
    sent = {}
    for recipient in ("meta", "x"):
        draft = rs.draft(
            engine, people["ana"], recipient=recipient, case_id=case_id, summary="Zuwara boats"
        )
        rs.approve(engine, people["sam"], draft.id)
        with engine.begin() as conn:
            rs.mark_sent(conn, draft.id, actor="worker")
            sent[recipient] = rs.get(conn, draft.id)
    return World(engine, people, case_id, sent["meta"], sent["x"])

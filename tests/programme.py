"""Test data for the programme stages (review, referral, channels, API): a few accounts on
several platforms, adverts and hard negatives, ingested, scanned and linked through the real
pipeline, so later stages are tested on what the earlier ones really produce."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from sqlalchemy import Engine

from tidewatch import pipeline
from tidewatch.cli import ingest_paths
from tidewatch.detect.detector import Detector
from tidewatch.link.networks import build_networks
from tidewatch.link.reemergence import find_reemergence
from tidewatch.link.risk import account_risk
from tidewatch.store.networks import save_link_run
from tidewatch.store.users import Actor, create_user

ADVERT_A = "Boat to Italy from Zuwara this week, 2500 euro per person, safe trip guaranteed. WhatsApp +218 91 555 0192"
ADVERT_B = (
    "رحلة بحرية الى ايطاليا من زوارة هذا الأسبوع 2500 يورو للشخص مضمونة تواصل واتساب +218915550192"
)
ADVERT_C = "UK by lorry from Calais, hidden and safe, 3000 pounds, kids half price, message me on WhatsApp +33 6 12 34 56 78"
NEWS = "Coastguard warns families: smugglers sell deadly boat trips to Italy. Call the rescue hotline if in danger."
TRAVEL = (
    "Our agency sells ferry tickets Dover to Calais, 45 pounds return, family cabins available."
)

POSTS = [
    {
        "id": "x-1",
        "platform": "x",
        "author": "smug_x",
        "text": ADVERT_A,
        "created_at": "2026-11-20T10:00:00Z",
    },
    {
        "id": "fb-1",
        "platform": "facebook",
        "author": "smug_fb",
        "text": ADVERT_B,
        "created_at": "2026-11-21T10:00:00Z",
    },
    {
        "id": "ig-1",
        "platform": "instagram",
        "author": "smug_ig",
        "text": ADVERT_A + " 🚤",
        "created_at": "2026-11-22T10:00:00Z",
    },
    {
        "id": "tt-1",
        "platform": "tiktok",
        "author": "lorry_tt",
        "text": ADVERT_C,
        "created_at": "2026-11-23T10:00:00Z",
    },
    {
        "id": "yt-1",
        "platform": "youtube",
        "author": "news_yt",
        "text": NEWS,
        "created_at": "2026-11-24T10:00:00Z",
    },
    {
        "id": "x-2",
        "platform": "x",
        "author": "ferry_x",
        "text": TRAVEL,
        "created_at": "2026-11-25T10:00:00Z",
    },
]


@cache
def detector() -> Detector:
    return Detector.load(second_stage=False)


def seed_posts(engine: Engine, folder: Path, posts: list[dict[str, str]] = POSTS) -> str:
    """Ingest ``posts`` with detection and link them; returns the model version."""
    path = folder / "programme.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), "utf-8")
    reports, code = ingest_paths(
        engine, [str(path)], format="generic", collector="test", batch_size=100, detector=detector()
    )
    assert code == 0, reports
    version = detector().version
    accounts, facts = pipeline.link_facts(engine, version)
    result = build_networks(accounts, facts)
    document = {
        "model_version": version,
        "networks": [n.to_json() for n in result.networks],
        "accounts": [r.to_json() for r in account_risk(facts, result) if r.adverts or r.network],
        "reemergence": [
            r.to_json() for r in find_reemergence(accounts, facts, selectors=result.selectors)
        ],
    }
    membership = [(n, p, a) for (p, a), n in sorted(result.network_of.items())]
    save_link_run(engine, document, membership)
    return version


def seed_people(engine: Engine) -> dict[str, Actor]:
    with engine.begin() as conn:
        return {
            "ana": create_user(conn, "ana", "analyst"),
            "bo": create_user(conn, "bo", "analyst"),
            "sam": create_user(conn, "sam", "supervisor"),
            "sue": create_user(conn, "sue", "supervisor"),
            "meta": create_user(conn, "liaison-meta", "liaison", platform="meta"),
            "aud": create_user(conn, "aud", "auditor"),
        }


SHARED_PAGE = [
    {
        "id": "s1",
        "platform": "x",
        "author": "smug_x",
        "text": "Boat to Italy, 2500 euro, WhatsApp +218 91 555 0192",
    },
    {
        "id": "m1",
        "platform": "x",
        "author": "amina_k",
        "text": "Is the boat from Zuwara safe? I have two children",
    },
]


def seed_shared_page(engine: Engine, folder: Path) -> None:
    """One page of results (one source record) holding a suspect's advert and a migrant's
    own question: the third party that evidence exports must mask."""
    path = folder / "page.json"
    path.write_text(json.dumps(SHARED_PAGE, ensure_ascii=False), "utf-8")
    _, code = ingest_paths(
        engine, [str(path)], format="generic", collector="test", batch_size=10, detector=detector()
    )
    assert code == 0

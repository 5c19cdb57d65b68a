"""The review queue, as analysts use it: what enters, in which order, claims and decisions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.conftest import postgres_schema_url
from tests.programme import seed_people, seed_posts
from tidewatch.cases import queue
from tidewatch.errors import Conflict, PermissionDenied
from tidewatch.store import audit, make_engine, migrate
from tidewatch.store import tables as t


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    seed_posts(engine, tmp_path)
    return engine


def _text(engine: Engine, item: queue.ReviewItem) -> str:
    with engine.connect() as conn:
        return conn.execute(select(t.posts.c.text).where(t.posts.c.id == item.post_id)).scalar_one()


def test_adverts_and_risky_accounts_enter_the_queue_and_news_does_not(seeded: Engine) -> None:
    counts = queue.refresh(seeded, threshold=0.5)
    assert counts.by_kind["post"] == 4  # the four adverts; the news story and ferry agency stay out
    assert counts.by_kind.get("account", 0) >= 3
    with seeded.connect() as conn:
        items = queue.queue(conn, limit=100)
    texts = [_text(seeded, i) for i in items if i.kind == "post"]
    assert not any("Coastguard" in text or "ferry tickets" in text for text in texts)
    # Refreshing again adds nothing: one item per post or account.
    assert queue.refresh(seeded, threshold=0.5).added == 0


def test_priority_is_the_documented_weighted_sum_and_orders_the_queue(seeded: Engine) -> None:
    queue.refresh(seeded, threshold=0.5)
    with seeded.connect() as conn:
        items = queue.queue(conn, limit=100)
    for item in items:
        assert set(item.factors) == set(queue.WEIGHTS)
        assert all(0.0 <= value <= 1.0 for value in item.factors.values())
        assert item.priority == pytest.approx(queue.priority_of(item.factors))
    assert [i.priority for i in items] == sorted((i.priority for i in items), reverse=True)
    # Accounts in a network rank above a lone account with the same score.
    networked = [i for i in items if i.factors["network"] > 0]
    assert networked, "the shared WhatsApp number should put three accounts in one network"


def test_a_claim_keeps_others_out_until_it_expires(seeded: Engine) -> None:
    people = seed_people(seeded)
    queue.refresh(seeded, threshold=0.5)
    now = datetime.now(UTC)
    first = queue.claim(seeded, people["ana"], now=now)
    assert first is not None and first.claimed_by == "ana"
    with pytest.raises(Conflict, match="claimed by ana"):
        queue.claim(seeded, people["bo"], first.id, now=now)
    # bo gets the next item, not ana's.
    second = queue.claim(seeded, people["bo"], now=now)
    assert second is not None and second.id != first.id
    # After the lease lapses the item is claimable again.
    later = now + queue.DEFAULT_CLAIM + timedelta(seconds=1)
    taken = queue.claim(seeded, people["bo"], first.id, now=later)
    assert taken is not None and taken.claimed_by == "bo"
    # ...and ana, who walked away, can no longer decide it.
    with pytest.raises(Conflict, match="not claimed by ana"):
        queue.decide(seeded, people["ana"], first.id, "advert", "crossing_offer")


def test_decisions_need_a_claim_a_valid_reason_and_a_reviewer_role(seeded: Engine) -> None:
    people = seed_people(seeded)
    queue.refresh(seeded, threshold=0.5)
    item = queue.claim(seeded, people["ana"])
    assert item is not None
    with pytest.raises(ValueError, match="does not go with 'advert'"):
        queue.decide(seeded, people["ana"], item.id, "advert", "news_or_research")
    with pytest.raises(PermissionDenied):
        queue.claim(seeded, people["aud"])
    decided = queue.decide(seeded, people["ana"], item.id, "advert", "crossing_offer", note="ok")
    assert (decided.status, decided.decision, decided.decided_by) == ("decided", "advert", "ana")
    with pytest.raises(Conflict):
        queue.decide(seeded, people["ana"], item.id, "not_advert", "unrelated")
    # needs_more parks an item; reopening puts it back.
    other = queue.claim(seeded, people["ana"])
    assert other is not None
    parked = queue.decide(seeded, people["ana"], other.id, "needs_more", "translation_needed")
    assert parked.status == "parked"
    assert queue.reopen(seeded, people["bo"], other.id).status == "open"
    with seeded.connect() as conn:
        actions = [e.action for e in audit.entries(conn, entity="review_item")]
        assert actions.count("review.decide") == 2 and "review.reopen" in actions
        assert audit.verify(conn).ok


def test_decided_posts_export_as_labelled_training_data(seeded: Engine) -> None:
    people = seed_people(seeded)
    queue.refresh(seeded, threshold=0.5)
    with seeded.connect() as conn:
        post_items = [i for i in queue.queue(conn, limit=100) if i.kind == "post"]
    decided = {}
    for item, (decision, reason) in zip(
        post_items[:2],
        [("advert", "crossing_offer"), ("not_advert", "legitimate_travel")],
        strict=True,
    ):
        queue.claim(seeded, people["ana"], item.id)
        queue.decide(seeded, people["ana"], item.id, decision, reason)
        decided[_text(seeded, item)] = decision
    with seeded.connect() as conn:
        rows = list(queue.export_labels(conn))
    assert {row["text"]: row["label"] for row in rows} == decided
    for row in rows:
        assert set(row) == {"id", "text", "label", "category", "lang", "platform", "provenance"}
        assert row["lang"]
        # No reviewer or account names in training data.
        assert "'ana'" not in repr(row) and "smug_" not in repr(row)


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    for url in postgres_schema_url():
        engine = make_engine(url, pool_size=20)
        migrate(engine)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_two_analysts_racing_on_postgresql_never_get_the_same_item(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    engine = postgres_engine
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    queue.refresh(engine, threshold=0.5)
    with engine.connect() as conn:
        total = len(queue.queue(conn, limit=1000))
    claims: dict[str, list[int]] = {"ana": [], "bo": []}
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait()
            while (item := queue.claim(engine, people[name])) is not None:
                claims[name].append(item.id)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in ["ana", "bo"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    everything = claims["ana"] + claims["bo"]
    assert len(everything) == len(set(everything)) == total
    with engine.connect() as conn:
        claimed = conn.execute(
            select(t.review_items.c.id, t.review_items.c.claimed_by).where(
                t.review_items.c.status == "claimed"
            )
        ).all()
        assert {row.id: row.claimed_by for row in claimed} == {
            i: name for name, ids in claims.items() for i in ids
        }
        assert audit.verify(conn).ok

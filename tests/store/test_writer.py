"""The store keeps everything it is given, exactly once, with its history."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select

from tidewatch.model import (
    Account,
    ApiError,
    Availability,
    Bundle,
    Media,
    Metrics,
    Platform,
    Post,
    SourceRecord,
    Stamp,
)
from tidewatch.store import load, loader
from tidewatch.store import tables as t
from tidewatch.store.loader import IngestReport
from tidewatch.store.repository import AccountRepository, PostRepository, SourceRepository
from tidewatch.store.writer import KnownAccounts, _Driver


def stamp(text: str) -> Stamp:
    return Stamp(utc=datetime.fromisoformat(text), raw=text)


def bundle(
    raw: bytes,
    posts: list[Post],
    accounts: list[Account] = (),
    retrieved: str | None = None,
    errors=(),
) -> Bundle:  # type: ignore[assignment]
    return Bundle(
        source=SourceRecord(
            raw=raw,
            format="test",
            retrieved_at=stamp(retrieved) if retrieved else None,
            errors=tuple(errors),
        ),
        posts=list(posts),
        accounts=list(accounts),
    )


def post(native_id: str = "1", text: str = "hello", **kwargs) -> Post:  # type: ignore[no-untyped-def]
    return Post(platform=Platform.X, native_id=native_id, text=text, account_id="a1", **kwargs)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.metadata.sorted_tables
            if table.name != "ingest_runs"
        }


def test_migrations_create_exactly_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_ingesting_the_same_records_twice_changes_nothing(engine: Engine) -> None:
    records = [
        bundle(
            b"page-1",
            [post("1", "a"), post("2", "b")],
            [Account(platform=Platform.X, native_id="a1", handle="x")],
        ),
        bundle(b"page-2", [post("3", "c")]),
    ]
    first = load(engine, records, input_name="f")
    before = table_counts(engine)
    second = load(engine, records, input_name="f")
    assert first.counts.posts_new == 3
    assert second.counts.records_skipped == 2
    assert second.counts.posts_new == 0
    assert table_counts(engine) == before


def test_source_record_keeps_raw_bytes_and_their_sha256(engine: Engine) -> None:
    raw = b'{"id": 1, "text": "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85"}'
    load(engine, [bundle(raw, [post()])], input_name="f")
    sha = hashlib.sha256(raw).hexdigest()
    assert SourceRepository(engine).raw(sha) == raw


def test_an_edit_adds_a_version_and_becomes_the_current_text(engine: Engine) -> None:
    original = post("10", "price 1500", created_at=stamp("2024-05-01T10:00:00+00:00"))
    edited = post(
        "10",
        "price 1200",
        created_at=stamp("2024-05-01T10:00:00+00:00"),
        edited_at=stamp("2024-05-01T10:05:00+00:00"),
        version_id="11",
    )
    load(engine, [bundle(b"v1", [original])], input_name="f")
    report = load(engine, [bundle(b"v2", [edited])], input_name="f")
    repo = PostRepository(engine)
    versions = repo.versions("x", "10")
    assert report.counts.posts_edited == 1
    assert [v.text for v in versions] == ["price 1500", "price 1200"]
    assert versions[1].version_id == "11"
    stored = repo.get("x", "10")
    assert stored is not None and stored.text == "price 1200"


def test_an_older_version_seen_late_does_not_replace_the_current_text(engine: Engine) -> None:
    newer = post("10", "new", edited_at=stamp("2024-05-02T00:00:00+00:00"))
    older = post("10", "old", created_at=stamp("2024-05-01T00:00:00+00:00"))
    load(engine, [bundle(b"newer", [newer])], input_name="f")
    load(engine, [bundle(b"older", [older])], input_name="f")
    stored = PostRepository(engine).get("x", "10")
    assert stored is not None and stored.text == "new"
    assert len(PostRepository(engine).versions("x", "10")) == 2


def test_new_counts_add_an_observation_and_old_ones_are_kept(engine: Engine) -> None:
    load(
        engine,
        [bundle(b"t1", [post(metrics=Metrics(likes=1))], retrieved="2024-01-01T00:00:00+00:00")],
        input_name="f",
    )
    load(
        engine,
        [bundle(b"t2", [post(metrics=Metrics(likes=7))], retrieved="2024-01-02T00:00:00+00:00")],
        input_name="f",
    )
    observations = PostRepository(engine).observations("x", "1")
    assert [o.metrics.likes for o in observations] == [1, 7]
    assert observations[0].observed_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert len(PostRepository(engine).versions("x", "1")) == 1


def test_a_post_repeated_within_one_batch_is_stored_once(engine: Engine) -> None:
    report = load(
        engine, [bundle(b"p1", [post(), post()]), bundle(b"p2", [post()])], input_name="f"
    )
    assert report.counts.posts_new == 1
    assert table_counts(engine)["posts"] == 1
    assert table_counts(engine)["post_observations"] == 2


def test_ids_over_two_to_the_53_are_kept_exactly(engine: Engine) -> None:
    big = "7300000000000000001"
    load(engine, [bundle(b"big", [post(big)])], input_name="f")
    stored = PostRepository(engine).get("x", big)
    assert stored is not None and stored.native_id == big


def test_times_come_back_as_utc_with_their_raw_value(engine: Engine) -> None:
    created = Stamp(utc=datetime(2019, 9, 7, 19, 4, 3, tzinfo=UTC), raw="2019-09-07T19:04:03+0000")
    load(engine, [bundle(b"t", [post(created_at=created)])], input_name="f")
    stored = PostRepository(engine).get("x", "1")
    assert stored is not None and stored.created_at == created


def test_a_renamed_account_keeps_its_old_names_as_observations(engine: Engine) -> None:
    before = Account(
        platform=Platform.FACEBOOK,
        native_id="p1",
        handle="europe.travel",
        display_name="Europe Travel",
    )
    after = before.model_copy(update={"handle": "europe.travel.2", "display_name": "Travel Aid"})
    load(
        engine, [bundle(b"a", [], [before], retrieved="2024-01-01T00:00:00+00:00")], input_name="f"
    )
    report = load(
        engine, [bundle(b"b", [], [after], retrieved="2024-02-01T00:00:00+00:00")], input_name="f"
    )
    repo = AccountRepository(engine)
    current = repo.get("facebook", "p1")
    assert report.counts.accounts_updated == 1
    assert current is not None and current.handle == "europe.travel.2"
    assert [o.handle for o in repo.observations("facebook", "p1")] == [
        "europe.travel",
        "europe.travel.2",
    ]


def test_partial_api_errors_are_recorded_with_their_source(engine: Engine) -> None:
    error = ApiError(
        kind=Availability.SUSPENDED, resource_type="user", resource_id="42", title="Forbidden"
    )
    load(engine, [bundle(b"e", [post()], errors=[error])], input_name="f")
    with engine.connect() as conn:
        row = conn.execute(select(t.api_errors)).one()
    assert (row.kind, row.resource_type, row.resource_id) == ("suspended", "user", "42")


def test_media_is_stored_once_per_post_and_key(engine: Engine) -> None:
    photo = Media(kind="photo", native_id="m1", url="https://example.org/1.jpg")
    load(engine, [bundle(b"m1", [post(media=(photo,))])], input_name="f")
    load(engine, [bundle(b"m2", [post(media=(photo,), metrics=Metrics(likes=3))])], input_name="f")
    assert table_counts(engine)["media"] == 1
    stored = PostRepository(engine).get("x", "1")
    assert stored is not None and stored.media[0].url == "https://example.org/1.jpg"


def test_the_ingest_run_is_recorded_with_its_counts_and_errors(engine: Engine) -> None:
    from tidewatch.errors import RecordError

    report = load(
        engine, [bundle(b"r", [post()]), RecordError("bad", where="f:2")], input_name="f.jsonl"
    )
    with engine.connect() as conn:
        run = conn.execute(select(t.ingest_runs).where(t.ingest_runs.c.id == report.run_id)).one()
    assert (run.status, run.posts_new, run.errors) == ("finished", 1, 1)
    assert run.error_samples == ["f:2: bad"]


def test_links_hashtags_and_extra_counts_round_trip(engine: Engine) -> None:
    rich = post(
        links=("https://wa.me/447700900123", "https://t.me/safar"),
        hashtags=("uk", "calais"),
        metrics=Metrics(likes=2, extra={"bookmarks": 5}),
    )
    load(engine, [bundle(b"rich", [rich])], input_name="f")
    stored = PostRepository(engine).get("x", "1")
    assert stored is not None
    assert stored.links == ("https://wa.me/447700900123", "https://t.me/safar")
    assert stored.hashtags == ("uk", "calais")
    assert PostRepository(engine).observations("x", "1")[0].metrics.extra == {"bookmarks": 5}


def test_a_large_ingest_keeps_postgres_planner_statistics_fresh(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite plans without statistics: nothing to keep fresh
    from sqlalchemy import text

    asked = _record_account_lookups(monkeypatch)
    stamps = _record_stamps(monkeypatch)
    transactions = _record_analyze_transactions(monkeypatch)
    author = Account(platform=Platform.X, native_id="a1", handle="seller")
    records = [
        bundle(f"page-{n}".encode(), [post(str(n), f"text {n}")], [author]) for n in range(6_000)
    ]
    load(engine, records, input_name="big")
    # ANALYZE ran inside a batch's own transaction (the same transaction id before and
    # after), so it did not break the run of ids that vouches for the known accounts...
    assert transactions and all(before == after is not None for before, after in transactions)
    # ...and later batches trusted what the ingest remembered of its one account whenever
    # no other transaction on the server came between (other tests may run meanwhile).
    assert len(asked) == 12 and asked[0] == [("x", "a1")]
    assert [keys == [] for keys in asked[1:]] == _vouched(stamps)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        analysed = conn.execute(
            text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'posts' AND schemaname = current_schema()"
            )
        ).scalar_one()
    assert analysed, "ingest should ANALYZE the tables it has grown"


def test_fast_sqlite_time_text_matches_what_sqlalchemy_would_store() -> None:
    from datetime import timedelta, timezone

    from sqlalchemy.dialects import sqlite

    from tidewatch.store.writer import _sqlite_utc_text

    bind = t.posts.c.created_at.type._cached_bind_processor(sqlite.dialect())
    for moment in (
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=timezone(timedelta(hours=3))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 3, 1, 1, 30, 0, 1, tzinfo=timezone(timedelta(hours=-8))),
        datetime(999, 1, 1, tzinfo=UTC),
    ):
        assert _sqlite_utc_text(moment) == bind(moment)
        assert _sqlite_utc_text(moment) == bind(moment)  # from the cache of recent texts


def test_cached_sqlite_time_texts_stay_right_when_the_cache_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta, timezone

    from tidewatch.store import writer

    monkeypatch.setattr(writer, "_SQLITE_TEXTS", {})
    monkeypatch.setattr(writer, "_SQLITE_TEXTS_LIMIT", 3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(seconds=n) for n in range(10)] * 2
    texts = [writer._sqlite_utc_text(moment) for moment in moments]
    assert texts[:10] == [f"2024-01-01 00:00:{n:02d}.000000" for n in range(10)]
    assert texts[10:] == texts[:10]
    assert len(writer._SQLITE_TEXTS) <= 3
    # The same instant written in another zone is the same UTC text.
    paris = timezone(timedelta(hours=1))
    assert writer._sqlite_utc_text(start.astimezone(paris)) == "2024-01-01 00:00:00.000000"


def _account_seen(handle: str, raw: bytes, retrieved: str) -> Bundle:
    account = Account(platform=Platform.X, native_id="a1", handle=handle, display_name=handle)
    return bundle(raw, [post(raw.decode())], [account], retrieved=retrieved)


def test_an_account_renamed_between_batches_of_one_ingest_takes_the_latest_name(
    engine: Engine,
) -> None:
    # One batch per record, so later batches find the account in what earlier ones wrote
    # (on SQLite, in the ingest's cache of known accounts).
    report = load(
        engine,
        [
            _account_seen("first", b"1", "2024-01-01T00:00:00+00:00"),
            _account_seen("second", b"2", "2024-02-01T00:00:00+00:00"),
            _account_seen("older", b"3", "2023-12-01T00:00:00+00:00"),
            _account_seen("first", b"4", "2024-03-01T00:00:00+00:00"),
        ],
        input_name="f",
        batch_size=1,
    )
    repo = AccountRepository(engine)
    current = repo.get("x", "a1")
    assert (report.counts.accounts_new, report.counts.accounts_updated) == (1, 3)
    # Back to its first name: compared with the February rename, not with January's row.
    assert current is not None and current.handle == "first"
    assert [o.handle for o in repo.observations("x", "a1")] == ["older", "first", "second", "first"]


def test_a_rename_committed_by_another_connection_during_an_ingest_is_respected(
    engine: Engine,
) -> None:
    """The ingest must not trust what it remembers of an account once someone else wrote."""
    future = datetime(2030, 1, 1, tzinfo=UTC)
    batches = []

    def rename_elsewhere(report: object) -> None:
        batches.append(report)
        if len(batches) > 1:
            return
        with engine.begin() as conn:  # another pooled connection than the ingest's
            conn.execute(
                t.accounts.update()
                .where(t.accounts.c.native_id == "a1")
                .values(handle="renamed elsewhere", profile_at=future)
            )

    load(
        engine,
        [
            _account_seen("first", b"1", "2024-01-01T00:00:00+00:00"),
            _account_seen("second", b"2", "2024-02-01T00:00:00+00:00"),
        ],
        input_name="f",
        batch_size=1,
        on_batch=rename_elsewhere,
    )
    current = AccountRepository(engine).get("x", "a1")
    # The second sighting is older than the other writer's profile: it only adds an observation.
    assert current is not None and current.handle == "renamed elsewhere"


def _record_account_lookups(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, str]]]:
    """The account keys each batch selects from the database, batch by batch."""
    asked: list[list[tuple[str, str]]] = []
    select_existing = _Driver.existing_by_key

    def recording(
        self: _Driver, table: str, keys: list[tuple[str, str]], extra: tuple[str, ...]
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        if table == "accounts":
            asked.append(list(keys))
        return select_existing(self, table, keys, extra)

    monkeypatch.setattr(_Driver, "existing_by_key", recording)
    return asked


def _record_stamps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """What each batch's :meth:`_Driver.quiet_stamps` said, batch by batch."""
    stamps: list[tuple[object, object]] = []
    quiet_stamps = _Driver.quiet_stamps

    def recording(self: _Driver) -> tuple[object, object]:
        stamps.append(quiet_stamps(self))
        return stamps[-1]

    monkeypatch.setattr(_Driver, "quiet_stamps", recording)
    return stamps


def _vouched(stamps: list[tuple[object, object]]) -> list[bool]:
    """Per batch after the first: did its stamp show that nobody else wrote since the last?

    On SQLite only another connection to the test's own file could write; on PostgreSQL any
    transaction on the server moves the ids, and tests run in parallel (``make test``), so
    there the answer depends on the other tests."""
    return [
        stamp is not None and stamp == last_next
        for (stamp, _next), (_last, last_next) in zip(stamps[1:], stamps, strict=False)
    ]


def _record_analyze_transactions(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[str | None, str | None]]:
    """PostgreSQL's transaction id just before and just after each ANALYZE of the loader."""
    seen: list[tuple[str | None, str | None]] = []
    written = loader._Statistics.written

    def recording(self: loader._Statistics, conn: Connection, rows: int) -> None:
        ask = "SELECT pg_current_xact_id_if_assigned()::text"
        before = conn.exec_driver_sql(ask).scalar_one()
        analysed_before = self.next_at
        written(self, conn, rows)
        if self.next_at != analysed_before:
            seen.append((before, conn.exec_driver_sql(ask).scalar_one()))

    monkeypatch.setattr(loader._Statistics, "written", recording)
    return seen


def test_later_batches_of_one_ingest_do_not_select_their_accounts_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _record_account_lookups(monkeypatch)
    stamps = _record_stamps(monkeypatch)
    load(
        engine,
        [
            _account_seen("first", b"1", "2024-01-01T00:00:00+00:00"),
            _account_seen("second", b"2", "2024-02-01T00:00:00+00:00"),
            _account_seen("third", b"3", "2024-03-01T00:00:00+00:00"),
        ],
        input_name="f",
        batch_size=1,
    )
    # The first batch had to look; later ones knew the account from what it wrote, unless
    # their stamp showed that someone else may have written meanwhile.
    assert asked[0] == [("x", "a1")] and len(asked) == 3
    assert [keys == [] for keys in asked[1:]] == _vouched(stamps)
    if engine.dialect.name == "sqlite":
        assert asked == [[("x", "a1")], [], []]
    current = AccountRepository(engine).get("x", "a1")
    assert current is not None and current.handle == "third"


def test_known_accounts_keep_only_what_committed_and_stay_bounded() -> None:
    known = KnownAccounts(limit=2)
    known.check(1, 2)
    known.stage(("x", "1"), (1, "t", "h", "n", "b"))
    assert known.get(("x", "1")) == (1, "t", "h", "n", "b")  # visible to its own batch
    known.rolled_back()
    assert known.get(("x", "1")) is None and len(known) == 0

    known.check(1, 2)
    for number in (1, 2):
        known.stage(("x", str(number)), (number, "t", "h", "n", "b"))
    known.committed()
    assert len(known) == 2
    known.check(2, 3)  # the stamp the last batch expected: nobody else wrote
    assert known.get(("x", "2")) is not None
    known.stage(("x", "3"), (3, "t", "h", "n", "b"))
    known.committed()  # over the limit: start again from this batch's accounts
    assert len(known) == 1 and known.get(("x", "3")) is not None
    known.check(5, 6)  # another stamp: someone else wrote
    assert len(known) == 0


def test_known_accounts_forget_everything_when_the_database_cannot_vouch() -> None:
    known = KnownAccounts()
    known.check(1, 2)
    known.stage(("x", "1"), (1, "t", "h", "n", "b"))
    known.committed()
    known.check(None, None)  # e.g. another PostgreSQL transaction was open
    assert len(known) == 0
    known.stage(("x", "1"), (1, "t", "h", "n", "b"))
    known.committed()
    known.check(3, 4)  # after a batch that could not vouch, no stamp is trusted
    assert len(known) == 0
    known.stage(("x", "1"), (1, "t", "h", "n", "b"))
    known.committed()
    known.check(4, 5)  # vouched for: what the last batch wrote is trusted
    assert len(known) == 1
    known.rolled_back()  # this batch failed: the next one cannot vouch for the time between
    known.check(5, 6)
    assert len(known) == 0


def _stamps(conn: Connection) -> tuple[object | None, object | None]:
    """A batch's stamps, read as apply_batch reads them: under the write lock."""
    with conn.begin():
        db = _Driver(conn)
        db.take_write_lock()
        return db.quiet_stamps()


def test_stamps_follow_on_only_while_nobody_else_writes(engine: Engine) -> None:
    """What lets the ingest trust its cache of accounts between batches, on both databases."""
    with engine.connect() as ingest:
        # Two batches in a row whose stamps follow on. On PostgreSQL any transaction on the
        # server breaks the run, and other tests run meanwhile (``make test`` runs two at a
        # time), so look for a quiet moment; on SQLite the first try is one.
        for _attempt in range(200):
            first_stamp, expected = _stamps(ingest)
            if first_stamp is not None and _stamps(ingest)[0] == expected:
                break
        else:
            pytest.fail("no two batches in 200 tries had stamps that followed on")
        if engine.dialect.name == "sqlite":
            assert _attempt == 0
        following = _stamps(ingest)[1]

        with engine.connect() as other:  # another connection writes and commits
            other.execute(
                t.users.insert().values(
                    username="someone", role="analyst", created_at=datetime.now(UTC)
                )
            )
            other.commit()
        assert _stamps(ingest)[0] != following


@pytest.mark.postgres
def test_an_open_transaction_elsewhere_stops_postgresql_vouching(postgres_engine: Engine) -> None:
    """A writer that took its transaction id before the batch and commits after the batch read
    accounts would be invisible to the sequence of ids: the snapshot shows it instead. (On
    SQLite the batch's write lock admits no other writer.)"""
    with postgres_engine.connect() as ingest, postgres_engine.connect() as other:
        other.exec_driver_sql("SELECT pg_current_xact_id()")  # takes an id, stays open
        assert _stamps(ingest) == (None, None)
        other.rollback()
        # Vouching again, once no transaction of the other tests running meanwhile is open.
        assert any(_stamps(ingest)[0] is not None for _attempt in range(200))


def test_two_ingests_of_overlapping_files_at_once_both_succeed(engine: Engine) -> None:
    """Two analysts load overlapping archives at the same moment: each record, account and post
    is written once, by whichever ingest got there first, and neither fails on a unique key
    (on PostgreSQL, batches wait for each other as SQLite's write lock makes them)."""
    authors = [Account(platform=Platform.X, native_id=f"a{n}", handle=f"h{n}") for n in range(20)]
    records = [
        bundle(f"page {n}".encode(), [post(str(n), f"text {n}")], authors[n % 7 : n % 7 + 5])
        for n in range(60)
    ]
    reports: list[IngestReport] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def ingest(items: list[Bundle]) -> None:
        start.wait()
        try:
            reports.append(load(engine, items, input_name="f", batch_size=3))
        except BaseException as error:
            failures.append(error)

    threads = [
        threading.Thread(target=ingest, args=(records,)),
        threading.Thread(target=ingest, args=(records[::-1],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(r.counts.records - r.counts.records_skipped for r in reports) == len(records)
    assert sum(r.counts.posts_new for r in reports) == len(records)
    assert sum(r.counts.accounts_new for r in reports) == len({a.native_id for a in authors[:11]})
    counts = table_counts(engine)
    assert (counts["source_records"], counts["posts"], counts["accounts"]) == (60, 60, 11)
    assert counts["account_observations"] == 60 * 5 and counts["post_observations"] == 60


def test_hostile_text_and_every_value_kind_round_trip(engine: Engine) -> None:
    """What the bulk path must carry exactly: the characters COPY's text format escapes (tab,
    newline, backslash, its null marker), right-to-left and astral text, in plain and JSON
    columns, next to nulls, booleans, counts and times (PostgreSQL takes rows as binary COPY)."""
    hostile = 'tab\there\nline \\N back\\slash "quoted" قارب إلى إيطاليا 🚤 \x7f'
    author = Account(
        platform=Platform.X,
        native_id="a1",
        handle="seller",
        bio=hostile,
        links=(f"https://example.org/?q={hostile}",),
        verified=None,
        created_at=stamp("2021-04-07T20:50:54+00:00"),
        metrics=Metrics(followers=0, following=None),
    )
    written = post(
        text=hostile,
        links=("https://t.me/\\N",),
        hashtags=(hostile,),
        created_at=stamp("2024-02-29T23:59:59.999999+00:00"),
        metrics=Metrics(likes=0, views=2_000_000_000, extra={"bookmarks": 1}),
    )
    load(engine, [bundle(hostile.encode(), [written], [author])], input_name="f")
    stored = PostRepository(engine).get("x", "1")
    assert stored is not None
    assert stored.text == hostile and stored.hashtags == (hostile,)
    assert stored.links == ("https://t.me/\\N",)
    assert stored.created_at == written.created_at
    [observed] = PostRepository(engine).observations("x", "1")
    assert observed.metrics == written.metrics
    account = AccountRepository(engine).get("x", "a1")
    assert account is not None
    assert (account.bio, account.links, account.verified) == (hostile, author.links, None)
    assert account.created_at == author.created_at
    assert SourceRepository(engine).raw(hashlib.sha256(hostile.encode()).hexdigest()) == (
        hostile.encode()
    )

"""The audit chain: every change to an entry, a removal or a reordering is caught, and the
first broken entry is named."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import Engine, delete, select, update
from typer.testing import CliRunner

from tidewatch.cli import app
from tidewatch.store import audit
from tidewatch.store import tables as t


def _write(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        with engine.begin() as conn:
            audit.record(
                conn,
                actor=f"user{i % 2}",
                action="referral.approve",
                entity="referral",
                entity_id=f"r-{i}",
                before={"status": "draft"},
                after={"status": "approved", "items": [i, i + 1], "note": "ünïcode ✓"},
            )


def _verify(engine: Engine) -> audit.AuditReport:
    with engine.connect() as conn:
        return audit.verify(conn)


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    _write(engine)
    report = _verify(engine)
    assert report.ok and report.entries == 5
    with engine.connect() as conn:
        entries = audit.entries(conn)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "someone_else"),
        ("action", "referral.withdraw"),
        ("entity_id", "r-99"),
        ("after", {"status": "approved", "items": [2, 3], "note": "ünïcode ✓", "x": 1}),
        ("before", None),
    ],
)
def test_changing_any_field_of_an_entry_names_that_entry(
    engine: Engine, column: str, value: object
) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == 3).values({column: value}))
    report = _verify(engine)
    assert not report.ok and report.seq == 3
    assert report.problem is not None and "entry 3 was changed" in report.problem


def test_a_changed_time_is_caught(engine: Engine) -> None:
    _write(engine)
    with engine.connect() as conn:
        at = conn.execute(select(t.audit_log.c.at).where(t.audit_log.c.seq == 2)).scalar_one()
    with engine.begin() as conn:
        conn.execute(
            update(t.audit_log)
            .where(t.audit_log.c.seq == 2)
            .values(at=at.replace(year=at.year - 1))
        )
    assert _verify(engine).seq == 2


def test_a_removed_entry_is_named(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(delete(t.audit_log).where(t.audit_log.c.seq == 2))
    report = _verify(engine)
    assert report.problem == "entry 2 is missing (the next entry is 3)"


def test_a_removed_entry_renumbered_to_hide_the_gap_breaks_the_chain(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(delete(t.audit_log).where(t.audit_log.c.seq == 2))
        for seq in (3, 4, 5):
            conn.execute(update(t.audit_log).where(t.audit_log.c.seq == seq).values(seq=seq - 1))
    report = _verify(engine)
    assert report.seq == 2 and report.problem is not None and "does not follow" in report.problem


def test_swapped_entries_are_caught(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == 2).values(seq=-2))
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == 3).values(seq=2))
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == -2).values(seq=3))
    assert _verify(engine).seq == 2


def test_entries_cut_from_the_end_are_caught_by_the_head(engine: Engine) -> None:
    _write(engine)
    with engine.begin() as conn:
        conn.execute(delete(t.audit_log).where(t.audit_log.c.seq >= 4))
    report = _verify(engine)
    assert (
        report.problem is not None
        and "ends at entry 3 but its head records entry 5" in report.problem
    )


def test_concurrent_appends_form_one_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                with engine.begin() as conn:
                    audit.record(conn, actor=f"w{worker}", action="test", entity="x", entity_id=i)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = _verify(engine)
    assert report.ok and report.entries == 40


def test_the_cli_exits_non_zero_and_names_the_first_broken_entry(
    engine: Engine, database_url: str
) -> None:
    _write(engine)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert ok.exit_code == 0 and "intact: 5 entries" in ok.output
    with engine.begin() as conn:
        conn.execute(update(t.audit_log).where(t.audit_log.c.seq == 4).values(actor="mallory"))
    broken = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert broken.exit_code == 1
    assert "entry 4 was changed" in broken.output

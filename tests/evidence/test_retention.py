"""Retention: what the purge job deletes, what it keeps, and the trail it leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from tests.programme import seed_people, seed_posts, seed_shared_page
from tidewatch.cases import cases
from tidewatch.cli import app
from tidewatch.errors import ConfigError, PermissionDenied
from tidewatch.evidence import custody
from tidewatch.evidence.bundle import export_capture, verify_bundle
from tidewatch.evidence.capture import capture_case
from tidewatch.evidence.retention import load_rules, purge
from tidewatch.store import audit
from tidewatch.store import tables as t


@pytest.fixture
def captured(engine: Engine, tmp_path: Path) -> tuple[Engine, int, int]:
    seed_shared_page(engine, tmp_path)
    people = seed_people(engine)
    case_id = cases.open_case(engine, people["ana"], "one", accounts=[("x", "smug_x")])
    return engine, case_id, capture_case(engine, people["ana"], case_id)


def _later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def test_nothing_is_purged_while_the_case_is_open(captured: tuple[Engine, int, int]) -> None:
    engine, _case, _capture = captured
    people = {"sam": _actor(engine, "sam")}
    report = purge(engine, people["sam"], now=_later(10_000))
    assert (report.objects, report.artifacts) == (0, 0)


def _actor(engine: Engine, name: str):  # type: ignore[no-untyped-def]
    from tidewatch.store.users import get_actor

    with engine.connect() as conn:
        return get_actor(conn, name)


def test_third_party_data_goes_first_and_the_bundle_still_verifies(
    captured: tuple[Engine, int, int], tmp_path: Path
) -> None:
    engine, case_id, capture_id = captured
    sam, ana = _actor(engine, "sam"), _actor(engine, "ana")
    cases.close_case(engine, sam, case_id)
    dry = purge(engine, sam, now=_later(181), dry_run=True)
    assert dry.by_kind == {"third_party_artifacts": 1, "unflagged_raw": 0}
    report = purge(engine, sam, now=_later(181))
    assert report.artifacts == 1 and report.objects == 1
    with engine.connect() as conn:
        purged = (
            conn.execute(
                select(t.evidence_objects.c.sha256).where(t.evidence_objects.c.content.is_(None))
            )
            .scalars()
            .all()
        )
        third = (
            conn.execute(
                select(t.artifacts.c.sha256).where(t.artifacts.c.has_third_party_data.is_(True))
            )
            .scalars()
            .all()
        )
        assert purged == third
        events = custody.events(conn, capture_id)
        assert events[-1].event == "deleted" and events[-1].artifact_sha256 == third[0]
        assert events[-1].detail["rule"] == "third_party_artifacts"
        entry = audit.entries(conn, entity="retention")[-1]
        assert entry.after["artifacts"] == 1 and entry.actor == "sam"
    # The export names the purged artifact as withheld, and verifies.
    out = tmp_path / "after.zip"
    document = export_capture(engine, ana, capture_id, out)
    assert next(w["reason"] for w in document["withheld"]).startswith("evidence object")
    assert verify_bundle(out).ok
    # Purging again finds nothing new.
    assert purge(engine, sam, now=_later(182)).objects == 0


def test_closed_case_evidence_goes_after_its_own_period(captured: tuple[Engine, int, int]) -> None:
    engine, case_id, _capture = captured
    sam = _actor(engine, "sam")
    cases.close_case(engine, sam, case_id)
    assert purge(engine, sam, now=_later(400)).by_kind.get("closed_case_evidence", 0) == 0
    report = purge(engine, sam, now=_later(2191))
    assert report.by_kind["closed_case_evidence"] > 0
    with engine.connect() as conn:
        left = conn.execute(
            select(t.evidence_objects.c.sha256).where(t.evidence_objects.c.content.is_not(None))
        ).all()
    assert left == []


def test_unflagged_raw_payloads_are_emptied_but_adverts_and_cases_are_kept(
    engine: Engine, tmp_path: Path
) -> None:
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    report = purge(engine, people["sam"], now=_later(91))
    # One generic file is one source record per line: the news story and the ferry agency
    # are unflagged; the four adverts are kept.
    assert report.raw_records == 2
    with engine.connect() as conn:
        rows = conn.execute(select(t.source_records.c.raw, t.source_records.c.sha256)).all()
    assert sum(row.raw == b"" for row in rows) == 2
    assert all(len(row.sha256) == 64 for row in rows)  # still recognised if ingested again


def test_only_supervisors_purge_and_rules_are_checked(engine: Engine, tmp_path: Path) -> None:
    people = seed_people(engine)
    with pytest.raises(PermissionDenied):
        purge(engine, people["ana"])
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  forever_everything: 3\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown kinds"):
        load_rules(bad)
    bad.write_text("rules:\n  unflagged_raw: -1\n", "utf-8")
    with pytest.raises(ConfigError, match="number of days"):
        load_rules(bad)


def test_the_evidence_commands_capture_export_verify_and_fail_on_a_changed_byte(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    import zipfile

    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    case_id = cases.open_case(engine, people["ana"], "c", accounts=[("x", "smug_x")])
    runner = CliRunner()
    captured = runner.invoke(
        app, ["evidence", "capture", "--as", "ana", str(case_id), "--database-url", database_url]
    )
    assert captured.exit_code == 0, captured.output
    assert "artifacts, sealed" in captured.output
    out = tmp_path / "case.zip"
    exported = runner.invoke(
        app,
        [
            "evidence",
            "export",
            "--as",
            "ana",
            str(case_id),
            "--out",
            str(out),
            "--database-url",
            database_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    ok = runner.invoke(app, ["evidence", "verify", str(out)])
    assert ok.exit_code == 0 and "intact" in ok.output
    with zipfile.ZipFile(out) as bundle:
        files = {name: bundle.read(name) for name in bundle.namelist()}
    name = next(n for n in files if n.startswith("artifacts/records/post-"))
    files[name] = files[name].replace(b"2500", b"2600")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as bundle:
        for key, data in files.items():
            bundle.writestr(key, data)
    broken = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert broken.exit_code == 1 and f"{name} was changed" in broken.output

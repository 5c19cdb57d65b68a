"""Referrals as X-ARF v4 reports, validated against the X-ARF schemas (xarf/xarf-spec)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.conftest import FIXTURES
from tests.exchange.world import build
from tidewatch.cli import app
from tidewatch.errors import Conflict
from tidewatch.referrals import service as rs
from tidewatch.report.exchange import xarf

SAMPLES = FIXTURES / "xarf_v4"
UNIT = xarf.Reporter("Tidewatch referral unit", "referrals@unit.example")


def _sample(name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / name).read_text("utf-8")))


def test_the_bundled_schemas_are_the_spec_files() -> None:
    for name, schema in xarf.schemas().items():
        assert schema == json.loads((SAMPLES / name).read_text("utf-8")), name


def test_the_spec_fraud_sample_validates_and_breaking_it_is_caught() -> None:
    report = _sample("sample_content-fraud.json")
    assert xarf.validation_errors(report) == []
    without_type = {k: v for k, v in report.items() if k != "fraud_type"}
    assert any("fraud_type" in e for e in xarf.validation_errors(without_type))
    assert any(
        "timestamp" in e for e in xarf.validation_errors({**report, "timestamp": "yesterday"})
    )
    assert any("url" in e for e in xarf.validation_errors({**report, "url": "not a url"}))
    assert any(
        "reporter/contact" in e
        for e in xarf.validation_errors(
            {**report, "reporter": {**report["reporter"], "contact": "nobody"}}
        )
    )
    # A category and type X-ARF does not pair.
    assert xarf.validation_errors({**report, "category": "messaging"})


@pytest.mark.parametrize(
    "name", ["sample_content-csam.json", "sample_content-brand-infringement.json"]
)
def test_the_other_content_samples_meet_the_content_base_schema(name: str) -> None:
    # Their own type schemas are not in the shared subset; the content base and core are.
    base = xarf.schemas()["schema_content-base.json"]
    checker = Draft202012Validator(
        base, registry=xarf.validator()._registry, format_checker=xarf._format_checker()
    )
    sample = _sample(name)
    assert [e.message for e in checker.iter_errors(sample)] == []
    assert list(checker.iter_errors({k: v for k, v in sample.items() if k != "url"}))


def test_an_approved_referral_is_one_valid_report_per_item(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    world = build(engine, tmp_path)
    referral = world.meta
    assert referral.package is not None
    export = xarf.export_referral(referral, UNIT)
    reports = export.reports
    # An Instagram post is known by id only (no shortcode): no URL, so no X-ARF report.
    items = [i for i in referral.package["items"] if i["url"]]
    left_out = [i for i in referral.package["items"] if not i["url"]]
    assert [s.split()[1] for s in export.skipped] == [str(i["item_id"]) for i in left_out]
    assert len(reports) == len(items) and len(items) >= 2
    for report, item in zip(reports, items, strict=True):
        assert xarf.validation_errors(report) == []
        assert report["category"] == "content" and report["type"] == "fraud"
        assert report["url"] == item["url"]
        assert report["reporter"] == {
            "org": "Tidewatch referral unit",
            "contact": "referrals@unit.example",
            "domain": "unit.example",
        }
        assert f"referral:{referral.public_id}" in report["tags"]
        assert "tlp:amber" in report["tags"]
        assert "_internal" not in report
    assert len({r["report_id"] for r in reports}) == len(reports)
    # Exporting again gives the same reports (a receiver drops the repeat by report_id).
    assert xarf.referral_reports(referral, UNIT) == reports
    posts = [r for r, i in zip(reports, items, strict=True) if i["kind"] == "post"]
    assert posts
    for report, item in zip(reports, items, strict=True):
        if item["kind"] != "post":
            continue
        text = report["evidence"][0]
        raw = base64.b64decode(text["payload"])
        assert raw.decode("utf-8") == item["text"]
        assert text["hash"] == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert report["source_identifier"] == f"{item['platform']}:{item['account_native_id']}"
        sealed = json.loads(base64.b64decode(report["evidence"][-1]["payload"]))
        assert sealed == json.loads(json.dumps(referral.package["evidence"], default=str))

    # The same from the command line, and the network bundle beside it.
    runner = CliRunner()
    out = tmp_path / "reports.json"
    args = ["--contact", "referrals@unit.example", "--database-url", database_url]
    done = runner.invoke(app, ["export", "xarf", referral.public_id, "--out", str(out), *args])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text("utf-8")) == reports
    assert "left out item" in done.output or not export.skipped
    missing = runner.invoke(app, ["export", "xarf", "no-such-referral", "--out", str(out), *args])
    assert missing.exit_code == 2 and "no referral no-such-referral" in missing.output
    bundle = tmp_path / "bundle.json"
    done = runner.invoke(
        app, ["export", "stix", "--out", str(bundle), "--database-url", database_url]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(bundle.read_text("utf-8"))["type"] == "bundle"


def test_a_draft_is_not_exported(engine: Engine, tmp_path: Path) -> None:
    world = build(engine, tmp_path)
    draft = rs.draft(world.engine, world.people["ana"], recipient="x", case_id=world.case_id)
    with pytest.raises(Conflict, match="only an approved referral"):
        xarf.referral_reports(draft, UNIT)

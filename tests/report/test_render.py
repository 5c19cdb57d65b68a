"""The transparency report's formats: HTML escapes every text, PDF renders, CSV is safe."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from tidewatch.cli import app
from tidewatch.report import render
from tidewatch.report.metrics import Facts, ReferralRow, build_report

HOSTILE = '<script>alert("x")</script>'


def _report() -> dict:
    rows = [
        ReferralRow(
            1,
            "meta",
            datetime(2024, 3, 1, tzinfo=UTC),
            datetime(2024, 3, 2, tzinfo=UTC),
            "removed",
            2,
            2,
            3,
            3,
            lang=HOSTILE,
            route="=HYPERLINK(1)",
        ),
        ReferralRow(2, "x", datetime(2024, 4, 1, tzinfo=UTC), None, "sent", 1, 0, 1, 0),
    ]
    return build_report(Facts(rows, [], [], [], None, None), date(2024, 1, 1), date(2024, 12, 31))


def test_html_escapes_text_from_the_data_and_has_charts_and_methodology() -> None:
    html = render.to_html(_report())
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    assert html.count("<svg") == 4  # per year, per platform, removal rate, time to action
    assert "Methodology" in html and "posts, pages or accounts" in html


def test_pdf_renders() -> None:
    pdf = render.to_pdf(_report())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_csv_has_every_breakdown_and_quotes_formula_like_cells() -> None:
    rows = list(csv.reader(io.StringIO(render.to_csv(_report()))))
    sections = {row[0] for row in rows[1:]}
    assert {"totals", "year", "platform", "language", "route", "time_to_action"} <= sections
    route = next(row for row in rows if row[0] == "route")
    assert route[1] == "'=HYPERLINK(1)"
    assert len({len(row) for row in rows}) == 1


def test_the_cli_writes_the_report_in_each_format(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["report", "--from", "2024-01-01", "--to", "2024-12-31", "--database-url", database_url]
    result = runner.invoke(app, [*base, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["referrals"] == 0
    pdf = tmp_path / "r.pdf"
    assert runner.invoke(app, [*base, "--format", "pdf", "--out", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    bad = runner.invoke(app, [*base, "--format", "docx"])
    assert bad.exit_code == 2 and "docx" in bad.output

"""tidewatch report (the transparency report) and tidewatch simulate (a programme history)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from tidewatch.commands.common import (
    EXIT_UNUSABLE,
    DatabaseOption,
    engine_for,
    err,
    fail,
    out,
    parse_day,
)
from tidewatch.errors import TidewatchError

app = typer.Typer(help="The programme's figures: transparency report and simulator.")

FORMATS = ("json", "csv", "html", "pdf")


@app.command("report")
def report_command(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")] = "2021-12-01",
    end: Annotated[str, typer.Option("--to", help="Last day, included (YYYY-MM-DD).")] = "",
    format: Annotated[str, typer.Option("--format", help="json, csv, html or pdf.")] = "json",
    output: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """The programme's figures over a period, with the metric definitions they follow."""
    from tidewatch.report import render
    from tidewatch.report.metrics import report

    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if format == "pdf" and output is None:
        raise fail("a PDF needs --out FILE")
    first = parse_day(start, "--from")
    last = parse_day(end, "--to") if end else date.today()
    try:
        engine = engine_for(database_url)
        figures = report(engine, first, last)
    except (TidewatchError, ValueError) as error:
        raise fail(error) from None
    if format == "pdf":
        assert output is not None
        output.write_bytes(render.to_pdf(figures))
    else:
        text = render.RENDERERS[format](figures)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, "utf-8")
    if output is not None:
        err.print(Text(f"wrote {output}"))


@app.command("simulate")
def simulate_command(
    scale: Annotated[float, typer.Option(help="1 = the published figures' scale.")] = 1.0,
    seed: Annotated[int, typer.Option(help="The same seed gives the same history.")] = 2021,
    database_url: DatabaseOption = None,
) -> None:
    """Simulate the programme from December 2021 to 2026-11-30 through the real code (best
    into an empty database: it adds users, posts, cases, referrals and decisions)."""
    from tidewatch.report.simulate import simulate

    try:
        engine = engine_for(database_url)
        result = simulate(
            engine, scale=scale, seed=seed, progress=lambda line: err.print(Text(line))
        )
    except (TidewatchError, ValueError) as error:
        raise fail(error, EXIT_UNUSABLE) from None
    out.print(
        Text(
            f"{result.referrals} referrals of {result.accounts_referred} accounts, "
            f"{result.posts} posts, {result.review_decisions} review decisions, "
            f"outcomes {result.outcomes}, in {result.seconds:.0f} s"
        )
    )

"""tidewatch export stix|xarf|dsa (exchange formats for partners) and tidewatch reconcile (the DSA
Transparency Database against the decisions platforms sent us)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
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
from tidewatch.model import Recipient

app = typer.Typer(help="Exchange formats: STIX 2.1, X-ARF v4, DSA statements of reasons.")
export_app = typer.Typer(help="Write networks or referrals in a partner's format.")
app.add_typer(export_app, name="export")

OutOption = Annotated[Path, typer.Option("--out", help="File to write.")]


def _write(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")
    err.print(Text(f"wrote {path}"))


@export_app.command("stix")
def export_stix(
    output: OutOption,
    network: Annotated[
        list[str] | None,
        typer.Option("--network", help="Only this network (repeatable); default all."),
    ] = None,
    tlp: Annotated[str, typer.Option(help="TLP 2.0 marking of every object.")] = "TLP:AMBER",
    unit: Annotated[
        str, typer.Option("--unit", help="The unit's name (the bundle's author).")
    ] = "Tidewatch referral unit",
    database_url: DatabaseOption = None,
) -> None:
    """The last link run's networks as a STIX 2.1 bundle: accounts, shared selectors, links
    with their evidence, re-emergence."""
    from tidewatch.report.exchange import stix

    try:
        bundle = stix.export_networks(
            engine_for(database_url), network_ids=network or None, unit_name=unit, tlp=tlp
        )
    except (TidewatchError, ValueError) as error:
        raise fail(error, EXIT_UNUSABLE) from None
    _write(output, stix.serialize(bundle) + "\n")
    out.print(Text(f"{len(bundle.objects)} STIX objects"))


@export_app.command("xarf")
def export_xarf(
    referral: Annotated[str, typer.Argument(help="The referral's public id.")],
    output: OutOption,
    contact: Annotated[
        str,
        typer.Option(
            "--contact", envvar="TIDEWATCH_UNIT_CONTACT", help="The unit's abuse-contact e-mail."
        ),
    ],
    org: Annotated[
        str, typer.Option("--org", envvar="TIDEWATCH_UNIT_NAME", help="The unit's name.")
    ] = "Tidewatch referral unit",
    domain: Annotated[
        str, typer.Option("--domain", help="The unit's domain (default: the contact's).")
    ] = "",
    database_url: DatabaseOption = None,
) -> None:
    """An approved referral as X-ARF v4 reports (a JSON array, one report per item), each
    validated against the X-ARF schemas."""
    from tidewatch.referrals import service
    from tidewatch.report.exchange import xarf

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            found = service.get_by_public_id(conn, referral)
        export = xarf.export_referral(found, xarf.Reporter(org, contact, domain))
    except (TidewatchError, ValueError) as error:
        raise fail(error, EXIT_UNUSABLE) from None
    _write(output, json.dumps(export.reports, ensure_ascii=False, indent=2) + "\n")
    out.print(Text(f"{len(export.reports)} X-ARF reports"))
    for line in export.skipped:
        err.print(Text(f"left out {line}"))


@export_app.command("dsa")
def export_dsa(
    output: OutOption,
    file_format: Annotated[
        str,
        typer.Option(
            "--format", help="jsonl: one statement per line (the API's fields); csv: the dump's."
        ),
    ] = "jsonl",
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Only this platform's decisions.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Decided on or after this day (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Decided on or before this day (YYYY-MM-DD).")
    ] = None,
    trusted_flagger: Annotated[
        bool,
        typer.Option(
            "--trusted-flagger", help="The unit is a trusted flagger (DSA Art. 22) to them."
        ),
    ] = False,
    unit: Annotated[
        str, typer.Option("--unit", help="The unit's name (source_identity of its notices).")
    ] = "Tidewatch referral unit",
    exact_text: Annotated[
        bool,
        typer.Option(
            "--exact-text",
            help="csv: write free text exactly as given, for programs; by default text a "
            "spreadsheet would run as a formula gets a leading apostrophe.",
        ),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """The platforms' decisions on our referrals as DSA statements of reasons, one per
    statement id, to set beside the Transparency Database (`tidewatch reconcile`)."""
    from tidewatch.report.exchange import dsa

    if file_format not in ("jsonl", "csv"):
        raise fail(f"--format must be jsonl or csv, not {file_format!r}")
    if recipient is not None and recipient not in {r.value for r in Recipient}:
        known = ", ".join(r.value for r in Recipient)
        raise fail(f"--recipient {recipient!r} is not one of {known}")
    first = datetime.combine(parse_day(start, "--from"), time.min, UTC) if start else None
    last = datetime.combine(parse_day(end, "--to"), time.max, UTC) if end else None
    try:
        found = dsa.export_statements(
            engine_for(database_url),
            recipient=recipient,
            start=first,
            end=last,
            trusted_flagger=trusted_flagger,
            unit_name=unit,
        )
    except (TidewatchError, ValueError) as error:
        raise fail(error, EXIT_UNUSABLE) from None
    with output.open("w", encoding="utf-8", newline="") as stream:
        if file_format == "csv":
            dsa.write_dump(found.statements, stream, for_spreadsheets=not exact_text)
        else:
            for statement in found.statements:
                stream.write(json.dumps(statement, ensure_ascii=False) + "\n")
    err.print(Text(f"wrote {output}"))
    out.print(Text(f"{len(found.statements)} statements of reasons"))
    if found.without_statement:
        err.print(
            Text(
                f"left out {found.without_statement} restricting decisions that came without "
                "the platform's statement id"
            )
        )


@app.command("reconcile")
def reconcile_command(
    dump: Annotated[
        Path, typer.Argument(help="A Transparency Database dump: .csv, .csv.gz or .zip.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Match the dump's statements to the platforms' decisions on our referrals by the
    platform's statement id: matched, mismatched fields, unmatched on either side."""
    from tidewatch.report.exchange import dsa

    if not dump.is_file():
        raise fail(f"no file {dump}")
    try:
        result = dsa.reconcile_dump(engine_for(database_url), dump)
    except (TidewatchError, ValueError, OSError) as error:
        raise fail(error, EXIT_UNUSABLE) from None
    document = result.to_json()
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))
        return
    counts = document["counts"]
    period = f" ({result.period[0]} to {result.period[1]})" if result.period else ""
    out.print(Text(f"{result.rows_read} rows read{period}"))
    out.print(
        Text(
            f"matched {counts['matched']}, mismatched {counts['mismatched']}, "
            f"unmatched ours {counts['unmatched_ours']} "
            f"(+{counts['outside_period']} outside the dump's period), "
            f"unmatched theirs {counts['unmatched_theirs']}, "
            f"ours without a statement id {counts['without_statement']}"
        )
    )
    for entry in result.mismatched:
        fields = "; ".join(
            f"{name}: ours {value['ours']}, theirs {value['theirs']}"
            for name, value in entry["fields"].items()
        )
        out.print(
            Text(f"mismatch {entry['statement_id']} (referral {entry['referral']}): {fields}")
        )
    for entry in result.unmatched_ours:
        out.print(
            Text(
                f"not in the dump: {entry['statement_id']} (referral {entry['referral']}, "
                f"{entry['outcome']} {entry['decided_at']})"
            )
        )

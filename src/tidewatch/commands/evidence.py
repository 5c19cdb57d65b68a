"""``tidewatch evidence``: capture, seal, export, verify, purge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from sqlalchemy import select

from tidewatch.commands.common import (
    EXIT_PARTIAL,
    ActorOption,
    DatabaseOption,
    acting,
    fail,
    out,
)
from tidewatch.errors import NotFound, TidewatchError

app = typer.Typer(
    help="Evidence fit for court: capture, seal, export, verify, purge.",
    no_args_is_help=True,
    add_completion=False,
)
ERRORS = (TidewatchError, ValueError, OSError)


@app.command()
def capture(
    actor: ActorOption,
    case: Annotated[int, typer.Argument(help="Case id.")],
    screenshots: Annotated[
        bool, typer.Option(help="PNG screenshots of the renderings (headless Chromium).")
    ] = False,
    live: Annotated[bool, typer.Option(help="Capture reachable URLs live as WARC.")] = False,
    media: Annotated[bool, typer.Option(help="Download the posts' media files.")] = False,
    allow_host: Annotated[
        list[str] | None, typer.Option(help="Also fetch from this private host (tests, mirrors).")
    ] = None,
    tsa: Annotated[
        list[str] | None, typer.Option(help="RFC 3161 timestamp authority URL, repeatable.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Capture everything about a case and seal it (signed manifest, optional timestamps)."""
    from tidewatch.evidence.capture import capture_case

    try:
        producers = []
        if screenshots or live or media:
            from tidewatch.evidence.producers import standard_producers

            producers = standard_producers(
                screenshots=screenshots, live=live, media=media, allow_hosts=allow_host or []
            )
        engine, who = acting(database_url, actor)
        capture_id = capture_case(engine, who, case, producers=producers, tsa_urls=tsa or [])
        summary = _summary(engine, capture_id)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(summary))


def _summary(engine: object, capture_id: int) -> str:
    from tidewatch.store import tables as t

    with engine.connect() as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(t.captures).where(t.captures.c.id == capture_id)).one()
        count = len(
            conn.execute(
                select(t.artifacts.c.id).where(t.artifacts.c.capture_id == capture_id)
            ).all()
        )
    stamps = sum(1 for s in row.timestamps if s.get("token"))
    return (
        f"capture {capture_id}: {count} artifacts, sealed {row.sealed_at:%Y-%m-%d %H:%M} UTC, "
        f"manifest sha256 {row.manifest_sha256}, key {row.key_fingerprint[:16]}, {stamps} timestamps"
    )


@app.command("export")
def export(
    actor: ActorOption,
    case: Annotated[int, typer.Argument(help="Case id (its latest sealed capture is exported).")],
    out_file: Annotated[Path, typer.Option("--out", help="Bundle file to write (.zip).")],
    capture_id: Annotated[
        int | None, typer.Option("--capture", help="A particular capture of the case.")
    ] = None,
    no_redact: Annotated[
        bool,
        typer.Option("--no-redact", help="Disclose third parties' data unmasked (needs --reason)."),
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded in the custody log).")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Write a case's sealed evidence as one bundle for prosecutors."""
    from tidewatch.evidence.bundle import export_capture
    from tidewatch.store import tables as t

    try:
        engine, who = acting(database_url, actor)
        with engine.connect() as conn:
            query = select(t.captures.c.id).where(
                t.captures.c.case_id == case, t.captures.c.status == "sealed"
            )
            if capture_id is not None:
                query = query.where(t.captures.c.id == capture_id)
            chosen = conn.execute(query.order_by(t.captures.c.id.desc()).limit(1)).scalar()
        if chosen is None:
            raise NotFound(
                f"case {case} has no sealed capture{f' {capture_id}' if capture_id else ''}: "
                "run `tidewatch evidence capture` first"
            )
        document = export_capture(
            engine, who, chosen, out_file, redact=not no_redact, reason=reason
        )
    except ERRORS as error:
        raise fail(error) from None
    redacted = sum(1 for f in document["files"] if "redacted_from" in f)
    out.print(
        Text(
            f"wrote {out_file}: capture {chosen}, {len(document['files'])} files "
            f"({redacted} redacted, {len(document['withheld'])} withheld)"
        )
    )


@app.command()
def verify(
    bundle: Annotated[
        Path, typer.Argument(help="A bundle written by `tidewatch evidence export`.")
    ],
) -> None:
    """Check a bundle: exit 0 when intact, else exit 1 naming the first problem."""
    from tidewatch.evidence.bundle import verify_bundle

    report = verify_bundle(bundle)
    if not report.ok:
        raise fail(f"{bundle.name}: {report.problem}", EXIT_PARTIAL)
    out.print(
        Text(
            f"{bundle.name}: intact ({report.artifacts} artifacts, {report.files} files, "
            f"{report.custody_events} custody events, {report.timestamps} timestamps verified)"
        )
    )


@app.command()
def purge(
    actor: ActorOption,
    dry_run: Annotated[bool, typer.Option(help="Say what would go, delete nothing.")] = False,
    rules: Annotated[
        Path | None, typer.Option(help="YAML overriding the retention periods.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Apply the retention rules (evidence/retention.yaml): delete what is past its period."""
    from tidewatch.evidence.retention import load_rules
    from tidewatch.evidence.retention import purge as run_purge

    try:
        engine, who = acting(database_url, actor)
        report = run_purge(engine, who, rules=load_rules(rules), dry_run=dry_run)
    except ERRORS as error:
        raise fail(error) from None
    verb = "would purge" if dry_run else "purged"
    out.print(
        Text(
            f"{verb} {report.objects} evidence objects ({report.artifacts} artifacts), "
            f"{report.image_texts} texts read in their pictures and "
            f"{report.raw_records} raw records: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.by_kind.items()))
        )
    )

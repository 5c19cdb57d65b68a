"""``tidewatch audit``: check and read the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from tidewatch.commands.common import EXIT_PARTIAL, DatabaseOption, engine_for, fail, out
from tidewatch.errors import TidewatchError

app = typer.Typer(
    help="The audit log: who did what, when.", no_args_is_help=True, add_completion=False
)


@app.command()
def verify(database_url: DatabaseOption = None) -> None:
    """Check the whole chain; exit 1 and name the first tampered entry if it is broken."""
    from tidewatch.store import audit

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            report = audit.verify(conn)
    except TidewatchError as error:
        raise fail(error) from None
    if report.ok:
        out.print(Text(f"audit log intact: {report.entries} entries"))
        return
    raise fail(f"audit log broken: {report.problem}", EXIT_PARTIAL)


@app.command("log")
def show(
    entity: Annotated[
        str | None, typer.Option(help="Only this kind of thing (referral, case...).")
    ] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="Only this one.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Print entries, oldest first."""
    from tidewatch.store import audit

    try:
        with engine_for(database_url).connect() as conn:
            entries = audit.entries(conn, entity=entity, entity_id=entity_id)
    except TidewatchError as error:
        raise fail(error) from None
    for e in entries:
        out.print(
            Text(
                f"{e.seq:>6} {e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} {e.entity} {e.entity_id} {e.after or ''}"
            )
        )

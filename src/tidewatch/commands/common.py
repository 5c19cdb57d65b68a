"""What every sub-command shares: consoles, exit codes, the database option, literal errors,
and who is acting."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine

from tidewatch.store.users import Actor

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_PARTIAL = 1
EXIT_UNUSABLE = 2

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="TIDEWATCH_DATABASE_URL",
        help="SQLAlchemy URL (default: SQLite under var/).",
    ),
]
SecondStageOption = Annotated[
    bool,
    typer.Option(
        "--second-stage/--first-stage-only",
        help="Re-examine uncertain posts with the multilingual embedding stage (slower, more accurate).",
    ),
]
# The command line runs with direct database access, so "who" is declared, as a git author
# is: the audit log records it, and roles are enforced, but it is not authentication (the
# API and console authenticate).
ActorOption = Annotated[
    str,
    typer.Option(
        "--as", envvar="TIDEWATCH_USER", help="Username acting (recorded in the audit log)."
    ),
]


def error_text(error: object) -> Text:
    """An error line whose message is printed literally: messages quote input, which must
    never be read as Rich markup."""
    return Text.assemble(("error ", "red"), str(error))


def fail(error: object, code: int = EXIT_UNUSABLE) -> typer.Exit:
    err.print(error_text(error))
    return typer.Exit(code)


def acting(database_url: str | None, username: str) -> tuple[Engine, Actor]:
    """The database and the (active) user acting on it."""
    from tidewatch.store.users import get_actor

    engine = engine_for(database_url)
    with engine.connect() as conn:
        return engine, get_actor(conn, username)


def engine_for(database_url: str | None) -> Engine:
    from tidewatch.settings import get_settings
    from tidewatch.store import make_engine, migrate

    engine = make_engine(database_url or get_settings().resolved_database_url())
    migrate(engine)
    return engine


def parse_day(value: str, option: str) -> date:
    """A day given on the command line, or a usage error naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date like 2024-01-31, not {value!r}") from None

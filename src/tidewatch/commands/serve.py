"""``tidewatch serve`` (the partner and unit APIs), ``tidewatch users`` and ``tidewatch keys``.

The three share one module because they are one thing to an operator: who may call the
server, and the server. ``cli.py`` adds this app without a name, so ``serve`` is a top-level
command and ``users`` / ``keys`` are groups beside it.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tidewatch.commands.common import DatabaseOption, engine_for, fail, out
from tidewatch.errors import TidewatchError

app = typer.Typer(add_completion=False)
users_app = typer.Typer(help="Unit users and platform liaisons.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys: a partner key for one platform, a unit key for one user.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

ERRORS = (TidewatchError, ValueError)


def recipient(name: str) -> str:
    """A recipient from its own name or one of its platforms' (instagram -> meta)."""
    from tidewatch.model import Recipient

    if name in {r.value for r in Recipient}:
        return name
    try:
        return Recipient.of(name).value
    except ValueError:
        allowed = ", ".join(r.value for r in Recipient)
        raise ValueError(f"{name!r} is not a recipient; use one of {allowed}") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the console (http://HOST:PORT/), the partner portal (/portal), the partner API
    (/partner/v1) and the unit API (/api/v1); the API spec is at /openapi.json."""
    import uvicorn

    from tidewatch.settings import get_settings

    url = database_url or get_settings().resolved_database_url()
    try:
        engine_for(url).dispose()  # migrate once, before any worker starts
    except ERRORS as error:
        raise fail(error) from None
    # Each worker builds its own engine from the environment (connections are per process).
    os.environ["TIDEWATCH_DATABASE_URL"] = url
    uvicorn.run(
        "tidewatch.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        server_header=False,
        # Longer than clients' own idle expiry (httpx: 5 s), so a client never sends on a
        # connection the server is closing at that moment (a read error, not an answer).
        timeout_keep_alive=65,
    )


@users_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="analyst | supervisor | liaison | auditor | admin")
    ] = "analyst",
    platform: Annotated[
        str | None, typer.Option(help="For a liaison: the platform it speaks for (meta, x...).")
    ] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Add a user."""
    from tidewatch.store.users import create_user

    try:
        engine = engine_for(database_url)
        with engine.begin() as conn:
            actor = create_user(
                conn,
                username,
                role,
                platform=recipient(platform) if platform else None,
                display_name=display_name,
            )
    except ERRORS as error:
        raise fail(error) from None
    line = Text("added ")
    line.append(actor.username, style="bold")
    line.append(f" ({actor.role.value}{', ' + actor.platform if actor.platform else ''})")
    out.print(line)


@users_app.command("password")
def set_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    database_url: DatabaseOption = None,
) -> None:
    """Set a user's console password (asked twice, never echoed)."""
    from tidewatch.web.auth import set_password as store_password

    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        engine = engine_for(database_url)
        with engine.begin() as conn:
            store_password(conn, username, password)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"password set for {username}"))


@users_app.command("list")
def list_users(database_url: DatabaseOption = None) -> None:
    """Users and their roles."""
    from sqlalchemy import select

    from tidewatch.store import tables as t

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            rows = list(conn.execute(select(t.users).order_by(t.users.c.username)))
    except ERRORS as error:
        raise fail(error) from None
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("user", "role", "platform", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            Text(row.username), row.role, row.platform or "", "yes" if row.active else "no"
        )
    out.print(table)


@keys_app.command("create")
def create_key(
    partner: Annotated[
        str | None,
        typer.Option(help="A partner key for this recipient: meta|x|tiktok|youtube|telegram."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="A unit key acting as this user.")] = None,
    label: Annotated[str, typer.Option(help="What the key is for (shown in listings).")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    from tidewatch.store.users import create_api_key

    if (partner is None) == (user is None):
        raise fail("give exactly one of --partner RECIPIENT or --user NAME")
    try:
        engine = engine_for(database_url)
        with engine.begin() as conn:
            if partner is not None:
                key = create_api_key(
                    conn, scope="partner", platform=recipient(partner), label=label
                )
            else:
                key = create_api_key(conn, scope="unit", username=user, label=label)
    except ERRORS as error:
        raise fail(error) from None
    # The key alone on stdout, so it can be captured; the warning goes to stderr.
    print(key)
    typer.echo("Store it now: it is not shown again.", err=True)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after tw_), or the key.")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from tidewatch.store.users import revoke_api_key

    if key_id.startswith("tw_"):
        key_id = key_id.split("_")[1]
    try:
        engine = engine_for(database_url)
        with engine.begin() as conn:
            revoke_api_key(conn, key_id)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"revoked {key_id}"))


@keys_app.command("list")
def list_keys(database_url: DatabaseOption = None) -> None:
    """Keys (never their secrets)."""
    from sqlalchemy import select

    from tidewatch.store import tables as t

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            rows = list(conn.execute(select(t.api_keys).order_by(t.api_keys.c.id)))
    except ERRORS as error:
        raise fail(error) from None
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("key id", "scope", "for", "label", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.key_id,
            row.scope,
            Text(row.platform or row.username or ""),
            Text(row.label),
            f"{row.created_at:%Y-%m-%d}",
            f"{row.revoked_at:%Y-%m-%d}" if row.revoked_at else "",
        )
    out.print(table)

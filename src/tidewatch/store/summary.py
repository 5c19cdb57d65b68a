"""What the database holds, as a Rich table (for ``tidewatch demo`` and operators)."""

from __future__ import annotations

from rich.table import Table
from sqlalchemy import Engine, func, select

from tidewatch.store import tables as t


def counts_by_platform(engine: Engine) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for table, label in ((t.posts, "posts"), (t.accounts, "accounts")):
            query = select(table.c.platform, func.count()).group_by(table.c.platform)
            for platform, count in conn.execute(query):
                result.setdefault(platform, {})[label] = count
        query = (
            select(t.posts.c.platform, func.count())
            .select_from(t.post_versions.join(t.posts))
            .where(t.post_versions.c.version_no > 1)
            .group_by(t.posts.c.platform)
        )
        for platform, count in conn.execute(query):
            result.setdefault(platform, {})["edits"] = count
        query = (
            select(t.posts.c.platform, func.count())
            .select_from(t.media.join(t.posts))
            .group_by(t.posts.c.platform)
        )
        for platform, count in conn.execute(query):
            result.setdefault(platform, {})["media"] = count
    return result


def database_summary(engine: Engine) -> Table:
    table = Table(title="The database holds")
    for name in ("platform", "accounts", "posts", "edits", "media"):
        table.add_column(name, justify="left" if name == "platform" else "right")
    data = counts_by_platform(engine)
    totals = {"accounts": 0, "posts": 0, "edits": 0, "media": 0}
    for platform in sorted(data):
        row = data[platform]
        for key in totals:
            totals[key] += row.get(key, 0)
        table.add_row(platform, *(f"{row.get(key, 0):,}" for key in totals))
    table.add_row("[bold]all[/bold]", *(f"[bold]{value:,}[/bold]" for value in totals.values()))
    with engine.connect() as conn:
        sources = conn.execute(select(func.count()).select_from(t.source_records)).scalar_one()
        errors = conn.execute(select(func.count()).select_from(t.api_errors)).scalar_one()
    table.caption = (
        f"{sources:,} source records kept byte for byte; {errors:,} platform errors recorded"
    )
    return table

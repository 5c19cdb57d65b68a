"""Link runs in the database: each `tidewatch link` stores its networks, account risk and
re-emergence flags as one run, with an index of which account is in which network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from tidewatch.store import tables as t


def save_link_run(
    engine: Engine, document: dict[str, Any], membership: list[tuple[str, str, str]]
) -> int:
    """Store one run; ``membership`` is (network id, platform, native id). Returns the run id."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(t.link_runs).values(
                built_at=datetime.now(UTC),
                model_version=str(document.get("model_version", "")),
                networks=len(document.get("networks", [])),
                document=document,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        if membership:
            conn.execute(
                insert(t.network_accounts),
                [
                    {"run_id": run_id, "network_id": n, "platform": p, "native_id": a}
                    for n, p, a in membership
                ],
            )
    return int(run_id)


def latest_link_run(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(t.link_runs).order_by(t.link_runs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {"run_id": row.id, "built_at": row.built_at.isoformat(), **row.document}

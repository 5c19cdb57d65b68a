"""What the database holds, as a Rich table (for ``tidewatch demo`` and operators)."""

from __future__ import annotations

import json
from pathlib import Path

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


def detection_summary(engine: Engine, labels_path: Path, model_version: str) -> Table:
    """Detections of ``model_version`` per platform, and how they compare with a file of
    known labels (the demo's labels.jsonl): what an operator checks after a scan."""
    truth: dict[tuple[str, str], str] = {}
    for line in labels_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            truth[(row["platform"], row["native_id"])] = row["label"]
    query = (
        select(t.posts.c.platform, t.posts.c.native_id, t.detections.c.label)
        .join(t.detections, t.detections.c.post_id == t.posts.c.id)
        .where(t.detections.c.model_version == model_version)
    )
    per_platform: dict[str, dict[str, int]] = {}
    agree = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    with engine.connect() as conn:
        for platform, native_id, label in conn.execute(query):
            per_platform.setdefault(platform, {"advert": 0, "not_advert": 0})[label] += 1
            known = truth.get((platform, native_id))
            if known is not None:
                key = ("t" if known == label else "f") + ("p" if label == "advert" else "n")
                agree[key] += 1
    table = Table(title=f"Detections (model {model_version})")
    for name in ("platform", "advert", "not advert"):
        table.add_column(name, justify="left" if name == "platform" else "right")
    for platform in sorted(per_platform):
        row = per_platform[platform]
        table.add_row(platform, f"{row['advert']:,}", f"{row['not_advert']:,}")
    flagged = agree["tp"] + agree["fp"]
    adverts = agree["tp"] + agree["fn"]
    precision = agree["tp"] / flagged if flagged else 0.0
    recall = agree["tp"] / adverts if adverts else 0.0
    table.caption = (
        f"against the demo's known labels: precision {precision:.2f}, recall {recall:.2f} "
        f"({agree['tp']} adverts found, {agree['fp']} false alarms, {agree['fn']} missed)"
    )
    return table

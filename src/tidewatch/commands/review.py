"""``tidewatch review``: the review queue and cases from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tidewatch.commands.common import ActorOption, DatabaseOption, acting, engine_for, fail, out
from tidewatch.errors import TidewatchError

app = typer.Typer(
    help="Review what the detector found: queue, claims, decisions, cases.",
    no_args_is_help=True,
    add_completion=False,
)

ERRORS = (TidewatchError, ValueError)


@app.command()
def refresh(
    threshold: Annotated[
        float | None, typer.Option(help="Post score to enter the queue (default: the detector's).")
    ] = None,
    account_threshold: Annotated[
        float | None, typer.Option(help="Account risk to enter the queue (default: as posts).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add new detections and risky accounts to the queue; re-rank what is still open."""
    from tidewatch.cases import queue
    from tidewatch.detect.detector import Detector

    try:
        engine = engine_for(database_url)
        detector = Detector.load(second_stage=False)
        counts = queue.refresh(
            engine,
            threshold=detector.threshold if threshold is None else threshold,
            account_threshold=account_threshold,
        )
    except ERRORS as error:
        raise fail(error) from None
    out.print(
        Text(
            f"added {counts.added} ({', '.join(f'{n} {k}s' for k, n in counts.by_kind.items()) or 'none'}), re-ranked {counts.updated}"
        )
    )


@app.command("list")
def list_items(
    limit: Annotated[int, typer.Option(help="How many items.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """The queue, highest priority first."""
    from tidewatch.cases import queue

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            items = queue.queue(conn, limit=limit)
    except ERRORS as error:
        raise fail(error) from None
    if as_json:
        for item in items:
            sys.stdout.write(json.dumps(_item_json(item), default=str) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("item", "kind", "platform", "score", "priority", "status", "why"):
        table.add_column(name)
    for item in items:
        why = ", ".join(f"{k} {v:.2f}" for k, v in item.factors.items() if v)
        status = item.status + (f" by {item.claimed_by}" if item.claimed_by else "")
        table.add_row(
            str(item.id),
            item.kind,
            item.platform,
            f"{item.score:.2f}",
            f"{item.priority:.3f}",
            Text(status),
            why,
        )
    out.print(table)


def _item_json(item: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(item)  # type: ignore[call-overload]


@app.command()
def claim(
    actor: ActorOption,
    item: Annotated[
        int | None, typer.Argument(help="Item id (default: the next by priority).")
    ] = None,
    minutes: Annotated[int, typer.Option(help="How long the claim holds.")] = 15,
    database_url: DatabaseOption = None,
) -> None:
    """Claim an item so nobody else works on it."""
    from datetime import timedelta

    from tidewatch.cases import queue

    try:
        engine, who = acting(database_url, actor)
        claimed = queue.claim(engine, who, item, ttl=timedelta(minutes=minutes))
    except ERRORS as error:
        raise fail(error) from None
    if claimed is None:
        out.print("nothing to claim: the queue is empty")
        return
    out.print(
        Text(
            f"claimed item {claimed.id} ({claimed.kind} on {claimed.platform}, score {claimed.score:.2f}) until {claimed.claim_expires_at:%H:%M} UTC"
        )
    )


@app.command()
def decide(
    actor: ActorOption,
    item: Annotated[int, typer.Argument(help="Item id.")],
    decision: Annotated[str, typer.Argument(help="advert | not_advert | needs_more")],
    reason: Annotated[str, typer.Argument(help="Reason code (see `tidewatch review reasons`).")],
    note: Annotated[str, typer.Option(help="Free text kept with the decision.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Decide an item you have claimed."""
    from tidewatch.cases import queue

    try:
        engine, who = acting(database_url, actor)
        done = queue.decide(engine, who, item, decision, reason, note=note)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"item {done.id}: {done.decision} ({done.reason_code}), {done.status}"))


@app.command()
def reasons() -> None:
    """The decisions and the reason codes each takes."""
    from tidewatch.cases.queue import REASON_CODES

    for decision, codes in REASON_CODES.items():
        out.print(Text(f"{decision}: {', '.join(codes)}"))


@app.command("export")
def export_labels(
    output: Annotated[Path, typer.Argument(help="JSONL file to write (- for stdout).")],
    database_url: DatabaseOption = None,
) -> None:
    """Decided posts as labelled data for retraining (the corpus's line format)."""
    from tidewatch.cases import queue

    try:
        engine = engine_for(database_url)
        with engine.connect() as conn:
            rows = list(queue.export_labels(conn))
    except ERRORS as error:
        raise fail(error) from None
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if str(output) == "-":
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(Text(f"wrote {len(rows)} labelled posts to {output}"))


@app.command("case")
def open_case(
    actor: ActorOption,
    title: Annotated[str, typer.Argument(help="What the case is about.")],
    network: Annotated[
        str | None, typer.Option(help="Add every account of this network (latest link run).")
    ] = None,
    account: Annotated[
        list[str] | None, typer.Option(help="platform:native_id, repeatable.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Open a case for a network or a list of accounts."""
    from tidewatch.cases import cases

    try:
        keys = []
        for key in account or []:
            platform, sep, native = key.partition(":")
            if not sep or not native:
                raise ValueError(f"account {key!r} is not platform:native_id")
            keys.append((platform, native))
        engine, who = acting(database_url, actor)
        case_id = cases.open_case(engine, who, title, accounts=keys, network_id=network)
        with engine.connect() as conn:
            case = cases.get_case(conn, case_id)
    except ERRORS as error:
        raise fail(error) from None
    out.print(Text(f"case {case_id}: {case.title} ({len(case.accounts)} accounts)"))

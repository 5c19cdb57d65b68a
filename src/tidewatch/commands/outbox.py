"""``tidewatch outbox``: run the delivery worker and see what is waiting or failed.

Exit codes as in :mod:`tidewatch.cli`: 0 fine; 1 some deliveries failed for good in this
run (``work --once``) or some rows are failed (``status``); 2 a setting could not be used.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tidewatch.commands.common import (
    EXIT_PARTIAL,
    EXIT_UNUSABLE,
    DatabaseOption,
    engine_for,
    err,
    error_text,
    out,
)
from tidewatch.errors import TidewatchError

app = typer.Typer(
    help="Deliver approved referrals through their channels and collect platforms' answers.",
    no_args_is_help=True,
    add_completion=False,
)
ChannelsOption = Annotated[
    str | None,
    typer.Option(
        "--channels",
        envvar="TIDEWATCH_CHANNELS",
        help="YAML file of recipients' channels (default: everyone uses the partner inbox).",
    ),
]


@app.command()
def work(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, poll answers once, and exit.")
    ] = False,
    lease: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a claimed delivery is reserved; a killed worker's claims lapse after it.",
        ),
    ] = 30.0,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the outbox.")
    ] = 1.0,
    outcomes_every: Annotated[
        float, typer.Option(min=0.0, help="Seconds between fetches of platforms' answers.")
    ] = 60.0,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Attempts before a delivery is failed for good.")
    ] = 8,
    channels: ChannelsOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Deliver approved referrals (until stopped, or once) and record platforms' answers."""
    from tidewatch.channels.config import load_channels
    from tidewatch.channels.outbox import DeliveryResult, run_worker

    try:
        engine = engine_for(database_url)
        channel_set = load_channels(channels)
    except TidewatchError as error:
        err.print(error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None

    stop = threading.Event()

    def finish(_signal: int, _frame: object) -> None:
        # The send in flight completes and is recorded; then the loop ends.
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)

    def show(result: DeliveryResult) -> None:
        line = Text.assemble(
            (f"{result.status:<10}", "red" if result.status == "failed" else ""),
            f" {result.idempotency_key} via {result.channel} (attempt {result.attempt})",
            f": {result.detail}" if result.detail else "",
        )
        out.print(line, highlight=False, soft_wrap=True)

    try:
        report = run_worker(
            engine,
            channel_set,
            once=once,
            poll=poll,
            lease=lease,
            max_attempts=max_attempts,
            outcomes_every=outcomes_every,
            stop=stop,
            on_result=show,
        )
    except TidewatchError as error:
        err.print(error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    finally:
        channel_set.close()
    for problem in report.errors:
        err.print(error_text(problem))
    out.print(
        Text(
            f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}; "
            f"answers recorded {report.outcomes}, rejected {report.rejected}"
        )
    )
    raise typer.Exit(EXIT_PARTIAL if report.failed else 0)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Deliveries per status, and the failed and retrying ones with their last error."""
    from tidewatch.channels.outbox import outbox_status

    try:
        engine = engine_for(database_url)
    except TidewatchError as error:
        err.print(error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    with engine.connect() as conn:
        state = outbox_status(conn)
    code = EXIT_PARTIAL if state.failed else 0
    if as_json:
        document = {"counts": state.counts, "failed": state.failed, "retrying": state.retrying}
        out.print_json(json.dumps(document, default=str))
        raise typer.Exit(code)
    counts = Table(title="Outbox", box=box.SIMPLE_HEAD)
    counts.add_column("status")
    counts.add_column("deliveries", justify="right")
    for name in ("pending", "delivered", "failed"):
        counts.add_row(name, str(state.counts.get(name, 0)))
    out.print(counts)
    for title, rows in (("Failed", state.failed), ("Retrying", state.retrying)):
        if not rows:
            continue
        table = Table(title=title, box=box.SIMPLE_HEAD)
        for column in ("idempotency key", "channel", "attempts", "next attempt", "last error"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                Text(row["idempotency_key"]),
                Text(row["channel"]),
                str(row["attempts"]),
                str(row["next_attempt_at"]) if title == "Retrying" else "",
                Text(row["last_error"]),
            )
        out.print(table)
    raise typer.Exit(code)


if __name__ == "__main__":
    # ``python -m tidewatch.commands.outbox work``: the worker without the whole CLI's imports.
    app()

"""The ``tidewatch`` command line.

Exit codes: 0 everything read; 1 some records failed (the rest were stored); 2 an input or
setting could not be used at all.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from tidewatch import pipeline
from tidewatch.commands import audit as audit_commands
from tidewatch.commands import evidence as evidence_commands
from tidewatch.commands import exchange as exchange_commands
from tidewatch.commands import media as media_commands
from tidewatch.commands import outbox as outbox_commands
from tidewatch.commands import refer as refer_commands
from tidewatch.commands import report as report_commands
from tidewatch.commands import review as review_commands
from tidewatch.commands import scale as scale_commands
from tidewatch.commands import serve as serve_commands
from tidewatch.commands.common import SecondStageOption
from tidewatch.errors import RecordError, TidewatchError
from tidewatch.ingest import open_input, read_stream
from tidewatch.pipeline import detect_and_save
from tidewatch.settings import get_settings
from tidewatch.store import IngestReport, make_engine, migrate
from tidewatch.store.loader import load_stream
from tidewatch.store.networks import latest_link_run, save_link_run
from tidewatch.store.summary import database_summary, detection_summary

if TYPE_CHECKING:
    from tidewatch.detect.detector import Detector

app = typer.Typer(
    help="Tidewatch: find, review, preserve and refer accounts that advertise smuggling services.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(outbox_commands.app, name="outbox")
app.add_typer(review_commands.app, name="review")
app.add_typer(refer_commands.app, name="refer")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(evidence_commands.app, name="evidence")
app.add_typer(report_commands.app)  # report, simulate
app.add_typer(serve_commands.app)  # serve, users, keys
app.add_typer(scale_commands.app, name="scale")
app.add_typer(exchange_commands.app)  # export stix|xarf, reconcile
app.add_typer(media_commands.app)  # media
# Logs and pipes get a wide console, so tables are not squeezed into 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_PARTIAL = 1
EXIT_UNUSABLE = 2
MAX_ERRORS_SHOWN = 20

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="TIDEWATCH_DATABASE_URL",
        help="SQLAlchemy URL (default: SQLite under var/).",
    ),
]


def _error_text(error: object) -> Text:
    """An error line whose message is printed literally: messages quote file names and
    input, which must never be read as Rich markup."""
    return Text.assemble(("error ", "red"), str(error))


def _load_detector(second_stage: bool) -> Detector:
    # Imported on use: the detector pulls in scikit-learn and SciPy, seconds of start-up
    # that a plain ingest does not need.
    from tidewatch.detect.detector import Detector

    return Detector.load(second_stage=second_stage)


def _engine(database_url: str | None) -> Engine:
    url = database_url or get_settings().resolved_database_url()
    engine = make_engine(url)
    migrate(engine)
    return engine


def _ingest_file(
    engine: Engine,
    path: str,
    *,
    format: str | None,
    collector: str,
    batch_size: int,
    progress: Progress,
    detector: Detector | None = None,
) -> IngestReport:
    shown = 0

    def show_error(error: RecordError) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_ERRORS_SHOWN:
            progress.console.print(_error_text(error), highlight=False, soft_wrap=True)

    with open_input(path) as stream:
        total = os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
        # Task descriptions are Rich markup: a file name must not be read as markup.
        name = escape(Path(path).name) if path != "-" else "<stdin>"
        task = progress.add_task(name, total=total)

        def advance(_report: IngestReport) -> None:
            progress.update(task, completed=stream.consumed)

        report = load_stream(
            engine,
            stream,
            format=format,
            collector=collector,
            input_name=path,
            batch_size=batch_size,
            on_batch=advance,
            on_error=show_error,
            after_write=detect_and_save(detector) if detector else None,
        )
        progress.update(task, completed=stream.consumed)
    if shown > MAX_ERRORS_SHOWN:
        progress.console.print(
            f"[red]... and {shown - MAX_ERRORS_SHOWN} more errors in {escape(path)}[/red]"
        )
    return report


def _summary_table(reports: list[IngestReport]) -> Table:
    table = Table(
        title="Ingest summary",
        caption="old: records already stored (skipped)  +: new  ~: seen again",
        box=box.SIMPLE_HEAD,
    )
    for name in (
        "file",
        "format",
        "records",
        "old",
        "posts+",
        "posts~",
        "edits",
        "accts+",
        "accts~",
        "errors",
    ):
        table.add_column(name, justify="left" if name in ("file", "format") else "right")
    for r in reports:
        c = r.counts
        table.add_row(
            Text(Path(r.input_name).name),
            r.format or "-",
            f"{c.records:,}",
            f"{c.records_skipped:,}",
            f"{c.posts_new:,}",
            f"{c.posts_updated:,}",
            f"{c.posts_edited:,}",
            f"{c.accounts_new:,}",
            f"{c.accounts_updated:,}",
            f"[red]{r.errors:,}[/red]" if r.errors else "0",
        )
    return table


def _progress(unit: str = "bytes") -> Progress:
    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        amount,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def ingest_paths(
    engine: Engine,
    paths: list[str],
    *,
    format: str | None,
    collector: str,
    batch_size: int,
    detector: Detector | None = None,
) -> tuple[list[IngestReport], int]:
    """Ingest each path; returns the reports and the exit code."""
    reports: list[IngestReport] = []
    code = 0
    with _progress() as progress:
        for path in paths:
            try:
                report = _ingest_file(
                    engine,
                    path,
                    format=format,
                    collector=collector,
                    batch_size=batch_size,
                    progress=progress,
                    detector=detector,
                )
            except TidewatchError as error:
                err.print(_error_text(error))
                code = EXIT_UNUSABLE
                continue
            reports.append(report)
            if report.errors and code == 0:
                code = EXIT_PARTIAL
    return reports, code


@app.command()
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="Files to read, in any supported format; - for stdin.")
    ],
    format: Annotated[
        str | None, typer.Option("--format", help="Skip detection and read as this format.")
    ] = None,
    collector: Annotated[
        str, typer.Option(help="Who or what collected the data (kept with each record).")
    ] = "",
    batch_size: Annotated[
        int, typer.Option(min=1, help="Source records per committed transaction.")
    ] = 500,
    detect: Annotated[
        bool, typer.Option("--detect", help="Also run the detector and store its detections.")
    ] = False,
    second_stage: SecondStageOption = True,
    database_url: DatabaseOption = None,
    detections: Annotated[
        bool,
        typer.Option(
            "--detections",
            help="PATHS are outputs of `tidewatch scale scan` / `scale link` (Parquet folders).",
        ),
    ] = False,
) -> None:
    """Read files into the database: idempotent, crash-safe, one summary line per file."""
    if detections:
        raise typer.Exit(scale_commands.ingest_detections(paths, database_url))
    try:
        engine = _engine(database_url)
        detector = _load_detector(second_stage) if detect else None
    except (TidewatchError, FileNotFoundError, ValueError) as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    reports, code = ingest_paths(
        engine, paths, format=format, collector=collector, batch_size=batch_size, detector=detector
    )
    if reports:
        out.print(_summary_table(reports))
    raise typer.Exit(code)


def demo_files() -> list[Path]:
    folder = resources.files("tidewatch") / "demo" / "data"
    return sorted(
        Path(str(item))
        for item in folder.iterdir()
        if item.is_file() and item.name != "labels.jsonl" and not item.name.startswith(".")
    )


@app.command()
def demo(
    second_stage: SecondStageOption = True,
    database_url: DatabaseOption = None,
) -> None:
    """Load the bundled synthetic demo data, scan it, link it into networks, and show it all."""
    try:
        engine = _engine(database_url)
        detector = _load_detector(second_stage)
    except (TidewatchError, FileNotFoundError, ValueError) as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    files = [str(p) for p in demo_files()]
    reports, code = ingest_paths(
        engine, files, format=None, collector="tidewatch-demo", batch_size=500, detector=detector
    )
    out.print(_summary_table(reports))
    out.print(database_summary(engine))
    labels = demo_files()[0].parent / "labels.jsonl"
    out.print(detection_summary(engine, labels, detector.version))
    _run_link(engine, detector.version)
    _demo_programme(engine, detector.threshold)
    out.print(f"Database: {engine.url.render_as_string(hide_password=True)}")
    raise typer.Exit(code)


def _demo_programme(engine: Engine, threshold: float) -> None:
    """The demo's people and a little referral history, and how to sign in."""
    from tidewatch.demo.programme import DEMO_PASSWORD, PEOPLE, seed_programme

    done = seed_programme(engine, threshold=threshold)
    if done.created_users:
        out.print(
            Text(
                f"Demo programme: {done.decided} review decisions, case {done.case_id}, "
                f"{done.referrals} referrals (approved, delivered, answered)"
            )
        )
    table = Table(title="Console sign-in (demo users; `tidewatch serve`, http://127.0.0.1:8000)")
    for column in ("user", "role", "platform", "password"):
        table.add_column(column)
    for name, role, platform in PEOPLE:
        table.add_row(name, role, platform or "", DEMO_PASSWORD)
    out.print(table)


@app.command()
def formats() -> None:
    """List the input formats Tidewatch reads."""
    from tidewatch.ingest import READERS

    table = Table(title="Input formats")
    table.add_column("name")
    table.add_column("framing")
    table.add_column("description")
    for name, reader in sorted(READERS.items()):
        table.add_row(name, ", ".join(sorted(f.value for f in reader.framings)), reader.description)
    out.print(table)


@app.command()
def scan(
    paths: Annotated[
        list[str], typer.Argument(help="Files in any supported format, or - for standard input.")
    ],
    format: Annotated[
        str | None, typer.Option("--format", help="Skip detection and read as this format.")
    ] = None,
    store: Annotated[
        bool, typer.Option("--store", help="Also store the posts and detections in the database.")
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Label 'advert' at this score (default: the model's)."),
    ] = None,
    second_stage: SecondStageOption = True,
    database_url: DatabaseOption = None,
) -> None:
    """Score every post: one JSON object per post on stdout, in input order (DESIGN.md contract)."""
    try:
        detector = _load_detector(second_stage)
        engine = _engine(database_url) if store else None
    except (TidewatchError, FileNotFoundError, ValueError) as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    if threshold is not None:
        detector = replace(
            detector,
            model=replace(detector.model, threshold=threshold),
            second=replace(detector.second, threshold=threshold) if detector.second else None,
        )
    failed = 0

    def show_error(error: RecordError) -> None:
        nonlocal failed
        failed += 1
        err.print(f"error {error}", highlight=False, markup=False, soft_wrap=True)

    code = 0
    stdout = sys.stdout.buffer
    for path in paths:
        try:
            with open_input(path) as stream:
                items = read_stream(stream, format=format)
                for post, detection in pipeline.scan(
                    items, detector, engine=engine, on_error=show_error
                ):
                    stdout.write(pipeline.contract_json(post, detection) + b"\n")
        except TidewatchError as error:
            err.print(f"error {error}", highlight=False, markup=False)
            code = EXIT_UNUSABLE
    stdout.flush()
    if failed and code == 0:
        code = EXIT_PARTIAL
    raise typer.Exit(code)


@app.command()
def evaluate(
    path: Annotated[
        Path, typer.Argument(help="JSON lines with text and label (advert | not_advert).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Decision threshold to evaluate.")
    ] = None,
    errors: Annotated[
        int, typer.Option(help="How many false positives and negatives to list.")
    ] = 50,
    second_stage: SecondStageOption = True,
) -> None:
    """Precision, recall, F1 and PR-AUC overall, per language and per category."""
    from tidewatch.detect.evaluate import evaluate as run_evaluation
    from tidewatch.detect.evaluate import read_labelled
    from tidewatch.detect.report import evaluation_report

    try:
        result = run_evaluation(read_labelled(path), _load_detector(second_stage), threshold)
    except (TidewatchError, FileNotFoundError, OSError) as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(evaluation_report(result, max_errors=errors))


@app.command()
def train(
    corpus: Annotated[Path, typer.Option(help="Folder of labelled *.jsonl files.")] = Path(
        "data/corpus"
    ),
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the model.")] = Path(
        "src/tidewatch/detect/models/detector.npz"
    ),
    seed: Annotated[int, typer.Option(help="Random seed (folds and solver).")] = 13,
    second_stage: Annotated[
        bool,
        typer.Option(
            "--second-stage/--first-stage-only",
            help="Also fit the embedding stage (embeds the corpus once).",
        ),
    ] = True,
) -> None:
    """Rebuild the detector from the corpus, reproducibly; prints out-of-fold figures."""
    from tidewatch.detect.train import train as run_training

    with _progress(unit="texts") as progress:
        task = progress.add_task("training", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            report = run_training(
                corpus, out_path, seed=seed, progress=advance, second_stage=second_stage
            )
        except TidewatchError as error:
            err.print(_error_text(error))
            raise typer.Exit(EXIT_UNUSABLE) from None
    out.print(
        f"trained on {report.examples:,} texts ({report.adverts:,} adverts, {len(report.languages)} languages); "
        f"out-of-fold precision {report.oof_precision:.3f} recall {report.oof_recall:.3f} "
        f"F1 {report.oof_f1:.3f} PR-AUC {report.oof_pr_auc:.3f}; wrote {report.path}"
    )
    if report.second_stage:
        out.print(f"second stage: {report.second_stage}")


def _link_outputs() -> tuple[Path, Path]:
    folder = get_settings().var_dir / "networks"
    return folder / "networks.json", folder / "networks.gexf"


def _run_link(engine: Engine, version: str) -> None:
    """Build, store and show networks from the detections of ``version``."""
    import networkx as nx

    from tidewatch.link.networks import build_networks, to_gexf
    from tidewatch.link.reemergence import find_reemergence
    from tidewatch.link.risk import account_risk

    accounts, posts = pipeline.link_facts(engine, version)
    if not posts:
        raise TidewatchError(
            f"no detections of model {version}: run `tidewatch ingest --detect` or `scan --store` first"
        )
    result = build_networks(accounts, posts)
    risks = account_risk(posts, result)
    reemerged = find_reemergence(accounts, posts, selectors=result.selectors)
    document = {
        "model_version": version,
        "networks": [n.to_json() for n in result.networks],
        "accounts": [r.to_json() for r in risks if r.adverts or r.network],
        "reemergence": [r.to_json() for r in reemerged],
    }
    json_path, gexf_path = _link_outputs()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    nx.write_gexf(to_gexf(result), gexf_path)
    membership = [
        (network, platform, native)
        for (platform, native), network in sorted(result.network_of.items())
    ]
    run_id = save_link_run(engine, document, membership)
    table = Table(title=f"Networks ({len(result.networks)})", box=box.SIMPLE_HEAD)
    for name in ("network", "accounts", "platforms", "languages", "shared selectors", "templates"):
        table.add_column(name)
    for network in result.networks:
        table.add_row(
            network.id,
            str(len(network.accounts)),
            ", ".join(network.platforms),
            ", ".join(network.languages),
            Text(", ".join(network.selectors[:4])),
            str(network.templates),
        )
    out.print(table)
    for flag in reemerged:
        out.print(
            Text(
                f"re-emerged: {flag.account[0]}:{flag.account[1]} reuses {', '.join(flag.evidence)} "
                f"of {flag.earlier[0]}:{flag.earlier[1]}, removed {flag.earlier_removed_at:%Y-%m-%d}"
            )
        )
    out.print(Text(f"stored as link run {run_id}; wrote {json_path} and {gexf_path}"))


@app.command()
def link(
    second_stage: SecondStageOption = True,
    database_url: DatabaseOption = None,
) -> None:
    """Build networks of accounts from the database (shared selectors, advert templates and
    images); stores them as a link run and writes var/networks/networks.json and .gexf."""
    try:
        engine = _engine(database_url)
        _run_link(engine, _load_detector(second_stage).version)
    except (TidewatchError, FileNotFoundError, ValueError) as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None


@app.command()
def networks(
    as_json: Annotated[bool, typer.Option("--json", help="Print the networks as JSON.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show the networks built by the last `tidewatch link` (stored in the database)."""
    try:
        document = latest_link_run(_engine(database_url))
    except TidewatchError as error:
        err.print(_error_text(error))
        raise typer.Exit(EXIT_UNUSABLE) from None
    if document is None:
        err.print(_error_text("no networks yet: run `tidewatch link` first"))
        raise typer.Exit(EXIT_UNUSABLE)
    if as_json:
        sys.stdout.write(json.dumps(document["networks"], ensure_ascii=False, indent=2) + "\n")
        return
    for network in document["networks"]:
        selectors = ", ".join(network["selectors"][:4])
        platforms = ", ".join(network["platforms"])
        out.print(
            Text(
                f"{network['id']}: {network['size']} accounts on {platforms}; selectors {selectors}"
            )
        )


if __name__ == "__main__":
    app()

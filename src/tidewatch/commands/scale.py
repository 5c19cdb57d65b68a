"""tidewatch scale scan | link: the detect and link stages on Apache Spark (docs/scale.md)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tidewatch.commands.common import EXIT_PARTIAL, EXIT_UNUSABLE, fail

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

app = typer.Typer(
    help="The detect and link stages on Apache Spark (pip install 'tidewatch[scale]')."
)

MasterOption = Annotated[
    str | None,
    typer.Option(
        "--master",
        help="Spark master: local[2], spark://host:7077, yarn, k8s://... (default: spark-submit's, else local[*]).",
    ),
]
ConfOption = Annotated[
    list[str] | None,
    typer.Option("--conf", help="A Spark setting, KEY=VALUE (repeatable)."),
]


def _session(master: str | None, conf: list[str] | None, app_name: str) -> SparkSession:
    try:
        from tidewatch.scale.session import spark_session
    except ImportError:
        raise fail("PySpark is not installed: pip install 'tidewatch[scale]'") from None
    settings = {}
    for item in conf or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--conf takes KEY=VALUE, not {item!r}")
        settings[key.strip()] = value
    return spark_session(master or "local[*]", app_name, settings)


@app.command("scan")
def scan_command(
    paths: Annotated[
        list[str],
        typer.Argument(help="Inputs (files, folders, globs; local, hdfs://, s3a://...), then OUT."),
    ],
    master: MasterOption = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Skip detection and read as this format.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Label 'advert' at this score (default: the model's)."),
    ] = None,
    second_stage: Annotated[
        bool,
        typer.Option(
            "--second-stage/--first-stage-only",
            help="Re-examine uncertain posts with the embedding stage (as `tidewatch scan`).",
        ),
    ] = True,
    collector: Annotated[str, typer.Option(help="Who or what collected the data.")] = "",
    conf: ConfOption = None,
) -> None:
    """Score every post on Spark: detections as Parquet under OUT, by date and platform."""
    from tidewatch.errors import TidewatchError

    if len(paths) < 2:
        raise fail("give one or more inputs, then the output folder")
    *inputs, out = paths
    spark = _session(master, conf, "tidewatch scan")
    try:
        from tidewatch.scale.scan import run_scan

        summary = run_scan(
            spark,
            inputs,
            out,
            format=format,
            second_stage=second_stage,
            threshold=threshold,
            collector=collector,
        )
    except (TidewatchError, FileNotFoundError) as error:
        raise fail(error) from None
    finally:
        spark.stop()
    sys.stdout.write(json.dumps(summary.to_json()) + "\n")
    for problem in summary.unusable:
        typer.echo(f"error {problem}", err=True)
    if summary.unusable:
        raise typer.Exit(EXIT_UNUSABLE)
    raise typer.Exit(EXIT_PARTIAL if summary.errors else 0)


@app.command("link")
def link_command(
    scan_out: Annotated[str, typer.Argument(help="The output folder of `tidewatch scale scan`.")],
    out: Annotated[str, typer.Argument(help="Folder to write networks/ and membership/ to.")],
    master: MasterOption = None,
    conf: ConfOption = None,
) -> None:
    """Build networks on Spark from a scan's output (the same networks as `tidewatch link`)."""
    from tidewatch.errors import TidewatchError

    spark = _session(master, conf, "tidewatch link")
    try:
        from tidewatch.scale.link import run_link

        summary = run_link(spark, scan_out, out)
    except (TidewatchError, FileNotFoundError) as error:
        raise fail(error) from None
    finally:
        spark.stop()
    sys.stdout.write(json.dumps(summary.to_json()) + "\n")


def ingest_detections(folders: list[str], database_url: str | None) -> int:
    """``tidewatch ingest --detections``: scan and link outputs into the database; returns
    the exit code."""
    from tidewatch.commands.common import engine_for, err, error_text
    from tidewatch.errors import RecordError, TidewatchError
    from tidewatch.scale.home import load_results

    shown = 0

    def show(error: RecordError) -> None:
        nonlocal shown
        shown += 1
        if shown <= 20:
            err.print(error_text(error), highlight=False, soft_wrap=True)

    try:
        report = load_results(engine_for(database_url), folders, on_error=show)
    except (TidewatchError, ValueError) as error:
        err.print(error_text(error))
        return EXIT_UNUSABLE
    sys.stdout.write(
        json.dumps(
            {
                "sources": report.sources,
                "posts_new": report.posts_new,
                "detections": report.detections,
                "detections_new": report.detections_new,
                "link_runs": report.link_runs,
                "errors": report.errors,
            }
        )
        + "\n"
    )
    return EXIT_PARTIAL if report.errors else 0

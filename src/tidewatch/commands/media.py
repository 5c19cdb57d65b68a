"""tidewatch media: hashes and text of the stored pictures and videos (the media stage)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tidewatch.commands.common import (
    EXIT_PARTIAL,
    DatabaseOption,
    SecondStageOption,
    engine_for,
    err,
    error_text,
    fail,
    out,
)
from tidewatch.errors import TidewatchError

if TYPE_CHECKING:
    from tidewatch.media.stage import MediaReport, Problem

app = typer.Typer(help="The media stage: PDQ, vPDQ and the text in images.")

MAX_PROBLEMS_SHOWN = 20


@app.command("media")
def media_command(
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="Read the text in images (Tesseract).")
    ] = True,
    detect: Annotated[
        bool,
        typer.Option(
            "--detect/--no-detect", help="Detect posts again with the text in their images."
        ),
    ] = True,
    second_stage: SecondStageOption = True,
    database_url: DatabaseOption = None,
) -> None:
    """Hash stored pictures (PDQ) and videos (vPDQ), read text in pictures, detect again.

    Every media item whose bytes are at hand (an ingested export's files, captured evidence)
    is processed once per bytes; an unreadable file is named and skipped (exit code 1). Run
    it before `tidewatch link`, with the same --second-stage/--first-stage-only."""
    from tidewatch.media.stage import run

    try:
        engine = engine_for(database_url)
        detector = None
        if detect:
            from tidewatch.detect.detector import Detector

            detector = Detector.load(second_stage=second_stage)
    except (TidewatchError, FileNotFoundError, ValueError) as error:
        raise fail(error) from None
    shown = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("media", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        def report_problem(problem: Problem) -> None:
            nonlocal shown
            shown += 1
            if shown <= MAX_PROBLEMS_SHOWN:
                # Names and messages quote export paths: printed literally, never as markup.
                progress.console.print(error_text(problem), highlight=False, soft_wrap=True)

        try:
            report = run(
                engine,
                detector=detector,
                ocr=ocr,
                progress=advance,
                on_problem=report_problem,
            )
        except TidewatchError as error:
            raise fail(error) from None
    if shown > MAX_PROBLEMS_SHOWN:
        err.print(Text(f"... and {shown - MAX_PROBLEMS_SHOWN} more problems", style="red"))
    if report.ocr:
        err.print(Text(f"warning: {report.ocr}", style="yellow"))
    out.print(_summary(report, detect))
    if report.problems:
        raise typer.Exit(EXIT_PARTIAL)


def _summary(report: MediaReport, detect: bool) -> Text:
    lines = [
        f"media with bytes at hand: {report.items:,}",
        f"new: {report.images:,} pictures hashed, {report.texts:,} with text read in them, "
        f"{report.videos:,} videos hashed",
        f"already done: {report.done_before:,}; not a picture or video: {report.passed_over:,}; "
        f"problems: {report.problems:,}",
    ]
    if detect:
        lines.append(
            f"detections of posts with text in their images: {report.detections:,} new, "
            f"{report.adverts:,} adverts"
        )
    return Text("\n".join(lines))

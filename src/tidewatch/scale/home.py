"""Results back home: the Spark jobs' Parquet into the Tidewatch database, so the console
works on them (``tidewatch ingest --detections DIR``).

A scan output's ``sources/`` are read again by the same readers and written as
``tidewatch ingest`` writes them (idempotent: records already stored are skipped), then its
``detections/`` are stored against those posts. A link output's ``networks/`` become one
link run, as ``tidewatch link`` stores it. Parquet is read here with pyarrow, batch by batch:
the database's machine needs no Spark, and holds a scan's output one batch at a time; a link
run is stored as one document, so its networks and their links are held whole, as
``tidewatch link`` holds them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tidewatch.errors import FormatError, RecordError, TidewatchError
from tidewatch.model import Bundle, Detection, Platform, Post, Reason

_BATCH_ROWS = 2000


@dataclass
class HomeReport:
    sources: int = 0
    posts_new: int = 0
    detections: int = 0
    detections_new: int = 0
    link_runs: list[int] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def _batches(folder: Path, columns: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
    import pyarrow.dataset as ds

    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return
    dataset = ds.dataset(str(folder), format="parquet", partitioning="hive")
    for batch in dataset.to_batches(columns=columns, batch_size=_BATCH_ROWS):
        yield batch.to_pylist()


def source_bundles(scan_out: Path) -> Iterator[Bundle | RecordError]:
    """The scan's raw records, read again by the reader that read them on Spark."""
    from tidewatch.ingest import read_stream, reader_named
    from tidewatch.ingest.base import ReadContext
    from tidewatch.ingest.framing import PeekableStream, jsonl_unit

    for rows in _batches(scan_out / "sources"):
        for row in rows:
            origin = row["origin"] or ""
            try:
                if row["framing"] == "jsonl":
                    unit = jsonl_unit(row["raw"], origin)
                    if isinstance(unit, RecordError):
                        yield unit
                    elif unit is not None:
                        context = ReadContext(collector=row["collector"] or "", origin=origin)
                        yield reader_named(row["format"]).read(unit, context)
                else:
                    stream = PeekableStream(io.BytesIO(row["raw"]), origin)
                    yield from read_stream(
                        stream, format=row["format"], collector=row["collector"] or ""
                    )
            except RecordError as error:
                yield error
            except TidewatchError as error:
                yield RecordError(str(error), where=origin)


def detection_pairs(scan_out: Path) -> Iterator[list[tuple[Post, Detection]]]:
    """The scan's detections in batches, each with the post fields that key it."""
    for rows in _batches(scan_out / "detections"):
        pairs = []
        for row in rows:
            text = "\n".join(p for p in (row["text"], row["media_text"]) if p)
            post = Post(
                platform=Platform(row["platform"]),
                native_id=row["id"],
                account_id=row["account"] or "",
                title=row["title"] or "",
                text=text,
            )
            detection = Detection(
                post_id=row["id"],
                platform=row["platform"],
                account=row["account"] or "",
                score=row["score"],
                label=row["label"],
                lang=row["lang"] or "",
                categories=list(row["categories"] or ()),
                reasons=[Reason(**reason) for reason in row["reasons"] or ()],
                model_version=row["model_version"],
                stages=row["stages"] or 1,
            )
            pairs.append((post, detection))
        yield pairs


def load_scan(
    engine: Engine, scan_out: Path, *, on_error: Callable[[RecordError], None] | None = None
) -> HomeReport:
    from tidewatch.store.detections import save_detections
    from tidewatch.store.loader import load

    report = HomeReport()
    ingest = load(engine, source_bundles(scan_out), input_name=str(scan_out), on_error=on_error)
    report.sources = ingest.counts.records
    report.posts_new = ingest.counts.posts_new
    report.errors = ingest.errors
    for pairs in detection_pairs(scan_out):
        with engine.begin() as conn:
            report.detections_new += save_detections(conn, pairs)
        report.detections += len(pairs)
    return report


def read_networks(link_out: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """(the link job's networks as ``tidewatch link`` writes them, largest first; the model
    versions they were built from). Each document is joined to its links, which the job
    writes as rows of their own under ``links/``."""
    import json

    networks: dict[str, dict[str, Any]] = {}
    versions = set()
    for rows in _batches(link_out / "networks"):
        for row in rows:
            networks[row["id"]] = json.loads(row["document"])
            versions.add(row["model_version"])
    for rows in _batches(link_out / "links"):
        for row in rows:
            network = networks.get(row["network_id"])
            if network is None:
                raise FormatError(
                    f"{link_out}: links/ names network {row['network_id']!r},"
                    " which networks/ does not hold"
                )
            network["links"].append(json.loads(row["link"]))
    for network in networks.values():
        network["links"].sort(key=lambda link: (link["a"], link["b"]))
    ordered = sorted(networks.values(), key=lambda n: (-n["size"], n["id"]))
    return ordered, versions


def load_networks(engine: Engine, link_out: Path) -> int:
    """The link job's networks as one link run; returns its id."""
    from tidewatch.store.networks import save_link_run

    networks, versions = read_networks(link_out)
    if len(versions) > 1:
        raise FormatError(f"{link_out}: networks of several models: {sorted(versions)}")
    document = {
        "model_version": versions.pop() if versions else "",
        "networks": networks,
        "accounts": [],
        "reemergence": [],
        "built_by": "tidewatch scale link",
    }
    membership: list[tuple[str, str, str]] = [
        (network["id"], *account.split(":", 1))
        for network in networks
        for account in network["accounts"]
    ]
    return save_link_run(engine, document, membership)


def load_results(
    engine: Engine,
    folders: list[str],
    *,
    on_error: Callable[[RecordError], None] | None = None,
) -> HomeReport:
    """Each folder is a scan output (``detections/`` and ``sources/``) or a link output
    (``networks/``); scans are loaded first, so networks find their accounts."""
    paths = [Path(folder) for folder in folders]
    for path in paths:
        if not ((path / "detections").is_dir() or (path / "networks").is_dir()):
            raise FormatError(
                f"{path}: not the output of `tidewatch scale scan` or `tidewatch scale link`"
            )
    report = HomeReport()
    for path in paths:
        if (path / "detections").is_dir():
            part = load_scan(engine, path, on_error=on_error)
            report.sources += part.sources
            report.posts_new += part.posts_new
            report.detections += part.detections
            report.detections_new += part.detections_new
            report.errors += part.errors
    for path in paths:
        if (path / "networks").is_dir():
            report.link_runs.append(load_networks(engine, path))
    return report

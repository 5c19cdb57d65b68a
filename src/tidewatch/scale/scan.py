"""The scan job: ``tidewatch scan`` on Spark.

Inputs are read where they lie (local paths, HDFS, S3 through Hadoop's file systems):

* JSON lines: Spark's text source splits big files across tasks; each line is framed by
  :func:`tidewatch.ingest.framing.jsonl_unit` and read by the file's reader, exactly as
  ``tidewatch scan`` reads it. The reader is sniffed on the driver from the file's first
  record (or named with ``format``), as a single-machine scan sniffs it from the first record.
* CSV and JSON documents: one task per file runs :func:`tidewatch.ingest.read_stream` on the
  whole file (a CSV cell may hold newlines, so a CSV file cannot be split by lines).
* Parquet: a ``raw`` column holds one JSON record per row, in any supported format;
  without one, each row's columns are a record (``id``, ``text`` and the other generic fields).

Each Python worker loads the detector once (:func:`_detector`) from the installed
Tidewatch package and checks that its model version is the driver's: executors run the
wheel they were given, so a stale wheel fails loudly instead of scoring with another model.
Posts go through :func:`tidewatch.pipeline.scan` in the same batches as on one machine.

Output, under ``OUT``: ``detections/`` (one row per post: the scan contract's fields plus the
post's title, text, time, URL and source hash; partitioned by ``date`` (UTC, or ``unknown``)
and ``platform``), ``sources/`` (the raw records, for ``tidewatch ingest --detections``),
``accounts/`` (profiles, for the link job) and ``errors/`` (one row per bad record). The
job makes one pass over the input: everything is written at once, partitioned by kind, and
the kind folders are then renamed.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tidewatch.errors import FormatError, RecordError, TidewatchError
from tidewatch.ingest.base import Framing, ReadContext, Unit

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from tidewatch.detect.detector import Detector
    from tidewatch.model import Bundle

KINDS = ("detections", "sources", "accounts", "errors")
_KIND_OF_ROW = {"post": "detections", "source": "sources", "account": "accounts", "error": "errors"}
#: (name, type) of every column the job writes; each kind of row fills its own columns.
FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "string"),
    ("id", "string"),
    ("platform", "string"),
    ("account", "string"),
    ("score", "double"),
    ("label", "string"),
    ("lang", "string"),
    ("categories", "array<string>"),
    ("reasons", "reasons"),
    ("model_version", "string"),
    ("stages", "int"),
    ("title", "string"),
    ("text", "string"),
    ("media_text", "string"),
    ("created_at", "timestamp"),
    ("url", "string"),
    ("source_sha256", "string"),
    ("date", "string"),
    ("format", "string"),
    ("framing", "string"),
    ("origin", "string"),
    ("raw", "binary"),
    ("collector", "string"),
    ("handle", "string"),
    ("display_name", "string"),
    ("bio", "string"),
    ("links", "array<string>"),
    ("message", "string"),
)


def spark_type(name: str) -> Any:
    """A Spark type built in Python (parsing DDL needs a JVM, which Python workers lack)."""
    from pyspark.sql import types as T

    simple = {
        "string": T.StringType(),
        "double": T.DoubleType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "timestamp": T.TimestampType(),
        "binary": T.BinaryType(),
    }
    if name in simple:
        return simple[name]
    if name == "array<string>":
        return T.ArrayType(T.StringType())
    if name == "reasons":
        return T.ArrayType(
            T.StructType(
                [
                    T.StructField("signal", T.StringType()),
                    T.StructField("evidence", T.StringType()),
                    T.StructField("weight", T.DoubleType()),
                    T.StructField("start", T.IntegerType()),
                    T.StructField("end", T.IntegerType()),
                ]
            )
        )
    raise ValueError(name)


def schema(names: Iterable[str] | None = None) -> Any:
    """The job's schema (or the named columns of it) as a Spark StructType."""
    from pyspark.sql import types as T

    wanted = None if names is None else set(names)
    return T.StructType(
        [
            T.StructField(name, spark_type(kind))
            for name, kind in FIELDS
            if wanted is None or name in wanted
        ]
    )


#: The columns each dataset keeps (the rest are empty for that kind).
COLUMNS = {
    "detections": (
        "id",
        "platform",
        "account",
        "score",
        "label",
        "lang",
        "categories",
        "reasons",
        "model_version",
        "stages",
        "title",
        "text",
        "media_text",
        "created_at",
        "url",
        "source_sha256",
        "date",
    ),
    "sources": ("source_sha256", "format", "framing", "origin", "collector", "raw"),
    "accounts": ("platform", "id", "handle", "display_name", "bio", "links"),
    "errors": ("origin", "message"),
}
_ROWS_PER_BATCH = 2048
_HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_PARQUET_SUFFIXES = (".parquet", ".parq")


@dataclass(frozen=True)
class DetectorSpec:
    """What every executor needs to build the driver's detector."""

    second_stage: bool = True
    threshold: float | None = None
    version: str = ""


@dataclass
class ScanSummary:
    posts: int = 0
    adverts: int = 0
    errors: int = 0
    files: int = 0
    #: Inputs that could not be read at all (empty, not a supported format).
    unusable: list[str] = field(default_factory=list)
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "adverts": self.adverts,
            "errors": self.errors,
            "files": self.files,
            "unusable": self.unusable,
            "model_version": self.model_version,
        }


# --- executors -------------------------------------------------------------------------

_DETECTORS: dict[DetectorSpec, Detector] = {}


def _detector(spec: DetectorSpec) -> Detector:
    """The detector of this Python worker, loaded on first use and kept for every later task
    (Spark reuses Python workers between tasks by default)."""
    detector = _DETECTORS.get(spec)
    if detector is None:
        detector = build_detector(spec.second_stage, spec.threshold)
        if spec.version and detector.version != spec.version:
            raise RuntimeError(
                f"this executor's Tidewatch has model {detector.version}, the driver's has "
                f"{spec.version}: give the executors the driver's wheel (docs/scale.md)"
            )
        _DETECTORS[spec] = detector
    return detector


def build_detector(second_stage: bool, threshold: float | None) -> Detector:
    """The detector ``tidewatch scan`` uses with these options."""
    from tidewatch.detect.detector import Detector

    detector = Detector.load(second_stage=second_stage)
    if threshold is not None:
        detector = replace(
            detector,
            model=replace(detector.model, threshold=threshold),
            second=replace(detector.second, threshold=threshold) if detector.second else None,
        )
    return detector


def display_name(uri: str) -> str:
    """A local file's path as a person typed it; other file systems keep their URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path)
    return uri


def _plain(value: Any) -> Any:
    """A Parquet value as JSON would have it (times as ISO text, decimals as numbers)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Rows:
    """Output rows of one task, handed out as Arrow batches."""

    def __init__(self, collector: str) -> None:
        from pyspark.sql.pandas.types import to_arrow_schema

        self.schema: pa.Schema = to_arrow_schema(schema(), timezone="UTC")
        self.collector = collector
        self.pending: list[dict[str, Any]] = []

    def bundle(self, bundle: Bundle, framing: Framing) -> None:
        source = bundle.source
        self.pending.append(
            {
                "kind": "source",
                "source_sha256": source.sha256,
                "format": source.format,
                "framing": framing.value,
                "origin": source.origin,
                "collector": source.collector,
                "raw": source.raw,
            }
        )
        for account in bundle.accounts:
            self.pending.append(
                {
                    "kind": "account",
                    "platform": account.platform.value,
                    "id": account.native_id,
                    "handle": account.handle,
                    "display_name": account.display_name,
                    "bio": account.bio,
                    "links": list(account.links),
                }
            )

    def error(self, error: RecordError) -> None:
        self.pending.append({"kind": "error", "origin": error.where, "message": error.message})

    def detection(self, post: Any, detection: Any, source_sha256: str) -> None:
        created = post.created_at.utc if post.created_at else None
        self.pending.append(
            {
                "kind": "post",
                "id": post.native_id,
                "platform": post.platform.value,
                "account": post.account_id,
                "score": detection.score,
                "label": detection.label,
                "lang": detection.lang,
                "categories": list(detection.categories),
                "reasons": [reason.model_dump() for reason in detection.reasons],
                "model_version": detection.model_version,
                "stages": detection.stages,
                "title": post.title,
                "text": post.text,
                # Transcripts and alt text: with title and text, the detected text
                # (Post.detectable_text), which the database keys detections by.
                "media_text": "\n".join(
                    part
                    for part in [m.transcript for m in post.media]
                    + [m.alt_text for m in post.media]
                    if part
                ),
                "created_at": created,
                "url": post.url,
                "source_sha256": source_sha256,
                "date": created.date().isoformat() if created else "unknown",
            }
        )

    def batches(self, force: bool = False) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        if self.pending and (force or len(self.pending) >= _ROWS_PER_BATCH):
            yield pa.RecordBatch.from_pylist(self.pending, schema=self.schema)
            self.pending = []


def _scan_items(
    items: Iterable[tuple[Bundle, Framing] | RecordError], spec: DetectorSpec, collector: str
) -> Iterator[pa.RecordBatch]:
    """Detections of every bundle of ``items``, through the single-machine pipeline."""
    from tidewatch import pipeline

    rows = _Rows(collector)
    source_of: dict[int, str] = {}

    def bundles() -> Iterator[Bundle | RecordError]:
        for item in items:
            if isinstance(item, RecordError):
                yield item
                continue
            bundle, framing = item
            rows.bundle(bundle, framing)
            for post in bundle.posts:
                source_of[id(post)] = bundle.source.sha256
            yield bundle

    for post, detection in pipeline.scan(bundles(), _detector(spec), on_error=rows.error):
        rows.detection(post, detection, source_of.pop(id(post)))
        yield from rows.batches()
    yield from rows.batches(force=True)


def scan_lines(
    batches: Iterable[pa.RecordBatch], reader_name: str, spec: DetectorSpec, collector: str
) -> Iterator[pa.RecordBatch]:
    """JSON records, one per row (a JSON lines file's lines, a Parquet ``raw`` column)."""
    from tidewatch.ingest import reader_named
    from tidewatch.ingest.framing import jsonl_unit

    reader = reader_named(reader_name)

    def items() -> Iterator[tuple[Bundle, Framing] | RecordError]:
        seen: dict[tuple[str, int], int] = {}
        for batch in batches:
            columns = batch.to_pydict()
            for raw, uri, block, row in zip(
                columns["raw"], columns["file"], columns["block"], columns["row"], strict=True
            ):
                name = display_name(uri)
                if row is not None:
                    where = f"{name}:row {row + 1}"
                else:
                    # A text split's lines arrive in order: counting them gives line numbers
                    # for a file's first split (all of a file under the split size).
                    number = seen[(uri, block)] = seen.get((uri, block), 0) + 1
                    if block == 0 and number == 1 and raw.startswith(_BOM):
                        raw = raw[len(_BOM) :]
                    where = f"{name}:{number}" if block == 0 else f"{name}:+{number}@{block}"
                unit = jsonl_unit(raw or b"", where)
                if unit is None:
                    continue
                if isinstance(unit, RecordError):
                    yield unit
                    continue
                try:
                    yield (
                        reader.read(unit, ReadContext(collector=collector, origin=name)),
                        (Framing.JSONL),
                    )
                except RecordError as error:
                    yield error

    return _scan_items(items(), spec, collector)


def scan_files(
    batches: Iterable[pa.RecordBatch], format: str | None, spec: DetectorSpec, collector: str
) -> Iterator[pa.RecordBatch]:
    """Whole files (CSV, JSON documents), each read exactly as ``tidewatch scan`` reads it."""
    from tidewatch.ingest import read_stream
    from tidewatch.ingest.framing import PeekableStream, detect_framing

    def items() -> Iterator[tuple[Bundle, Framing] | RecordError]:
        for batch in batches:
            columns = batch.to_pydict()
            for uri, content in zip(columns["path"], columns["content"], strict=True):
                name = display_name(uri)
                stream = PeekableStream(io.BytesIO(content), name)
                try:
                    framing = detect_framing(stream)
                    for item in read_stream(stream, format=format, collector=collector):
                        yield item if isinstance(item, RecordError) else (item, framing)
                except TidewatchError as error:
                    yield RecordError(str(error), where=name)

    return _scan_items(items(), spec, collector)


def scan_rows(
    batches: Iterable[pa.RecordBatch], reader_name: str, spec: DetectorSpec, collector: str
) -> Iterator[pa.RecordBatch]:
    """Parquet rows whose columns are a record's fields (generic: id, text, platform...)."""
    import orjson

    from tidewatch.ingest import reader_named

    reader = reader_named(reader_name)

    def items() -> Iterator[tuple[Bundle, Framing] | RecordError]:
        for batch in batches:
            for record in batch.to_pylist():
                uri, row = record.pop("_file"), record.pop("_row")
                name = display_name(uri)
                value = {k: _plain(v) for k, v in record.items() if v is not None}
                unit = Unit(
                    raw=orjson.dumps(value),
                    value=value,
                    where=f"{name}:row {row + 1}",
                    framing=Framing.JSONL,
                )
                try:
                    yield (
                        reader.read(unit, ReadContext(collector=collector, origin=name)),
                        (Framing.JSONL),
                    )
                except RecordError as error:
                    yield error

    return _scan_items(items(), spec, collector)


# --- driver ----------------------------------------------------------------------------


@dataclass
class _Plan:
    #: reader name -> JSON lines files
    lines: dict[str, list[str]] = field(default_factory=dict)
    #: files read whole (CSV, JSON documents)
    whole: list[str] = field(default_factory=list)
    #: (reader name, has a raw column) -> Parquet files
    parquet: dict[tuple[str, bool], list[str]] = field(default_factory=dict)
    unusable: list[str] = field(default_factory=list)
    files: int = 0


def _jvm_fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def list_files(spark: SparkSession, inputs: Iterable[str]) -> list[list[str]]:
    """Each input's files (globs expanded, folders walked), as URIs; files whose names start
    with ``_`` or ``.`` (Spark's markers, checksums) are left out."""
    found: list[list[str]] = []
    for given in inputs:
        path, fs = _jvm_fs(spark, given)
        statuses = fs.globStatus(path) or []
        if not statuses:
            raise FormatError(f"{given}: no such file or folder")
        files: list[str] = []
        for status in statuses:
            if status.isDirectory():
                walk = fs.listFiles(status.getPath(), True)
                while walk.hasNext():
                    item = walk.next().getPath()
                    files.append(item.toString())
            else:
                files.append(status.getPath().toString())
        found.append(sorted(f for f in files if not posixpath.basename(f).startswith(("_", "."))))
    return found


def _head(spark: SparkSession, uri: str, size: int = _HEAD_BYTES) -> bytes:
    path, fs = _jvm_fs(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(stream.readNBytes(size))
    finally:
        stream.close()


def _reader_of_lines(head: bytes, name: str, format: str | None) -> str:
    """The reader ``read_stream`` would pick for a JSON lines file: the one named, or the one
    that recognises its first record."""
    from tidewatch.ingest import detect_reader, reader_named
    from tidewatch.ingest.framing import jsonl_unit

    if format:
        reader = reader_named(format)
        if Framing.JSONL not in reader.framings:
            raise FormatError(
                f"{name}: looks like jsonl, but format {reader.name!r} reads "
                f"{', '.join(sorted(f.value for f in reader.framings))}"
            )
        return reader.name
    complete = head if len(head) < _HEAD_BYTES else head[: head.rfind(b"\n") + 1]
    for number, line in enumerate(complete.removeprefix(_BOM).split(b"\n"), start=1):
        unit = jsonl_unit(line, f"{name}:{number}")
        if isinstance(unit, Unit):
            return detect_reader(unit).name
    raise FormatError(f"{name}: no readable record in its first {len(head):,} bytes")


def plan(spark: SparkSession, inputs: list[str], format: str | None) -> _Plan:
    """Which files go down which path, with their readers (sniffed here, on the driver)."""
    from tidewatch.ingest import detect_reader, reader_named
    from tidewatch.ingest.framing import PeekableStream, detect_framing

    result = _Plan()
    for files in list_files(spark, inputs):
        result.files += len(files)
        parquet = [f for f in files if f.lower().endswith(_PARQUET_SUFFIXES)]
        if parquet:
            frame = spark.read.parquet(*parquet)
            has_raw = "raw" in frame.columns
            if format:
                reader_name = reader_named(format).name
            else:
                first = frame.limit(1).collect()
                if not first:
                    continue
                row = first[0].asDict(recursive=True)
                value = _plain({k: v for k, v in row.items() if v is not None})
                if has_raw:
                    from tidewatch.ingest.framing import loads

                    raw = row["raw"]
                    value = loads(
                        bytes(raw) if isinstance(raw, bytes | bytearray) else raw.encode()
                    )
                unit = Unit(raw=b"", value=value, where=parquet[0], framing=Framing.JSONL)
                reader_name = detect_reader(unit).name
            result.parquet.setdefault((reader_name, has_raw), []).extend(parquet)
        for uri in files:
            if uri in parquet:
                continue
            name = display_name(uri)
            try:
                head = _head(spark, uri)
                framing = detect_framing(PeekableStream(io.BytesIO(head), name))
                if framing is Framing.JSONL:
                    result.lines.setdefault(_reader_of_lines(head, name, format), []).append(uri)
                else:
                    result.whole.append(uri)
            except FormatError as error:
                result.unusable.append(str(error))
    return result


def scan_frame(
    spark: SparkSession,
    inputs: list[str],
    *,
    spec: DetectorSpec,
    format: str | None = None,
    collector: str = "",
) -> tuple[DataFrame, _Plan]:
    """Every output row of the scan as one (lazy) DataFrame of :func:`schema`."""
    from pyspark.sql import functions as F

    work = plan(spark, inputs, format)
    frames: list[DataFrame] = []
    for reader_name, files in sorted(work.lines.items()):
        lines = (
            spark.read.option("lineSep", "\n")
            .text(files)
            .select(
                F.col("value").cast("binary").alias("raw"),
                F.col("_metadata.file_path").alias("file"),
                F.col("_metadata.file_block_start").alias("block"),
                F.lit(None).cast("long").alias("row"),
            )
        )
        frames.append(
            lines.mapInArrow(
                lambda b, r=reader_name: scan_lines(b, r, spec, collector),  # type: ignore[misc]
                schema(),
            )
        )
    for (reader_name, has_raw), files in sorted(work.parquet.items()):
        table = spark.read.parquet(*files)
        meta = [
            F.col("_metadata.file_path").alias("file" if has_raw else "_file"),
            F.col("_metadata.row_index").alias("row" if has_raw else "_row"),
        ]
        if has_raw:
            rows = table.select(
                F.col("raw").cast("binary").alias("raw"),
                *meta[:1],
                F.lit(0).cast("long").alias("block"),
                *meta[1:],
            )
            frames.append(
                rows.mapInArrow(
                    lambda b, r=reader_name: scan_lines(b, r, spec, collector),  # type: ignore[misc]
                    schema(),
                )
            )
        else:
            frames.append(
                table.select("*", *meta).mapInArrow(
                    lambda b, r=reader_name: scan_rows(b, r, spec, collector),  # type: ignore[misc]
                    schema(),
                )
            )
    if work.whole:
        whole = spark.read.format("binaryFile").load(work.whole).select("path", "content")
        frames.append(whole.mapInArrow(lambda b: scan_files(b, format, spec, collector), schema()))
    if not frames:
        return spark.createDataFrame([], schema()), work
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame, work


def run_scan(
    spark: SparkSession,
    inputs: list[str],
    out: str,
    *,
    format: str | None = None,
    second_stage: bool = True,
    threshold: float | None = None,
    collector: str = "",
) -> ScanSummary:
    """Scan ``inputs`` and write the datasets under ``out`` (which must not exist yet)."""
    from pyspark.sql import functions as F

    if format:
        from tidewatch.ingest import reader_named

        reader_named(format)  # an unknown name fails here, before any work
    path, fs = _jvm_fs(spark, out)
    if fs.exists(path):
        raise FormatError(f"{out}: already exists; give a new folder")
    version = build_detector(second_stage, threshold).version
    spec = DetectorSpec(second_stage=second_stage, threshold=threshold, version=version)
    frame, work = scan_frame(spark, inputs, spec=spec, format=format, collector=collector)
    parts = f"{out.rstrip('/')}/_parts"
    # One pass: every kind in one write, posts partitioned by date and platform; the other
    # kinds land in one partition each and are moved to their own folders below.
    kind = F.col("kind")
    (
        frame.withColumn("date", F.when(kind != "post", F.lit("-")).otherwise(F.col("date")))
        .withColumn(
            "platform",
            F.when(kind.isin("source", "error"), F.lit("-")).otherwise(F.col("platform")),
        )
        .write.partitionBy("kind", "date", "platform")
        .parquet(parts)
    )
    _arrange(spark, out)
    summary = ScanSummary(
        files=work.files, unusable=list(work.unusable), model_version=spec.version
    )
    detections = read_dataset(spark, out, "detections")
    counts = {row["label"]: row["count"] for row in detections.groupBy("label").count().collect()}
    summary.posts = sum(counts.values())
    summary.adverts = counts.get("advert", 0)
    summary.errors = read_dataset(spark, out, "errors").count()
    return summary


def _arrange(spark: SparkSession, out: str) -> None:
    """``_parts/kind=post/date=*/platform=*`` becomes ``detections/date=*/platform=*``,
    accounts keep their ``platform=*`` folders, sources and errors are flat; a kind without
    rows gets an empty folder."""
    root = out.rstrip("/")
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    Path = jvm.org.apache.hadoop.fs.Path
    parts, fs = _jvm_fs(spark, f"{root}/_parts")
    for kind, dataset in _KIND_OF_ROW.items():
        target = Path(f"{root}/{dataset}")
        source = Path(f"{root}/_parts/kind={kind}")
        if kind == "post" and fs.exists(source):
            fs.rename(source, target)
            continue
        fs.mkdirs(target)
        inner = Path(f"{root}/_parts/kind={kind}/date=-")
        if not fs.exists(inner):
            continue
        # Full destination names: a rename onto an existing empty folder replaces it on
        # some file systems (the local one) instead of moving into it.
        for folder in fs.listStatus(inner):
            if folder.getPath().getName() == "platform=-":
                for status in fs.listStatus(folder.getPath()):
                    fs.rename(status.getPath(), Path(target, status.getPath().getName()))
            else:
                fs.rename(folder.getPath(), Path(target, folder.getPath().getName()))
    fs.delete(parts, True)
    fs.create(Path(f"{root}/_SUCCESS"), True).close()


def read_dataset(spark: SparkSession, out: str, dataset: str) -> DataFrame:
    """One of the scan's datasets (``detections``, ``sources``, ``accounts``, ``errors``)
    with its own columns."""
    wanted = COLUMNS[dataset]
    path = f"{out.rstrip('/')}/{dataset}"
    reader = spark.read.schema(schema(wanted))
    if dataset in ("detections", "accounts"):
        reader = reader.option("basePath", path)
    return reader.parquet(path).select(*wanted)

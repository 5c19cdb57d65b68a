"""Hashes and text derived from the bytes of stored media (``tidewatch media``).

Where the bytes come from, for each row of ``media``:

* ``local_file``: the file its ``local_path`` names beside the export it was ingested from
  (Telegram's ``photos/...``), only inside that export's folder (``local_file`` refuses an
  absolute path, ``..`` or a link leading out); nothing from post text or a URL ever becomes
  a path or a command;
* ``evidence``: the bytes a capture stored (``tidewatch evidence capture --media``), found
  through the capture's ``media/post-<id>-<n>.json`` records, which name the media row.

What is derived, once per media item and bytes (their SHA-256 is the key, so a second run
adds nothing): an image's PDQ hash and quality and the text Tesseract reads in it, or a
video's vPDQ hash. Bytes that are not an image or a video (audio, documents) are passed
over. A file that cannot be read is reported by name and skipped; the run goes on.

Then every post whose images hold text is detected again with that text (it is part of
``Post.detectable_text``), with the model given: an advert written on a picture becomes a
detection whose reasons quote the picture's words and say so (``source="image_text"``).
"""

from __future__ import annotations

import hashlib
import re
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, select, update

from tidewatch.detect.ocr import DEFAULT_LANGUAGES, available_languages, image_text
from tidewatch.detect.video import VideoError, to_json, vpdq_hash
from tidewatch.errors import NotFound
from tidewatch.evidence import objects
from tidewatch.evidence.media_fetch import EXTENSIONS, local_file, pdq_facts, sniff
from tidewatch.model import text_sha256
from tidewatch.store import tables as t
from tidewatch.store.detections import save_detections
from tidewatch.store.repository import load_posts
from tidewatch.store.writer import _chunks, _in

if TYPE_CHECKING:
    from tidewatch.detect.detector import Detector

LOCAL_FILE = "local_file"
EVIDENCE = objects.BYTES_FROM
#: An image file larger than this is not read into memory (a photo is a few MiB).
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: Media kinds readers give pictures and videos: bytes of these kinds that are neither are
#: reported as unreadable; other kinds (audio, documents) are passed over quietly.
VISUAL_KINDS = frozenset({"photo", "image", "video", "animated_gif"})
#: Posts detected again per batch (one transaction each).
DETECT_BATCH = 256
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class MediaItem:
    """One media row with bytes at hand. ``name`` shows where (the export's path or the
    evidence file): for reports only, never opened or run."""

    media_id: int
    post_id: int
    kind: str
    name: str
    bytes_from: str  # local_file | evidence
    path: Path | None = None  # a local file, already checked to lie inside its export folder
    digest: str = ""  # evidence: the bytes' SHA-256, their key in the object store


@dataclass(frozen=True)
class Problem:
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass(frozen=True)
class Signal:
    kind: str  # pdq | vpdq
    hash: str
    quality: int
    ocr_text: str | None = None


@dataclass
class MediaReport:
    items: int = 0  # media items with bytes at hand
    images: int = 0  # newly hashed
    videos: int = 0
    texts: int = 0  # images in which text was read (newly)
    done_before: int = 0  # these bytes were already processed
    passed_over: int = 0  # neither image nor video
    problems: int = 0
    detections: int = 0  # new detections of posts with image text
    adverts: int = 0
    ocr: str = ""  # why text in images was not read, if it was not


Progress = Callable[[int, int], None]
OnProblem = Callable[[Problem], None]


def ocr_languages(wanted: Sequence[str] = DEFAULT_LANGUAGES) -> tuple[tuple[str, ...], str]:
    """The languages to read images in, or () and why not (Tesseract or a pack missing)."""
    installed = available_languages()
    if not installed:
        return (), "tesseract is not installed (make system-deps): text in images not read"
    missing = [language for language in wanted if language not in installed]
    if missing:
        return (), f"tesseract language packs missing: {', '.join(missing)} (make system-deps)"
    return tuple(wanted), ""


def run(
    engine: Engine,
    *,
    detector: Detector | None = None,
    ocr: bool = True,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    progress: Progress | None = None,
    on_problem: OnProblem | None = None,
) -> MediaReport:
    """The whole stage: signals of every media item not processed yet (with the text in
    images, read in ``languages``, unless ``ocr`` is off), then detections of posts with
    text in their images (with ``detector``)."""
    report = MediaReport()
    read_in: tuple[str, ...] = ()
    if ocr:
        read_in, report.ocr = ocr_languages(languages)

    def problem(found: Problem) -> None:
        report.problems += 1
        if on_problem:
            on_problem(found)

    with engine.connect() as conn:
        items = find_items(conn, problem)
    report.items = len({item.media_id for item in items})
    compute_signals(engine, items, report, read_in, progress, problem)
    if detector is not None:
        report.detections, report.adverts = detect_image_text(engine, detector)
    return report


# --- which media have bytes at hand ------------------------------------------------------------


def find_items(conn: Connection, on_problem: OnProblem) -> list[MediaItem]:
    """Media rows with bytes at hand: export files first, then captured evidence. A media
    item whose export file is missing or refused, and that has no evidence either, is
    reported."""
    items: list[MediaItem] = []
    refused: dict[int, Problem] = {}
    rows = conn.execute(
        select(
            t.media.c.id,
            t.media.c.post_id,
            t.media.c.kind,
            t.media.c.local_path,
            t.source_records.c.origin,
        )
        .join(t.source_records, t.source_records.c.id == t.media.c.first_source_id)
        .where(t.media.c.local_path != "")
        .order_by(t.media.c.id)
    )
    for row in rows:
        try:
            path = local_file(row.local_path, row.origin)
        except ValueError as error:
            refused[row.id] = Problem(row.local_path, str(error))
            continue
        items.append(MediaItem(row.id, row.post_id, row.kind, row.local_path, LOCAL_FILE, path))
    items += _evidence_items(conn, on_problem)
    have = {item.media_id for item in items}
    for media_id, found in refused.items():
        if media_id not in have:
            on_problem(found)
    return items


def _evidence_items(conn: Connection, on_problem: OnProblem) -> list[MediaItem]:
    """Captured media bytes, through each capture's media record (which names the media row
    and the bytes' SHA-256). Purged evidence is gone on purpose and passed over."""
    facts: dict[tuple[int, str], str] = {}
    records = select(t.artifacts.c.sha256).where(t.artifacts.c.kind == "media_meta").distinct()
    for record in conn.execute(records).scalars().all():
        try:
            document = orjson.loads(objects.get(conn, record))
        except NotFound:
            continue
        except (ValueError, orjson.JSONDecodeError) as error:
            on_problem(Problem(f"evidence object {record}", str(error)))
            continue
        media_id, digest = document.get("media_id"), document.get("sha256")
        if isinstance(media_id, int) and isinstance(digest, str) and _SHA256.fullmatch(digest):
            facts.setdefault((media_id, digest), str(document.get("file") or digest))
    if not facts:
        return []
    media: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(sorted({media_id for media_id, _ in facts})):
        query = select(t.media.c.id, t.media.c.post_id, t.media.c.kind).where(
            _in(conn, t.media.c.id, chunk)
        )
        media.update((row.id, (row.post_id, row.kind)) for row in conn.execute(query))
    return [
        MediaItem(media_id, *media[media_id], name, EVIDENCE, digest=digest)
        for (media_id, digest), name in sorted(facts.items())
        if media_id in media
    ]


# --- signals ----------------------------------------------------------------------------------


def compute_signals(
    engine: Engine,
    items: Sequence[MediaItem],
    report: MediaReport,
    languages: Sequence[str],
    progress: Progress | None,
    on_problem: OnProblem,
) -> None:
    """Hash (and read) each item's bytes unless done before; one short transaction each, so
    an interrupted run keeps what it did and the next run carries on from there."""
    seen: set[tuple[int, str]] = set()
    stored = _stored(engine, items)
    for done, item in enumerate(items, start=1):
        try:
            known = (item.media_id, item.digest)
            if item.digest and known in stored and not (stored[known] and languages):
                # Evidence names its bytes' hash: done before, without reading them again.
                report.done_before += known not in seen
                seen.add(known)
                continue
            with _ItemBytes(engine, item) as (digest, data, path):
                key = (item.media_id, digest)
                if key in seen:  # the same bytes from the export and from evidence
                    continue
                seen.add(key)
                if key in stored:
                    if stored[key] and languages:  # hashed before, its text still unread
                        text = _text(item, data, languages, on_problem)
                        if text is not None:
                            _save_text(engine, item, digest, text)
                            report.texts += bool(text)
                    else:
                        report.done_before += 1
                    continue
                try:
                    made = _signal(
                        item, sniff(data[:64]), data, path, languages, report, on_problem
                    )
                except (OSError, ValueError):
                    raise
                except Exception as error:
                    # A decoder given a hostile file can raise anything (Pillow raises
                    # SyntaxError for a broken PNG chunk): one file must not stop the run.
                    raise ValueError(f"not readable: {type(error).__name__}: {error}") from None
                if made is not None:
                    _save(engine, item, digest, made)
                    report.texts += bool(made.ocr_text)
        except (OSError, ValueError, NotFound) as error:
            on_problem(Problem(item.name, str(error)))
        finally:
            if progress:
                progress(done, len(items))


def _stored(engine: Engine, items: Sequence[MediaItem]) -> dict[tuple[int, str], bool]:
    """(media id, bytes SHA-256) already processed -> whether the image's text is still
    unread (hashed while Tesseract was missing)."""
    found: dict[tuple[int, str], bool] = {}
    ids = sorted({item.media_id for item in items})
    with engine.connect() as conn:
        for chunk in _chunks(ids):
            query = select(
                t.media_signals.c.media_id,
                t.media_signals.c.bytes_sha256,
                t.media_signals.c.kind,
                t.media_signals.c.ocr_text,
                t.media_signals.c.text_purged_at,
            ).where(_in(conn, t.media_signals.c.media_id, chunk))
            for row in conn.execute(query):
                # Text purged with its evidence is gone on purpose: never read again.
                unread = row.ocr_text is None and row.text_purged_at is None
                found[(row.media_id, row.bytes_sha256)] = row.kind == "pdq" and unread
    return found


class _ItemBytes:
    """The item's (SHA-256, bytes, file): an image's bytes in memory; a video's a file (an
    evidence video goes to a temporary file of our own naming, removed afterwards)."""

    def __init__(self, engine: Engine, item: MediaItem) -> None:
        self.engine, self.item = engine, item
        self.temporary: Path | None = None

    def __enter__(self) -> tuple[str, bytes, Path | None]:
        item = self.item
        if item.path is not None:
            size = item.path.stat().st_size
            if size <= MAX_IMAGE_BYTES:
                data = item.path.read_bytes()
                return hashlib.sha256(data).hexdigest(), data, item.path
            with item.path.open("rb") as handle:
                head = handle.read(64)
                if not sniff(head).startswith("video/"):
                    raise ValueError(
                        f"{size} bytes: too large for an image (a video is read from its file)"
                    )
                handle.seek(0)
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            return digest, head, item.path
        with self.engine.connect() as conn:
            data = objects.get(conn, item.digest)  # checks the bytes against their hash
        if not sniff(data[:64]).startswith("video/"):
            return item.digest, data, None
        with tempfile.NamedTemporaryFile(
            prefix="tidewatch-media-", suffix=f".{EXTENSIONS[sniff(data[:64])]}", delete=False
        ) as temporary:
            self.temporary = Path(temporary.name)
            temporary.write(data)
        return item.digest, data, self.temporary

    def __exit__(self, *_exc: object) -> None:
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)


def _signal(
    item: MediaItem,
    content_type: str,
    data: bytes,
    path: Path | None,
    languages: Sequence[str],
    report: MediaReport,
    on_problem: OnProblem,
) -> Signal | None:
    if content_type.startswith("image/"):
        facts = pdq_facts(data, content_type)
        if "pdq_error" in facts:
            raise ValueError(facts["pdq_error"])
        report.images += 1
        return Signal(
            "pdq", facts["pdq"], facts["pdq_quality"], _text(item, data, languages, on_problem)
        )
    if content_type.startswith("video/") and path is not None:
        try:
            frames = vpdq_hash(path)
        except VideoError as error:
            raise ValueError(str(error).removeprefix(f"{path.name}: ")) from None
        if not frames:
            raise ValueError("no video frames could be decoded")
        report.videos += 1
        quality = int(statistics.median(frame.quality for frame in frames))
        return Signal("vpdq", to_json(frames), quality)
    if item.kind in VISUAL_KINDS:
        raise ValueError(f"a {item.kind} whose bytes are not an image or video this can read")
    report.passed_over += 1
    return None


def _text(
    item: MediaItem, data: bytes, languages: Sequence[str], on_problem: OnProblem
) -> str | None:
    """What Tesseract reads in the image; None when it was not read (the hash is kept, and
    a later run reads it)."""
    if not languages:
        return None
    try:
        return image_text(data, languages)
    except (ValueError, OSError, subprocess.SubprocessError) as error:
        on_problem(Problem(item.name, f"text not read: {error}"))
        return None


def _save(engine: Engine, item: MediaItem, digest: str, signal: Signal) -> None:
    row = {
        "media_id": item.media_id,
        "post_id": item.post_id,
        "kind": signal.kind,
        "hash": signal.hash,
        "quality": signal.quality,
        "ocr_text": signal.ocr_text,
        "bytes_sha256": digest,
        "bytes_from": item.bytes_from,
        "computed_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        # Two runs at once both find the item new: the second insert is a no-op, not an error.
        conn.execute(_insert_ignoring_duplicates(conn).values(row))


def _save_text(engine: Engine, item: MediaItem, digest: str, text: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(t.media_signals)
            .where(
                t.media_signals.c.media_id == item.media_id,
                t.media_signals.c.kind == "pdq",
                t.media_signals.c.bytes_sha256 == digest,
            )
            .values(ocr_text=text)
        )


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    key = ["media_id", "kind", "bytes_sha256"]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(t.media_signals).on_conflict_do_nothing(index_elements=key)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(t.media_signals).on_conflict_do_nothing(index_elements=key)


# --- detection of posts with text in their images ---------------------------------------------


def detect_image_text(engine: Engine, detector: Detector) -> tuple[int, int]:
    """Detect every post whose images hold text, with that text, unless this model already
    detected that exact text; returns (new detections, of which adverts)."""
    with engine.connect() as conn:
        post_ids = sorted(
            conn.execute(
                select(t.media_signals.c.post_id).where(t.media_signals.c.ocr_text != "").distinct()
            ).scalars()
        )
    new = adverts = 0
    for chunk in _chunks(post_ids, DETECT_BATCH):
        with engine.connect() as conn:
            posts = load_posts(conn, chunk)
            detected = {
                (row.post_id, row.text_sha256)
                for row in conn.execute(
                    select(t.detections.c.post_id, t.detections.c.text_sha256).where(
                        t.detections.c.model_version == detector.version,
                        _in(conn, t.detections.c.post_id, chunk),
                    )
                )
            }
        todo = [
            post for key, post in posts if (key, text_sha256(post.detectable_text)) not in detected
        ]
        if not todo:
            continue
        pairs = list(zip(todo, detector.detect_posts(todo), strict=True))
        with engine.begin() as conn:
            new += save_detections(conn, pairs)
        adverts += sum(detection.label == "advert" for _, detection in pairs)
    return new, adverts

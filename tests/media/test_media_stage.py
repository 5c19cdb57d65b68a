"""The media stage from a real export to networks: pictures and videos in a Telegram Desktop
export are hashed and read once, the text in a picture makes its post an advert with reasons
that quote the picture, and two accounts posting the same picture (re-encoded, cropped) are
linked by it, also when one of them was removed before the other appeared."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tidewatch.cases import cases
from tidewatch.cli import app, ingest_paths
from tidewatch.detect.detector import Detector
from tidewatch.detect.media import PDQ_MATCH_DISTANCE, hamming, pdq_hash
from tidewatch.detect.ocr import DEFAULT_LANGUAGES, available_languages
from tidewatch.detect.video import ffmpeg_available
from tidewatch.evidence.capture import capture_accounts, capture_case
from tidewatch.evidence.live import FetchPolicy
from tidewatch.evidence.media_fetch import media_producer
from tidewatch.evidence.retention import purge
from tidewatch.link.networks import account_selectors, video_selectors
from tidewatch.link.selectors import Selector
from tidewatch.media.stage import Problem, run
from tidewatch.model import Account, Availability, Bundle, Platform, SourceRecord, Stamp
from tidewatch.pipeline import link_facts
from tidewatch.store import load, make_engine, migrate
from tidewatch.store import tables as t
from tidewatch.store.repository import PostRepository
from tidewatch.store.users import Actor, Role, create_user
from tidewatch.web import create_app
from tidewatch.web.auth import hash_password

BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ADVERT_LINES = ("SPEEDBOAT TO ITALY", "1500 EURO", "WHATSAPP +218 91 234 5678")
FIRST_STAGE = "--first-stage-only"  # the same model for ingest, media and link, and quicker


@pytest.fixture(scope="module", autouse=True)
def tesseract() -> None:
    if not set(DEFAULT_LANGUAGES) <= available_languages():
        if os.environ.get("TIDEWATCH_REQUIRE_TESSERACT") == "1":
            pytest.fail("Tesseract with eng, ara and fas is required here (make system-deps)")
        pytest.skip("Tesseract with eng, ara and fas is not installed (make system-deps)")


def advert_picture(seed: int = 1, lines: tuple[str, ...] = ADVERT_LINES) -> Image.Image:
    """A boat-trip advert: soft shapes (a photograph, for PDQ) behind a white panel with the
    offer written on it."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (960, 540), (20, 70, 140))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = int(rng.integers(0, 900)), int(rng.integers(0, 520))
        w, h = (int(v) for v in rng.integers(200, 500, 2))
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    image = image.filter(ImageFilter.GaussianBlur(6))
    draw = ImageDraw.Draw(image)
    draw.rectangle([(40, 40), (920, 300)], fill="white")
    font = ImageFont.truetype(BOLD, 44)
    for number, line in enumerate(lines):
        draw.text((70, 60 + 80 * number), line, fill="black", font=font)
    return image


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def reposted(image: Image.Image) -> bytes:
    """What a backup account posts: a thin border cropped off, smaller, JPEG at quality 60."""
    width, height = image.size
    return jpeg(image.crop((6, 4, width - 6, height - 4)).resize((800, 450)), 60)


def message(number: int, user: str, day: str, text: str, **media: Any) -> dict[str, Any]:
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return {
        "id": number,
        "type": "message",
        "date": moment.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(int(moment.timestamp())),
        "from": f"SYNTHETIC {user}",
        "from_id": user,
        "text": text,
        "text_entities": [{"type": "plain", "text": text}],
        **media,
    }


def telegram_export(folder: Path, messages: list[dict[str, Any]], files: dict[str, bytes]) -> Path:
    """A Telegram Desktop export of one group: result.json and its media files beside it."""
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    document = {
        "name": "SYNTHETIC Harbour chat (test data)",
        "type": "public_supergroup",
        "id": 1500,
        "messages": messages,
    }
    path = folder / "result.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


FIRST_PHOTO = "photos/photo_1@01-03-2024_10-00-00.jpg"
SECOND_PHOTO = "photos/photo_2@10-06-2024_09-30-00.jpg"
BROKEN_PHOTO = "photos/photo_3@12-06-2024_18-00-00.jpg"
NEIGHBOURS = (
    "The weather in Tripoli is hot today",
    "My cousin's wedding was beautiful",
    "Does anyone know a good dentist near the port?",
    "The football match starts at eight",
    "Selling a used fridge, works well",
)


def harbour_export(folder: Path) -> Path:
    """Two accounts post the same advert picture (the second a re-encoded, cropped copy)
    under harmless captions; neighbours chat; one picture in the export is truncated."""
    picture = advert_picture()
    messages = [
        message(1, "user111", "2024-03-01T10:00:00", "Happy Eid to all the family", photo=FIRST_PHOTO),
        message(2, "user222", "2024-06-10T09:30:00", "Eid Mubarak to everyone", photo=SECOND_PHOTO),
        message(3, "user333", "2024-06-12T18:00:00", "Lovely day at the beach with the kids", photo=BROKEN_PHOTO),
    ]  # fmt: skip
    messages += [
        message(10 + n, f"user90{n}", f"2024-04-0{n + 1}T12:00:00", text)
        for n, text in enumerate(NEIGHBOURS)
    ]
    files = {
        FIRST_PHOTO: jpeg(picture, 92),
        SECOND_PHOTO: reposted(picture),
        BROKEN_PHOTO: jpeg(picture, 92)[:3000],  # cut short mid-transfer
    }
    return telegram_export(folder, messages, files)


def signal_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(t.media_signals, t.posts.c.native_id)
                .join(t.posts, t.posts.c.id == t.media_signals.c.post_id)
                .order_by(t.posts.c.native_id)
            )
        )


def detections_of(engine: Engine, native_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(t.detections)
                .join(t.posts, t.posts.c.id == t.detections.c.post_id)
                .where(t.posts.c.native_id == native_id)
                .order_by(t.detections.c.id)
            )
        )


def removed_later(engine: Engine, account: str, day: str) -> None:
    """A later collection saw ``account`` suspended (as a platform payload would say)."""
    seen = Stamp(utc=datetime.fromisoformat(day).replace(tzinfo=UTC), raw=day)
    gone = Account(
        platform=Platform.TELEGRAM, native_id=account, availability=Availability.SUSPENDED
    )
    source = SourceRecord(raw=f"suspended {account}".encode(), format="test", retrieved_at=seen)
    load(engine, [Bundle(source=source, accounts=[gone])], input_name="recheck")


def detected_post_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(t.detections.c.post_id)).scalar_one())


def console_page(engine: Engine, path: str) -> str:
    """A page of the analyst console, as an analyst signed in sees it."""
    password = "correct horse battery staple"
    with engine.begin() as conn:
        create_user(conn, "ana", "analyst", password_hash=hash_password(password))
    client = TestClient(create_app(engine))
    client.get("/login")
    token = client.cookies["tidewatch_login"]
    form = {"username": "ana", "password": password, "login_token": token}
    assert client.post("/login", data=form).status_code == 200  # after the redirect
    page = client.get(path)
    assert page.status_code == 200
    return page.text


def test_pictures_in_an_export_are_read_once_flag_their_posts_and_link_their_accounts(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEWATCH_VAR_DIR", str(tmp_path / "var"))
    export = harbour_export(tmp_path / "export")
    runner = CliRunner()
    database = ["--database-url", database_url]
    ingested = runner.invoke(app, ["ingest", str(export), "--detect", FIRST_STAGE, *database])
    assert ingested.exit_code == 0, ingested.output
    [captioned] = detections_of(make_engine(database_url), "1500/1")
    assert captioned.label == "not_advert"  # the caption alone says nothing

    first = runner.invoke(app, ["media", FIRST_STAGE, *database])
    assert first.exit_code == 1, first.output  # the truncated picture is a problem...
    assert BROKEN_PHOTO in first.output and "truncated" in first.output
    engine = make_engine(database_url)
    rows = signal_rows(engine)
    assert [(r.native_id, r.kind, r.bytes_from) for r in rows] == [
        ("1500/1", "pdq", "local_file"),  # ...and the run went on past it
        ("1500/2", "pdq", "local_file"),
    ]
    photo = (export.parent / FIRST_PHOTO).read_bytes()
    assert rows[0].bytes_sha256 == hashlib.sha256(photo).hexdigest()
    assert rows[0].hash == pdq_hash(photo)[0]
    assert hamming(rows[0].hash, rows[1].hash) <= PDQ_MATCH_DISTANCE
    for row in rows:
        assert "SPEEDBOAT TO ITALY" in row.ocr_text and "+218 91 234 5678" in row.ocr_text

    # The text in the picture went through the detector: an advert, quoting the picture.
    captioned_again, flagged = detections_of(engine, "1500/1")
    assert captioned_again == captioned
    assert flagged.label == "advert" and flagged.model_version == captioned.model_version
    from_image = [r for r in flagged.reasons if r.get("source") == "image_text"]
    assert from_image, flagged.reasons
    assert all(r["evidence"] in rows[0].ocr_text for r in from_image)
    assert not any(r.get("source") for r in captioned.reasons)
    assert "(text in an image)" in console_page(engine, f"/posts/{flagged.post_id}")

    # A second run finds everything done: no new signals, no new detections.
    with engine.connect() as conn:
        detections = conn.execute(select(func.count()).select_from(t.detections)).scalar_one()
    again = runner.invoke(app, ["media", FIRST_STAGE, *database])
    assert again.exit_code == 1 and BROKEN_PHOTO in again.output
    assert "already done: 2" in again.output
    assert signal_rows(engine) == rows
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.detections)).scalar_one() == (
            detections
        )

    # The picture links the two accounts; the second appeared after the first was removed.
    removed_later(engine, "user111", "2024-05-01T00:00:00")
    linked = runner.invoke(app, ["link", FIRST_STAGE, *database])
    assert linked.exit_code == 0, linked.output
    document = json.loads((tmp_path / "var" / "networks" / "networks.json").read_text())
    [network] = document["networks"]
    assert network["accounts"] == ["telegram:user111", "telegram:user222"]
    [edge] = network["links"]
    media = [e for e in edge["evidence"] if e["value"].startswith("media:")]
    assert [(e["kind"], e["value"]) for e in media] == [("selector", f"media:{rows[0].hash}")]
    assert sorted(media[0]["posts"]) == ["telegram:1500/1", "telegram:1500/2"]
    [flag] = document["reemergence"]
    assert (flag["account"], flag["earlier_account"]) == ("telegram:user222", "telegram:user111")
    # The number written on the picture is a selector too.
    assert set(flag["evidence"]) == {
        f"selector media:{rows[0].hash}",
        "selector phone:+218912345678",
    }


def ingest_one_picture(engine: Engine, tmp_path: Path) -> tuple[bytes, Path]:
    """One Telegram post with the advert picture and an innocent caption, ingested; returns
    the picture's bytes and the export's result.json."""
    picture = jpeg(advert_picture(), 92)
    export = telegram_export(
        tmp_path / "export",
        [message(1, "user111", "2024-03-01T10:00:00", "Happy Eid", photo=FIRST_PHOTO)],
        {FIRST_PHOTO: picture},
    )
    ingest_paths(engine, [str(export)], format=None, collector="", batch_size=500)
    return picture, export


def test_captured_evidence_is_read_when_the_export_file_is_gone(
    engine: Engine, tmp_path: Path
) -> None:
    picture, export = ingest_one_picture(engine, tmp_path)
    with engine.connect() as conn:
        account = conn.execute(select(t.accounts.c.id)).scalar_one()
    analyst = Actor("ana", Role.ANALYST)
    capture_accounts(engine, analyst, [account], producers=[media_producer(FetchPolicy())])
    (export.parent / FIRST_PHOTO).unlink()  # the export is gone; the sealed evidence is not

    hashed = run(engine, ocr=False)
    [row] = signal_rows(engine)
    assert (hashed.images, row.bytes_from) == (1, "evidence")
    assert row.bytes_sha256 == hashlib.sha256(picture).hexdigest()
    assert (row.hash, row.quality) == pdq_hash(picture)
    assert row.ocr_text is None  # not read yet

    # A run that reads text fills in the text of what was hashed without it; nothing else.
    read = run(engine)
    [same] = signal_rows(engine)
    assert (read.images, read.texts, same.id, same.hash) == (0, 1, row.id, row.hash)
    assert "SPEEDBOAT TO ITALY" in same.ocr_text
    assert run(engine).done_before == 1


def test_a_path_out_of_the_export_is_refused_and_unreadable_files_are_named_not_fatal(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "secret.jpg").write_bytes(jpeg(advert_picture(), 92))  # beside, not inside
    voice = {"media_type": "voice_message", "mime_type": "audio/ogg"}
    export = telegram_export(
        tmp_path / "export",
        [
            message(1, "user111", "2024-03-01T10:00:00", "a", photo="../secret.jpg"),
            message(2, "user222", "2024-03-02T10:00:00", "b", photo="photos/notes.jpg"),
            message(3, "user333", "2024-03-03T10:00:00", "c", file="voice/1.ogg", **voice),
        ],
        {"photos/notes.jpg": b"<html>not a picture</html>", "voice/1.ogg": b"OggS" + bytes(60)},
    )
    ingest_paths(engine, [str(export)], format=None, collector="", batch_size=500)
    problems: list[Problem] = []
    report = run(engine, ocr=False, on_problem=problems.append)
    assert signal_rows(engine) == []
    assert [p.name for p in problems] == ["../secret.jpg", "photos/notes.jpg"]
    assert "leaves the export folder" in problems[0].message
    assert "not an image or video" in problems[1].message
    assert (report.problems, report.passed_over) == (2, 1)  # a voice message is no picture


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if not ffmpeg_available():
        if os.environ.get("TIDEWATCH_REQUIRE_FFMPEG") == "1":
            pytest.fail("ffmpeg is required here (make system-deps)")
        pytest.skip("ffmpeg is not installed (make system-deps)")
    folder = tmp_path_factory.mktemp("clips")

    def ffmpeg(*arguments: str) -> bytes:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments], check=True)
        return Path(arguments[-1]).read_bytes()

    fast = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    original = folder / "original.mp4"
    made = {"original": ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=6", *fast, str(original))}  # fmt: skip
    made["re-encoded"] = ffmpeg("-i", str(original), "-vf", "scale=240:180", *fast, "-crf", "35", str(folder / "copy.mp4"))  # fmt: skip
    made["other"] = ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=10", "-t", "6", *fast, str(folder / "other.mp4"))  # fmt: skip
    return made


def test_videos_in_an_export_are_hashed_and_a_re_encoded_copy_is_one_selector(
    clips: dict[str, bytes], tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tidewatch.db'}")
    migrate(engine)
    video = {"media_type": "video_file", "mime_type": "video/mp4", "duration_seconds": 6}
    names = {name: f"video_files/{name}.mp4" for name in clips}
    export = telegram_export(
        tmp_path / "export",
        [
            message(1, "user111", "2024-03-01T10:00:00", "We arrived", file=names["original"], **video),
            message(2, "user222", "2024-03-02T10:00:00", "Arrived too", file=names["re-encoded"], **video),
            message(3, "user333", "2024-03-03T10:00:00", "Fractals", file=names["other"], **video),
        ],
        {names[name]: content for name, content in clips.items()},
    )  # fmt: skip
    detector = Detector.load(second_stage=False)
    ingest_paths(
        engine, [str(export)], format=None, collector="", batch_size=500, detector=detector
    )

    report = run(engine, ocr=False)
    assert (report.videos, report.images, report.problems) == (3, 0, 0)
    assert [r.kind for r in signal_rows(engine)] == ["vpdq"] * 3
    _accounts, posts = link_facts(engine, detector.version)
    by_post = {post.key[1]: post for post in posts}
    assert all(by_post[key].videos for key in ("1500/1", "1500/2", "1500/3"))
    selectors = video_selectors(posts)
    [same] = selectors[("telegram", "1500/1")]
    assert selectors[("telegram", "1500/2")] == {same}
    assert same not in selectors.get(("telegram", "1500/3"), set())
    assert run(engine, ocr=False).done_before == 3


def test_text_read_in_purged_evidence_goes_with_it_and_the_hash_stays(
    engine: Engine, tmp_path: Path
) -> None:
    _picture, export = ingest_one_picture(engine, tmp_path)
    analyst, supervisor = Actor("ana", Role.ANALYST), Actor("sam", Role.SUPERVISOR)
    case_id = cases.open_case(engine, analyst, "boats", accounts=[("telegram", "user111")])
    capture_case(engine, analyst, case_id, producers=[media_producer(FetchPolicy())])
    (export.parent / FIRST_PHOTO).unlink()  # only the sealed evidence holds the picture now
    assert run(engine, detector=Detector.load(second_stage=False)).texts == 1
    [read] = signal_rows(engine)
    assert read.bytes_from == "evidence" and "SPEEDBOAT" in read.ocr_text
    # The stored post reads back as the detector took it: with the text in its picture.
    stored = PostRepository(engine).get("telegram", read.native_id)
    assert stored is not None and "SPEEDBOAT" in stored.detectable_text

    with engine.connect() as conn:
        quoted = [r for r in conn.execute(select(t.detections.c.reasons)).scalar_one()]
    assert any(r.get("source") and r["evidence"] for r in quoted)  # the picture's own words

    cases.close_case(engine, supervisor, case_id)
    later = datetime.now(UTC) + timedelta(days=2191)  # past closed_case_evidence
    assert purge(engine, supervisor, now=later, dry_run=True).image_texts == 1
    assert signal_rows(engine)[0].ocr_text == read.ocr_text  # a dry run changes nothing
    report = purge(engine, supervisor, now=later)
    assert report.image_texts == 1 and report.objects > 0
    [purged] = signal_rows(engine)
    assert purged.ocr_text is None and purged.text_purged_at == later
    assert (purged.hash, purged.quality) == (read.hash, read.quality)  # re-uploads still match
    # The detection keeps its reasons and weights, but no longer quotes the picture's words.
    with engine.connect() as conn:
        stored = conn.execute(select(t.detections.c.reasons, t.detections.c.entity_reasons)).all()
    from_picture = [r for row in stored for reasons in row for r in reasons if r.get("source")]
    assert from_picture and all(r["evidence"] == "" for r in from_picture)
    assert not any("SPEEDBOAT" in str(row).upper() for row in stored)
    stored = PostRepository(engine).get("telegram", read.native_id)
    assert stored is not None and "SPEEDBOAT" not in stored.detectable_text
    post_id = detected_post_id(engine)
    assert "(purged with the evidence)" in console_page(engine, f"/posts/{post_id}")

    # The next run neither reads it again nor complains that its evidence bytes are gone
    # (the export's own file, deleted above, is still named as missing).
    problems: list[Problem] = []
    again = run(engine, on_problem=problems.append)
    assert [p.name for p in problems] == [FIRST_PHOTO] and again.texts == 0
    assert signal_rows(engine)[0].ocr_text is None


def test_a_number_written_on_two_different_pictures_links_their_accounts(
    engine: Engine, tmp_path: Path
) -> None:
    other_lines = ("GERMANY BY CAR", "NO WALKING 2800 EURO", "WHATSAPP +218 91 234 5678")
    first, second = advert_picture(), advert_picture(seed=7, lines=other_lines)
    assert hamming(pdq_hash(jpeg(first, 92))[0], pdq_hash(jpeg(second, 92))[0]) > 31
    export = telegram_export(
        tmp_path / "export",
        [
            message(1, "user111", "2024-03-01T10:00:00", "Happy Eid", photo=FIRST_PHOTO),
            message(2, "user222", "2024-03-09T10:00:00", "Good morning", photo=SECOND_PHOTO),
        ],
        {FIRST_PHOTO: jpeg(first, 92), SECOND_PHOTO: jpeg(second, 92)},
    )
    ingest_paths(engine, [str(export)], format=None, collector="", batch_size=500)
    detector = Detector.load(second_stage=False)
    run(engine, detector=detector)

    accounts, posts = link_facts(engine, detector.version)
    selectors = account_selectors(accounts, posts)
    phone = Selector("phone", "+218912345678")
    one, two = selectors[("telegram", "user111")], selectors[("telegram", "user222")]
    assert phone in one and phone in two, (one, two)
    # Different pictures: each account's own media selector, none shared.
    assert {s for s in one if s.kind == "media"}.isdisjoint(s for s in two if s.kind == "media")
    # Neither caption holds the number: it came from the pictures alone.
    assert all("218" not in post.text for post in posts)

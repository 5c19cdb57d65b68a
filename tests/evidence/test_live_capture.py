"""Screenshots, live WARC captures and media files of a case, against a loopback server that
plays the platform: what is kept, what is refused, and that the whole capture still seals,
exports and verifies."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from sqlalchemy import Engine, insert, select, update
from warcio.archiveiterator import ArchiveIterator

from tests.programme import ADVERT_A, ADVERT_C, seed_people, seed_posts
from tidewatch.cases import cases
from tidewatch.detect.media import pdq_hash
from tidewatch.evidence import keys
from tidewatch.evidence.bundle import export_capture, verify_bundle
from tidewatch.evidence.capture import capture_case
from tidewatch.evidence.live import FetchPolicy, UnsafeURL, check_url, fetch, warc
from tidewatch.evidence.media_fetch import content_type, local_file, sniff
from tidewatch.evidence.producers import standard_producers
from tidewatch.evidence.render import render_post
from tidewatch.evidence.screenshot import WIDTH, Screenshotter, chromium_path
from tidewatch.store import tables as t

ADVERT_PAGE = "<html><body><article>{text}</article></body></html>"


def png(seed: int, size: int = 64) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Platform(BaseHTTPRequestHandler):
    """The platform's public pages and its media host."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Platform.hits.append(self.path)
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/to-internal":
            self._reply(302, b"", "text/plain", location="http://169.254.169.254/latest/meta-data")
        elif self.path.startswith("/p/"):
            text = ADVERT_A if self.path == "/p/1" else ADVERT_C
            self._reply(200, ADVERT_PAGE.format(text=text).encode(), "text/html; charset=utf-8")
        elif self.path.startswith("/img/") and self.path[5:].split(".")[0].isdigit():
            # The URL says .jpg; the server says PNG: the stored file must be a .png.
            self._reply(200, png(int(self.path.split("/")[2].split(".")[0])), "image/png")
        elif self.path == "/big":
            self._reply(200, b"x" * 50_000, "text/plain")
        else:
            self._reply(404, b"<h1>Page not found</h1>", "text/html")

    def _reply(self, status: int, body: bytes, content_type: str, location: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the fetcher stops at its size bound
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    Platform.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Platform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOOPBACK = FetchPolicy.of(["127.0.0.1"], timeout_s=1.0, max_bytes=10_000)


@pytest.fixture(scope="module")
def chromium() -> None:
    if chromium_path() is None:
        if os.environ.get("TIDEWATCH_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium is required here (make system-deps)")
        pytest.skip("Chromium is not installed (make system-deps)")


def records(warc_bytes: bytes) -> list[tuple[str, str, str | None, bytes]]:
    """(type, target URI, HTTP status, payload) of every record."""
    found = []
    for record in ArchiveIterator(io.BytesIO(warc_bytes)):
        status = record.http_headers.get_statuscode() if record.http_headers else None
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        found.append((record.rec_type, uri, status, record.content_stream().read()))
    return found


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- the fetcher ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/x",
        "gopher://93.184.216.34/",
        "http://user:secret@93.184.216.34/",
        "http://10.0.0.7/admin",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a00:1]/",  # NAT64 form of 10.0.0.1
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",
        "http://93.184.216.34/a\r\nX-Injected: 1",
        "http:///no-host",
    ],
)
def test_urls_that_reach_inside_or_are_not_web_pages_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, FetchPolicy())


def test_a_public_address_passes_and_odd_characters_are_escaped_not_sent_raw() -> None:
    target = check_url("http://93.184.216.34/é?q=ü ".strip(), FetchPolicy())
    assert target.addresses == ("93.184.216.34",)
    assert target.request_target == "/%C3%A9?q=%C3%BC"


def test_allowing_an_address_does_not_allow_a_name_that_resolves_to_it(site: str) -> None:
    port = site.rsplit(":", 1)[1]
    result = fetch(f"http://localhost:{port}/p/1", LOOPBACK)
    assert result.refused and "internal address" in result.error
    assert result.exchanges == [] and Platform.hits == []
    assert fetch(f"{site}/p/1", LOOPBACK).final.status == 200  # type: ignore[union-attr]


def test_a_redirect_to_an_internal_address_is_refused_at_that_hop(site: str) -> None:
    result = fetch(f"{site}/to-internal", LOOPBACK)
    assert [e.status for e in result.exchanges] == [302]
    assert result.refused and "169.254.169.254" in result.error
    kinds = [r[0] for r in records(warc(result, filename="x.warc.gz", about={}))]
    assert kinds == ["warcinfo", "request", "response", "metadata"]


def test_a_page_kept_as_warc_parses_back_with_its_request_and_response(site: str) -> None:
    result = fetch(f"{site}/p/1", LOOPBACK)
    found = records(warc(result, filename="post-1.warc.gz", about={"subject": "post:1"}))
    assert [(kind, status) for kind, _, status, _ in found] == [
        ("warcinfo", None),
        ("request", "/p/1"),  # warcio reports a request's path where a response has a status
        ("response", "200"),
    ]
    assert found[2][1] == f"{site}/p/1"
    assert ADVERT_A.encode() in found[2][3]
    assert b"subject: post:1" in found[0][3]


def test_a_missing_page_is_kept_as_the_404_the_platform_gave(site: str) -> None:
    found = records(warc(fetch(f"{site}/gone", LOOPBACK), filename="x", about={}))
    assert found[-1][0] == "response" and found[-1][2] == "404"


def test_a_slow_page_times_out_and_the_warc_records_the_failed_attempt(site: str) -> None:
    result = fetch(f"{site}/slow", LOOPBACK)
    assert "timed out" in result.error and not result.refused
    kinds = records(warc(result, filename="x", about={}))
    assert [k[0] for k in kinds] == ["warcinfo", "metadata"]
    assert json.loads(kinds[1][3])["error"] == result.error


def test_a_response_over_the_size_bound_is_kept_cut_short_and_marked_truncated(site: str) -> None:
    result = fetch(f"{site}/big", LOOPBACK)
    assert result.final is not None and result.final.truncated
    assert len(result.final.response) == LOOPBACK.max_bytes
    for record in ArchiveIterator(io.BytesIO(warc(result, filename="x", about={}))):
        if record.rec_type == "response":
            assert record.rec_headers.get_header("WARC-Truncated") == "length"
            break
    else:
        pytest.fail("no response record")


# --- media ----------------------------------------------------------------------------------


def test_a_local_media_path_must_stay_inside_the_export_folder(tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(png(1))
    (tmp_path / "secret.txt").write_text("not evidence")
    (export / "photos" / "link.jpg").symlink_to(tmp_path / "secret.txt")
    origin = f"{export / 'result.json'}"
    assert local_file("photos/a.jpg", origin) == (export / "photos" / "a.jpg").resolve()
    assert local_file("photos/a.jpg", f"{export / 'posts.jsonl'}:12").name == "a.jpg"
    for hostile in ["../secret.txt", str(tmp_path / "secret.txt"), "photos/link.jpg", "nope.jpg"]:
        with pytest.raises(ValueError):
            local_file(hostile, origin)
    with pytest.raises(ValueError):
        local_file("photos/a.jpg", "https://api.example.org/page/2")


def test_content_types_come_from_the_bytes_signature_when_the_server_gives_none() -> None:
    assert sniff(png(2)) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff(b"<html>") == "application/octet-stream"


def test_a_content_type_header_is_checked_before_it_is_stored() -> None:
    assert content_type("Image/PNG; charset=binary") == "image/png"
    assert content_type("video/vnd.example+mp4") == "video/vnd.example+mp4"
    for hostile in ["", "png", "image/" + "x" * 300, "image/png<script>", "../../x/y"]:
        assert content_type(hostile) == ""


# --- screenshots ----------------------------------------------------------------------------


def test_a_script_in_a_rendering_never_runs_and_the_page_fetches_nothing(
    chromium: None, site: str
) -> None:
    hostile = (
        "<html><body><p>hello</p><script>alert('ran')</script>"
        f"<img src='{site}/img/5.jpg'><link rel=stylesheet href='{site}/style.css'></body></html>"
    )
    with Screenshotter() as shots:
        picture = shots.take(hostile)
        assert shots.dialogs == []
    assert png_size(picture)[0] == WIDTH
    assert Platform.hits == []


def test_the_screenshot_shows_the_post_text_escaped(chromium: None) -> None:
    from tidewatch.detect.ocr import available_languages, image_text

    if "eng" not in available_languages():
        if os.environ.get("TIDEWATCH_REQUIRE_TESSERACT") == "1":
            pytest.fail("Tesseract is required here (make system-deps)")
        pytest.skip("Tesseract is not installed (make system-deps)")
    post = {"platform": "x", "native_id": "9", "text": "Boat to Italy <b>tonight</b>"}
    with Screenshotter() as shots:
        picture = shots.take(render_post(post, {"handle": "@smug_x"}, "post:9"))
    read = image_text(picture, ("eng",))
    assert "Italy" in read and "<b>" in read  # the tag is shown as text, not obeyed


# --- a whole case ---------------------------------------------------------------------------


@pytest.fixture
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    path = tmp_path / "keys" / "unit.pem"
    monkeypatch.setenv("TIDEWATCH_EVIDENCE_KEY", str(path))
    return keys.load_or_create(path)


def test_a_case_with_screenshots_live_pages_and_media_seals_exports_and_verifies(
    engine: Engine,
    tmp_path: Path,
    site: str,
    chromium: None,
    signing_key: Ed25519PrivateKey,
) -> None:
    posts = [
        {"id": "x-1", "platform": "x", "author": "smug_x", "text": ADVERT_A, "url": f"{site}/p/1"},
        {"id": "x-2", "platform": "x", "author": "smug_x", "text": ADVERT_C, "url": f"{site}/gone"},
        {"id": "x-3", "platform": "x", "author": "smug_x", "text": ADVERT_A, "url": f"{site}/slow"},
        {
            "id": "x-4",
            "platform": "x",
            "author": "smug_x",
            "text": ADVERT_C + " !",
            "url": "http://10.20.30.40/status/4",
        },
    ]
    seed_posts(engine, tmp_path, posts)
    (tmp_path / "photos").mkdir()
    local_image = png(7)
    (tmp_path / "photos" / "boat.jpg").write_bytes(local_image)
    with engine.begin() as conn:
        ids = {r.native_id: r.id for r in conn.execute(select(t.posts.c.native_id, t.posts.c.id))}
        source = conn.execute(select(t.posts.c.first_source_id)).scalars().first()
        media = [
            (ids["x-1"], f"{site}/img/11.jpg", ""),
            (ids["x-1"], "", "photos/boat.jpg"),
            (ids["x-2"], "", "../../../etc/passwd"),
            (ids["x-2"], "http://169.254.169.254/latest/meta-data/iam", ""),
            (ids["x-3"], f"{site}/img/missing", ""),
        ]
        for number, (post_id, url, local) in enumerate(media):
            conn.execute(
                insert(t.media).values(
                    post_id=post_id,
                    media_key=f"m{number}",
                    kind="photo",
                    url=url,
                    local_path=local,
                    first_source_id=source,
                )
            )
        conn.execute(
            update(t.accounts).where(t.accounts.c.native_id == "smug_x").values(url=f"{site}/u/x")
        )
        account_id = conn.execute(
            select(t.accounts.c.id).where(t.accounts.c.native_id == "smug_x")
        ).scalar_one()
    people = seed_people(engine)
    case_id = cases.open_case(engine, people["ana"], "Live", accounts=[("x", "smug_x")])
    producers = standard_producers(True, True, True, ["127.0.0.1"], timeout_s=1.0)
    capture_id = capture_case(engine, people["ana"], case_id, producers=producers)
    out = tmp_path / "bundle.zip"
    exported = export_capture(engine, people["ana"], capture_id, out)
    report = verify_bundle(out)
    assert report.ok, report.problem

    with engine.connect() as conn:
        rows = conn.execute(
            select(t.artifacts.c.path, t.artifacts.c.kind, t.artifacts.c.sha256).where(
                t.artifacts.c.capture_id == capture_id
            )
        ).all()
    paths = {r.path: r.kind for r in rows}
    assert report.artifacts + len(exported["withheld"]) == len(rows)
    p1, p2, p3, p4 = (ids[f"x-{n}"] for n in range(1, 5))

    # Screenshots: one PNG per rendering, the viewport's width, and not blank.
    renderings = [p for p in paths if p.startswith("render/") and p.endswith(".html")]
    assert len(renderings) == 5
    shots = {}
    redacted = zipfile.ZipFile(out)
    for rendering in renderings:
        name = "artifacts/" + rendering.removesuffix(".html") + ".png"
        assert paths[rendering.removesuffix(".html") + ".png"] == "render_png"
        shots[name] = redacted.read(name)
        assert png_size(shots[name])[0] == WIDTH
        pixels = np.asarray(Image.open(io.BytesIO(shots[name])).convert("L"))
        assert (pixels < 128).sum() > 500  # text was drawn
    assert shots[f"artifacts/render/post-{p1}.png"] != shots[f"artifacts/render/post-{p2}.png"]

    # Live pages: every URL has a WARC; third parties' data, so withheld from a redacted export.
    live = {p for p in paths if p.startswith("live/")}
    assert live == {f"live/post-{n}.warc.gz" for n in (p1, p2, p3, p4)} | {
        f"live/account-{account_id}.warc.gz"
    }
    withheld = {w["path"] for w in exported["withheld"]}
    assert {f"artifacts/{p}" for p in live} <= withheld
    disclosed = tmp_path / "disclosed.zip"
    export_capture(
        engine, people["ana"], capture_id, disclosed, redact=False, reason="court order 7/26"
    )
    assert verify_bundle(disclosed).ok
    bundle = zipfile.ZipFile(disclosed)
    page = records(bundle.read(f"artifacts/live/post-{p1}.warc.gz"))
    assert page[-1][0] == "response" and page[-1][2] == "200"
    assert ADVERT_A.encode() in page[-1][3]
    assert records(bundle.read(f"artifacts/live/post-{p2}.warc.gz"))[-1][2] == "404"
    slow = records(bundle.read(f"artifacts/live/post-{p3}.warc.gz"))
    assert "timed out" in json.loads(slow[-1][3])["error"]
    internal = records(bundle.read(f"artifacts/live/post-{p4}.warc.gz"))
    assert [r[0] for r in internal] == ["warcinfo", "metadata"]
    assert json.loads(internal[-1][3])["refused"] is True
    assert records(bundle.read(f"artifacts/live/account-{account_id}.warc.gz"))[-1][2] == "404"
    with gzip.open(io.BytesIO(bundle.read(f"artifacts/live/post-{p1}.warc.gz"))) as whole:
        assert whole.read().startswith(b"WARC/1.1\r\n")

    # Media: downloaded and copied files, named by their content type, with a PDQ sidecar.
    def sidecar(post_id: int, number: int) -> dict[str, object]:
        document: dict[str, object] = json.loads(
            bundle.read(f"artifacts/media/post-{post_id}-{number}.json")
        )
        return document

    downloaded = bundle.read(f"artifacts/media/post-{p1}-1.png")
    assert downloaded == png(11)
    assert paths[f"media/post-{p1}-1.png"] == "media"
    assert sidecar(p1, 1)["pdq"] == pdq_hash(png(11))[0]
    assert sidecar(p1, 1)["content_type"] == "image/png"
    assert bundle.read(f"artifacts/media/post-{p1}-2.png") == local_image
    assert sidecar(p1, 2)["local_path"] == "photos/boat.jpg"
    assert sidecar(p1, 2)["pdq"] == pdq_hash(local_image)[0]
    assert "leaves the export folder" in str(sidecar(p2, 1)["error"])
    assert "internal address" in str(sidecar(p2, 2)["error"])
    assert sidecar(p3, 1)["error"] == "HTTP 404"
    failed = [p for p in paths if p.startswith((f"media/post-{p2}-", f"media/post-{p3}-"))]
    assert sorted(failed) == sorted(
        [f"media/post-{p2}-1.json", f"media/post-{p2}-2.json", f"media/post-{p3}-1.json"]
    )
    assert not any("169.254" in hit or "etc/passwd" in hit for hit in Platform.hits)

"""Media files of the case's posts: downloaded, or copied from the collected export.

For the n-th media item of a post (in the order the store holds them):

* ``media/post-<id>-<n>.<ext>``: the file's bytes. The extension comes from the content type
  (the server's, or the file's own signature when the server gives none or for a local copy),
  never from the URL or the file name, which hostile data chooses;
* ``media/post-<id>-<n>.json``: what is known about it: the URL or local path, the content
  type given and the one the bytes show, SHA-256, size, the PDQ hash of an image (how the
  same picture is found again elsewhere), or why there is no file.

A ``local_path`` (a Telegram export's ``photos/...``) is read when it names a file inside the
folder of the source file it was collected from: an absolute path, ``..`` or a link leading
out of it is refused. Otherwise the ``url`` is downloaded by the live-capture fetcher, under
the same rules (public addresses only unless allowed, a deadline, a size bound).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from tidewatch.evidence.capture import Artifact, CaseContent, Producer
from tidewatch.evidence.live import FetchPolicy, FetchResult, fetch_all

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/avif": "avif",
    "image/heic": "heic",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
    "application/pdf": "pdf",
}
#: Images larger than this are kept but not hashed (decoding one would take too much memory).
MAX_HASH_PIXELS = 50_000_000
_LINE = re.compile(r":\d+$")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,40}/[a-z0-9][a-z0-9!#$&^_.+-]{0,50}")


def sniff(data: bytes) -> str:
    """The content type the bytes' own signature shows, or ``application/octet-stream``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if data.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return "application/octet-stream"


def content_type(header: str) -> str:
    """The media type a Content-Type header gives, or "" if it is not a well-formed one (a
    hostile server's header goes into the store, so it is checked, not trusted)."""
    value = header.split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.fullmatch(value) else ""


@dataclass
class _Item:
    post_id: int
    number: int
    media: dict[str, Any]
    local: Path | None = None
    local_problem: str = ""


def local_file(local_path: str, origin: str) -> Path:
    """The file ``local_path`` names inside the folder of the source file ``origin``; raises
    ``ValueError`` if it points anywhere else or is not a readable regular file."""
    relative = PurePath(local_path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"local path {local_path!r} leaves the export folder")
    source = _LINE.sub("", origin)
    if not source or "://" in source:
        raise ValueError("the source was not a local file, so there is no export folder")
    folder = Path(source).parent.resolve()
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise ValueError(f"local path {local_path!r} leads out of the export folder")
    if not path.is_file():
        raise ValueError(f"no file at {local_path!r} in the export folder")
    return path


def pdq_facts(data: bytes, content_type: str) -> dict[str, Any]:
    """``{"pdq": hex, "pdq_quality": n}`` of an image, ``{"pdq_error": why}`` when it cannot
    be hashed (unreadable, or too large to decode), ``{}`` for anything but an image."""
    if not content_type.startswith("image/"):
        return {}
    from PIL import Image, UnidentifiedImageError

    from tidewatch.detect.media import MediaError, pdq_hash

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        return {"pdq_error": f"not a readable image: {error}"}
    if width * height > MAX_HASH_PIXELS:
        return {"pdq_error": f"{width}x{height} is too large to hash"}
    try:
        digest, quality = pdq_hash(data)
    except (MediaError, ValueError, OSError) as error:
        return {"pdq_error": str(error)}
    return {"pdq": digest, "pdq_quality": quality}


def _artifacts(item: _Item, data: bytes | None, facts: dict[str, Any]) -> list[Artifact]:
    stem = f"media/post-{item.post_id}-{item.number}"
    subject = f"post:{item.post_id}"
    url = item.media.get("url") or ""
    facts |= {
        "media_id": item.media.get("id"),
        "kind": item.media.get("kind", ""),
        "url": url,
        "local_path": item.media.get("local_path") or "",
    }
    if item.local_problem and data is not None:
        facts["local_error"] = item.local_problem
    made = []
    if data is not None:
        given = facts.get("content_type", "")
        shown = sniff(data)
        content_type = given if given and given != "application/octet-stream" else shown
        facts |= {
            "content_type": content_type,
            "sniffed_type": shown,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "file": f"{stem}.{EXTENSIONS.get(content_type, 'bin')}",
            **pdq_facts(data, content_type),
        }
        made.append(Artifact(facts["file"], "media", data, content_type, subject, url))
    facts.setdefault("error", "")
    sidecar = json.dumps(facts, ensure_ascii=False, indent=2, sort_keys=True).encode()
    made.append(Artifact(f"{stem}.json", "media_meta", sidecar, "application/json", subject, url))
    return made


def _downloaded(item: _Item, result: FetchResult) -> list[Artifact]:
    final = result.final
    facts: dict[str, Any] = {"final_url": final.url if final else ""}
    if final is not None:
        facts["http_status"] = final.status
    if result.error:
        return _artifacts(item, None, facts | {"error": result.error})
    assert final is not None
    if final.status is None or not 200 <= final.status < 300:
        return _artifacts(item, None, facts | {"error": f"HTTP {final.status}"})
    if final.truncated:
        return _artifacts(item, None, facts | {"error": "the response was cut short"})
    encoding = final.header("content-encoding").strip().lower()
    if encoding not in ("", "identity"):
        return _artifacts(item, None, facts | {"error": f"content encoded as {encoding}"})
    facts["content_type"] = content_type(final.header("content-type"))
    return _artifacts(item, final.body, facts)


def media_producer(policy: FetchPolicy, *, workers: int = 4) -> Producer:
    def produce(content: CaseContent) -> list[Artifact]:
        items: list[_Item] = []
        for post in content.posts:
            for number, media in enumerate(post.get("media") or [], start=1):
                item = _Item(int(post["id"]), number, media)
                if media.get("local_path"):
                    source = content.sources.get(media.get("first_source_id") or -1, {})
                    try:
                        item.local = local_file(media["local_path"], source.get("origin", ""))
                    except ValueError as error:
                        item.local_problem = str(error)
                items.append(item)
        remote = [i for i in items if i.local is None and i.media.get("url")]
        results = dict(
            zip(
                (id(i) for i in remote),
                fetch_all([i.media["url"] for i in remote], policy, workers=workers),
                strict=True,
            )
        )
        made: list[Artifact] = []
        for item in items:
            if item.local is not None:
                size = item.local.stat().st_size
                if size > policy.max_bytes:
                    made += _artifacts(
                        item, None, {"error": f"the file is {size} bytes, over the limit"}
                    )
                else:
                    made += _artifacts(item, item.local.read_bytes(), {})
            elif id(item) in results:
                made += _downloaded(item, results[id(item)])
            else:
                problem = item.local_problem or "no URL and no file"
                made += _artifacts(item, None, {"error": problem})
        return made

    return produce

"""PDQ hashing survives re-encoding and cropping; the index finds exactly what brute force finds;
the hash bank reads and writes ThreatExchange descriptors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import FIXTURES
from tidewatch.detect.media import (
    PDQ_MATCH_DISTANCE,
    BankEntry,
    HashBank,
    MediaError,
    PDQIndex,
    brute_force,
    hamming,
    pdq_hash,
)


def picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (400, 300), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = (int(v) for v in rng.integers(0, 380, 2))
        w, h = (int(v) for v in rng.integers(20, 140, 2))
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_re_encoded_and_resized_copy_matches() -> None:
    original, quality = pdq_hash(encoded(picture(1)))
    again, _ = pdq_hash(encoded(picture(1).resize((320, 240)), "JPEG", quality=60))
    assert quality >= 50
    assert hamming(original, again) <= PDQ_MATCH_DISTANCE


def test_a_copy_with_a_thin_border_cropped_off_matches() -> None:
    # PDQ tolerates small crops only (a 1% border here); larger crops need other hashes.
    original, _ = pdq_hash(encoded(picture(1)))
    cropped, _ = pdq_hash(encoded(picture(1).crop((4, 3, 396, 297))))
    assert hamming(original, cropped) <= PDQ_MATCH_DISTANCE


def test_a_different_picture_does_not_match() -> None:
    first, _ = pdq_hash(encoded(picture(1)))
    second, _ = pdq_hash(encoded(picture(2)))
    assert hamming(first, second) > PDQ_MATCH_DISTANCE


def test_bytes_that_are_not_an_image_give_a_clear_error() -> None:
    with pytest.raises(MediaError, match="not an image"):
        pdq_hash(b"<html>not a picture</html>")


def test_the_index_finds_exactly_what_brute_force_finds() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(20_000, 32), dtype=np.uint8)
    index = PDQIndex(codes)
    for _ in range(60):
        bits = np.unpackbits(codes[rng.integers(len(codes))].copy())
        flipped = rng.choice(256, size=int(rng.integers(0, 40)), replace=False)
        bits[flipped] ^= 1
        query = np.packbits(bits).tobytes().hex()
        assert index.search(query) == brute_force(codes, query)


def test_a_hash_that_is_not_pdq_is_refused_at_the_edge() -> None:
    with pytest.raises(MediaError, match="64-digit"):
        HashBank().add(BankEntry(hash="c7dfd847207cbd54a8bb292525fc111d"))


def test_threatexchange_descriptors_of_other_types_are_named_and_skipped() -> None:
    document = json.loads(
        (FIXTURES / "meta_threatexchange" / "threat_descriptor_HASH_MD5_single.json").read_text()
    )
    imported, problems = HashBank().import_threatexchange(document)
    assert imported == 0
    assert problems == [
        "descriptor 3046896738736542: type HASH_MD5 is not HASH_PDQ or HASH_VIDEO_VPDQ; skipped"
    ]


def test_a_bank_exported_as_threatexchange_reads_back_and_matches() -> None:
    known, _ = pdq_hash(encoded(picture(5)))
    bank = HashBank()
    bank.add(BankEntry(hash=known, label="testimonial video still", tags=["network-a"], id="t1"))
    again = HashBank()
    imported, problems = again.import_threatexchange(
        json.loads(json.dumps(bank.export_threatexchange()))
    )
    assert (imported, problems) == (1, [])
    reupload, _ = pdq_hash(encoded(picture(5).resize((300, 225)), "JPEG", quality=70))
    [(entry, distance)] = again.match(reupload)
    assert entry.id == "t1" and entry.tags == ["network-a"] and distance <= PDQ_MATCH_DISTANCE

"""Overlay text in an advert image is read and flagged by the text detector."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageDraw, ImageFont

from tidewatch.detect.detector import ADVERT, Detector
from tidewatch.detect.ocr import DEFAULT_LANGUAGES, available_languages, image_text

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module", autouse=True)
def tesseract() -> None:
    if not set(DEFAULT_LANGUAGES) <= available_languages():
        if os.environ.get("TIDEWATCH_REQUIRE_TESSERACT") == "1":
            pytest.fail("Tesseract with eng, ara and fas is required here (make system-deps)")
        pytest.skip("Tesseract with eng, ara and fas is not installed (make system-deps)")


def poster(lines: list[str]) -> bytes:
    image = Image.new("RGB", (900, 80 + 60 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    for number, line in enumerate(lines):
        draw.text((30, 30 + 60 * number), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_overlay_text_is_read_from_an_image() -> None:
    text = image_text(poster(["NEXT BOAT TO UK TONIGHT", "100% SAFE - WRITE PRIVATELY"]), ("eng",))
    assert "BOAT" in text.upper() and "TONIGHT" in text.upper()


def test_an_advert_written_on_an_image_is_flagged() -> None:
    text = image_text(
        poster(["Boat to UK tonight from Calais", "100% safe, 1500 per person", "DM on WhatsApp"])
    )
    [result] = Detector.load(second_stage=False).detect_texts([text])
    assert result.label == ADVERT


def test_an_image_without_text_reads_as_nothing() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="PNG")
    assert image_text(buffer.getvalue(), ("eng",)) == ""

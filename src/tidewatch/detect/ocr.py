"""Text inside images (overlay text on adverts, screenshots of price lists), read with
Tesseract so it goes through the same text detector as captions.

Tesseract and its language packs are system packages (``make system-deps`` installs them):
English, Arabic and Persian here; Debian has no Sorani pack, so Kurdish in Arabic script is
read with the Arabic and Persian models. The image is passed on standard input and the
languages come from a fixed list, so nothing from a post ever reaches the command line.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

DEFAULT_LANGUAGES = ("eng", "ara", "fas")
TIMEOUT_SECONDS = 60


class OcrUnavailable(RuntimeError):
    """Tesseract (or a language pack) is not installed."""


def available_languages() -> set[str]:
    if shutil.which("tesseract") is None:
        return set()
    listing = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )
    return {line.strip() for line in listing.stdout.splitlines()[1:] if line.strip()}


def image_text(image: bytes, languages: Sequence[str] = DEFAULT_LANGUAGES) -> str:
    """The text Tesseract reads in ``image`` (PNG, JPEG...), or "" if it reads none."""
    installed = available_languages()
    if not installed:
        raise OcrUnavailable("tesseract is not installed; run `make system-deps`")
    missing = [language for language in languages if language not in installed]
    if missing:
        raise OcrUnavailable(
            f"tesseract language packs missing: {', '.join(missing)}; run `make system-deps`"
        )
    result = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", "+".join(languages), "--psm", "6"],
        input=image,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise ValueError(
            f"tesseract could not read the image: {result.stderr.decode(errors='replace')[:200]}"
        )
    return " ".join(result.stdout.decode("utf-8", errors="replace").split())

"""Video hashes (vPDQ): testimonial videos re-uploaded, re-encoded, rescaled or trimmed.

vPDQ is Meta's video method on top of PDQ: one frame a second is hashed with PDQ, frames of
quality under 50 are dropped and identical hashes kept once; two videos match by the share
of one video's frames that have a frame of the other within PDQ distance 31, counted in both
directions. ThreatExchange calls a match when the query's share reaches 80% (whatever the
other's share), so a trimmed clip matches the video it was cut from.

Frames come from Meta's ``vpdq`` package when it is installed (``pip install
'tidewatch[video]'``; it builds against FFmpeg's libav* development packages, which
``make system-deps`` installs). Otherwise the same method is run here: the ``ffmpeg``
program decodes one frame a second and ``pdqhash`` hashes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tidewatch.detect.media import PDQ_MATCH_DISTANCE, MediaError, bits_to_hex, hexes_to_codes

#: Frames of lower PDQ quality (flat, dark, blurred) are not compared, as in vPDQ.
VPDQ_QUALITY = 50
#: Share (percent) of one video's frames found in the other for the two to match.
VPDQ_MATCH_PERCENT = 80.0
_SIDE = 256  # frames are scaled to a square before PDQ, which resamples to 64 x 64 anyway
_TIMEOUT_S = 300


class VideoError(MediaError):
    """A video that cannot be decoded, or a vPDQ hash that cannot be read."""


@dataclass(frozen=True)
class Frame:
    hash: str  # PDQ, 64 hexadecimal digits
    quality: int
    timestamp: float  # seconds from the start

    def __str__(self) -> str:
        """python-threatexchange's serialisation of a vPDQ feature."""
        return f"{self.hash},{self.quality},{self.timestamp:.3f}"


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def backend() -> str:
    """``vpdq`` (Meta's package) when installed, else ``ffmpeg`` (this module's own)."""
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return "ffmpeg"
    return "vpdq"


def vpdq_hash(
    video: Path | str, *, seconds_per_hash: float = 1.0, use: str | None = None
) -> list[Frame]:
    """The vPDQ hash of a video file: one PDQ frame hash per ``seconds_per_hash``."""
    path = Path(video)
    if not path.is_file():
        raise VideoError(f"{path} is not a file")
    if (use or backend()) == "vpdq":
        import vpdq

        features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash)
        if not features:
            raise VideoError(f"{path.name}: no video frames could be decoded")
        return [Frame(f.hex, int(f.quality), float(f.timestamp)) for f in features]
    return _hash_with_ffmpeg(path, seconds_per_hash)


def _hash_with_ffmpeg(path: Path, seconds_per_hash: float) -> list[Frame]:
    import pdqhash

    if not ffmpeg_available():
        raise VideoError("hashing video needs the ffmpeg program (make system-deps)")
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-vf",
        f"fps=1/{seconds_per_hash},scale={_SIDE}:{_SIDE}",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise VideoError(f"{path.name}: decoding took over {_TIMEOUT_S}s") from None
    size = _SIDE * _SIDE * 3
    if done.returncode != 0 or not done.stdout or len(done.stdout) % size:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VideoError(f"{path.name}: not a video ffmpeg can decode: {message[-1:] or '?'}")
    frames = np.frombuffer(done.stdout, dtype=np.uint8).reshape(-1, _SIDE, _SIDE, 3)
    out = []
    for number, pixels in enumerate(frames):
        bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
        out.append(
            Frame(
                bits_to_hex(np.asarray(bits, dtype=np.uint8)),
                int(quality),
                round(number * seconds_per_hash, 3),
            )
        )
    return out


def comparable(frames: Sequence[Frame], quality: int = VPDQ_QUALITY) -> list[str]:
    """The frame hashes vPDQ compares: good enough quality, each distinct hash once."""
    seen: dict[str, None] = {}
    for frame in frames:
        if frame.quality >= quality:
            seen.setdefault(frame.hash.lower(), None)
    return list(seen)


def match_percent(
    first: Sequence[Frame],
    second: Sequence[Frame],
    *,
    distance: int = PDQ_MATCH_DISTANCE,
    quality: int = VPDQ_QUALITY,
) -> tuple[float, float]:
    """(percent of ``first``'s frames with a match in ``second``, and the reverse)."""
    a, b = comparable(first, quality), comparable(second, quality)
    if not a or not b:
        return 0.0, 0.0
    near = _distances(hexes_to_codes(a), hexes_to_codes(b)) <= distance
    return 100.0 * float(near.any(axis=1).mean()), 100.0 * float(near.any(axis=0).mean())


def same_video(
    first: Sequence[Frame], second: Sequence[Frame], threshold: float = VPDQ_MATCH_PERCENT
) -> bool:
    """One video is (mostly) in the other: a re-encode, a rescaled copy or a trimmed clip."""
    return max(match_percent(first, second)) >= threshold


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    words_a, words_b = a.view(np.uint64), b.view(np.uint64)
    return np.bitwise_count(words_a[:, None, :] ^ words_b[None, :, :]).sum(axis=2, dtype=np.int64)


def to_json(frames: Sequence[Frame]) -> str:
    """python-threatexchange's vPDQ signal string: a JSON list of "hash,quality,seconds"."""
    return json.dumps([str(frame) for frame in frames])


def from_json(value: Any) -> list[Frame]:
    """Read a vPDQ signal: the list form :func:`to_json` writes, or the older object keyed by
    frame number (``{"0": {"quality": 100, "hash": "...", "timestamp": 0.0}}``)."""
    try:
        document = json.loads(value) if isinstance(value, str) else value
        if isinstance(document, dict):
            items = [document[key] for key in sorted(document, key=int)]
            frames = [
                Frame(str(i["hash"]).lower(), int(i["quality"]), float(i["timestamp"]))
                for i in items
            ]
        elif isinstance(document, list):
            frames = []
            for item in document:
                hex_value, quality, seconds = str(item).split(",")
                frames.append(Frame(hex_value.strip().lower(), int(quality), float(seconds)))
        else:
            raise VideoError("a vPDQ hash is a JSON list or object")
    except (ValueError, KeyError, TypeError) as error:
        raise VideoError(f"not a vPDQ hash: {error}") from None
    if not frames:
        raise VideoError("a vPDQ hash with no frames")
    try:
        hexes_to_codes([frame.hash for frame in frames])  # validates every frame hash
    except MediaError as error:
        raise VideoError(f"not a vPDQ hash: {error}") from None
    for frame in frames:
        if not 0 <= frame.quality <= 100 or frame.timestamp < 0:
            raise VideoError(f"frame at {frame.timestamp}s: quality or time out of range")
    return frames
